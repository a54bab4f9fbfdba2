//! Settings: every variable paylink reads, declared once, validated once, refused when invalid.
//!
//! Layers apply in order: defaults, then `paylink.toml`, then the environment, then flags.
//! Each setting is one row of the table in `config/fields.rs`: its `paylink.toml` key (when
//! the file may hold it), its environment variable, and the one function that parses and
//! checks a value from any layer (`config/checks.rs` holds the shared checks). Rules that
//! join several settings (`FLOW_API_KEY` needs `FLOW_SECRET_KEY`, production needs
//! `allow_live`, ...) are checked once every layer is in (`config/layers.rs`). No other module
//! reads paylink's variables (`RUST_LOG`, the log filter, is tracing's own).
//!
//! # Invariants
//!
//! - Every invalid value stops paylink before anything starts, with one [`ConfigError`]
//!   naming the variable (or file key, or flag) and saying what to give instead.
//! - Secrets (Flow's secret key, bearer tokens, the master key, the notification secret,
//!   the metrics token) are `SecretString`s: `Debug` redacts them, and no error repeats them.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::domain::{Currency, Environment};
use crate::gateway::flow::endpoint::FlowEndpoint;
use crate::notify::NotifyTarget;

mod checks;
mod fields;
mod layers;
#[cfg(test)]
mod tests;

use checks::url;

/// Checks an organization name given on the command line as settings check
/// `PAYLINK_ORGANIZATION`; the problem, unnamed.
pub fn checks_organization(name: &str) -> Result<String, String> {
    checks::organization(name)
}

/// An `http(s)://` URL with a host, as every URL setting is checked (trailing `/` dropped).
pub fn checks_url(text: &str) -> Result<String, String> {
    checks::url(text)
}
use fields::FIELDS;
use layers::Draft;

/// A Flow account given through the environment (`FLOW_API_KEY`, `FLOW_SECRET_KEY`,
/// `FLOW_BASE_URL`, `FLOW_ENVIRONMENT`, `FLOW_RETURN_URL`, `FLOW_CURRENCY`).
#[derive(Debug, Clone)]
pub struct FlowSettings {
    pub api_url: String,
    /// What `api_url` points at.
    pub endpoint: FlowEndpoint,
    pub api_key: String,
    pub secret_key: SecretString,
    pub environment: Environment,
    pub return_url: Option<String>,
    pub default_currency: Currency,
}

/// The Stripe account of the `STRIPE_*` variables.
#[derive(Debug, Clone)]
pub struct StripeSettings {
    /// `https://api.stripe.com`, or a Stripe-compatible server such as the offline sandbox.
    pub api_base: String,
    pub secret_key: SecretString,
    /// Signing secrets of the webhook endpoint (`whsec_…`); two while one is rotated.
    pub webhook_secrets: Vec<SecretString>,
    /// Development for `sk_test_`/`rk_test_` keys, production for live ones.
    pub environment: Environment,
    pub default_currency: Currency,
}

/// Bearer tokens of MCP over HTTP (`PAYLINK_HTTP_TOKENS`), each belonging to one
/// organization. `Debug` shows the organizations only.
#[derive(Clone, Default)]
pub struct HttpTokens(Vec<(SecretString, String)>);

impl std::fmt::Debug for HttpTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "HttpTokens({} for {:?})",
            self.0.len(),
            self.organizations()
        )
    }
}

impl HttpTokens {
    /// The organizations the tokens belong to, sorted, each once.
    pub fn organizations(&self) -> Vec<String> {
        let mut v: Vec<String> = self.0.iter().map(|(_, o)| o.clone()).collect();
        v.sort();
        v.dedup();
        v
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Token → organization, as the HTTP transport checks them.
    pub fn to_map(&self) -> HashMap<String, String> {
        self.0
            .iter()
            .map(|(t, o)| (t.expose_secret().to_string(), o.clone()))
            .collect()
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// The sled directory: `PAYLINK_DATA_DIR`, else [`default_data_dir`] (set by
    /// [`Settings::load`]; empty in `Settings::default()`, so nothing is opened by mistake).
    pub data_dir: PathBuf,
    /// The PostgreSQL ledger (`postgres://…`) shared by replicas; None: sled in `data_dir`.
    /// Secret: it may hold the database password.
    pub database_url: Option<SecretString>,
    /// The side listener (Flow confirmations, return page, health, metrics).
    pub listener_addr: SocketAddr,
    /// The public base URL Flow reaches the listener at; `http://<listener_addr>` if unset.
    pub public_base_url: Option<String>,
    /// The organization of stdio sessions and of the `FLOW_*` account.
    pub organization: String,
    /// An account from `FLOW_*`; None: stored integrations, else the built-in offline sandbox.
    pub flow: Option<FlowSettings>,
    /// A Stripe account from `STRIPE_*`; None: stored integrations only.
    pub stripe: Option<StripeSettings>,
    /// Live (production) Flow needs this explicit opt-in.
    pub allow_live: bool,
    pub order_timeout: Option<Duration>,
    pub idempotency_window: Duration,
    /// How long a person has to answer an approval (`PAYLINK_APPROVAL_TTL_SECS`).
    pub approval_ttl: Duration,
    pub reconcile_interval: Duration,
    pub pending_check_after: Duration,
    /// Each call to Flow.
    pub flow_timeout: Duration,
    /// The master key's file (created 0600 on first use); `<data_dir>/master.key` if unset.
    pub key_file: Option<PathBuf>,
    /// The master key itself, from `PAYLINK_MASTER_KEY` (64 hex characters).
    pub master_key: Option<SecretString>,
    /// sled's page cache for the ledger, in MiB. sled's accounting is approximate, so this
    /// is a target for the memory it keeps, not a hard limit.
    pub cache_mb: u64,
    /// Caps and timeouts of each listener (see [`crate::net`]).
    pub net: NetSettings,
    /// MCP over HTTP: bearer tokens and their organizations.
    pub http_tokens: HttpTokens,
    /// MCP over HTTP: extra Host names accepted (behind a reverse proxy).
    pub http_allowed_hosts: Vec<String>,
    /// MCP over HTTP: when set, a browser's Origin must be one of these.
    pub http_allowed_origins: Vec<String>,
    /// MCP over HTTP: open sessions per organization.
    pub http_max_sessions_per_org: usize,
    /// MCP over HTTP: a session with no request and no open stream is closed after this.
    pub http_session_idle: Duration,
    /// After a create whose outcome is unknown, how long before the gateway may be asked
    /// to create it again (see `PaymentSettings::create_settle_window`).
    pub create_settle_window: Duration,
    /// When set, `/metrics` on the side listener wants `Authorization: Bearer <token>`.
    /// Unset, `/metrics` is open on a loopback listener and refused (403) on any other.
    pub metrics_token: Option<SecretString>,
    /// Where the default organization's lifecycle notifications go, signed with a secret.
    pub notify: Option<NotifyTarget>,
    /// The default organization's spending policy (`PAYLINK_POLICY_*`); a policy stored
    /// in the ledger for it (`paylink integration policy`) wins.
    pub policy: crate::domain::SpendingPolicy,
    /// The default organization's merchant as its payers see it on the return page
    /// (`PAYLINK_MERCHANT_NAME`, `PAYLINK_MERCHANT_URL`); unset, the page is neutral.
    pub merchant: crate::payer::Merchant,
}

/// What every listener allows: the same for the side listener and MCP over HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetSettings {
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
}

impl Default for NetSettings {
    fn default() -> Self {
        let l = crate::net::Limits::default();
        NetSettings {
            max_connections: l.max_connections,
            max_connections_per_ip: l.max_per_ip,
            header_timeout: l.header_timeout,
            body_timeout: l.body_timeout,
        }
    }
}

impl NetSettings {
    /// The limits of a listener whose request bodies are at most `max_body` bytes.
    pub fn limits(&self, max_body: usize) -> crate::net::Limits {
        crate::net::Limits {
            header_timeout: self.header_timeout,
            body_timeout: self.body_timeout,
            max_body,
            max_connections: self.max_connections,
            max_per_ip: self.max_connections_per_ip,
            ..crate::net::Limits::default()
        }
    }
}

/// sled's own default page cache (1 GiB).
pub const DEFAULT_CACHE_MB: u64 = crate::store::DEFAULT_CACHE_BYTES / (1024 * 1024);
/// The accepted range for `cache_mb`.
pub const CACHE_MB_RANGE: std::ops::RangeInclusive<u64> = 16..=1_048_576;
/// The shortest metrics token accepted.
pub const MIN_METRICS_TOKEN_CHARS: usize = 16;
/// The shortest bearer token of MCP over HTTP accepted.
pub const MIN_HTTP_TOKEN_CHARS: usize = 16;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            data_dir: PathBuf::new(),
            database_url: None,
            listener_addr: SocketAddr::from(([127, 0, 0, 1], 8787)),
            public_base_url: None,
            organization: "default".into(),
            flow: None,
            stripe: None,
            allow_live: false,
            order_timeout: Some(Duration::from_secs(24 * 3600)),
            idempotency_window: Duration::from_secs(600),
            approval_ttl: Duration::from_secs(1800),
            reconcile_interval: Duration::from_secs(300),
            pending_check_after: Duration::from_secs(3600),
            flow_timeout: Duration::from_secs(30),
            key_file: None,
            master_key: None,
            cache_mb: DEFAULT_CACHE_MB,
            net: NetSettings::default(),
            http_tokens: HttpTokens::default(),
            http_allowed_hosts: Vec::new(),
            http_allowed_origins: Vec::new(),
            http_max_sessions_per_org: crate::mcp::http::HttpOptions::default()
                .max_sessions_per_org,
            http_session_idle: crate::mcp::http::HttpOptions::default().session_idle,
            create_settle_window: Duration::from_secs(60),
            metrics_token: None,
            notify: None,
            policy: crate::domain::SpendingPolicy::default(),
            merchant: crate::payer::Merchant::default(),
        }
    }
}

/// A configuration value that cannot be used. `field` is the variable, file key or flag;
/// `problem` says what is wrong and what to give instead.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{field}: {problem}")]
pub struct ConfigError {
    pub field: String,
    pub problem: String,
}

fn bad(field: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        field: field.to_string(),
        problem: problem.into(),
    }
}

/// The flags that override every other layer (see `paylink --help`).
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub config: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub listen: Option<String>,
    pub public_url: Option<String>,
    pub allow_live: bool,
}

/// The data directory when no layer names one: the platform's per-user data directory for
/// paylink, as the `directories` crate finds it (`$XDG_DATA_HOME/paylink`, else
/// `~/.local/share/paylink` on Linux; `~/Library/Application Support/paylink` on macOS;
/// `%APPDATA%\paylink\data` on Windows). Without a home directory there is none, and
/// the error says to name one.
pub fn default_data_dir() -> Result<PathBuf, ConfigError> {
    data_dir_of(directories::ProjectDirs::from("", "", "paylink"))
}

fn data_dir_of(dirs: Option<directories::ProjectDirs>) -> Result<PathBuf, ConfigError> {
    dirs.map(|d| d.data_dir().to_path_buf()).ok_or_else(|| {
        bad(
            "PAYLINK_DATA_DIR",
            "is not set, and there is no home directory to hold the default data directory; set PAYLINK_DATA_DIR or pass --data-dir",
        )
    })
}

/// Checks that `url` is an absolute http(s) URL with a host; returns it without a
/// trailing slash.
pub fn check_url(field: &str, url_text: &str) -> Result<String, ConfigError> {
    url(url_text).map_err(|p| bad(field, p))
}

impl Settings {
    /// Every layer in order: defaults, the `paylink.toml` file (`--config`, else
    /// `PAYLINK_CONFIG`, else `./paylink.toml` when present), the environment as `env`
    /// looks it up, then `flags`; validated as a whole.
    pub fn load(
        flags: &Flags,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings, ConfigError> {
        let mut d = Draft::default();
        let file = flags
            .config
            .clone()
            .or_else(|| env("PAYLINK_CONFIG").map(PathBuf::from))
            .or_else(|| Some(PathBuf::from("paylink.toml")).filter(|p| p.exists()));
        if let Some(f) = file {
            d.apply_file(&f)?;
        }
        d.apply_env(&env)?;
        d.apply_flags(flags)?;
        d.finish()
    }

    /// [`Settings::load`] from this process's environment. A variable of paylink's whose
    /// value is not UTF-8 is refused rather than taken for unset.
    pub fn from_process(flags: &Flags) -> Result<Settings, ConfigError> {
        let names = FIELDS.iter().map(|f| f.var).chain(["PAYLINK_CONFIG"]);
        for name in names {
            if let Err(std::env::VarError::NotUnicode(_)) = std::env::var(name) {
                return Err(bad(name, "is not valid UTF-8; give it in plain text"));
            }
        }
        Settings::load(flags, |k| std::env::var(k).ok())
    }

    /// The environment variables paylink reads, in the order they are documented.
    pub fn variables() -> impl Iterator<Item = &'static str> {
        std::iter::once("PAYLINK_CONFIG").chain(FIELDS.iter().map(|f| f.var))
    }

    /// The ledger's page cache in bytes.
    pub fn cache_bytes(&self) -> u64 {
        self.cache_mb * 1024 * 1024
    }

    /// The organizations `serve` answers for: the default one and those of the HTTP
    /// bearer tokens, each once.
    pub fn organizations(&self) -> Vec<String> {
        let mut v = vec![self.organization.clone()];
        for o in self.http_tokens.organizations() {
            if !v.contains(&o) {
                v.push(o);
            }
        }
        v
    }

    /// The master key's file.
    pub fn key_file(&self) -> PathBuf {
        self.key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("master.key"))
    }

    /// Loads the master key; a missing key file is an error (sealed secrets may exist).
    pub fn master_key(&self) -> Result<crate::secrets::MasterKey, crate::secrets::SecretError> {
        crate::secrets::MasterKey::load(
            self.master_key.as_ref().map(|k| k.expose_secret()),
            &self.key_file(),
        )
    }

    /// Loads the master key, creating its file on first use: only for a ledger that holds
    /// no sealed secret yet.
    pub fn master_key_or_create(
        &self,
    ) -> Result<crate::secrets::MasterKey, crate::secrets::SecretError> {
        crate::secrets::MasterKey::load_or_create(
            self.master_key.as_ref().map(|k| k.expose_secret()),
            &self.key_file(),
        )
    }

    /// The base URL Flow and browsers reach the side listener at.
    pub fn public_base(&self, bound: SocketAddr) -> String {
        self.public_base_url
            .clone()
            .unwrap_or_else(|| format!("http://{bound}"))
    }
}
