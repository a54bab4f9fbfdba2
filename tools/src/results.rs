//! Result types. Each tool's `outputSchema` is generated from these, and every successful
//! result carries the same JSON as `structuredContent` and as text.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What `payment.create` returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatePaymentResult {
    /// The payment's id; pass it to payment.getStatus as `entityId`.
    pub payment_id: String,
    /// The link to give the customer. They pay on Flow's page; then check the status.
    pub payment_link_url: String,
    /// Flow's order number.
    pub flow_order_id: String,
    /// `pending` for a new link; an existing payment returned again may be `paid` or
    /// `failed`.
    pub status: String,
    /// The amount in the currency's ordinary units (5000 means CLP 5.000).
    #[schemars(with = "f64")]
    pub amount: serde_json::Number,
    /// The amount in the currency's smallest unit (for CLP the same as `amount`).
    pub amount_minor: i64,
    pub currency: String,
    /// `sandbox` (test money: Flow's sandbox or paylink's offline sandbox) or `live`.
    pub environment: String,
    /// When the link stops working (RFC 3339), if it expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// True when an earlier identical request's payment was returned instead of a new one.
    pub reused: bool,
    /// The MCP resource of this payment; subscribe to it to hear when it is paid.
    pub resource_uri: String,
    /// What to do next.
    pub next_step: String,
}

/// What `payment.getStatus` returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GetStatusResult {
    /// The payment's id.
    pub entity_id: String,
    /// `draft` (no link yet), `pending` (waiting for the customer), `paid` or `failed`.
    pub status: String,
    /// Flow's own status code when known: 1 pending, 2 paid, 3 rejected, 4 cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_status: Option<i64>,
    /// Flow's status in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_status_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_link_url: Option<String>,
    /// The amount in the currency's ordinary units.
    #[schemars(with = "f64")]
    pub amount: serde_json::Number,
    pub amount_minor: i64,
    pub currency: String,
    pub description: String,
    /// When the payment was confirmed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paid_at: Option<String>,
    /// Why it failed: rejected, cancelled, expired, gateway_refused or link_lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// The entity this payment is for, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_for: Option<String>,
    /// True when Flow was asked just now; false when the stored answer is final, or when
    /// Flow could not be reached (then `liveCheckError` says so).
    pub checked_live: bool,
    /// Set when Flow should have been asked but could not be reached: the status above is
    /// the last one paylink knows, and asking again later may change it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_check_error: Option<String>,
    /// When the stored status was last updated (RFC 3339).
    pub updated_at: String,
    /// What was refunded or is being refunded, when anything was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<f64>")]
    pub amount_refunded: Option<serde_json::Number>,
    /// The payment's refunds, oldest first (absent when none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refunds: Vec<RefundLine>,
    /// What to do next.
    pub next_step: String,
}

/// What `payment.list` returns: one compact line per payment, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListPaymentsResult {
    pub payments: Vec<ListedPayment>,
    /// Pass it as `cursor` (with the same filters) for the next page; absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// One payment in a listing; payment.getStatus with its `paymentId` gives everything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListedPayment {
    pub payment_id: String,
    /// `draft`, `pending`, `paid` or `failed`.
    pub status: String,
    /// The amount in the currency's ordinary units.
    #[schemars(with = "f64")]
    pub amount: serde_json::Number,
    pub currency: String,
    pub description: String,
    pub customer_email: String,
    /// The entity it is for, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_id: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339, when paid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paid_at: Option<String>,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
}

/// What `payment.refund` returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefundResult {
    pub refund_id: String,
    pub payment_id: String,
    /// `requested` (not yet accepted by the gateway), `created`, `accepted`, `refunded`
    /// (the money is back), `rejected` or `canceled`.
    pub status: String,
    /// The refund's amount in the currency's ordinary units.
    #[schemars(with = "f64")]
    pub amount: serde_json::Number,
    pub currency: String,
    /// Everything refunded or being refunded on this payment, this refund included.
    #[schemars(with = "f64")]
    pub amount_refunded: serde_json::Number,
    /// True when an earlier identical request's refund was returned.
    pub reused: bool,
    pub next_step: String,
}

/// One refund of a payment, as payment.getStatus shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefundLine {
    pub refund_id: String,
    /// requested, created, accepted, refunded, rejected or canceled.
    pub status: String,
    #[schemars(with = "f64")]
    pub amount: serde_json::Number,
}
