//! Flow integration configs stored in the ledger (seeds 000/003: "stored in the
//! integrationConfigs table rather than environment variables"), one per organization
//! and environment. The secret key is sealed with the master key ([`crate::secrets`]);
//! listings never show it.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, check_url};
use crate::domain::{Currency, Environment, Timestamp};
use crate::gateway::flow::{FlowClient, FlowClientConfig, PRODUCTION_BASE_URL};
use crate::payments::{GatewayEntry, GatewayMode};
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
    #[error("no Flow integration for organization {0:?} in {1}")]
    Missing(String, &'static str),
}

/// What `paylink integration flow` asks to store.
#[derive(Debug, Clone)]
pub struct NewIntegration {
    pub organization: String,
    pub environment: Environment,
    pub api_url: String,
    pub api_key: String,
    pub secret_key: SecretString,
    pub return_url: Option<String>,
    pub default_currency: String,
}

/// Validates and stores (replacing any earlier one for the same organization and
/// environment). Production needs `allow_live`.
pub fn save(
    store: &Store,
    key: &MasterKey,
    new: NewIntegration,
    allow_live: bool,
) -> Result<StoredIntegration, IntegrationError> {
    let bad = |field: &str, problem: String| ConfigError {
        field: field.into(),
        problem,
    };
    let api_url = check_url("--api-url", &new.api_url)?;
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
    let currency = Currency::from_code(&new.default_currency).ok_or_else(|| {
        bad(
            "--currency",
            format!(
                "{:?} is not a known currency ({})",
                new.default_currency,
                Currency::known_codes()
            ),
        )
    })?;
    if new.environment == Environment::Production && !allow_live {
        return Err(bad(
            "--environment",
            "production (live money) needs an explicit --allow-live".into(),
        )
        .into());
    }
    if new.environment == Environment::Development && api_url == PRODUCTION_BASE_URL {
        return Err(bad(
            "--api-url",
            "the production URL cannot be used for development; use --test or Flow's sandbox URL"
                .into(),
        )
        .into());
    }
    let stored = StoredIntegration {
        organization: new.organization.clone(),
        environment: new.environment,
        api_url,
        api_key: new.api_key.trim().to_string(),
        secret_key_sealed: key.seal(&new.secret_key),
        return_url,
        default_currency: currency.code().to_string(),
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

/// A gateway for a stored integration.
pub fn gateway_entry(
    s: &StoredIntegration,
    key: &MasterKey,
    http: reqwest::Client,
    timeout: std::time::Duration,
) -> Result<GatewayEntry, IntegrationError> {
    let secret = key.open(&s.secret_key_sealed)?;
    let mut cfg = FlowClientConfig::new(s.api_url.clone(), s.api_key.clone(), secret);
    cfg.timeout = timeout;
    let client = FlowClient::with_http(cfg, http).map_err(|e| {
        IntegrationError::Config(ConfigError {
            field: "apiUrl".into(),
            problem: e.to_string(),
        })
    })?;
    let mode = match s.environment {
        Environment::Production => GatewayMode::Live,
        Environment::Development
            if s.api_url.contains("127.0.0.1") || s.api_url.contains("localhost") =>
        {
            GatewayMode::Local
        }
        Environment::Development => GatewayMode::Test,
    };
    Ok(GatewayEntry {
        gateway: std::sync::Arc::new(client),
        mode,
        environment: s.environment,
        default_currency: Currency::from_code(&s.default_currency).unwrap_or(Currency::CLP),
        return_url: s.return_url.clone(),
    })
}
