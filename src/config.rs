//! Typed settings: defaults, then the environment, then flags (the CLI applies flags last).
//! Every value is validated at start, with a message that names the field. Secrets are
//! wrapped so that `Debug` and logs never show them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

use crate::domain::{Currency, Environment};
use crate::gateway::flow::{PRODUCTION_BASE_URL, SANDBOX_BASE_URL};

/// A Flow account given through the environment (`FLOW_API_KEY`, `FLOW_SECRET_KEY`,
/// `FLOW_BASE_URL`, as in the MTB seed).
#[derive(Debug, Clone)]
pub struct FlowSettings {
    pub api_url: String,
    pub api_key: String,
    pub secret_key: SecretString,
    pub environment: Environment,
    pub return_url: Option<String>,
    pub default_currency: Currency,
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// The sled directory.
    pub data_dir: PathBuf,
    /// The side listener (Flow confirmations, return page, health, metrics).
    pub listener_addr: SocketAddr,
    /// The public base URL Flow reaches the listener at; `http://<listener_addr>` if unset.
    pub public_base_url: Option<String>,
    pub organization: String,
    /// None: the built-in offline sandbox.
    pub flow: Option<FlowSettings>,
    /// Live (production) Flow needs this explicit opt-in.
    pub allow_live: bool,
    pub order_timeout: Option<Duration>,
    pub idempotency_window: Duration,
    pub reconcile_interval: Duration,
    pub pending_check_after: Duration,
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

impl Default for Settings {
    fn default() -> Self {
        Settings {
            data_dir: PathBuf::from("paylink-data"),
            listener_addr: SocketAddr::from(([127, 0, 0, 1], 8787)),
            public_base_url: None,
            organization: "default".into(),
            flow: None,
            allow_live: false,
            order_timeout: Some(Duration::from_secs(24 * 3600)),
            idempotency_window: Duration::from_secs(600),
            reconcile_interval: Duration::from_secs(300),
            pending_check_after: Duration::from_secs(3600),
            flow_timeout: Duration::from_secs(30),
            key_file: None,
            master_key: None,
            cache_mb: DEFAULT_CACHE_MB,
            net: NetSettings::default(),
            http_allowed_hosts: Vec::new(),
            http_allowed_origins: Vec::new(),
            http_max_sessions_per_org: crate::mcp::http::HttpOptions::default()
                .max_sessions_per_org,
            http_session_idle: crate::mcp::http::HttpOptions::default().session_idle,
            create_settle_window: Duration::from_secs(60),
            metrics_token: None,
        }
    }
}

/// The keys `paylink.toml` accepts (all optional). Secrets do not belong in it: Flow
/// credentials go into the ledger with `paylink integration flow`, or come from the
/// environment. `metrics_token` is the exception, for deployments that keep one config
/// file (keep that file 0600); `PAYLINK_METRICS_TOKEN` is the better home.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    data_dir: Option<PathBuf>,
    listen: Option<String>,
    public_url: Option<String>,
    organization: Option<String>,
    allow_live: Option<bool>,
    order_timeout_secs: Option<u64>,
    reconcile_interval_secs: Option<u64>,
    pending_check_after_secs: Option<u64>,
    idempotency_window_secs: Option<u64>,
    flow_timeout_secs: Option<u64>,
    key_file: Option<PathBuf>,
    cache_mb: Option<u64>,
    max_connections: Option<u64>,
    max_connections_per_ip: Option<u64>,
    header_timeout_secs: Option<u64>,
    body_timeout_secs: Option<u64>,
    http_allowed_hosts: Option<Vec<String>>,
    http_allowed_origins: Option<Vec<String>>,
    http_max_sessions_per_org: Option<u64>,
    http_session_idle_secs: Option<u64>,
    create_settle_secs: Option<u64>,
    metrics_token: Option<String>,
}

/// A configuration value that cannot be used. The message names the field and the fix.
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

/// Checks that `url` is an absolute http(s) URL with a host.
pub fn check_url(field: &str, url: &str) -> Result<String, ConfigError> {
    let u = url.trim().trim_end_matches('/');
    let rest = u
        .strip_prefix("https://")
        .or_else(|| u.strip_prefix("http://"))
        .ok_or_else(|| {
            bad(
                field,
                format!("{url:?} is not a URL; it must start with http:// or https://"),
            )
        })?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(bad(field, format!("{url:?} has no host")));
    }
    Ok(u.to_string())
}

/// The shortest metrics token accepted.
pub const MIN_METRICS_TOKEN_CHARS: usize = 16;

/// Checks a metrics bearer token: at least [`MIN_METRICS_TOKEN_CHARS`] characters, no
/// spaces or control characters. The message never repeats the token.
fn check_metrics_token(field: &str, v: &str) -> Result<SecretString, ConfigError> {
    let t = v.trim();
    if t.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad(
            field,
            "contains spaces or control characters; use a random token such as the output of \
             `openssl rand -hex 32`",
        ));
    }
    if t.chars().count() < MIN_METRICS_TOKEN_CHARS {
        return Err(bad(
            field,
            format!(
                "is shorter than {MIN_METRICS_TOKEN_CHARS} characters; use a random token such \
                 as the output of `openssl rand -hex 32`"
            ),
        ));
    }
    Ok(SecretString::from(t.to_string()))
}

fn parse_secs(field: &str, v: &str) -> Result<Duration, ConfigError> {
    v.trim()
        .parse::<u64>()
        .map(Duration::from_secs)
        .map_err(|_| bad(field, format!("{v:?} is not a whole number of seconds")))
}

fn check_cache_mb(field: &str, mb: u64) -> Result<u64, ConfigError> {
    if CACHE_MB_RANGE.contains(&mb) {
        Ok(mb)
    } else {
        Err(bad(
            field,
            format!(
                "{mb} MiB is out of range; give {} to {} (MiB of memory for the ledger's cache)",
                CACHE_MB_RANGE.start(),
                CACHE_MB_RANGE.end()
            ),
        ))
    }
}

fn check_count(field: &str, n: u64) -> Result<usize, ConfigError> {
    if (1..=1_000_000).contains(&n) {
        Ok(n as usize)
    } else {
        Err(bad(
            field,
            format!("{n} is out of range; give 1 to 1000000"),
        ))
    }
}

fn check_timeout(field: &str, secs: u64) -> Result<Duration, ConfigError> {
    if (1..=3600).contains(&secs) {
        Ok(Duration::from_secs(secs))
    } else {
        Err(bad(
            field,
            format!("{secs} s is out of range; give 1 to 3600 seconds"),
        ))
    }
}

/// Host names for `http_allowed_hosts`: a name or `name:port`, no scheme or path.
fn check_hosts(field: &str, hosts: Vec<String>) -> Result<Vec<String>, ConfigError> {
    hosts
        .into_iter()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .map(|h| {
            if h.contains(['/', ' ', '@']) {
                Err(bad(
                    field,
                    format!("{h:?} is not a host name; give names like pay.example.com or pay.example.com:443"),
                ))
            } else {
                Ok(h)
            }
        })
        .collect()
}

/// Origins for `http_allowed_origins`: `scheme://host[:port]`, or `null`.
fn check_origins(field: &str, origins: Vec<String>) -> Result<Vec<String>, ConfigError> {
    origins
        .into_iter()
        .map(|o| o.trim().trim_end_matches('/').to_string())
        .filter(|o| !o.is_empty())
        .map(|o| {
            let ok = o == "null"
                || ((o.starts_with("https://") || o.starts_with("http://"))
                    && !o.split_once("://").is_some_and(|(_, rest)| rest.is_empty() || rest.contains('/')));
            if ok {
                Ok(o)
            } else {
                Err(bad(
                    field,
                    format!("{o:?} is not an origin; give scheme://host[:port], e.g. https://app.example.com"),
                ))
            }
        })
        .collect()
}

fn list(v: &str) -> Vec<String> {
    v.split(',').map(str::to_string).collect()
}

fn parse_u64(field: &str, v: &str) -> Result<u64, ConfigError> {
    v.trim()
        .parse::<u64>()
        .map_err(|_| bad(field, format!("{v:?} is not a whole number")))
}

impl NetSettings {
    /// Applies the four values given (from a file or the environment), each validated and
    /// named by `field(key)` in errors.
    fn apply(
        &mut self,
        values: [Option<u64>; 4],
        field: impl Fn(usize) -> &'static str,
    ) -> Result<(), ConfigError> {
        let [conns, per_ip, header, body] = values;
        if let Some(n) = conns {
            self.max_connections = check_count(field(0), n)?;
        }
        if let Some(n) = per_ip {
            self.max_connections_per_ip = check_count(field(1), n)?;
        }
        if let Some(s) = header {
            self.header_timeout = check_timeout(field(2), s)?;
        }
        if let Some(s) = body {
            self.body_timeout = check_timeout(field(3), s)?;
        }
        Ok(())
    }
}

const NET_ENV: [&str; 4] = [
    "PAYLINK_MAX_CONNECTIONS",
    "PAYLINK_MAX_CONNECTIONS_PER_IP",
    "PAYLINK_HEADER_TIMEOUT_SECS",
    "PAYLINK_BODY_TIMEOUT_SECS",
];
const NET_FILE: [&str; 4] = [
    "max_connections",
    "max_connections_per_ip",
    "header_timeout_secs",
    "body_timeout_secs",
];

impl Settings {
    /// The ledger's page cache in bytes.
    pub fn cache_bytes(&self) -> u64 {
        self.cache_mb * 1024 * 1024
    }

    /// Applies `PAYLINK_*` and `FLOW_*` variables from `env` (a lookup, so tests need not
    /// touch the process environment).
    pub fn apply_env(
        mut self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings, ConfigError> {
        if let Some(v) = env("PAYLINK_DATA_DIR") {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = env("PAYLINK_LISTEN") {
            self.listener_addr = v.parse().map_err(|_| {
                bad(
                    "PAYLINK_LISTEN",
                    format!("{v:?} is not an address like 127.0.0.1:8787"),
                )
            })?;
        }
        if let Some(v) = env("PAYLINK_PUBLIC_URL") {
            self.public_base_url = Some(check_url("PAYLINK_PUBLIC_URL", &v)?);
        }
        if let Some(v) = env("PAYLINK_ORGANIZATION") {
            self.organization = v;
        }
        if let Some(v) = env("PAYLINK_KEY_FILE") {
            self.key_file = Some(PathBuf::from(v));
        }
        if let Some(v) = env("PAYLINK_MASTER_KEY") {
            self.master_key = Some(SecretString::from(v));
        }
        if let Some(v) = env("PAYLINK_ALLOW_LIVE") {
            self.allow_live = matches!(v.as_str(), "1" | "true" | "yes");
        }
        if let Some(v) = env("PAYLINK_ORDER_TIMEOUT_SECS") {
            let d = parse_secs("PAYLINK_ORDER_TIMEOUT_SECS", &v)?;
            self.order_timeout = (!d.is_zero()).then_some(d);
        }
        if let Some(v) = env("PAYLINK_RECONCILE_INTERVAL_SECS") {
            self.reconcile_interval = parse_secs("PAYLINK_RECONCILE_INTERVAL_SECS", &v)?;
        }
        if let Some(v) = env("PAYLINK_PENDING_CHECK_AFTER_SECS") {
            self.pending_check_after = parse_secs("PAYLINK_PENDING_CHECK_AFTER_SECS", &v)?;
        }
        if let Some(v) = env("PAYLINK_CACHE_MB") {
            let mb = v.trim().parse::<u64>().map_err(|_| {
                bad(
                    "PAYLINK_CACHE_MB",
                    format!("{v:?} is not a whole number of MiB (e.g. 256)"),
                )
            })?;
            self.cache_mb = check_cache_mb("PAYLINK_CACHE_MB", mb)?;
        }
        let mut net = [None; 4];
        for (slot, name) in net.iter_mut().zip(NET_ENV) {
            if let Some(v) = env(name) {
                *slot = Some(parse_u64(name, &v)?);
            }
        }
        self.net.apply(net, |i| NET_ENV[i])?;
        if let Some(v) = env("PAYLINK_HTTP_ALLOWED_HOSTS") {
            self.http_allowed_hosts = check_hosts("PAYLINK_HTTP_ALLOWED_HOSTS", list(&v))?;
        }
        if let Some(v) = env("PAYLINK_HTTP_ALLOWED_ORIGINS") {
            self.http_allowed_origins = check_origins("PAYLINK_HTTP_ALLOWED_ORIGINS", list(&v))?;
        }
        if let Some(v) = env("PAYLINK_HTTP_MAX_SESSIONS_PER_ORG") {
            let f = "PAYLINK_HTTP_MAX_SESSIONS_PER_ORG";
            self.http_max_sessions_per_org = check_count(f, parse_u64(f, &v)?)?;
        }
        if let Some(v) = env("PAYLINK_CREATE_SETTLE_SECS") {
            let f = "PAYLINK_CREATE_SETTLE_SECS";
            self.create_settle_window = check_timeout(f, parse_u64(f, &v)?)?;
        }
        if let Some(v) = env("PAYLINK_FLOW_TIMEOUT_SECS") {
            let f = "PAYLINK_FLOW_TIMEOUT_SECS";
            self.flow_timeout = check_timeout(f, parse_u64(f, &v)?)?;
        }
        if let Some(v) = env("PAYLINK_HTTP_SESSION_IDLE_SECS") {
            let f = "PAYLINK_HTTP_SESSION_IDLE_SECS";
            self.http_session_idle = check_timeout(f, parse_u64(f, &v)?)?;
        }
        if let Some(v) = env("PAYLINK_METRICS_TOKEN") {
            self.metrics_token = Some(check_metrics_token("PAYLINK_METRICS_TOKEN", &v)?);
        }
        let key = env("FLOW_API_KEY");
        let secret = env("FLOW_SECRET_KEY");
        match (key, secret) {
            (None, None) => {}
            (Some(_), None) => {
                return Err(bad(
                    "FLOW_SECRET_KEY",
                    "FLOW_API_KEY is set but FLOW_SECRET_KEY is missing",
                ));
            }
            (None, Some(_)) => {
                return Err(bad(
                    "FLOW_API_KEY",
                    "FLOW_SECRET_KEY is set but FLOW_API_KEY is missing",
                ));
            }
            (Some(api_key), Some(secret)) => {
                if secret.trim().is_empty() {
                    return Err(bad("FLOW_SECRET_KEY", "is empty"));
                }
                let api_url = check_url(
                    "FLOW_BASE_URL",
                    &env("FLOW_BASE_URL").unwrap_or_else(|| SANDBOX_BASE_URL.to_string()),
                )?;
                let environment = match env("FLOW_ENVIRONMENT") {
                    Some(e) => Environment::parse(&e).ok_or_else(|| {
                        bad(
                            "FLOW_ENVIRONMENT",
                            format!("{e:?} is not an environment; use development or production"),
                        )
                    })?,
                    None if api_url == PRODUCTION_BASE_URL => Environment::Production,
                    None => Environment::Development,
                };
                let default_currency = match env("FLOW_CURRENCY") {
                    Some(c) => Currency::from_code(&c).ok_or_else(|| {
                        bad(
                            "FLOW_CURRENCY",
                            format!(
                                "{c:?} is not a known currency ({})",
                                Currency::known_codes()
                            ),
                        )
                    })?,
                    None => Currency::CLP,
                };
                let return_url = env("FLOW_RETURN_URL")
                    .map(|u| check_url("FLOW_RETURN_URL", &u))
                    .transpose()?;
                self.flow = Some(FlowSettings {
                    api_url,
                    api_key: api_key.trim().to_string(),
                    secret_key: SecretString::from(secret.trim().to_string()),
                    environment,
                    return_url,
                    default_currency,
                });
            }
        }
        self.validate()
    }

    pub fn validate(self) -> Result<Settings, ConfigError> {
        if let Some(f) = &self.flow
            && f.environment == Environment::Production
            && !self.allow_live
        {
            return Err(bad(
                "FLOW_ENVIRONMENT",
                "production (live money) needs an explicit opt-in: set PAYLINK_ALLOW_LIVE=1 or pass --allow-live",
            ));
        }
        if self.organization.trim().is_empty() {
            return Err(bad("PAYLINK_ORGANIZATION", "must not be empty"));
        }
        Ok(self)
    }

    /// The master key's file.
    pub fn key_file(&self) -> PathBuf {
        self.key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("master.key"))
    }

    /// Loads the master key; a missing key file is an error (sealed secrets may exist).
    pub fn master_key(&self) -> Result<crate::secrets::MasterKey, crate::secrets::SecretError> {
        use secrecy::ExposeSecret;
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
        use secrecy::ExposeSecret;
        crate::secrets::MasterKey::load_or_create(
            self.master_key.as_ref().map(|k| k.expose_secret()),
            &self.key_file(),
        )
    }

    /// Applies a `paylink.toml` file. Unknown keys are errors that name the key.
    pub fn apply_file(mut self, path: &std::path::Path) -> Result<Settings, ConfigError> {
        let field = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| bad(&field, format!("cannot be read: {e}")))?;
        let f: FileSettings =
            toml::from_str(&text).map_err(|e| bad(&field, e.message().to_string()))?;
        if let Some(v) = f.data_dir {
            self.data_dir = v;
        }
        if let Some(v) = f.listen {
            self.listener_addr = v.parse().map_err(|_| {
                bad(
                    "listen",
                    format!("{v:?} is not an address like 127.0.0.1:8787"),
                )
            })?;
        }
        if let Some(v) = f.public_url {
            self.public_base_url = Some(check_url("public_url", &v)?);
        }
        if let Some(v) = f.organization {
            self.organization = v;
        }
        if let Some(v) = f.allow_live {
            self.allow_live = v;
        }
        if let Some(v) = f.order_timeout_secs {
            self.order_timeout = (v > 0).then(|| Duration::from_secs(v));
        }
        if let Some(v) = f.reconcile_interval_secs {
            self.reconcile_interval = Duration::from_secs(v);
        }
        if let Some(v) = f.pending_check_after_secs {
            self.pending_check_after = Duration::from_secs(v);
        }
        if let Some(v) = f.idempotency_window_secs {
            self.idempotency_window = Duration::from_secs(v);
        }
        if let Some(v) = f.flow_timeout_secs {
            self.flow_timeout = Duration::from_secs(v.max(1));
        }
        if let Some(v) = f.key_file {
            self.key_file = Some(v);
        }
        if let Some(v) = f.cache_mb {
            self.cache_mb = check_cache_mb("cache_mb", v)?;
        }
        self.net.apply(
            [
                f.max_connections,
                f.max_connections_per_ip,
                f.header_timeout_secs,
                f.body_timeout_secs,
            ],
            |i| NET_FILE[i],
        )?;
        if let Some(v) = f.http_allowed_hosts {
            self.http_allowed_hosts = check_hosts("http_allowed_hosts", v)?;
        }
        if let Some(v) = f.http_allowed_origins {
            self.http_allowed_origins = check_origins("http_allowed_origins", v)?;
        }
        if let Some(v) = f.metrics_token {
            self.metrics_token = Some(check_metrics_token("metrics_token", &v)?);
        }
        if let Some(v) = f.http_max_sessions_per_org {
            self.http_max_sessions_per_org = check_count("http_max_sessions_per_org", v)?;
        }
        if let Some(v) = f.create_settle_secs {
            self.create_settle_window = check_timeout("create_settle_secs", v)?;
        }
        if let Some(v) = f.http_session_idle_secs {
            self.http_session_idle = check_timeout("http_session_idle_secs", v)?;
        }
        Ok(self)
    }

    /// The base URL Flow and browsers reach the side listener at.
    pub fn public_base(&self, bound: SocketAddr) -> String {
        self.public_base_url
            .clone()
            .unwrap_or_else(|| format!("http://{bound}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn errors_name_the_field() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("FLOW_API_KEY", "k")], "FLOW_SECRET_KEY"),
            (
                &[
                    ("FLOW_API_KEY", "k"),
                    ("FLOW_SECRET_KEY", "s"),
                    ("FLOW_BASE_URL", "flow.cl"),
                ],
                "FLOW_BASE_URL",
            ),
            (
                &[
                    ("FLOW_API_KEY", "k"),
                    ("FLOW_SECRET_KEY", "s"),
                    ("FLOW_ENVIRONMENT", "staging"),
                ],
                "FLOW_ENVIRONMENT",
            ),
            (
                &[
                    ("FLOW_API_KEY", "k"),
                    ("FLOW_SECRET_KEY", "s"),
                    ("FLOW_BASE_URL", PRODUCTION_BASE_URL),
                ],
                "FLOW_ENVIRONMENT",
            ),
            (&[("PAYLINK_LISTEN", "nowhere")], "PAYLINK_LISTEN"),
            (
                &[("PAYLINK_RECONCILE_INTERVAL_SECS", "5m")],
                "PAYLINK_RECONCILE_INTERVAL_SECS",
            ),
            (&[("PAYLINK_CACHE_MB", "1GiB")], "PAYLINK_CACHE_MB"),
            (
                &[("PAYLINK_METRICS_TOKEN", "short-tok3n")],
                "PAYLINK_METRICS_TOKEN",
            ),
            (
                &[("PAYLINK_METRICS_TOKEN", "has a space in it, long enough")],
                "PAYLINK_METRICS_TOKEN",
            ),
            (&[("PAYLINK_CACHE_MB", "0")], "PAYLINK_CACHE_MB"),
            (&[("PAYLINK_CACHE_MB", "1048577")], "PAYLINK_CACHE_MB"),
            (
                &[("PAYLINK_MAX_CONNECTIONS", "0")],
                "PAYLINK_MAX_CONNECTIONS",
            ),
            (
                &[("PAYLINK_MAX_CONNECTIONS_PER_IP", "many")],
                "PAYLINK_MAX_CONNECTIONS_PER_IP",
            ),
            (
                &[("PAYLINK_HEADER_TIMEOUT_SECS", "0")],
                "PAYLINK_HEADER_TIMEOUT_SECS",
            ),
            (
                &[("PAYLINK_BODY_TIMEOUT_SECS", "7200")],
                "PAYLINK_BODY_TIMEOUT_SECS",
            ),
            (
                &[("PAYLINK_HTTP_ALLOWED_HOSTS", "https://pay.example.com")],
                "PAYLINK_HTTP_ALLOWED_HOSTS",
            ),
            (
                &[("PAYLINK_HTTP_ALLOWED_ORIGINS", "app.example.com")],
                "PAYLINK_HTTP_ALLOWED_ORIGINS",
            ),
        ];
        for (pairs, field) in cases {
            let e = Settings::default().apply_env(env(pairs)).unwrap_err();
            assert_eq!(e.field, *field, "{pairs:?}: {e}");
        }
    }

    #[test]
    fn the_ledger_cache_defaults_to_sleds_and_can_be_bounded() {
        assert_eq!(Settings::default().cache_bytes(), 1 << 30);
        let s = Settings::default()
            .apply_env(env(&[("PAYLINK_CACHE_MB", " 256 ")]))
            .unwrap();
        assert_eq!(s.cache_bytes(), 256 << 20);
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("paylink.toml");
        std::fs::write(&f, "cache_mb = 64\n").unwrap();
        assert_eq!(Settings::default().apply_file(&f).unwrap().cache_mb, 64);
        std::fs::write(&f, "cache_mb = 8\n").unwrap();
        let e = Settings::default().apply_file(&f).unwrap_err();
        assert_eq!(e.field, "cache_mb");
        assert!(e.problem.contains("16 to 1048576"), "{e}");
    }

    #[test]
    fn a_metrics_token_comes_from_env_or_file_and_short_ones_are_refused_unrepeated() {
        use secrecy::ExposeSecret;
        let s = Settings::default()
            .apply_env(env(&[("PAYLINK_METRICS_TOKEN", " 0123456789abcdef ")]))
            .unwrap();
        assert_eq!(
            s.metrics_token.as_ref().unwrap().expose_secret(),
            "0123456789abcdef"
        );
        assert!(!format!("{s:?}").contains("0123456789abcdef"));
        let e = Settings::default()
            .apply_env(env(&[("PAYLINK_METRICS_TOKEN", "tok-15-chars-xx")]))
            .unwrap_err();
        assert!(e.problem.contains("shorter than 16"), "{e}");
        assert!(!e.to_string().contains("tok-15-chars-xx"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("paylink.toml");
        std::fs::write(&f, "metrics_token = \"file-token-0123456789\"\n").unwrap();
        let s = Settings::default().apply_file(&f).unwrap();
        assert_eq!(
            s.metrics_token.as_ref().unwrap().expose_secret(),
            "file-token-0123456789"
        );
        std::fs::write(&f, "metrics_token = \"short\"\n").unwrap();
        let e = Settings::default().apply_file(&f).unwrap_err();
        assert_eq!(e.field, "metrics_token");
        assert!(!e.to_string().contains("\"short\""), "{e}");
    }

    #[test]
    fn the_file_layer_applies_and_unknown_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("paylink.toml");
        std::fs::write(
            &f,
            "listen = \"127.0.0.1:9999\"\nreconcile_interval_secs = 60\n",
        )
        .unwrap();
        let s = Settings::default().apply_file(&f).unwrap();
        assert_eq!(s.listener_addr.port(), 9999);
        assert_eq!(s.reconcile_interval, Duration::from_secs(60));
        std::fs::write(&f, "listen_addr = \"x\"\n").unwrap();
        let e = Settings::default().apply_file(&f).unwrap_err();
        assert!(e.problem.contains("listen_addr"), "{e}");
        std::fs::write(&f, "public_url = \"nope\"\n").unwrap();
        assert_eq!(
            Settings::default().apply_file(&f).unwrap_err().field,
            "public_url"
        );
    }

    #[test]
    fn flow_credentials_from_the_environment_default_to_flows_sandbox() {
        let s = Settings::default()
            .apply_env(env(&[("FLOW_API_KEY", "k"), ("FLOW_SECRET_KEY", "s")]))
            .unwrap();
        let f = s.flow.unwrap();
        assert_eq!(f.api_url, SANDBOX_BASE_URL);
        assert_eq!(f.environment, Environment::Development);
        assert!(!format!("{f:?}").contains("\"s\""));
    }
}
