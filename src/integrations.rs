//! Flow integrations stored in the ledger, one per organization and environment, so that
//! each organization's credentials live with its payments rather than in the process
//! environment. The secret key is sealed with the master key ([`crate::secrets`]);
//! listings never show it. [`check`] validates what `paylink integration flow` is given
//! and describes it as an [`Account`] (so its keys can be tried before [`save`]);
//! [`account`] opens a stored one for [`crate::accounts`].
//!
//! Stripe integrations (`paylink integration stripe`) live in the same configs tree under
//! the environment part `stripe:development` / `stripe:production`, so Flow's keys
//! (`development` / `production`) stay exactly as they were; [`list`] returns Flow's
//! only, [`list_stripe`] Stripe's. A Stripe integration keeps its webhook signing secrets
//! as a list: while one is rotated the old one carries an expiry and both are accepted
//! until then ([`live_webhook_secrets`]).

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::accounts::{Account, Origin, StripeAccount};
use crate::config::{ConfigError, check_url};
use crate::domain::{Currency, Environment, Timestamp};
use crate::gateway::flow::endpoint::{FlowEndpoint, classify};
use crate::secrets::{MasterKey, SecretError};
use crate::store::{Store, StoreError};

/// A stored Flow integration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredIntegration {
    pub organization: String,
    pub environment: Environment,
    pub api_url: String,
    pub api_key: String,
    /// The secret key, sealed (`v1:...`).
    pub secret_key_sealed: String,
    pub return_url: Option<String>,
    pub default_currency: String,
    pub active: bool,
    pub updated_at: Timestamp,
}

#[derive(Debug, thiserror::Error)]
pub enum IntegrationError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored integration {0}/{1} is unreadable: {2}")]
    Corrupt(String, String, String),
    #[error(
        "the stored integration {0} ({1}) cannot be used: its API URL {2}; store it again with `paylink integration flow`"
    )]
    Unusable(String, String, String),
    #[error("no Flow integration for organization {0:?} in {1}")]
    Missing(String, &'static str),
    #[error(
        "no Stripe integration for organization {0:?} in {1}; store one with `paylink integration stripe`"
    )]
    MissingStripe(String, &'static str),
}

/// What `paylink integration flow` asks to store.
#[derive(Debug, Clone)]
pub struct NewIntegration {
    pub organization: String,
    /// Development when given; else the one the URL implies (production for Flow
    /// production, development for anything else).
    pub environment: Option<Environment>,
    pub api_url: String,
    pub api_key: String,
    pub secret_key: SecretString,
    pub return_url: Option<String>,
    pub default_currency: String,
}

/// Validates what is to be stored and describes it as an account. Production needs
/// `allow_live`; Flow's production URL cannot be used for development.
pub fn check(new: NewIntegration, allow_live: bool) -> Result<Account, IntegrationError> {
    let bad = |field: &str, problem: String| ConfigError {
        field: field.into(),
        problem,
    };
    let organization = new.organization.trim().to_string();
    if organization.is_empty() {
        return Err(bad("--organization", "is empty".into()).into());
    }
    let endpoint = classify(&new.api_url).map_err(|e| bad("--api-url", e.problem.into()))?;
    if new.api_key.trim().is_empty() {
        return Err(bad("--api-key", "is empty".into()).into());
    }
    if secrecy::ExposeSecret::expose_secret(&new.secret_key)
        .trim()
        .is_empty()
    {
        return Err(bad(
            "--secret-key",
            "is missing: give --secret-key-file, FLOW_SECRET_KEY or --secret-key".into(),
        )
        .into());
    }
    let return_url = new
        .return_url
        .as_deref()
        .map(|u| check_url("--return-url", u))
        .transpose()?;
    let default_currency = Currency::from_code(&new.default_currency).ok_or_else(|| {
        bad(
            "--currency",
            format!(
                "{:?} is not a known currency ({})",
                new.default_currency,
                Currency::known_codes()
            ),
        )
    })?;
    let environment = new.environment.unwrap_or_else(|| endpoint.environment());
    if environment == Environment::Production && !allow_live {
        return Err(bad(
            "--allow-live",
            "production (live money) needs an explicit --allow-live".into(),
        )
        .into());
    }
    if environment == Environment::Development && endpoint == FlowEndpoint::Production {
        return Err(bad(
            "--api-url",
            "the production URL cannot be used for development; use --test with Flow's sandbox URL"
                .into(),
        )
        .into());
    }
    Ok(Account {
        origin: Origin::Stored { organization },
        api_url: new.api_url.trim().trim_end_matches('/').to_string(),
        endpoint,
        api_key: new.api_key.trim().to_string(),
        secret_key: SecretString::from(
            secrecy::ExposeSecret::expose_secret(&new.secret_key)
                .trim()
                .to_string(),
        ),
        environment,
        default_currency,
        return_url,
    })
}

/// Stores a checked account (replacing any earlier one for the same organization and
/// environment), its secret key sealed with `key`.
pub async fn save(
    store: &Store,
    key: &MasterKey,
    account: &Account,
) -> Result<StoredIntegration, IntegrationError> {
    let Origin::Stored { organization } = &account.origin else {
        return Err(IntegrationError::Config(ConfigError {
            field: "--organization".into(),
            problem: "names no organization".into(),
        }));
    };
    let stored = StoredIntegration {
        organization: organization.clone(),
        environment: account.environment,
        api_url: account.api_url.clone(),
        api_key: account.api_key.clone(),
        secret_key_sealed: key.seal(&account.secret_key),
        return_url: account.return_url.clone(),
        default_currency: account.default_currency.code().to_string(),
        active: true,
        updated_at: Timestamp::now(),
    };
    let bytes = serde_json::to_vec(&stored).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    store
        .put_config(&stored.organization, stored.environment.as_str(), &bytes)
        .await?;
    Ok(stored)
}

/// Every stored Flow integration (secrets still sealed); Stripe's are [`list_stripe`]'s.
pub async fn list(store: &Store) -> Result<Vec<StoredIntegration>, IntegrationError> {
    store
        .list_configs()
        .await?
        .into_iter()
        // Stripe's have their own listing; a spending policy or a merchant is no integration.
        .filter(|(_, env, _)| {
            !env.starts_with(STRIPE_PART)
                && env != crate::payments::policy::POLICY_PART
                && env != crate::payments::merchant::MERCHANT_PART
        })
        .map(|(org, env, bytes)| {
            serde_json::from_slice::<StoredIntegration>(&bytes)
                .map_err(|e| IntegrationError::Corrupt(org, env, e.to_string()))
        })
        .collect()
}

/// Marks an integration inactive (kept for the payments made through it).
pub async fn set_active(
    store: &Store,
    organization: &str,
    environment: Environment,
    active: bool,
) -> Result<StoredIntegration, IntegrationError> {
    let bytes = store
        .get_config(organization, environment.as_str())
        .await?
        .ok_or_else(|| IntegrationError::Missing(organization.to_string(), environment.as_str()))?;
    let mut s: StoredIntegration = serde_json::from_slice(&bytes).map_err(|e| {
        IntegrationError::Corrupt(
            organization.into(),
            environment.as_str().into(),
            e.to_string(),
        )
    })?;
    s.active = active;
    s.updated_at = Timestamp::now();
    let bytes = serde_json::to_vec(&s).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    store
        .put_config(organization, environment.as_str(), &bytes)
        .await?;
    Ok(s)
}

/// A stored integration as an account, its secret key opened with `key`.
pub fn account(s: &StoredIntegration, key: &MasterKey) -> Result<Account, IntegrationError> {
    let corrupt = |problem: String| {
        IntegrationError::Corrupt(
            s.organization.clone(),
            s.environment.as_str().to_string(),
            problem,
        )
    };
    let endpoint = classify(&s.api_url).map_err(|e| {
        IntegrationError::Unusable(
            s.organization.clone(),
            s.environment.as_str().to_string(),
            e.to_string(),
        )
    })?;
    let default_currency = Currency::from_code(&s.default_currency)
        .ok_or_else(|| corrupt(format!("unknown currency {:?}", s.default_currency)))?;
    Ok(Account {
        origin: Origin::Stored {
            organization: s.organization.clone(),
        },
        api_url: s.api_url.clone(),
        endpoint,
        api_key: s.api_key.clone(),
        secret_key: key.open(&s.secret_key_sealed)?,
        environment: s.environment,
        default_currency,
        return_url: s.return_url.clone(),
    })
}

/// Where a Stripe integration's environment part starts: `stripe:development`.
pub const STRIPE_PART: &str = "stripe:";

/// The configs key's environment part of a Stripe integration.
pub fn stripe_part(environment: Environment) -> String {
    format!("{STRIPE_PART}{}", environment.as_str())
}

/// One webhook signing secret of a Stripe integration, sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SealedWebhookSecret {
    pub sealed: String,
    pub added_at: Timestamp,
    /// Set when a newer secret replaced it: accepted until then, never after.
    pub expires_at: Option<Timestamp>,
}

/// A stored Stripe integration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredStripeIntegration {
    pub organization: String,
    pub environment: Environment,
    pub api_base: String,
    /// The API key, sealed (`v1:...`).
    pub secret_key_sealed: String,
    /// The key as Stripe's dashboard shows it (`sk_test_…abcd`), for listings.
    pub secret_key_masked: String,
    pub webhook_secrets_sealed: Vec<SealedWebhookSecret>,
    pub default_currency: String,
    pub active: bool,
    pub updated_at: Timestamp,
}

/// What `paylink integration stripe` asks to store.
#[derive(Debug, Clone)]
pub struct NewStripeIntegration {
    pub organization: String,
    /// None: Stripe's API.
    pub api_base: Option<String>,
    pub secret_key: SecretString,
    pub webhook_secret: Option<SecretString>,
    pub default_currency: String,
}

fn bad(field: &str, problem: impl Into<String>) -> IntegrationError {
    IntegrationError::Config(ConfigError {
        field: field.into(),
        problem: problem.into(),
    })
}

/// A Stripe key as Stripe shows it: its prefix and last four characters (`sk_test_…abcd`).
pub fn mask_stripe_key(key: &str) -> String {
    let key = key.trim();
    let prefix = ["sk_test_", "rk_test_", "sk_live_", "rk_live_"]
        .into_iter()
        .find(|p| key.starts_with(p))
        .unwrap_or("");
    let rest = &key[prefix.len()..];
    let chars: Vec<char> = rest.chars().collect();
    if chars.len() < 8 {
        return format!("{prefix}…");
    }
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{prefix}…{tail}")
}

/// The environment a Stripe key belongs to (test: development, live: production).
pub fn stripe_key_environment(key: &SecretString) -> Result<Environment, IntegrationError> {
    let mode =
        crate::gateway::stripe::StripeClient::key_mode(secrecy::ExposeSecret::expose_secret(key))
            .map_err(|p| bad("--secret-key-file", p))?;
    Ok(match mode {
        crate::gateway::stripe::KeyMode::Test => Environment::Development,
        crate::gateway::stripe::KeyMode::Live => Environment::Production,
    })
}

/// A webhook signing secret as given (`whsec_…`), or why not.
pub fn check_webhook_secret(secret: &SecretString) -> Result<SecretString, IntegrationError> {
    let s = secrecy::ExposeSecret::expose_secret(secret).trim();
    if !s.starts_with("whsec_") || s.len() <= "whsec_".len() {
        return Err(bad(
            "--webhook-secret-file",
            "must hold the endpoint's signing secret, which starts with whsec_",
        ));
    }
    Ok(SecretString::from(s.to_string()))
}

/// Validates what is to be stored and describes it as a Stripe account (so its key can be
/// tried before [`save_stripe`]). The environment is the key's; live keys need `allow_live`.
pub fn check_stripe(
    new: NewStripeIntegration,
    allow_live: bool,
) -> Result<StripeAccount, IntegrationError> {
    let organization = new.organization.trim().to_string();
    if organization.is_empty() {
        return Err(bad("--organization", "is empty"));
    }
    let secret_key = SecretString::from(
        secrecy::ExposeSecret::expose_secret(&new.secret_key)
            .trim()
            .to_string(),
    );
    let environment = stripe_key_environment(&secret_key)?;
    if environment == Environment::Production && !allow_live {
        return Err(bad(
            "--allow-live",
            "a live Stripe key (live money) needs an explicit --allow-live",
        ));
    }
    let api_base = match new.api_base {
        None => crate::gateway::stripe::API_BASE.to_string(),
        Some(u) => {
            let u = check_url("--api-base", &u)?;
            if !u.starts_with("https://") && !crate::net::is_loopback_url(&u) {
                return Err(bad(
                    "--api-base",
                    "must be https:// (or http:// on loopback, for the offline sandbox)",
                ));
            }
            u.trim_end_matches('/').to_string()
        }
    };
    let default_currency = Currency::from_code(new.default_currency.trim())
        .filter(|c| crate::gateway::stripe::takes_currency(*c))
        .ok_or_else(|| {
            bad(
                "--currency",
                format!(
                    "{:?} is not a currency Stripe charges in ({})",
                    new.default_currency,
                    Currency::known_codes()
                ),
            )
        })?;
    let webhook_secrets = new
        .webhook_secret
        .as_ref()
        .map(check_webhook_secret)
        .transpose()?
        .into_iter()
        .collect();
    Ok(StripeAccount {
        api_base,
        secret_key,
        webhook_secrets,
        retiring_webhook_secrets: Vec::new(),
        environment,
        default_currency,
        organization: Some(organization),
    })
}

/// One stored Stripe integration, if there is one.
pub async fn get_stripe(
    store: &Store,
    organization: &str,
    environment: Environment,
) -> Result<Option<StoredStripeIntegration>, IntegrationError> {
    let part = stripe_part(environment);
    store
        .get_config(organization, &part)
        .await?
        .map(|bytes| {
            serde_json::from_slice(&bytes).map_err(|e| {
                IntegrationError::Corrupt(organization.into(), part.clone(), e.to_string())
            })
        })
        .transpose()
}

/// Writes a Stripe integration (replacing the one of its organization and environment).
pub async fn put_stripe(
    store: &Store,
    s: &StoredStripeIntegration,
) -> Result<(), IntegrationError> {
    let bytes = serde_json::to_vec(s).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    store
        .put_config(&s.organization, &stripe_part(s.environment), &bytes)
        .await?;
    Ok(())
}

/// Stores a checked Stripe account, its key and webhook secret sealed with `key`. Without
/// a webhook secret, the one stored before (if any) is kept, so the key can be stored
/// again without losing it.
pub async fn save_stripe(
    store: &Store,
    key: &MasterKey,
    account: &StripeAccount,
) -> Result<StoredStripeIntegration, IntegrationError> {
    let Some(organization) = &account.organization else {
        return Err(bad("--organization", "names no organization"));
    };
    let now = Timestamp::now();
    let webhook_secrets_sealed = if account.webhook_secrets.is_empty() {
        get_stripe(store, organization, account.environment)
            .await?
            .map(|old| old.webhook_secrets_sealed)
            .unwrap_or_default()
    } else {
        account
            .webhook_secrets
            .iter()
            .map(|w| SealedWebhookSecret {
                sealed: key.seal(w),
                added_at: now,
                expires_at: None,
            })
            .collect()
    };
    let stored = StoredStripeIntegration {
        organization: organization.clone(),
        environment: account.environment,
        api_base: account.api_base.clone(),
        secret_key_sealed: key.seal(&account.secret_key),
        secret_key_masked: mask_stripe_key(secrecy::ExposeSecret::expose_secret(
            &account.secret_key,
        )),
        webhook_secrets_sealed,
        default_currency: account.default_currency.code().to_string(),
        active: true,
        updated_at: now,
    };
    put_stripe(store, &stored).await?;
    Ok(stored)
}

/// Every stored Stripe integration (secrets still sealed).
pub async fn list_stripe(store: &Store) -> Result<Vec<StoredStripeIntegration>, IntegrationError> {
    store
        .list_configs()
        .await?
        .into_iter()
        .filter(|(_, env, _)| env.starts_with(STRIPE_PART))
        .map(|(org, env, bytes)| {
            serde_json::from_slice::<StoredStripeIntegration>(&bytes)
                .map_err(|e| IntegrationError::Corrupt(org, env, e.to_string()))
        })
        .collect()
}

/// The webhook secrets still accepted at `now`: those with no expiry, and rotated-out ones
/// whose grace period has not ended.
pub fn live_webhook_secrets(
    s: &StoredStripeIntegration,
    now: Timestamp,
) -> impl Iterator<Item = &SealedWebhookSecret> {
    s.webhook_secrets_sealed
        .iter()
        .filter(move |w| w.expires_at.is_none_or(|e| e > now))
}

/// Adds `new` as the webhook secret: the ones accepted until now stay accepted for `grace`
/// (at most), expired ones are dropped.
pub fn rotate_webhook_secret(
    s: &mut StoredStripeIntegration,
    key: &MasterKey,
    new: &SecretString,
    now: Timestamp,
    grace: std::time::Duration,
) {
    let until = now.plus_millis(i64::try_from(grace.as_millis()).unwrap_or(i64::MAX));
    let mut kept: Vec<SealedWebhookSecret> = live_webhook_secrets(s, now).cloned().collect();
    for w in &mut kept {
        w.expires_at = Some(w.expires_at.map_or(until, |e| e.min(until)));
    }
    kept.push(SealedWebhookSecret {
        sealed: key.seal(new),
        added_at: now,
        expires_at: None,
    });
    s.webhook_secrets_sealed = kept;
    s.updated_at = now;
}

/// A stored Stripe integration as an account at `now`: its key opened with `key`, and
/// only the webhook secrets still accepted.
pub fn stripe_account(
    s: &StoredStripeIntegration,
    key: &MasterKey,
    now: Timestamp,
) -> Result<StripeAccount, IntegrationError> {
    let default_currency = Currency::from_code(&s.default_currency).ok_or_else(|| {
        IntegrationError::Corrupt(
            s.organization.clone(),
            stripe_part(s.environment),
            format!("unknown currency {:?}", s.default_currency),
        )
    })?;
    let (mut webhook_secrets, mut retiring_webhook_secrets) = (Vec::new(), Vec::new());
    for w in live_webhook_secrets(s, now) {
        let secret = key.open(&w.sealed)?;
        match w.expires_at {
            None => webhook_secrets.push(secret),
            // Accepted until its grace period ends, checked at each event.
            Some(until) => retiring_webhook_secrets.push((secret, until.0.div_euclid(1000))),
        }
    }
    Ok(StripeAccount {
        api_base: s.api_base.clone(),
        secret_key: key.open(&s.secret_key_sealed)?,
        webhook_secrets,
        retiring_webhook_secrets,
        environment: s.environment,
        default_currency,
        organization: Some(s.organization.clone()),
    })
}

/// Marks a Stripe integration active or not (kept for the payments made through it).
pub async fn set_stripe_active(
    store: &Store,
    organization: &str,
    environment: Environment,
    active: bool,
) -> Result<StoredStripeIntegration, IntegrationError> {
    let mut s = get_stripe(store, organization, environment)
        .await?
        .ok_or_else(|| {
            IntegrationError::MissingStripe(organization.to_string(), environment.as_str())
        })?;
    s.active = active;
    s.updated_at = Timestamp::now();
    put_stripe(store, &s).await?;
    Ok(s)
}

/// Which gateway an integration is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GatewayChoice {
    Flow,
    Stripe,
}

/// Removes a stored integration (its payments stay in the ledger).
pub async fn remove(
    store: &Store,
    gateway: GatewayChoice,
    organization: &str,
    environment: Environment,
) -> Result<(), IntegrationError> {
    let (part, missing) = match gateway {
        GatewayChoice::Flow => (
            environment.as_str().to_string(),
            IntegrationError::Missing(organization.to_string(), environment.as_str()),
        ),
        GatewayChoice::Stripe => (
            stripe_part(environment),
            IntegrationError::MissingStripe(organization.to_string(), environment.as_str()),
        ),
    };
    if store.delete_config(organization, &part).await? {
        Ok(())
    } else {
        Err(missing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_HEX: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    fn key() -> MasterKey {
        MasterKey::load(Some(KEY_HEX), std::path::Path::new("/nonexistent")).unwrap()
    }

    /// The secrets the account accepts at `now`: the retiring ones still in their grace
    /// period (oldest first), then the current one.
    fn opened(s: &StoredStripeIntegration, k: &MasterKey, now: Timestamp) -> Vec<String> {
        let a = stripe_account(s, k, now).unwrap();
        let now_unix = now.0.div_euclid(1000);
        a.retiring_webhook_secrets
            .iter()
            .filter(|(_, until)| *until > now_unix)
            .map(|(w, _)| w)
            .chain(a.webhook_secrets.iter())
            .map(|w| secrecy::ExposeSecret::expose_secret(w).to_string())
            .collect()
    }

    #[test]
    fn keys_are_masked_like_stripe_shows_them() {
        assert_eq!(mask_stripe_key("sk_test_0123456789abcd"), "sk_test_…abcd");
        assert_eq!(mask_stripe_key("rk_live_zzzzzzzzWXYZ"), "rk_live_…WXYZ");
        assert_eq!(mask_stripe_key("sk_test_short"), "sk_test_…");
    }

    #[test]
    fn a_rotated_webhook_secret_is_accepted_beside_the_new_one_until_its_grace_ends() {
        let k = key();
        let t0 = Timestamp(1_700_000_000_000);
        let mut s = StoredStripeIntegration {
            organization: "acme".into(),
            environment: Environment::Development,
            api_base: "http://127.0.0.1:9".into(),
            secret_key_sealed: k.seal(&SecretString::from("sk_test_0123456789")),
            secret_key_masked: "sk_test_…6789".into(),
            webhook_secrets_sealed: Vec::new(),
            default_currency: "USD".into(),
            active: true,
            updated_at: t0,
        };
        let hour = std::time::Duration::from_secs(3600);
        // The first secret, added after the connection was made: no grace for anything.
        rotate_webhook_secret(&mut s, &k, &SecretString::from("whsec_old"), t0, hour);
        assert_eq!(opened(&s, &k, t0), ["whsec_old"]);
        let t1 = t0.plus_secs(60);
        rotate_webhook_secret(&mut s, &k, &SecretString::from("whsec_new"), t1, 24 * hour);
        assert_eq!(opened(&s, &k, t1), ["whsec_old", "whsec_new"]);
        assert_eq!(
            opened(&s, &k, t1.plus_secs(24 * 3600 - 1)),
            ["whsec_old", "whsec_new"]
        );
        assert_eq!(opened(&s, &k, t1.plus_secs(24 * 3600)), ["whsec_new"]);
        // Rotating again soon after keeps the oldest one's earlier expiry and drops none
        // still in grace; once expired it is dropped from the record too.
        let t2 = t1.plus_secs(3600);
        rotate_webhook_secret(
            &mut s,
            &k,
            &SecretString::from("whsec_newer"),
            t2,
            48 * hour,
        );
        assert_eq!(
            opened(&s, &k, t2),
            ["whsec_old", "whsec_new", "whsec_newer"]
        );
        assert_eq!(
            opened(&s, &k, t1.plus_secs(24 * 3600)),
            ["whsec_new", "whsec_newer"]
        );
        let t3 = t2.plus_secs(49 * 3600);
        assert_eq!(opened(&s, &k, t3), ["whsec_newer"]);
        rotate_webhook_secret(&mut s, &k, &SecretString::from("whsec_last"), t3, hour);
        assert_eq!(s.webhook_secrets_sealed.len(), 2);
    }
}
