//! The settings table: one row per setting, with the one function that parses and checks
//! its value from any layer.

use std::time::Duration;

use secrecy::SecretString;

use super::checks::{
    at_least_one_sec, bearer_token, count, hosts, http_tokens, non_empty_path, organization,
    origins, timeout, url,
};
use super::layers::Draft;
use super::{CACHE_MB_RANGE, MIN_METRICS_TOKEN_CHARS};
use crate::domain::policy::{parse_currencies, parse_limits};
use crate::domain::{Currency, Environment};
use crate::gateway::flow::endpoint::classify;

/// A value from one layer, before its field parses it.
#[derive(Debug, Clone)]
pub(super) enum Raw {
    Text(String),
    Int(i64),
    Bool(bool),
    List(Vec<String>),
}

impl Raw {
    pub(super) fn from_toml(v: toml::Value) -> Result<Raw, String> {
        match v {
            toml::Value::String(s) => Ok(Raw::Text(s)),
            toml::Value::Integer(i) => Ok(Raw::Int(i)),
            toml::Value::Boolean(b) => Ok(Raw::Bool(b)),
            toml::Value::Array(items) => items
                .into_iter()
                .map(|i| match i {
                    toml::Value::String(s) => Ok(s),
                    _ => Err("expects a list of strings".to_string()),
                })
                .collect::<Result<_, _>>()
                .map(Raw::List),
            _ => Err("expects a string, a whole number, true/false or a list of strings".into()),
        }
    }

    pub(super) fn text(self) -> Result<String, String> {
        match self {
            Raw::Text(s) => Ok(s),
            _ => Err("expects text (in quotes in paylink.toml)".into()),
        }
    }

    /// A whole number. Its message repeats the value: no secret is a number setting.
    pub(super) fn whole(self, unit: &str) -> Result<u64, String> {
        match self {
            Raw::Int(i) => u64::try_from(i).map_err(|_| format!("{i} is negative; give {unit}")),
            Raw::Text(s) => s
                .trim()
                .parse::<u64>()
                .map_err(|_| format!("{s:?} is not {unit}")),
            _ => Err(format!("expects {unit}")),
        }
    }

    fn flag(self) -> Result<bool, String> {
        match self {
            Raw::Bool(b) => Ok(b),
            Raw::Text(s) => match s.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => Ok(true),
                "" | "0" | "false" | "no" | "off" => Ok(false),
                _ => Err(format!("{s:?} is not a yes/no value; give 1 or 0")),
            },
            _ => Err("expects true or false".into()),
        }
    }

    pub(super) fn list(self) -> Result<Vec<String>, String> {
        match self {
            Raw::List(v) => Ok(v),
            Raw::Text(s) => Ok(s.split(',').map(str::to_string).collect()),
            _ => Err("expects a comma-separated list".into()),
        }
    }
}

type Setter = fn(&mut Draft, Raw) -> Result<(), String>;

/// One setting.
pub(super) struct Field {
    /// Its `paylink.toml` key, when the file may hold it (secrets and Flow credentials do
    /// not belong in a file that is easily copied around).
    pub(super) key: Option<&'static str>,
    /// Its environment variable.
    pub(super) var: &'static str,
    /// Parses a value from any layer and sets it; the error is the problem, unnamed.
    pub(super) set: Setter,
}

/// Every setting paylink has (`PAYLINK_CONFIG`, which names the file, is read by
/// [`Settings::load`] itself).
pub(super) const FIELDS: &[Field] = &[
    Field {
        key: Some("data_dir"),
        var: "PAYLINK_DATA_DIR",
        set: |d, v| {
            d.data_dir = Some(non_empty_path(v)?);
            Ok(())
        },
    },
    Field {
        key: Some("database_url"),
        var: "PAYLINK_DATABASE_URL",
        set: |d, v| {
            let t = v.text()?;
            let t = t.trim();
            // The problem only: the URL may carry a password.
            crate::store::postgres::parse_url(t).map_err(|e| match e {
                crate::store::StoreError::InvalidInput(m) => m,
                other => other.to_string(),
            })?;
            d.s.database_url = Some(SecretString::from(t.to_string()));
            Ok(())
        },
    },
    Field {
        key: Some("listen"),
        var: "PAYLINK_LISTEN",
        set: |d, v| {
            let t = v.text()?;
            d.s.listener_addr = t
                .trim()
                .parse()
                .map_err(|_| format!("{t:?} is not an address like 127.0.0.1:8787"))?;
            Ok(())
        },
    },
    Field {
        key: Some("public_url"),
        var: "PAYLINK_PUBLIC_URL",
        set: |d, v| {
            d.s.public_base_url = Some(url(&v.text()?)?);
            Ok(())
        },
    },
    Field {
        key: Some("organization"),
        var: "PAYLINK_ORGANIZATION",
        set: |d, v| {
            d.s.organization = organization(&v.text()?)?;
            Ok(())
        },
    },
    Field {
        key: Some("allow_live"),
        var: "PAYLINK_ALLOW_LIVE",
        set: |d, v| {
            d.s.allow_live = v.flag()?;
            Ok(())
        },
    },
    Field {
        key: Some("order_timeout_secs"),
        var: "PAYLINK_ORDER_TIMEOUT_SECS",
        set: |d, v| {
            let secs = v.whole("a whole number of seconds (0 for none)")?;
            d.s.order_timeout = (secs > 0).then(|| Duration::from_secs(secs));
            Ok(())
        },
    },
    Field {
        key: Some("reconcile_interval_secs"),
        var: "PAYLINK_RECONCILE_INTERVAL_SECS",
        set: |d, v| {
            d.s.reconcile_interval = at_least_one_sec(v)?;
            Ok(())
        },
    },
    Field {
        key: Some("pending_check_after_secs"),
        var: "PAYLINK_PENDING_CHECK_AFTER_SECS",
        set: |d, v| {
            d.s.pending_check_after = Duration::from_secs(v.whole("a whole number of seconds")?);
            Ok(())
        },
    },
    Field {
        key: Some("approval_ttl_secs"),
        var: "PAYLINK_APPROVAL_TTL_SECS",
        set: |d, v| {
            d.s.approval_ttl = at_least_one_sec(v)?;
            Ok(())
        },
    },
    Field {
        key: Some("idempotency_window_secs"),
        var: "PAYLINK_IDEMPOTENCY_WINDOW_SECS",
        set: |d, v| {
            d.s.idempotency_window = at_least_one_sec(v)?;
            Ok(())
        },
    },
    Field {
        key: Some("flow_timeout_secs"),
        var: "PAYLINK_FLOW_TIMEOUT_SECS",
        set: |d, v| {
            d.s.flow_timeout = timeout(v)?;
            Ok(())
        },
    },
    Field {
        key: Some("create_settle_secs"),
        var: "PAYLINK_CREATE_SETTLE_SECS",
        set: |d, v| {
            d.s.create_settle_window = timeout(v)?;
            Ok(())
        },
    },
    Field {
        key: Some("key_file"),
        var: "PAYLINK_KEY_FILE",
        set: |d, v| {
            d.s.key_file = Some(non_empty_path(v)?);
            Ok(())
        },
    },
    Field {
        key: None,
        var: "PAYLINK_MASTER_KEY",
        set: |d, v| {
            let t = v.text()?;
            if !hex::decode(t.trim()).is_ok_and(|b| b.len() == 32) {
                return Err("must be 64 hexadecimal characters (32 bytes), such as the output of `openssl rand -hex 32`".into());
            }
            d.s.master_key = Some(SecretString::from(t.trim().to_string()));
            Ok(())
        },
    },
    Field {
        key: Some("cache_mb"),
        var: "PAYLINK_CACHE_MB",
        set: |d, v| {
            let mb = v.whole("a whole number of MiB (e.g. 256)")?;
            if !CACHE_MB_RANGE.contains(&mb) {
                return Err(format!(
                    "{mb} MiB is out of range; give {} to {} (MiB of memory for the ledger's cache)",
                    CACHE_MB_RANGE.start(),
                    CACHE_MB_RANGE.end()
                ));
            }
            d.s.cache_mb = mb;
            Ok(())
        },
    },
    Field {
        key: Some("max_connections"),
        var: "PAYLINK_MAX_CONNECTIONS",
        set: |d, v| {
            d.s.net.max_connections = count(v)?;
            Ok(())
        },
    },
    Field {
        key: Some("max_connections_per_ip"),
        var: "PAYLINK_MAX_CONNECTIONS_PER_IP",
        set: |d, v| {
            d.s.net.max_connections_per_ip = count(v)?;
            Ok(())
        },
    },
    Field {
        key: Some("header_timeout_secs"),
        var: "PAYLINK_HEADER_TIMEOUT_SECS",
        set: |d, v| {
            d.s.net.header_timeout = timeout(v)?;
            Ok(())
        },
    },
    Field {
        key: Some("body_timeout_secs"),
        var: "PAYLINK_BODY_TIMEOUT_SECS",
        set: |d, v| {
            d.s.net.body_timeout = timeout(v)?;
            Ok(())
        },
    },
    Field {
        key: None,
        var: "PAYLINK_HTTP_TOKENS",
        set: |d, v| {
            d.s.http_tokens = http_tokens(&v.text()?)?;
            Ok(())
        },
    },
    Field {
        key: Some("policy_max_per_payment"),
        var: "PAYLINK_POLICY_MAX_PER_PAYMENT",
        set: |d, v| {
            d.s.policy.max_per_payment = parse_limits(&v.list()?.join(","))?;
            Ok(())
        },
    },
    Field {
        key: Some("policy_max_per_day"),
        var: "PAYLINK_POLICY_MAX_PER_DAY",
        set: |d, v| {
            d.s.policy.max_per_day = parse_limits(&v.list()?.join(","))?;
            Ok(())
        },
    },
    Field {
        key: Some("policy_confirm_above"),
        var: "PAYLINK_POLICY_CONFIRM_ABOVE",
        set: |d, v| {
            d.s.policy.confirm_above =
                crate::domain::policy::parse_thresholds(&v.list()?.join(","))?;
            Ok(())
        },
    },
    Field {
        key: Some("policy_currencies"),
        var: "PAYLINK_POLICY_CURRENCIES",
        set: |d, v| {
            d.s.policy.currencies = parse_currencies(&v.list()?.join(","))?;
            Ok(())
        },
    },
    Field {
        key: Some("http_allowed_hosts"),
        var: "PAYLINK_HTTP_ALLOWED_HOSTS",
        set: |d, v| {
            d.s.http_allowed_hosts = hosts(v.list()?)?;
            Ok(())
        },
    },
    Field {
        key: Some("http_allowed_origins"),
        var: "PAYLINK_HTTP_ALLOWED_ORIGINS",
        set: |d, v| {
            d.s.http_allowed_origins = origins(v.list()?)?;
            Ok(())
        },
    },
    Field {
        key: Some("http_max_sessions_per_org"),
        var: "PAYLINK_HTTP_MAX_SESSIONS_PER_ORG",
        set: |d, v| {
            d.s.http_max_sessions_per_org = count(v)?;
            Ok(())
        },
    },
    Field {
        key: Some("http_session_idle_secs"),
        var: "PAYLINK_HTTP_SESSION_IDLE_SECS",
        set: |d, v| {
            d.s.http_session_idle = timeout(v)?;
            Ok(())
        },
    },
    Field {
        // Allowed in the file for deployments that keep one config file (keep it 0600);
        // the environment is the better home.
        key: Some("metrics_token"),
        var: "PAYLINK_METRICS_TOKEN",
        set: |d, v| {
            d.s.metrics_token = Some(bearer_token(&v.text()?, MIN_METRICS_TOKEN_CHARS)?);
            Ok(())
        },
    },
    Field {
        key: Some("notify_url"),
        var: "PAYLINK_NOTIFY_URL",
        set: |d, v| {
            d.notify_url = Some(url(&v.text()?)?);
            Ok(())
        },
    },
    Field {
        key: None,
        var: "PAYLINK_NOTIFY_SECRET",
        set: |d, v| {
            let t = v.text()?;
            if let Some(problem) = crate::notify::secret_problem(&t) {
                return Err(problem.into());
            }
            d.notify_secret = Some(SecretString::from(t));
            Ok(())
        },
    },
    Field {
        key: None,
        var: "FLOW_API_KEY",
        set: |d, v| {
            let t = v.text()?;
            if t.trim().is_empty() {
                return Err(
                    "is empty; give your Flow apiKey (Flow: Mis datos → Integración)".into(),
                );
            }
            d.flow_api_key = Some(t.trim().to_string());
            Ok(())
        },
    },
    Field {
        key: None,
        var: "FLOW_SECRET_KEY",
        set: |d, v| {
            let t = v.text()?;
            if t.trim().is_empty() {
                return Err(
                    "is empty; give your Flow secretKey (Flow: Mis datos → Integración)".into(),
                );
            }
            d.flow_secret_key = Some(SecretString::from(t.trim().to_string()));
            Ok(())
        },
    },
    Field {
        key: None,
        var: "FLOW_BASE_URL",
        set: |d, v| {
            let t = v.text()?;
            let endpoint = classify(&t).map_err(|e| e.problem.to_string())?;
            d.flow_base_url = Some((t.trim().trim_end_matches('/').to_string(), endpoint));
            Ok(())
        },
    },
    Field {
        key: Some("merchant_name"),
        var: "PAYLINK_MERCHANT_NAME",
        set: |d, v| {
            d.s.merchant.name = Some(crate::payer::merchant_name(&v.text()?)?);
            Ok(())
        },
    },
    Field {
        key: Some("merchant_url"),
        var: "PAYLINK_MERCHANT_URL",
        set: |d, v| {
            d.s.merchant.url = Some(url(&v.text()?)?);
            Ok(())
        },
    },
    Field {
        key: None,
        var: "FLOW_ENVIRONMENT",
        set: |d, v| {
            let t = v.text()?;
            d.flow_environment = Some(Environment::parse(t.trim()).ok_or_else(|| {
                format!("{t:?} is not an environment; give development or production")
            })?);
            Ok(())
        },
    },
    Field {
        key: None,
        var: "FLOW_RETURN_URL",
        set: |d, v| {
            d.flow_return_url = Some(url(&v.text()?)?);
            Ok(())
        },
    },
    Field {
        key: None,
        var: "STRIPE_SECRET_KEY",
        set: |d, v| {
            let t = v.text()?;
            let environment = stripe_key_environment(&t)?;
            d.stripe_secret_key = Some((SecretString::from(t.trim().to_string()), environment));
            Ok(())
        },
    },
    Field {
        key: None,
        var: "STRIPE_WEBHOOK_SECRET",
        set: |d, v| {
            let t = v.text()?;
            let mut secrets = Vec::new();
            for s in t.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                if !s.starts_with("whsec_") || s.len() <= "whsec_".len() {
                    return Err("must be the endpoint's signing secret, which starts with whsec_ (two, comma-separated, while one is rotated)".into());
                }
                secrets.push(SecretString::from(s.to_string()));
            }
            if secrets.is_empty() || secrets.len() > 2 {
                return Err("give one signing secret (whsec_…), or two comma-separated while one is rotated".into());
            }
            d.stripe_webhook_secrets = secrets;
            Ok(())
        },
    },
    Field {
        key: None,
        var: "STRIPE_API_BASE",
        set: |d, v| {
            let t = v.text()?;
            let u = url(&t)?;
            let loopback = crate::net::is_loopback_url(&u);
            if !u.starts_with("https://") && !loopback {
                return Err(
                    "must be https:// (or http:// on loopback, for the offline sandbox)".into(),
                );
            }
            d.stripe_api_base = Some(u.trim_end_matches('/').to_string());
            Ok(())
        },
    },
    Field {
        key: None,
        var: "STRIPE_CURRENCY",
        set: |d, v| {
            let t = v.text()?;
            d.stripe_currency = Some(Currency::from_code(t.trim()).ok_or_else(|| {
                format!(
                    "{t:?} is not a known currency ({})",
                    Currency::known_codes()
                )
            })?);
            Ok(())
        },
    },
    Field {
        key: None,
        var: "FLOW_CURRENCY",
        set: |d, v| {
            let t = v.text()?;
            d.flow_currency = Some(Currency::from_code(t.trim()).ok_or_else(|| {
                format!(
                    "{t:?} is not a known currency ({})",
                    Currency::known_codes()
                )
            })?);
            Ok(())
        },
    },
];

/// The environment a Stripe key belongs to, from its prefix; never echoes the key.
fn stripe_key_environment(key: &str) -> Result<Environment, String> {
    let k = key.trim();
    let test = ["sk_test_", "rk_test_"];
    let live = ["sk_live_", "rk_live_"];
    if test.iter().any(|p| k.starts_with(p) && k.len() > p.len()) {
        Ok(Environment::Development)
    } else if live.iter().any(|p| k.starts_with(p) && k.len() > p.len()) {
        Ok(Environment::Production)
    } else {
        Err("is not a Stripe secret or restricted key: it must start with sk_test_ or rk_test_ (test mode), or sk_live_ or rk_live_ (live); publishable keys (pk_…) cannot create payments".into())
    }
}

pub(super) fn field(var: &str) -> &'static Field {
    FIELDS
        .iter()
        .find(|f| f.var == var)
        .expect("every flag has a field")
}
