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

    /// Whether real money moves.
    pub fn is_live(self) -> bool {
        match self {
            GatewayMode::OfflineSandbox | GatewayMode::Local | GatewayMode::Test => false,
            GatewayMode::Live => true,
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
    entries: HashMap<(String, Environment, GatewayKind), Arc<GatewayEntry>>,
    /// Per organization: the environment and the gateway its new payments use unless a
    /// call names another gateway.
    active: HashMap<String, (Environment, GatewayKind)>,
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

    /// Adds (or replaces) an organization's account. The first account added becomes the
    /// organization's default; a production account of the default gateway (or a first
    /// production account) makes production the active environment.
    pub fn insert(&self, organization: &str, entry: GatewayEntry) {
        let mut t = self.table.write().unwrap_or_else(|e| e.into_inner());
        let (env, kind) = (entry.environment, entry.kind());
        t.entries
            .insert((organization.to_string(), env, kind), Arc::new(entry));
        let active = t
            .active
            .entry(organization.to_string())
            .or_insert((env, kind));
        if env == Environment::Production && active.0 != Environment::Production {
            *active = (env, kind);
        }
    }

    /// Makes `kind` the gateway of the organization's new payments (in its active
    /// environment, if it has an account there).
    pub fn set_default(&self, organization: &str, kind: GatewayKind) -> bool {
        let mut t = self.table.write().unwrap_or_else(|e| e.into_inner());
        let env = match t.active.get(organization) {
            Some((env, _)) => *env,
            None => return false,
        };
        if !t
            .entries
            .contains_key(&(organization.to_string(), env, kind))
        {
            return false;
        }
        t.active.insert(organization.to_string(), (env, kind));
        true
    }

    /// The account new payments of this organization use (its default gateway).
    pub fn active(&self, organization: &str) -> Option<Arc<GatewayEntry>> {
        let t = self.table.read().unwrap_or_else(|e| e.into_inner());
        let (env, kind) = t.active.get(organization)?;
        t.entries
            .get(&(organization.to_string(), *env, *kind))
            .cloned()
    }

    /// The account of `kind` new payments of this organization use when a call names it.
    pub fn active_of(&self, organization: &str, kind: GatewayKind) -> Option<Arc<GatewayEntry>> {
        let t = self.table.read().unwrap_or_else(|e| e.into_inner());
        let (env, _) = t.active.get(organization)?;
        t.entries
            .get(&(organization.to_string(), *env, kind))
            .cloned()
    }

    pub fn get(
        &self,
        organization: &str,
        environment: Environment,
        kind: GatewayKind,
    ) -> Option<Arc<GatewayEntry>> {
        let t = self.table.read().unwrap_or_else(|e| e.into_inner());
        t.entries
            .get(&(organization.to_string(), environment, kind))
            .cloned()
    }

    /// Every account, ordered by organization, environment and gateway.
    pub fn all(&self) -> Vec<(String, Arc<GatewayEntry>)> {
        let t = self.table.read().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<_> = t
            .entries
            .iter()
            .map(|((o, _, _), e)| (o.clone(), e.clone()))
            .collect();
        v.sort_by(|a, b| {
            (&a.0, a.1.environment, a.1.kind()).cmp(&(&b.0, b.1.environment, b.1.kind()))
        });
        v
    }

    pub fn organizations(&self) -> Vec<String> {
        let t = self.table.read().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<String> = t.active.keys().cloned().collect();
        v.sort();
        v
    }
}
