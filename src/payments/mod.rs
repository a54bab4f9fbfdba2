//! The payment use cases, shared by the MCP tools, the CLI, the webhook and the reconciler:
//! create a payment (idempotently), read its status (asking the gateway live), and apply a
//! gateway verdict. Every change that commits is broadcast as a [`PaymentChange`] so MCP
//! subscribers and outbound notifications hear of it.

mod create;
mod error;
pub mod gateways;
mod status;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;

pub use create::{CreateInput, CreateOutcome};
pub use error::PaymentError;
pub use gateways::{GatewayEntry, GatewayMode, Gateways};
pub use status::{StatusOutcome, transition_for};

use crate::domain::{Payment, PaymentEvent};
use crate::store::Store;

/// Tunables of the use cases.
#[derive(Debug, Clone)]
pub struct PaymentSettings {
    /// Identical create calls without an idempotencyKey within this window are one payment.
    pub idempotency_window: Duration,
    /// Return an unpaid link for the same entity and amount instead of making another.
    pub reuse_pending_for_entity: bool,
    /// Flow `timeout` of new orders (None = never expire).
    pub order_timeout: Option<Duration>,
    /// Flow's server-to-server confirmations go here (`<public base>/webhook/flow`).
    pub confirmation_url: String,
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
}

impl PaymentSettings {
    /// Defaults around a public base URL such as `http://127.0.0.1:8787`.
    pub fn with_public_base(public_base_url: &str) -> PaymentSettings {
        let base = public_base_url.trim_end_matches('/');
        PaymentSettings {
            idempotency_window: Duration::from_secs(600),
            reuse_pending_for_entity: true,
            order_timeout: Some(Duration::from_secs(24 * 3600)),
            confirmation_url: format!("{base}/webhook/flow"),
            default_return_url: format!("{base}/payment/return"),
            pending_check_after: Duration::from_secs(3600),
            draft_check_after: Duration::from_secs(120),
            create_settle_window: Duration::from_secs(60),
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
                settings,
                changes,
                create_locks: (0..64).map(|_| tokio::sync::Mutex::new(())).collect(),
                create_attempts: Default::default(),
            }),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn gateways(&self) -> &Gateways {
        &self.inner.gateways
    }

    pub fn settings(&self) -> &PaymentSettings {
        &self.inner.settings
    }

    /// Every committed change from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<PaymentChange> {
        self.inner.changes.subscribe()
    }

    fn publish(&self, payment: Payment, event: PaymentEvent) {
        // No receiver is fine: nobody is listening yet.
        let _ = self.inner.changes.send(PaymentChange { payment, event });
    }
}
