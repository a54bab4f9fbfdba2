//! The layers (file, environment, flags) applied through the settings table, and the
//! rules that join several settings, checked once every layer is in.

use std::path::{Path, PathBuf};

use secrecy::SecretString;

use super::fields::{FIELDS, Field, Raw, field};
use super::{ConfigError, Flags, FlowSettings, Settings, StripeSettings, bad};

/// Stripe's API, where `STRIPE_API_BASE` points unless set.
pub const STRIPE_API_BASE: &str = "https://api.stripe.com";
use crate::domain::{Currency, Environment};
use crate::gateway::flow::SANDBOX_BASE_URL;
use crate::gateway::flow::endpoint::FlowEndpoint;
use crate::notify::NotifyTarget;

/// Settings while the layers come in; the joined rules are checked by [`Draft::finish`].
#[derive(Default)]
pub(crate) struct Draft {
    pub(super) s: Settings,
    /// From a layer; the per-user default is looked up only when no layer gives one.
    pub(super) data_dir: Option<PathBuf>,
    pub(super) flow_api_key: Option<String>,
    pub(super) flow_secret_key: Option<SecretString>,
    pub(super) flow_base_url: Option<(String, FlowEndpoint)>,
    pub(super) flow_environment: Option<Environment>,
    pub(super) flow_return_url: Option<String>,
    pub(super) flow_currency: Option<Currency>,
    pub(super) notify_url: Option<String>,
    pub(super) notify_secret: Option<SecretString>,
    pub(super) stripe_secret_key: Option<(SecretString, Environment)>,
    pub(super) stripe_webhook_secrets: Vec<SecretString>,
    pub(super) stripe_api_base: Option<String>,
    pub(super) stripe_currency: Option<Currency>,
}

impl Draft {
    fn set(&mut self, f: &Field, name: &str, raw: Raw) -> Result<(), ConfigError> {
        (f.set)(self, raw).map_err(|problem| bad(name, problem))
    }

    /// Applies a `paylink.toml` file. Unknown keys are errors that name the key.
    pub(super) fn apply_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| bad(&shown, format!("cannot be read: {e}")))?;
        let table: toml::Table =
            toml::from_str(&text).map_err(|e| bad(&shown, e.message().to_string()))?;
        for (key, value) in table {
            let Some(f) = FIELDS.iter().find(|f| f.key == Some(key.as_str())) else {
                let known: Vec<&str> = FIELDS.iter().filter_map(|f| f.key).collect();
                return Err(bad(
                    &shown,
                    format!("unknown key `{key}`; the keys are {}", known.join(", ")),
                ));
            };
            let raw = Raw::from_toml(value).map_err(|p| bad(&key, p))?;
            self.set(f, &key, raw)?;
        }
        Ok(())
    }

    pub(super) fn apply_env(
        &mut self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        for f in FIELDS {
            if let Some(v) = env(f.var) {
                self.set(f, f.var, Raw::Text(v))?;
            }
        }
        Ok(())
    }

    pub(super) fn apply_flags(&mut self, flags: &Flags) -> Result<(), ConfigError> {
        if let Some(d) = &flags.data_dir {
            self.data_dir = Some(d.clone());
        }
        if let Some(u) = &flags.database_url {
            self.set(
                field("PAYLINK_DATABASE_URL"),
                "--database-url",
                Raw::Text(u.clone()),
            )?;
        }
        if let Some(l) = &flags.listen {
            self.set(field("PAYLINK_LISTEN"), "--listen", Raw::Text(l.clone()))?;
        }
        if let Some(u) = &flags.public_url {
            self.set(
                field("PAYLINK_PUBLIC_URL"),
                "--public-url",
                Raw::Text(u.clone()),
            )?;
        }
        self.s.allow_live |= flags.allow_live;
        Ok(())
    }

    /// The rules that join several settings.
    pub(super) fn finish(mut self) -> Result<Settings, ConfigError> {
        self.s.data_dir = match self.data_dir.take() {
            Some(d) => d,
            None => super::default_data_dir()?,
        };
        self.s.notify = match (self.notify_url.take(), self.notify_secret.take()) {
            (None, None) => None,
            (Some(_), None) => {
                return Err(bad(
                    "PAYLINK_NOTIFY_SECRET",
                    "is missing while PAYLINK_NOTIFY_URL is set; give the secret the receiver verifies signatures with (or unset PAYLINK_NOTIFY_URL)",
                ));
            }
            (None, Some(_)) => {
                return Err(bad(
                    "PAYLINK_NOTIFY_URL",
                    "is missing while PAYLINK_NOTIFY_SECRET is set; give the URL that receives payment.paid and payment.failed (or unset PAYLINK_NOTIFY_SECRET)",
                ));
            }
            (Some(url), Some(secret)) => Some(NotifyTarget { url, secret }),
        };
        let flow_only = self.flow_base_url.is_some()
            || self.flow_environment.is_some()
            || self.flow_return_url.is_some()
            || self.flow_currency.is_some();
        self.s.flow = match (self.flow_api_key.take(), self.flow_secret_key.take()) {
            (None, None) if flow_only => {
                return Err(bad(
                    "FLOW_API_KEY",
                    "is missing while other FLOW_* variables are set; give FLOW_API_KEY and FLOW_SECRET_KEY, or unset the FLOW_* variables",
                ));
            }
            (None, None) => None,
            (Some(_), None) => {
                return Err(bad(
                    "FLOW_SECRET_KEY",
                    "is missing while FLOW_API_KEY is set; give both (or neither, for stored integrations or the built-in offline sandbox)",
                ));
            }
            (None, Some(_)) => {
                return Err(bad(
                    "FLOW_API_KEY",
                    "is missing while FLOW_SECRET_KEY is set; give both (or neither, for stored integrations or the built-in offline sandbox)",
                ));
            }
            (Some(api_key), Some(secret_key)) => {
                let (api_url, endpoint) = self
                    .flow_base_url
                    .take()
                    .unwrap_or_else(|| (SANDBOX_BASE_URL.to_string(), FlowEndpoint::Sandbox));
                let environment = self
                    .flow_environment
                    .unwrap_or_else(|| endpoint.environment());
                if environment == Environment::Development && endpoint == FlowEndpoint::Production {
                    return Err(bad(
                        "FLOW_ENVIRONMENT",
                        "development (test money) cannot use Flow's production API; set FLOW_BASE_URL to https://sandbox.flow.cl/api, or FLOW_ENVIRONMENT=production",
                    ));
                }
                Some(FlowSettings {
                    api_url,
                    endpoint,
                    api_key,
                    secret_key,
                    environment,
                    return_url: self.flow_return_url.take(),
                    default_currency: self.flow_currency.unwrap_or(Currency::CLP),
                })
            }
        };
        self.s.stripe = match self.stripe_secret_key.take() {
            None if self.stripe_api_base.is_some()
                || !self.stripe_webhook_secrets.is_empty()
                || self.stripe_currency.is_some() =>
            {
                return Err(bad(
                    "STRIPE_SECRET_KEY",
                    "is missing while other STRIPE_* variables are set; give the account's secret (sk_test_…) or restricted (rk_test_…) key, or unset the STRIPE_* variables",
                ));
            }
            None => None,
            Some((secret_key, environment)) => {
                if environment == Environment::Production && !self.s.allow_live {
                    return Err(bad(
                        "STRIPE_SECRET_KEY",
                        "is a live key (real money), which needs an explicit opt-in: set PAYLINK_ALLOW_LIVE=1 or pass --allow-live, or use a test key (sk_test_…)",
                    ));
                }
                Some(StripeSettings {
                    api_base: self
                        .stripe_api_base
                        .take()
                        .unwrap_or_else(|| STRIPE_API_BASE.to_string()),
                    secret_key,
                    webhook_secrets: std::mem::take(&mut self.stripe_webhook_secrets),
                    environment,
                    default_currency: self.stripe_currency.unwrap_or(Currency::CLP),
                })
            }
        };
        if let Some(f) = &self.s.flow
            && f.environment == Environment::Production
            && !self.s.allow_live
        {
            return Err(bad(
                "FLOW_ENVIRONMENT",
                "production (live money) needs an explicit opt-in: set PAYLINK_ALLOW_LIVE=1 or pass --allow-live",
            ));
        }
        Ok(self.s)
    }
}
