//! The payment-gateway boundary.
//!
//! [`Gateway`] is all the core knows of a gateway: create a checkout for an amount, read an
//! order's status by our reference, by the gateway's own reference or by the token its
//! notifications carry, and read an inbound notification. It answers in neutral terms: a
//! [`Verdict`] (pending, paid, rejected, cancelled) and a [`GatewayError`] (unavailable,
//! rejected, misconfigured, not found, link lost). It also refunds a paid payment, in whole
//! or in part, and reads a refund back ([`refund`]: [`RefundRequest`], [`RefundState`],
//! [`RefundSnapshot`]). Each gateway lives in its own folder with its wire formats and
//! codes, which never leave it; [`GatewayKind`] is the one registration a new gateway adds.

mod error;
pub mod flow;
pub mod refund;
pub mod retry;
pub mod stripe;

use std::time::Duration;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

pub use error::{GatewayError, Refusal};
pub use refund::{RefundLookup, RefundRequest, RefundSnapshot, RefundState};

use crate::domain::{Environment, Money};

/// The gateways paylink speaks to; a payment records which one made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GatewayKind {
    Flow,
    Stripe,
}

impl GatewayKind {
    /// The lowercase name used in URLs (`/webhook/<name>`), the ledger and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            GatewayKind::Flow => "flow",
            GatewayKind::Stripe => "stripe",
        }
    }

    /// The name people know the gateway by.
    pub fn display_name(self) -> &'static str {
        match self {
            GatewayKind::Flow => "Flow",
            GatewayKind::Stripe => "Stripe",
        }
    }

    /// The gateway's test mode, in words.
    pub fn test_mode_name(self) -> &'static str {
        match self {
            GatewayKind::Flow => "Flow sandbox (sandbox.flow.cl; test money)",
            GatewayKind::Stripe => "Stripe test mode (sk_test_ keys; test money)",
        }
    }

    /// The gateway's production, in words.
    pub fn live_mode_name(self) -> &'static str {
        match self {
            GatewayKind::Flow => "LIVE (www.flow.cl; real money)",
            GatewayKind::Stripe => "LIVE (Stripe live keys; real money)",
        }
    }

    pub fn parse(s: &str) -> Option<GatewayKind> {
        match s.trim().to_ascii_lowercase().as_str() {
            "flow" => Some(GatewayKind::Flow),
            "stripe" => Some(GatewayKind::Stripe),
            _ => None,
        }
    }

    /// Every gateway, for listings.
    pub const ALL: [GatewayKind; 2] = [GatewayKind::Flow, GatewayKind::Stripe];

    /// The one path where the side listener receives this gateway's unsigned
    /// notifications for every account (Flow's), read by [`GatewayKind::read_notification`];
    /// None for a gateway that signs per account (Stripe), whose events arrive at
    /// `/webhook/<gateway>/<organization>/<environment>`.
    pub fn shared_webhook_path(self) -> Option<&'static str> {
        match self {
            GatewayKind::Flow => Some("/webhook/flow"),
            GatewayKind::Stripe => None,
        }
    }

    /// The URL the gateway notifies for an account, under paylink's public base URL.
    pub fn webhook_url(self, base: &str, organization: &str, environment: Environment) -> String {
        let base = base.trim_end_matches('/');
        match self.shared_webhook_path() {
            Some(path) => format!("{base}{path}"),
            None => format!(
                "{base}/webhook/{}/{organization}/{}",
                self.as_str(),
                environment.as_str()
            ),
        }
    }

    /// Reads an unsigned notification body (see [`GatewayKind::shared_webhook_path`]) into
    /// what it points at. Notifications are hints: the truth is a signed status read by the
    /// returned token. The error is a short text for the sender (a 400 answer), never
    /// stored.
    ///
    /// Flow's refund callbacks (`urlCallBack`) have the same body, `token=<token>`, so this
    /// reads them too. The body cannot say which kind it is: the caller knows it by the
    /// route the callback arrived on (the refund's [`RefundRequest::notify_url`] points at
    /// its own path, such as `/webhook/flow/refund`) and verifies it with a signed
    /// [`Gateway::refund_status`] by [`RefundLookup::Token`].
    pub fn read_notification(self, body: &[u8]) -> Result<NotificationHint, &'static str> {
        match self {
            GatewayKind::Flow => flow::notification::read(body),
            GatewayKind::Stripe => Err("Stripe events are verified per account"),
        }
    }

    /// Whether the gateway can take payments in a currency at all (a merchant's account
    /// may still have it disabled; the gateway then refuses the create).
    pub fn takes_currency(self, currency: crate::domain::Currency) -> bool {
        match self {
            GatewayKind::Flow => flow::takes_currency(currency),
            GatewayKind::Stripe => stripe::takes_currency(currency),
        }
    }

    /// The smallest amount the gateway accepts in a currency, where it has a rule.
    pub fn minimum(self, currency: crate::domain::Currency) -> Option<Money> {
        match self {
            GatewayKind::Flow => flow::minimum(currency),
            GatewayKind::Stripe => stripe::minimum(currency),
        }
    }

    /// The gateway's own status code and wording for a verdict, where its API has one
    /// (tool results keep Flow's `flowStatus` for compatibility).
    pub fn status_code(self, verdict: &Verdict) -> Option<(i64, &'static str)> {
        match self {
            GatewayKind::Flow => Some(flow::status_code(verdict)),
            GatewayKind::Stripe => None,
        }
    }
}

impl std::fmt::Display for GatewayKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.display_name())
    }
}

/// What an inbound notification names, before it is verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationHint {
    /// The token the gateway confirms with (a payment's `gateway_token`).
    pub token: String,
}

/// What a signed, account-specific notification (such as a Stripe event) names, once its
/// signature is checked. It is still only a hint: the payment changes only after a signed
/// read of the order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The gateway's event id, for the log (duplicates change nothing twice anyway).
    pub event_id: Option<String>,
    /// The event type, for the log.
    pub kind: String,
    /// The order's token (a payment's `gateway_token`), when the event names it.
    pub token: Option<String>,
    /// paylink's payment id, when the event carries it in its metadata.
    pub payment_id: Option<String>,
    /// The gateway's id of the refund the event is about (Stripe's `re_…`); `None` for an
    /// event about a payment. A caller that handles only payments ignores events that
    /// have one.
    pub refund_ref: Option<String>,
    /// paylink's refund id (`rf_…`), when the refund event carries it in its metadata.
    pub refund_id: Option<String>,
}

impl Notification {
    /// Whether the event is about a refund rather than a payment's outcome.
    pub fn is_refund(&self) -> bool {
        self.refund_ref.is_some() || self.refund_id.is_some()
    }
}

/// Why an inbound notification was refused (answered 400, nothing recorded).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotificationError {
    #[error("the signature is missing, stale or wrong")]
    BadSignature,
    #[error("the body cannot be read: {0}")]
    Malformed(String),
    #[error("this account takes no signed notifications (no webhook secret configured)")]
    NotConfigured,
}

/// A checkout paylink asks a gateway to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutRequest {
    /// Our reference at the gateway; reused on every retry of the same payment.
    pub reference: String,
    /// paylink's payment id (also sent as metadata where the gateway keeps metadata).
    pub payment_id: String,
    /// What the payment is for (the tool's `entityId`), sent as metadata where the
    /// gateway keeps metadata.
    pub entity_id: Option<String>,
    /// The same for every retry of one attempt, new for a new attempt (the payment's
    /// reference and its attempt number, from the ledger): gateways that honour
    /// idempotency keys never open a second checkout for a retried request.
    pub idempotency_key: String,
    pub subject: String,
    pub amount: Money,
    pub payer_email: String,
    /// Where the gateway notifies server-to-server.
    pub notify_url: String,
    /// Where the payer's browser returns.
    pub return_url: String,
    /// Seconds after which the checkout can no longer be paid.
    pub expires_in_secs: Option<u64>,
}

/// An opened checkout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    /// The gateway's own reference for the order (Flow's flowOrder).
    pub gateway_ref: String,
    /// The token the gateway's notifications will carry (Flow's token).
    pub token: String,
    /// The link to give the payer.
    pub url: String,
}

/// The gateway's signed verdict on an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pending,
    Paid { paid_at: Option<String> },
    Rejected,
    Cancelled,
}

/// What a status read returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayStatus {
    pub gateway_ref: String,
    /// Our reference, as the gateway holds it: must match the payment's.
    pub reference: String,
    pub verdict: Verdict,
    /// The order amount as the gateway reports it, when it parses in our currency table.
    pub amount: Option<Money>,
    /// The order's pay link and token, where the gateway can give them again (so a create
    /// whose answer was lost can still be finished); None where it cannot (Flow).
    pub checkout: Option<Checkout>,
}

/// How to find an order at the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// By the token its notifications carry.
    Token(&'a str),
    /// By the gateway's own reference.
    GatewayRef(&'a str),
    /// By our reference; `created_after` bounds the search where the gateway can only
    /// list (the payment's creation time, less a margin).
    Reference {
        reference: &'a str,
        created_after: crate::domain::Timestamp,
    },
}

impl Lookup<'_> {
    /// A metric label for the kind of read.
    pub fn label(&self) -> &'static str {
        match self {
            Lookup::Token(_) => "status_by_token",
            Lookup::GatewayRef(_) => "status_by_gateway_ref",
            Lookup::Reference { .. } => "status_by_reference",
        }
    }
}

/// One merchant account at one gateway. Implementations time their own calls.
pub trait Gateway: Send + Sync + std::fmt::Debug {
    fn kind(&self) -> GatewayKind;

    /// The longest a single call may take; a create whose outcome is unknown is counted
    /// as possibly in flight until then.
    fn call_timeout(&self) -> Duration;

    /// Opens a checkout. A retry with the same reference must never open a second one
    /// where the gateway can tell; where it cannot, the error says the outcome is unknown.
    fn create_checkout<'a>(
        &'a self,
        req: &'a CheckoutRequest,
    ) -> BoxFuture<'a, Result<Checkout, GatewayError>>;

    /// A signed read of an order's status; `Ok(None)` when the gateway has no such order.
    fn status<'a>(
        &'a self,
        lookup: Lookup<'a>,
    ) -> BoxFuture<'a, Result<Option<GatewayStatus>, GatewayError>>;

    /// Asks the gateway to refund (part of) a paid payment. The snapshot is the gateway's
    /// answer (usually [`RefundState::Created`]; Stripe may answer `Refunded` at once).
    /// A refund the gateway understood and refused (the payment is not paid or not
    /// refundable, the amount is above what remains refundable) is
    /// [`GatewayError::Rejected`] with [`Refusal::NotRefundable`] or
    /// [`Refusal::RefundExceedsAvailable`]. See [`refund`] for what a retry may do.
    fn create_refund<'a>(
        &'a self,
        req: &'a RefundRequest,
    ) -> BoxFuture<'a, Result<RefundSnapshot, GatewayError>>;

    /// A signed read of a refund; `Ok(None)` when the gateway has no such refund.
    fn refund_status<'a>(
        &'a self,
        lookup: RefundLookup<'a>,
    ) -> BoxFuture<'a, Result<Option<RefundSnapshot>, GatewayError>>;

    /// Checks an account-specific notification's signature (`now_unix`: the current time,
    /// for the signature's tolerance) and reads what it names. `Ok(None)`: a genuine event
    /// paylink does not act on (acknowledged and logged). Gateways whose notifications
    /// are unsigned hints read by [`GatewayKind::read_notification`] keep the default.
    fn verify_notification(
        &self,
        _headers: &http::HeaderMap,
        _body: &[u8],
        _now_unix: i64,
    ) -> Result<Option<Notification>, NotificationError> {
        Err(NotificationError::NotConfigured)
    }
}
