//! Which gateway account serves which organization.
//!
//! Each organization has at most one account per environment (development = a gateway's
//! test mode, paylink's offline sandbox or a local gateway-compatible server; production =
//! live). New payments use the organization's active environment; existing payments always
//! go back to the account they were created in.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::domain::{Currency, Environment};
use crate::gateway::{Gateway, GatewayKind};

/// Where an account's gateway client points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayMode {
    /// paylink's built-in offline sandbox, started by paylink itself: no credentials, no
    /// network, no real money.
    OfflineSandbox,
    /// A gateway-compatible server on this machine (a loopback URL): no real money.
    Local,
    /// The gateway's own test mode (test money).
    Test,
    /// The gateway's production (real money).
    Live,
}

impl GatewayMode {
    /// What the mode means, for logs and the agent's instructions.
    pub fn describe(self, kind: GatewayKind) -> String {
        match (self, kind) {
            (GatewayMode::OfflineSandbox, k) => {
                format!("offline sandbox (paylink's built-in {k} emulator; no real money)")
            }
            (GatewayMode::Local, k) => {
                format!("a local {k}-compatible server on this machine (no real money)")
            }
            (GatewayMode::Test, k) => k.test_mode_name().to_string(),
            (GatewayMode::Live, k) => k.live_mode_name().to_string(),
        }
    }

    /// `sandbox` or `live`, as tool results say it.
    pub fn environment_label(self) -> &'static str {
        match self {
            GatewayMode::OfflineSandbox | GatewayMode::Local | GatewayMode::Test => "sandbox",
            GatewayMode::Live => "live",
        }
    }
}

/// One organization's gateway account in one environment.
#[derive(Debug, Clone)]
pub struct GatewayEntry {
    pub gateway: Arc<dyn Gateway>,
    pub mode: GatewayMode,
    pub environment: Environment,
    pub default_currency: Currency,
    /// Where the payer's browser returns; paylink's own return page when None.
    pub return_url: Option<String>,
}

/// What the rest of paylink may know of an account: which gateway, where it points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountInfo {
    pub kind: GatewayKind,
    pub mode: GatewayMode,
    pub environment: Environment,
}

impl AccountInfo {
    /// The mode in words, with the gateway's name.
    pub fn describe(&self) -> String {
        self.mode.describe(self.kind)
    }
}

impl GatewayEntry {
    pub fn kind(&self) -> GatewayKind {
        self.gateway.kind()
    }

    pub fn info(&self) -> AccountInfo {
        AccountInfo {
            kind: self.kind(),
            mode: self.mode,
            environment: self.environment,
        }
    }

    /// The mode in words, with the gateway's name.
    pub fn describe(&self) -> String {
        self.mode.describe(self.kind())
    }
}

#[derive(Debug, Default)]
struct Table {
    entries: HashMap<(String, Environment), Arc<GatewayEntry>>,
    active: HashMap<String, Environment>,
}

/// The registry; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Gateways {
    table: Arc<RwLock<Table>>,
}

impl Gateways {
    pub fn new() -> Gateways {
        Gateways::default()
    }

    /// Adds (or replaces) an organization's account; the first one added, or any
    /// production one, becomes the organization's active environment.
    pub fn insert(&self, organization: &str, entry: GatewayEntry) {
        let mut t = self.table.write().unwrap_or_else(|e| e.into_inner());
        let env = entry.environment;
        t.entries
            .insert((organization.to_string(), env), Arc::new(entry));
        let active = t.active.entry(organization.to_string()).or_insert(env);
        if env == Environment::Production {
            *active = env;
        }
    }

    pub fn remove(&self, organization: &str, environment: Environment) {
        let mut t = self.table.write().unwrap_or_else(|e| e.into_inner());
        t.entries.remove(&(organization.to_string(), environment));
        if t.active.get(organization) == Some(&environment) {
            let other = t
                .entries
                .keys()
                .find(|(o, _)| o == organization)
                .map(|(_, e)| *e);
            match other {
                Some(e) => t.active.insert(organization.to_string(), e),
                None => t.active.remove(organization),
            };
        }
    }

    /// The account new payments of this organization use.
    pub fn active(&self, organization: &str) -> Option<Arc<GatewayEntry>> {
        let t = self.table.read().unwrap_or_else(|e| e.into_inner());
        let env = t.active.get(organization)?;
        t.entries.get(&(organization.to_string(), *env)).cloned()
    }

    pub fn get(&self, organization: &str, environment: Environment) -> Option<Arc<GatewayEntry>> {
        let t = self.table.read().unwrap_or_else(|e| e.into_inner());
        t.entries
            .get(&(organization.to_string(), environment))
            .cloned()
    }

    /// Every account, for the webhook's fallback search over unknown tokens.
    pub fn all(&self) -> Vec<(String, Arc<GatewayEntry>)> {
        let t = self.table.read().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<_> = t
            .entries
            .iter()
            .map(|((o, _), e)| (o.clone(), e.clone()))
            .collect();
        v.sort_by(|a, b| (&a.0, a.1.environment).cmp(&(&b.0, b.1.environment)));
        v
    }

    pub fn organizations(&self) -> Vec<String> {
        let t = self.table.read().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<String> = t.active.keys().cloned().collect();
        v.sort();
        v
    }
}
