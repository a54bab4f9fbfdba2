//! The payment use cases, shared by the MCP tools, the CLI, the confirmation listener and
//! the reconciler: create a payment (idempotently), and check one with its gateway
//! ([`Payments::check`], the one "ask the gateway, apply its answer" path). This module is
//! the only writer of gateway-driven transitions and the only caller of gateways; the
//! ledger and the gateway registry are private to it. Every change that commits is
//! broadcast as a [`PaymentChange`] so MCP subscribers and outbound notifications hear of it.

pub mod approvals;
mod check;
mod create;
mod error;
pub mod gateways;
mod ledger;
pub mod merchant;
mod org_setting;
pub mod policy;
mod record_codec;
mod refund_follow;
mod refund_ledger;
pub mod refunds;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;

pub use check::{CheckError, Checked, StatusOutcome, TokenClaim, transition_for};
pub use create::{CreateInput, CreateOutcome};
pub use error::PaymentError;
pub use gateways::{AccountInfo, GatewayEntry, GatewayMode, Gateways};
pub use refunds::{RefundInput, RefundOutcome};

use crate::domain::{Environment, Payment, PaymentEvent};
use crate::store::Store;
use crate::telemetry::Metrics;

/// Tunables of the use cases.
#[derive(Debug, Clone)]
pub struct PaymentSettings {
    /// Identical create calls without an idempotencyKey within this window are one payment.
    pub idempotency_window: Duration,
    /// Return an unpaid link for the same entity and amount instead of making another.
    pub reuse_pending_for_entity: bool,
    /// How long new checkouts stay payable (None = as long as the gateway allows).
    pub order_timeout: Option<Duration>,
    /// The public base URL of the side listener; each gateway's server-to-server
    /// confirmations go to `<base>/webhook/<gateway>`.
    pub public_base_url: String,
    /// The payer's browser returns here unless the organization configured a returnUrl.
    pub default_return_url: String,
    /// A pending payment is first reconciled this long after it was created.
    pub pending_check_after: Duration,
    /// A draft (gateway call unfinished) is first reconciled this long after creation.
    pub draft_check_after: Duration,
    /// After a create whose outcome is unknown (timeout, a proxy's 5xx, a broken reply),
    /// nothing is sent to the gateway again for this payment until this long has passed
    /// and a lookup by our reference found no order: late arrivals must not make a second.
    pub create_settle_window: Duration,
    /// The organization `default_policy` applies to (`PAYLINK_ORGANIZATION`).
    pub default_organization: String,
    /// The `PAYLINK_POLICY_*` spending policy of the default organization; a policy stored
    /// in the ledger for it wins.
    pub default_policy: crate::domain::SpendingPolicy,
    /// How long a person has to answer an approval before it expires.
    pub approval_ttl: Duration,
}

impl PaymentSettings {
    /// Defaults around a public base URL such as `http://127.0.0.1:8787`.
    pub fn with_public_base(public_base_url: &str) -> PaymentSettings {
        let base = public_base_url.trim_end_matches('/');
        PaymentSettings {
            idempotency_window: Duration::from_secs(600),
            reuse_pending_for_entity: true,
            order_timeout: Some(Duration::from_secs(24 * 3600)),
            public_base_url: base.to_string(),
            default_return_url: format!("{base}/payment/return"),
            pending_check_after: Duration::from_secs(3600),
            draft_check_after: Duration::from_secs(120),
            create_settle_window: Duration::from_secs(60),
            default_organization: "default".into(),
            default_policy: crate::domain::SpendingPolicy::default(),
            approval_ttl: Duration::from_secs(1800),
        }
    }
}

/// A committed change of a payment.
#[derive(Debug, Clone)]
pub struct PaymentChange {
    pub payment: Payment,
    pub event: PaymentEvent,
}

struct Inner {
    store: Store,
    gateways: Gateways,
    metrics: Arc<Metrics>,
    settings: PaymentSettings,
    changes: broadcast::Sender<PaymentChange>,
    /// Striped locks: one create per idempotency key at a time within this process.
    create_locks: Vec<tokio::sync::Mutex<()>>,
    /// When this process last sent `payment/create` per payment id (see `create`).
    create_attempts:
        std::sync::Mutex<std::collections::HashMap<String, (crate::domain::Timestamp, bool)>>,
}

/// The use cases; cheap to clone.
#[derive(Clone)]
pub struct Payments {
    inner: Arc<Inner>,
}

impl Payments {
    pub fn new(store: Store, gateways: Gateways, settings: PaymentSettings) -> Payments {
        let (changes, _) = broadcast::channel(4096);
        Payments {
            inner: Arc::new(Inner {
                store,
                gateways,
                metrics: Arc::new(Metrics::new()),
                settings,
                changes,
                create_locks: (0..64).map(|_| tokio::sync::Mutex::new(())).collect(),
                create_attempts: Default::default(),
            }),
        }
    }

    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }

    fn gateways(&self) -> &Gateways {
        &self.inner.gateways
    }

    /// The metrics every part of this application counts into.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    pub fn settings(&self) -> &PaymentSettings {
        &self.inner.settings
    }

    /// The account new payments of `organization` go to.
    pub fn active_account(&self, organization: &str) -> Option<AccountInfo> {
        self.gateways().active(organization).map(|e| e.info())
    }

    /// The account a payment of `organization` in `environment` made through `kind`
    /// belongs to.
    pub fn account(
        &self,
        organization: &str,
        environment: Environment,
        kind: crate::gateway::GatewayKind,
    ) -> Option<AccountInfo> {
        self.gateways()
            .get(organization, environment, kind)
            .map(|e| e.info())
    }

    /// Every configured account, with its organization.
    pub fn accounts(&self) -> Vec<(String, AccountInfo)> {
        self.gateways()
            .all()
            .into_iter()
            .map(|(org, e)| (org, e.info()))
            .collect()
    }

    /// Checks a signed notification with the account it was sent to. `None`: no account
    /// of that gateway serves that organization and environment.
    pub fn verify_notification(
        &self,
        kind: crate::gateway::GatewayKind,
        organization: &str,
        environment: Environment,
        headers: &http::HeaderMap,
        body: &[u8],
        now_unix: i64,
    ) -> Option<Result<Option<crate::gateway::Notification>, crate::gateway::NotificationError>>
    {
        let entry = self.gateways().get(organization, environment, kind)?;
        Some(entry.gateway.verify_notification(headers, body, now_unix))
    }

    /// Every committed change from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<PaymentChange> {
        self.inner.changes.subscribe()
    }

    fn publish(&self, payment: Payment, event: PaymentEvent) {
        // On a shared ledger every change, this process's own included, arrives through
        // the ledger's feed (see `follow_shared_ledger`): publishing here too would tell
        // subscribers twice.
        if self.ledger_is_shared() {
            return;
        }
        // No receiver is fine: nobody is listening yet.
        let _ = self.inner.changes.send(PaymentChange { payment, event });
    }

    /// Whether other processes write this ledger too (PostgreSQL).
    pub fn ledger_is_shared(&self) -> bool {
        self.store().postgres().is_some()
    }

    /// On a shared ledger, publishes every change any process commits (LISTEN/NOTIFY) to
    /// this process's subscribers until `shutdown`; on sled, nothing to do.
    pub async fn follow_shared_ledger(
        &self,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> Result<(), crate::store::StoreError> {
        let Some(pg) = self.store().postgres() else {
            return Ok(());
        };
        let mut feed = pg.changes(shutdown).await?;
        let changes = self.inner.changes.clone();
        tokio::spawn(async move {
            while let Some((payment, event)) = feed.recv().await {
                let _ = changes.send(PaymentChange { payment, event });
            }
        });
        Ok(())
    }
}
