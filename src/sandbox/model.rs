//! The sandbox's public data types: settle outcomes, injectable faults, the request and
//! confirmation logs, and the error of the in-process control API.
//!
//! These are shared by the in-process API ([`Sandbox`](super::Sandbox) methods) and the
//! JSON control API under `/sandbox`, so their serde shapes are the control API's shapes.

use serde::{Deserialize, Serialize};

/// How the payer leaves the pay page (or what a test settles an order to).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Status 2, `paymentData` filled, confirmation sent.
    Paid,
    /// Status 3, confirmation sent.
    Rejected,
    /// Status 4, confirmation sent.
    Cancelled,
    /// Stays status 1 with `pending_info` = Multicaja coupon; no confirmation.
    Pending,
}

/// What happens to a refund, from a test or the merchant (the control API's
/// `POST /sandbox/refunds/{token}/{action}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RefundAction {
    /// The receiver accepts it: `created` → `accepted`.
    Accept,
    /// The receiver refuses it: `created` → `rejected`.
    Reject,
    /// Flow pays it out: `created` or `accepted` → `refunded`.
    Refund,
    /// Withdrawn (as `refund/cancel` does): `created` → `canceled`.
    Cancel,
}

impl RefundAction {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundAction::Accept => "accept",
            RefundAction::Reject => "reject",
            RefundAction::Refund => "refund",
            RefundAction::Cancel => "cancel",
        }
    }

    pub fn parse(text: &str) -> Option<RefundAction> {
        match text {
            "accept" => Some(RefundAction::Accept),
            "reject" => Some(RefundAction::Reject),
            "refund" => Some(RefundAction::Refund),
            "cancel" => Some(RefundAction::Cancel),
            _ => None,
        }
    }
}

/// Which `/api` requests a fault applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultTarget {
    /// `POST /api/payment/create`.
    Create,
    /// The three getStatus services (by token, flowOrder and commerceId).
    GetStatus,
    /// Every request under `/api`.
    Any,
}

impl FaultTarget {
    /// Whether a request to `endpoint` (the path after `/api/`) is targeted.
    pub fn matches(self, endpoint: &str) -> bool {
        match self {
            FaultTarget::Create => endpoint == "payment/create",
            FaultTarget::GetStatus => matches!(
                endpoint,
                "payment/getStatus"
                    | "payment/getStatusByFlowOrder"
                    | "payment/getStatusByCommerceId"
            ),
            FaultTarget::Any => true,
        }
    }
}

/// What a fault does to a request. JSON: `{"kind":"delay","ms":2000}`, `{"kind":"http500"}`,
/// `{"kind":"malformed_body"}`, `{"kind":"close_connection"}`,
/// `{"kind":"gateway_timeout_then_deliver","ms":1500}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Sleep this long, then handle the request normally.
    Delay { ms: u64 },
    /// Answer HTTP 500 with the text body `internal error`.
    Http500,
    /// Answer HTTP 200 with the truncated JSON `{"flowOrder": `.
    MalformedBody,
    /// Close the TCP connection without answering (see the module doc of `sandbox`).
    CloseConnection,
    /// Answer HTTP 504 at once, as a proxy in front of Flow does when it gives up, and
    /// handle the request `ms` later anyway (the proxy delivered it late).
    GatewayTimeoutThenDeliver { ms: u64 },
}

impl FaultKind {
    /// The name recorded as a request's outcome.
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::Delay { .. } => "delay",
            FaultKind::Http500 => "http500",
            FaultKind::MalformedBody => "malformed_body",
            FaultKind::CloseConnection => "close_connection",
            FaultKind::GatewayTimeoutThenDeliver { .. } => "gateway_timeout_then_deliver",
        }
    }
}

/// A fault to inject into `/api` requests. JSON:
/// `{"target":"create","kind":{"kind":"delay","ms":2000},"times":1}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    pub target: FaultTarget,
    pub kind: FaultKind,
    /// How many requests it affects; `None` (or absent) = until cleared.
    #[serde(default)]
    pub times: Option<u32>,
}

/// One request received under `/api`, in arrival order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// Sandbox-clock time of arrival, RFC 3339.
    pub at: String,
    pub method: String,
    /// The path after `/api/`, e.g. `payment/create`.
    pub endpoint: String,
    pub api_key: Option<String>,
    /// Every decoded parameter except the signature `s`.
    pub params: Vec<(String, String)>,
    /// The HTTP status answered; 0 when the connection was closed without an answer.
    pub http_status: u16,
    /// `ok`, the Flow error message, or `fault:<name>` (e.g. `fault:http500`).
    pub outcome: String,
}

/// One confirmation (POST `token=…` to `urlConfirmation`) the sandbox sent or dropped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmationRecord {
    pub token: String,
    pub url: String,
    /// The merchant's HTTP status; `None` if dropped or on a transport error.
    pub http_status: Option<u16>,
    pub latency_ms: u64,
    /// What Flow would e-mail an integration alert for: non-200, over 15 s, or no answer.
    pub alert: bool,
    /// The transport error, if any.
    pub error: Option<String>,
    /// Dropped on purpose by `drop_next_confirmations`: nothing was sent.
    pub dropped: bool,
}

/// The result of settling an order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SettleReport {
    /// The order's PaymentStatus JSON after settling.
    pub status: serde_json::Value,
    /// The confirmation sent (or dropped); `None` for `pending`.
    pub confirmation: Option<ConfirmationRecord>,
}

/// The result of settling a refund.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RefundReport {
    /// The refund's RefundStatus JSON after settling.
    pub refund: serde_json::Value,
    /// The callback sent to its `urlCallBack`.
    pub callback: Option<ConfirmationRecord>,
}

/// Why a settle was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SandboxError {
    #[error("no order with token {0}")]
    UnknownToken(String),
    /// A final status (2, 3 or 4) never changes.
    #[error("the order is already final (status {status})")]
    AlreadyFinal { status: u8 },
    /// The order's `timeout` has passed; it reports status 4 and cannot be paid.
    #[error("the order has expired (its timeout passed)")]
    Expired,
    #[error("no refund with token {0}")]
    UnknownRefund(String),
    /// The refund's status does not allow the action.
    #[error("the refund is {status}; it cannot {action}")]
    RefundNotAllowed {
        status: &'static str,
        action: &'static str,
    },
}
