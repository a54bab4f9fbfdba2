//! Which gateway account serves which organization.
//!
//! An [`Account`] is one Flow merchant account and where it came from: the `FLOW_*`
//! variables, an integration stored in the ledger (`paylink integration flow`), or the
//! built-in offline sandbox that `serve` starts for organizations that have neither.
//!
//! - [`plan`] decides which account serves which organization. `serve`, `doctor` and
//!   `payments reconcile` all follow it, so `doctor`'s verdict is about what `serve` does.
//! - [`gateway_entry`] is the one place an account becomes a [`GatewayEntry`].
//! - [`check_keys`] is the one signed call that tells keys Flow accepts from keys it
//!   refuses; `doctor` and `paylink integration flow` use it.

use std::time::Duration;

use secrecy::SecretString;

use crate::config::{FlowSettings, Settings, StripeSettings};
use crate::domain::{Currency, Environment};
use crate::gateway::flow::endpoint::{EndpointError, FlowEndpoint, classify};
use crate::gateway::flow::{FlowClient, FlowClientConfig, FlowError};
use crate::gateway::retry::RetryPolicy;
use crate::gateway::stripe::{StripeClient, StripeConfig};
use crate::gateway::{GatewayError, Lookup};
use crate::integrations::{StoredIntegration, StoredStripeIntegration};
use crate::payments::{GatewayEntry, GatewayMode};
use crate::sandbox::{DEFAULT_API_KEY, DEFAULT_SECRET_KEY, RunningSandbox};
use crate::secrets::MasterKey;

/// Where an account's description came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The `FLOW_*` variables.
    Environment,
    /// An integration stored in the ledger for this organization.
    Stored { organization: String },
    /// The offline sandbox `serve` starts itself.
    BuiltInSandbox,
    /// Given directly (tests, benches).
    Given,
}

/// One Flow merchant account.
#[derive(Debug, Clone)]
pub struct Account {
    pub origin: Origin,
    /// Flow's API base, without a trailing slash.
    pub api_url: String,
    /// What `api_url` points at.
    pub endpoint: FlowEndpoint,
    pub api_key: String,
    pub secret_key: SecretString,
    pub environment: Environment,
    pub default_currency: Currency,
    /// Where payers return after paying; paylink's own return page when None.
    pub return_url: Option<String>,
}

impl Account {
    /// An account with CLP and paylink's return page; the URL is classified (and refused
    /// when it cannot be used).
    pub fn new(
        api_url: &str,
        api_key: &str,
        secret_key: SecretString,
        environment: Environment,
    ) -> Result<Account, EndpointError> {
        Ok(Account {
            origin: Origin::Given,
            endpoint: classify(api_url)?,
            api_url: api_url.trim().trim_end_matches('/').to_string(),
            api_key: api_key.trim().to_string(),
            secret_key,
            environment,
            default_currency: Currency::CLP,
            return_url: None,
        })
    }

    /// The account of the `FLOW_*` variables.
    pub fn from_settings(f: &FlowSettings) -> Account {
        Account {
            origin: Origin::Environment,
            api_url: f.api_url.clone(),
            endpoint: f.endpoint,
            api_key: f.api_key.clone(),
            secret_key: f.secret_key.clone(),
            environment: f.environment,
            default_currency: f.default_currency,
            return_url: f.return_url.clone(),
        }
    }

    /// The built-in offline sandbox's test merchant.
    pub fn built_in_sandbox(sb: &RunningSandbox) -> Account {
        Account {
            origin: Origin::BuiltInSandbox,
            api_url: sb.api_url.clone(),
            endpoint: FlowEndpoint::Loopback,
            api_key: DEFAULT_API_KEY.to_string(),
            secret_key: SecretString::from(DEFAULT_SECRET_KEY),
            environment: Environment::Development,
            default_currency: Currency::CLP,
            return_url: None,
        }
    }

    /// Where its payments go, as tool results and instructions say it. Only the sandbox
    /// paylink started itself is "the built-in offline sandbox"; any other loopback server
    /// is a local Flow-compatible server (test money, on this machine).
    pub fn mode(&self) -> GatewayMode {
        match (self.environment, self.endpoint) {
            (Environment::Production, _) => GatewayMode::Live,
            (Environment::Development, FlowEndpoint::Loopback) => match self.origin {
                Origin::BuiltInSandbox => GatewayMode::OfflineSandbox,
                Origin::Environment | Origin::Stored { .. } | Origin::Given => GatewayMode::Local,
            },
            (Environment::Development, FlowEndpoint::Sandbox | FlowEndpoint::OtherHttps) => {
                GatewayMode::Test
            }
            // Refused where accounts are made (config, integrations); kept test money if
            // one is built by hand.
            (Environment::Development, FlowEndpoint::Production) => GatewayMode::Test,
        }
    }

    /// The account in words, for the operator: `integration acme (development)`.
    pub fn label(&self) -> String {
        let env = self.environment.as_str();
        match &self.origin {
            Origin::Environment => format!("FLOW_* account ({env})"),
            Origin::Stored { organization } => format!("integration {organization} ({env})"),
            Origin::BuiltInSandbox => "built-in offline sandbox".to_string(),
            Origin::Given => format!("account at {} ({env})", self.api_url),
        }
    }
}

/// A gateway client could not be made.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("cannot set up HTTP for the gateways: {0}")]
    Http(String),
    #[error("{label}: {problem}")]
    Stripe { label: String, problem: String },
    #[error("{label}: {source}")]
    Client {
        label: String,
        #[source]
        source: FlowError,
    },
}

/// How gateway clients reach their gateways: one connection pool for every account, and
/// the limits of each call.
#[derive(Debug, Clone)]
pub struct Connection {
    pub http: reqwest::Client,
    /// Each call.
    pub timeout: Duration,
    /// How reads (status queries) are retried.
    pub read_retry: RetryPolicy,
}

impl Connection {
    pub fn new(timeout: Duration) -> Result<Connection, AccountError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("paylink/", env!("CARGO_PKG_VERSION")))
            // A gateway API never redirects; following one could carry a key elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| AccountError::Http(e.without_url().to_string()))?;
        Ok(Connection {
            http,
            timeout,
            read_retry: RetryPolicy::default(),
        })
    }
}

fn flow_client(
    account: &Account,
    conn: &Connection,
    timeout: Duration,
    read_retry: RetryPolicy,
) -> Result<FlowClient, AccountError> {
    let mut cfg = FlowClientConfig::new(
        account.api_url.clone(),
        account.api_key.clone(),
        account.secret_key.clone(),
    );
    cfg.timeout = timeout;
    cfg.read_retry = read_retry;
    FlowClient::with_http(cfg, conn.http.clone()).map_err(|source| AccountError::Client {
        label: account.label(),
        source,
    })
}

/// The gateway entry that serves payments through `account`.
pub fn gateway_entry(account: &Account, conn: &Connection) -> Result<GatewayEntry, AccountError> {
    Ok(GatewayEntry {
        gateway: std::sync::Arc::new(flow_client(account, conn, conn.timeout, conn.read_retry)?),
        mode: account.mode(),
        environment: account.environment,
        default_currency: account.default_currency,
        return_url: account.return_url.clone(),
    })
}

/// The longest one key check waits, whatever the per-call timeout.
pub const KEY_CHECK_LIMIT: Duration = Duration::from_secs(15);

/// How long a key check may take: the per-call timeout, at most [`KEY_CHECK_LIMIT`].
pub fn check_deadline(flow_timeout: Duration) -> Duration {
    flow_timeout.min(KEY_CHECK_LIMIT)
}

/// What a signed call says about an account's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyCheck {
    /// Flow checked the signature and answered (the probe's token is unknown to it, so the
    /// answer is "not found").
    Accepted,
    /// Flow refused the keys: a bad signature or an unknown apiKey.
    Refused(String),
    /// No usable answer: nothing is known about the keys.
    Unanswered(String),
}

/// Asks Flow for the status of a token it surely does not know, signed with the account's
/// keys, within `deadline` (one attempt, no retries). Flow checks the signature before
/// it looks the token up, so "not found" means the keys work.
pub async fn check_keys(account: &Account, conn: &Connection, deadline: Duration) -> KeyCheck {
    let client = match flow_client(account, conn, conn.timeout.min(deadline), RetryPolicy::NONE) {
        Ok(c) => c,
        Err(e) => return KeyCheck::Unanswered(e.to_string()),
    };
    let token = format!("paylink-key-check-{:016x}", rand::random::<u64>());
    match tokio::time::timeout(deadline, client.get_status(&token)).await {
        Err(_) => KeyCheck::Unanswered(format!("no answer within {} s", deadline.as_secs_f32())),
        Ok(Ok(_)) => KeyCheck::Accepted,
        Ok(Err(e)) if e.is_auth() => KeyCheck::Refused(e.to_string()),
        Ok(Err(FlowError::Api { .. })) => KeyCheck::Accepted,
        Ok(Err(e)) => KeyCheck::Unanswered(e.to_string()),
    }
}

/// One Stripe account: the `STRIPE_*` variables', or an integration stored in the ledger
/// (`paylink integration stripe`).
#[derive(Debug, Clone)]
pub struct StripeAccount {
    pub api_base: String,
    pub secret_key: SecretString,
    pub webhook_secrets: Vec<SecretString>,
    /// Rotated-out secrets, each accepted until its time (unix seconds).
    pub retiring_webhook_secrets: Vec<(SecretString, i64)>,
    pub environment: Environment,
    pub default_currency: Currency,
    /// The organization whose stored integration this is; None for `STRIPE_*`.
    pub organization: Option<String>,
}

impl StripeAccount {
    pub fn from_settings(s: &StripeSettings) -> StripeAccount {
        StripeAccount {
            api_base: s.api_base.clone(),
            secret_key: s.secret_key.clone(),
            webhook_secrets: s.webhook_secrets.clone(),
            retiring_webhook_secrets: Vec::new(),
            environment: s.environment,
            default_currency: s.default_currency,
            organization: None,
        }
    }

    /// Where its payments go: live keys are live; test keys on a loopback server (such as
    /// the offline Stripe sandbox) are local; other test keys are Stripe's test mode.
    pub fn mode(&self) -> GatewayMode {
        match self.environment {
            Environment::Production => GatewayMode::Live,
            Environment::Development if crate::net::is_loopback_url(&self.api_base) => {
                GatewayMode::Local
            }
            Environment::Development => GatewayMode::Test,
        }
    }

    /// The account in words: `STRIPE_* account (development)` or
    /// `stripe integration acme (development)`.
    pub fn label(&self) -> String {
        let env = self.environment.as_str();
        match &self.organization {
            None => format!("STRIPE_* account ({env})"),
            Some(org) => format!("stripe integration {org} ({env})"),
        }
    }

    fn client(&self, conn: &Connection) -> Result<StripeClient, AccountError> {
        let mut cfg = StripeConfig::new(self.secret_key.clone());
        cfg.api_base = self.api_base.clone();
        cfg.webhook_secrets = self.webhook_secrets.clone();
        cfg.retiring_webhook_secrets = self.retiring_webhook_secrets.clone();
        cfg.timeout = conn.timeout;
        cfg.read_retry = conn.read_retry;
        StripeClient::with_http(cfg, conn.http.clone()).map_err(|e| AccountError::Stripe {
            label: self.label(),
            problem: e.to_string(),
        })
    }

    /// The gateway entry that serves payments through this account.
    pub fn gateway_entry(&self, conn: &Connection) -> Result<GatewayEntry, AccountError> {
        Ok(GatewayEntry {
            gateway: std::sync::Arc::new(self.client(conn)?),
            mode: self.mode(),
            environment: self.environment,
            default_currency: self.default_currency,
            return_url: None,
        })
    }

    /// A signed read of a session that surely does not exist, within `deadline`: Stripe
    /// checks the key before it looks the session up, so "no such session" means the
    /// key works.
    pub async fn check_key(&self, conn: &Connection, deadline: Duration) -> KeyCheck {
        let client = match self.client(conn) {
            Ok(c) => c,
            Err(e) => return KeyCheck::Unanswered(e.to_string()),
        };
        let probe = format!("cs_test_paylinkkeycheck{:016x}", rand::random::<u64>());
        let read = crate::gateway::Gateway::status(&client, Lookup::Token(&probe));
        match tokio::time::timeout(deadline, read).await {
            Err(_) => {
                KeyCheck::Unanswered(format!("no answer within {} s", deadline.as_secs_f32()))
            }
            Ok(Ok(_)) => KeyCheck::Accepted,
            Ok(Err(GatewayError::Misconfigured { detail })) => KeyCheck::Refused(detail),
            Ok(Err(e)) => KeyCheck::Unanswered(e.to_string()),
        }
    }
}

/// What serves one or more organizations.
#[derive(Debug)]
pub enum Assignment {
    /// This account.
    Account(Account),
    /// This Stripe account, beside the organizations' Flow accounts.
    Stripe(StripeAccount),
    /// The built-in offline sandbox, started by `serve` (none of these organizations has
    /// an account).
    BuiltInSandbox,
    /// An account that cannot be used; `serve` refuses to start.
    Refused { label: String, problem: String },
    /// A stored integration that serves nobody (disabled, or replaced by `FLOW_*`).
    Unused { label: String, why: &'static str },
}

/// Organizations and what serves them.
#[derive(Debug)]
pub struct Slot {
    pub organizations: Vec<String>,
    pub serves: Assignment,
}

/// A stored integration of any gateway, as far as `plan` is concerned.
struct Stored<'a> {
    label: String,
    organization: &'a str,
    environment: Environment,
    active: bool,
    /// Why the `FLOW_*` or `STRIPE_*` variables serve its organization in its place, if
    /// they do.
    replaced_by: Option<&'static str>,
    /// The `paylink integration disable` flag naming its gateway (empty for Flow).
    gateway_flag: &'static str,
}

impl Stored<'_> {
    /// What serves its organization: nothing (disabled or replaced), a refusal (live
    /// without `allow_live`, no master key, unreadable), or the account `open` makes.
    fn assignment(
        self,
        settings: &Settings,
        key: Option<&MasterKey>,
        covered: &mut Vec<String>,
        open: impl FnOnce(&MasterKey) -> Result<Assignment, String>,
    ) -> Assignment {
        let label = self.label;
        if !self.active {
            return Assignment::Unused {
                label,
                why: "disabled; payments made through it keep their records",
            };
        }
        if let Some(why) = self.replaced_by {
            return Assignment::Unused { label, why };
        }
        covered.push(self.organization.to_string());
        if self.environment == Environment::Production && !settings.allow_live {
            let org = self.organization;
            return Assignment::Refused {
                problem: format!(
                    "organization {org:?} has a production (live money) {label}: start with --allow-live or PAYLINK_ALLOW_LIVE=1, or disable it with `paylink integration disable {}--organization {org} --environment production`",
                    self.gateway_flag
                ),
                label,
            };
        }
        match key {
            None => Assignment::Refused {
                label,
                problem: "its secret key cannot be opened without the master key".into(),
            },
            Some(k) => open(k).unwrap_or_else(|problem| Assignment::Refused { label, problem }),
        }
    }
}

/// Which account serves which organization, in the order `serve` registers them (an
/// organization's first account, or its production one, takes its new payments):
///
/// 1. every active stored integration serves its organization (production ones only with
///    `allow_live`; their secrets opened with `key`, which is None only when loading it
///    failed);
/// 2. the `FLOW_*` account, when set, serves the default organization and every bearer
///    token's organization, in its environment replacing a stored integration of theirs;
/// 3. every active stored Stripe integration serves its organization beside its Flow
///    account (production ones only with `allow_live`), except where the `STRIPE_*`
///    account replaces it: for the default and bearer tokens' organizations, in its
///    environment (the same rule as Flow's);
/// 4. the `STRIPE_*` account, when set, serves those same organizations;
/// 5. with neither `FLOW_*` nor `STRIPE_*`, the built-in offline sandbox serves whichever
///    of those has no integration of either gateway.
pub fn plan(
    settings: &Settings,
    stored: &[StoredIntegration],
    stored_stripe: &[StoredStripeIntegration],
    key: Option<&MasterKey>,
) -> Vec<Slot> {
    let orgs = settings.organizations();
    let mut slots = Vec::new();
    let mut covered = Vec::new();
    for s in stored {
        let stored = Stored {
            label: format!(
                "integration {} ({})",
                s.organization,
                s.environment.as_str()
            ),
            organization: &s.organization,
            environment: s.environment,
            active: s.active,
            replaced_by: settings
                .flow
                .as_ref()
                .is_some_and(|f| f.environment == s.environment && orgs.contains(&s.organization))
                .then_some(
                    "the FLOW_* variables serve this organization in this environment instead",
                ),
            gateway_flag: "",
        };
        let serves = stored.assignment(settings, key, &mut covered, |k| {
            crate::integrations::account(s, k)
                .map(Assignment::Account)
                .map_err(|e| e.to_string())
        });
        slots.push(Slot {
            organizations: vec![s.organization.clone()],
            serves,
        });
    }
    if let Some(f) = &settings.flow {
        slots.push(Slot {
            organizations: orgs.clone(),
            serves: Assignment::Account(Account::from_settings(f)),
        });
    }
    // Stored Stripe integrations, after every Flow account (Flow stays the default
    // gateway of an organization that has both).
    let now = crate::domain::Timestamp::now();
    for s in stored_stripe {
        let stored = Stored {
            label: format!(
                "stripe integration {} ({})",
                s.organization,
                s.environment.as_str()
            ),
            organization: &s.organization,
            environment: s.environment,
            active: s.active,
            replaced_by: settings
                .stripe
                .as_ref()
                .is_some_and(|e| e.environment == s.environment && orgs.contains(&s.organization))
                .then_some(
                    "the STRIPE_* variables serve this organization in this environment instead",
                ),
            gateway_flag: "--gateway stripe ",
        };
        let serves = stored.assignment(settings, key, &mut covered, |k| {
            crate::integrations::stripe_account(s, k, now)
                .map(Assignment::Stripe)
                .map_err(|e| e.to_string())
        });
        slots.push(Slot {
            organizations: vec![s.organization.clone()],
            serves,
        });
    }
    // The STRIPE_* account serves the same organizations, after their Flow account (which
    // stays their default gateway); for those without one it is the only gateway.
    if let Some(s) = &settings.stripe {
        slots.push(Slot {
            organizations: orgs.clone(),
            serves: Assignment::Stripe(StripeAccount::from_settings(s)),
        });
    }
    // With no credentials at all, the built-in offline sandbox.
    if settings.flow.is_none() && settings.stripe.is_none() {
        let bare: Vec<String> = orgs.into_iter().filter(|o| !covered.contains(o)).collect();
        if !bare.is_empty() {
            slots.push(Slot {
                organizations: bare,
                serves: Assignment::BuiltInSandbox,
            });
        }
    }
    slots
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Flags;
    use crate::domain::Timestamp;

    const KEY_HEX: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    fn key() -> MasterKey {
        MasterKey::load(Some(KEY_HEX), std::path::Path::new("/nonexistent")).unwrap()
    }

    fn stored(org: &str, environment: Environment, active: bool) -> StoredIntegration {
        StoredIntegration {
            organization: org.into(),
            environment,
            api_url: match environment {
                Environment::Production => "https://www.flow.cl/api".into(),
                Environment::Development => "https://sandbox.flow.cl/api".into(),
            },
            api_key: "K".into(),
            secret_key_sealed: key().seal(&SecretString::from("s")),
            return_url: None,
            default_currency: "CLP".into(),
            active,
            updated_at: Timestamp(0),
        }
    }

    fn stored_stripe(org: &str, environment: Environment, active: bool) -> StoredStripeIntegration {
        StoredStripeIntegration {
            organization: org.into(),
            environment,
            api_base: "https://api.stripe.com".into(),
            secret_key_sealed: key().seal(&SecretString::from("sk_test_0123456789")),
            secret_key_masked: "sk_test_…6789".into(),
            webhook_secrets_sealed: Vec::new(),
            default_currency: "USD".into(),
            active,
            updated_at: Timestamp(0),
        }
    }

    fn settings(env: &[(&str, &str)]) -> Settings {
        let m: std::collections::HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::load(&Flags::default(), |k| m.get(k).cloned()).unwrap()
    }

    /// Each slot as `organizations: what`, for comparing plans at a glance.
    fn shape(slots: &[Slot]) -> Vec<String> {
        slots
            .iter()
            .map(|s| {
                let what = match &s.serves {
                    Assignment::Account(a) => a.label(),
                    Assignment::BuiltInSandbox => "built-in".into(),
                    Assignment::Refused { label, .. } => format!("refused {label}"),
                    Assignment::Unused { label, .. } => format!("unused {label}"),
                    Assignment::Stripe(s) => s.label(),
                };
                format!("{}: {what}", s.organizations.join(","))
            })
            .collect()
    }

    #[test]
    fn organizations_without_an_account_get_the_built_in_sandbox() {
        let s = settings(&[(
            "PAYLINK_HTTP_TOKENS",
            "acme-token-0123456789=acme,globex-token-0123456789=globex",
        )]);
        let k = key();
        let plan = plan(
            &s,
            &[
                stored("acme", Environment::Development, true),
                stored("globex", Environment::Development, false),
            ],
            &[],
            Some(&k),
        );
        assert_eq!(
            shape(&plan),
            [
                "acme: integration acme (development)",
                "globex: unused integration globex (development)",
                "default,globex: built-in",
            ]
        );
    }

    #[test]
    fn the_flow_account_replaces_stored_integrations_of_its_environment_only() {
        let s = settings(&[
            ("FLOW_API_KEY", "k"),
            ("FLOW_SECRET_KEY", "s"),
            ("PAYLINK_ALLOW_LIVE", "1"),
        ]);
        let k = key();
        let plan = plan(
            &s,
            &[
                stored("default", Environment::Development, true),
                stored("default", Environment::Production, true),
                stored("other", Environment::Development, true),
            ],
            &[],
            Some(&k),
        );
        assert_eq!(
            shape(&plan),
            [
                "default: unused integration default (development)",
                "default: integration default (production)",
                "other: integration other (development)",
                "default: FLOW_* account (development)",
            ]
        );
    }

    #[test]
    fn live_integrations_need_allow_live_and_sealed_secrets_need_the_key() {
        let s = settings(&[]);
        let k = key();
        let plan_ = plan(
            &s,
            &[stored("acme", Environment::Production, true)],
            &[],
            Some(&k),
        );
        assert_eq!(
            shape(&plan_),
            [
                "acme: refused integration acme (production)",
                "default: built-in"
            ]
        );
        let plan_ = plan(
            &s,
            &[stored("acme", Environment::Development, true)],
            &[],
            None,
        );
        assert_eq!(
            shape(&plan_),
            [
                "acme: refused integration acme (development)",
                "default: built-in"
            ]
        );
    }

    #[test]
    fn stored_stripe_integrations_serve_beside_flow_unless_stripe_star_replaces_them() {
        let s = settings(&[
            ("STRIPE_SECRET_KEY", "sk_test_0123456789"),
            (
                "PAYLINK_HTTP_TOKENS",
                "acme-token-0123456789=acme,globex-token-0123456789=globex",
            ),
        ]);
        let k = key();
        let plan_ = plan(
            &s,
            &[stored("acme", Environment::Development, true)],
            &[
                stored_stripe("acme", Environment::Development, true),
                stored_stripe("other", Environment::Development, true),
                stored_stripe("other", Environment::Production, true),
                stored_stripe("gone", Environment::Development, false),
            ],
            Some(&k),
        );
        assert_eq!(
            shape(&plan_),
            [
                "acme: integration acme (development)",
                "acme: unused stripe integration acme (development)",
                "other: stripe integration other (development)",
                "other: refused stripe integration other (production)",
                "gone: unused stripe integration gone (development)",
                "default,acme,globex: STRIPE_* account (development)",
            ]
        );
        // Without STRIPE_* or FLOW_*, an organization with only a stored Stripe
        // integration does not get the built-in Flow sandbox.
        let bare = settings(&[]);
        let plan_ = plan(
            &bare,
            &[],
            &[stored_stripe("default", Environment::Development, true)],
            Some(&k),
        );
        assert_eq!(
            shape(&plan_),
            ["default: stripe integration default (development)"]
        );
    }

    #[test]
    fn the_mode_follows_the_environment_and_the_endpoint() {
        let account = |url: &str, env| Account::new(url, "k", SecretString::from("s"), env);
        let cases = [
            (
                "https://www.flow.cl/api",
                Environment::Production,
                GatewayMode::Live,
            ),
            (
                "http://127.0.0.1:9/api",
                Environment::Production,
                GatewayMode::Live,
            ),
            (
                "https://sandbox.flow.cl/api",
                Environment::Development,
                GatewayMode::Test,
            ),
            // A loopback server someone else runs is a local server, not paylink's own.
            (
                "http://[::1]:9/api",
                Environment::Development,
                GatewayMode::Local,
            ),
        ];
        for (url, env, mode) in cases {
            assert_eq!(account(url, env).unwrap().mode(), mode, "{url}");
        }
        let sb = Account {
            origin: Origin::BuiltInSandbox,
            ..account("http://127.0.0.1:9/api", Environment::Development).unwrap()
        };
        assert_eq!(sb.mode(), GatewayMode::OfflineSandbox);
    }
}
