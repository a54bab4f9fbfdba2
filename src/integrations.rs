//! Flow integrations stored in the ledger, one per organization and environment, so that
//! each organization's credentials live with its payments rather than in the process
//! environment. The secret key is sealed with the master key ([`crate::secrets`]);
//! listings never show it. [`check`] validates what `paylink integration flow` is given
//! and describes it as an [`Account`] (so its keys can be tried before [`save`]);
//! [`account`] opens a stored one for [`crate::accounts`].

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::accounts::{Account, Origin};
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
pub fn save(
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
    store.put_config(&stored.organization, stored.environment.as_str(), &bytes)?;
    Ok(stored)
}

/// Every stored integration (secrets still sealed).
pub fn list(store: &Store) -> Result<Vec<StoredIntegration>, IntegrationError> {
    store
        .list_configs()?
        .into_iter()
        .map(|(org, env, bytes)| {
            serde_json::from_slice::<StoredIntegration>(&bytes)
                .map_err(|e| IntegrationError::Corrupt(org, env, e.to_string()))
        })
        .collect()
}

/// Marks an integration inactive (kept for the payments made through it).
pub fn set_active(
    store: &Store,
    organization: &str,
    environment: Environment,
    active: bool,
) -> Result<StoredIntegration, IntegrationError> {
    let bytes = store
        .get_config(organization, environment.as_str())?
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
    store.put_config(organization, environment.as_str(), &bytes)?;
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
