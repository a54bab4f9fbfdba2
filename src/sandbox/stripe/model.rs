//! The Stripe sandbox's public data types: settle outcomes, injectable faults, the request
//! and delivery logs, webhook endpoints given at start, the delivery retry policy, and the
//! error of the in-process control API.
//!
//! They serve both the in-process API ([`StripeSandbox`](super::StripeSandbox) methods) and
//! the JSON control API under `/sandbox/`, so their serde shapes are the control API's shapes.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::DEFAULT_WEBHOOK_SECRET;

/// What happens to a Checkout Session, from the pay page or from a test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Card 4242…: the PaymentIntent succeeds; the session becomes `complete` and `paid`.
    /// Events `payment_intent.succeeded`, `checkout.session.completed`.
    Paid,
    /// Card 4000…0002: the attempt fails (`card_declined`, `generic_decline`); the session
    /// stays `open` and `unpaid`. Event `payment_intent.payment_failed`.
    Declined,
    /// A delayed method (a bank debit): the session becomes `complete` but stays `unpaid`,
    /// its PaymentIntent `processing`. Event `checkout.session.completed`.
    AsyncPending,
    /// The delayed payment clears (from `open`, it first goes through `async_pending`):
    /// `paid`. Events `checkout.session.async_payment_succeeded`, `payment_intent.succeeded`.
    AsyncSucceeded,
    /// The delayed payment fails (from `open`, it first goes through `async_pending`): the
    /// session stays `complete` and `unpaid`, its PaymentIntent back to
    /// `requires_payment_method`. Events `checkout.session.async_payment_failed`,
    /// `payment_intent.payment_failed`.
    AsyncFailed,
    /// The session expires now, as `POST /v1/checkout/sessions/{id}/expire` does.
    /// Event `checkout.session.expired`.
    Expired,
}

/// What happens to a refund, from a test (the control API's
/// `POST /sandbox/refunds/{id}/{outcome}`) or, at Stripe, from the card network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundOutcome {
    /// `pending` → `succeeded`. Events `refund.updated`, `charge.refunded`.
    Succeed,
    /// `pending` or `succeeded` → `failed`. Events `refund.updated`, `refund.failed`.
    Fail,
    /// `pending` → `canceled`. Event `refund.updated`.
    Cancel,
}

impl RefundOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundOutcome::Succeed => "succeed",
            RefundOutcome::Fail => "fail",
            RefundOutcome::Cancel => "cancel",
        }
    }

    pub fn parse(text: &str) -> Option<RefundOutcome> {
        match text {
            "succeed" => Some(RefundOutcome::Succeed),
            "fail" => Some(RefundOutcome::Fail),
            "cancel" => Some(RefundOutcome::Cancel),
            _ => None,
        }
    }
}

/// The result of settling a refund.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RefundSettleReport {
    /// The Refund JSON after settling.
    pub refund: serde_json::Value,
    /// The ids of the events created, in order; their deliveries run in the background.
    pub events: Vec<String>,
}

/// Which `/v1` requests a fault applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultTarget {
    /// `POST /v1/checkout/sessions`.
    Create,
    /// `GET /v1/checkout/sessions/{id}`.
    Retrieve,
    /// `GET /v1/checkout/sessions`.
    List,
    /// `POST /v1/checkout/sessions/{id}/expire`.
    Expire,
    /// Every request under `/v1`.
    Any,
}

/// What a fault does to a request. JSON: `{"kind":"delay","ms":2000}`, `{"kind":"http500"}`,
/// `{"kind":"http429","retry_after":2}`, `{"kind":"malformed_body"}`,
/// `{"kind":"close_connection"}`, `{"kind":"timeout_then_create","ms":30000}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Stripe is slow: the request is authenticated and claims its idempotency key, then
    /// waits this long before it is handled (even if the client has hung up meanwhile). A
    /// retry with the same key during the wait gets 409 `idempotency_key_in_use`.
    Delay { ms: u64 },
    /// Answer HTTP 500 with an `api_error` body, as Stripe's servers rarely do. Nothing is
    /// done and nothing is kept for the idempotency key: the fault sits in front of the API.
    Http500,
    /// Answer HTTP 429 `rate_limit` with `Retry-After: <retry_after>` (seconds).
    Http429 {
        #[serde(default = "default_retry_after")]
        retry_after: u64,
    },
    /// Answer HTTP 200 with truncated JSON.
    MalformedBody,
    /// Close the TCP connection without answering (see the Flow sandbox's module doc).
    CloseConnection,
    /// Handle the request at once (the session is created, the answer kept for its
    /// idempotency key) but send the answer only `ms` later, after the client gave up.
    TimeoutThenCreate { ms: u64 },
}

fn default_retry_after() -> u64 {
    1
}

impl FaultKind {
    /// The name recorded as a request's outcome (`fault:<name>`).
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::Delay { .. } => "delay",
            FaultKind::Http500 => "http500",
            FaultKind::Http429 { .. } => "http429",
            FaultKind::MalformedBody => "malformed_body",
            FaultKind::CloseConnection => "close_connection",
            FaultKind::TimeoutThenCreate { .. } => "timeout_then_create",
        }
    }
}

/// A fault to inject into `/v1` requests. JSON:
/// `{"target":"create","kind":{"kind":"http500"},"times":1}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    pub target: FaultTarget,
    pub kind: FaultKind,
    /// How many requests it affects; `None` (or absent) = until cleared.
    #[serde(default)]
    pub times: Option<u32>,
}

/// One request received under `/v1`, in arrival order. The `Authorization` header is never
/// recorded; `key` is the API key masked as Stripe masks it (`sk_test_****ndbx`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// Sandbox-clock time of arrival, RFC 3339.
    pub at: String,
    /// The `Request-Id` answered.
    pub request_id: String,
    pub method: String,
    /// The path, e.g. `/v1/checkout/sessions`.
    pub path: String,
    /// The decoded form or query pairs, bracket keys as sent.
    pub params: Vec<(String, String)>,
    pub idempotency_key: Option<String>,
    pub key: Option<String>,
    /// The `Stripe-Version` header, if sent.
    pub stripe_version: Option<String>,
    /// The HTTP status answered; 0 when the connection was closed without an answer.
    pub http_status: u16,
    /// `ok`, `replayed`, the error code, or `fault:<name>`.
    pub outcome: String,
}

/// One delivery attempt of an event to a webhook endpoint (or a delivery dropped on purpose).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    /// Shared by every attempt of one delivery; a duplicate is a delivery of its own.
    pub delivery: String,
    pub event: String,
    pub event_type: String,
    pub endpoint: String,
    pub url: String,
    /// 1 for the first attempt; 0 for a dropped delivery.
    pub attempt: u32,
    /// Sandbox-clock time of the attempt, RFC 3339.
    pub at: String,
    /// The `Stripe-Signature` header sent (`t=…,v1=…`); empty when dropped.
    pub signature: String,
    /// The endpoint's HTTP status; `None` when dropped or on a transport error or timeout.
    pub http_status: Option<u16>,
    pub latency_ms: u64,
    pub error: Option<String>,
    /// Dropped by `drop_next_deliveries`: nothing was sent.
    pub dropped: bool,
    /// The second copy of a delivery sent twice by `duplicate_next_deliveries`.
    pub duplicate: bool,
    /// This attempt failed and another one is scheduled.
    pub will_retry: bool,
}

impl DeliveryRecord {
    /// Whether the endpoint answered 2xx.
    pub fn succeeded(&self) -> bool {
        self.http_status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// A webhook endpoint present from the start (besides those created through the API).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookEndpointConfig {
    pub url: String,
    /// The `whsec_…` signing secret.
    pub secret: String,
    /// Event types delivered; `*` for all.
    pub enabled_events: Vec<String>,
}

impl WebhookEndpointConfig {
    /// An endpoint for every event, signed with [`DEFAULT_WEBHOOK_SECRET`].
    pub fn new(url: impl Into<String>) -> Self {
        WebhookEndpointConfig {
            url: url.into(),
            secret: DEFAULT_WEBHOOK_SECRET.to_string(),
            enabled_events: vec!["*".to_string()],
        }
    }
}

/// How webhooks are delivered: the time an endpoint has to answer, and the pauses before
/// each retry of a delivery that got no 2xx (so `retry_delays.len() + 1` attempts at most).
/// Stripe retries for days; the sandbox keeps the shape and shortens the pauses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryPolicy {
    pub timeout: Duration,
    pub retry_delays: Vec<Duration>,
}

impl Default for DeliveryPolicy {
    /// 10 s to answer; retries after 0.1 s, 0.5 s and 2 s.
    fn default() -> Self {
        DeliveryPolicy {
            timeout: Duration::from_secs(10),
            retry_delays: [100, 500, 2000]
                .into_iter()
                .map(Duration::from_millis)
                .collect(),
        }
    }
}

/// The result of settling a session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SettleReport {
    /// The Checkout Session JSON after settling.
    pub session: serde_json::Value,
    /// The PaymentIntent JSON, if the session has one.
    pub payment_intent: Option<serde_json::Value>,
    /// The ids of the events created, in order; their deliveries run in the background.
    pub events: Vec<String>,
}

/// Why the in-process or control API refused a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StripeSandboxError {
    #[error("no checkout session with id {0}")]
    UnknownSession(String),
    #[error("no event with id {0}")]
    UnknownEvent(String),
    /// The session's state does not allow the outcome (e.g. paying a complete session).
    #[error("the session is {status} ({payment_status}); it cannot become {outcome}")]
    NotAllowed {
        status: &'static str,
        payment_status: &'static str,
        outcome: &'static str,
    },
    #[error("{0}")]
    InvalidEndpoint(String),
    #[error("no refund with id {0}")]
    UnknownRefund(String),
    /// The refund's status does not allow the outcome.
    #[error("the refund is {status}; it cannot {outcome}")]
    RefundNotAllowed {
        status: &'static str,
        outcome: &'static str,
    },
}
