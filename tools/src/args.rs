//! Argument types. Their doc comments become the `inputSchema` descriptions a model reads,
//! so they say units, limits and what to do on retry in plain words.
//!
//! These types describe the schema. Raw arguments are validated by [`crate::validate`],
//! which accepts exactly what these schemas promise and explains anything else.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Arguments of `payment.create`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreatePaymentArgs {
    /// The amount to charge, in the currency's ordinary units as a customer reads them,
    /// as a JSON number. 5000 with CLP means CLP 5.000 (Chilean pesos have no decimals, so
    /// never send 5000.5 or multiply by 100). 12.50 with USD means twelve dollars fifty.
    /// Flow's minimum is CLP 350.
    // The schema says "number"; the value is kept as JSON's own decimal text and parsed
    // exactly by the server (never through a float).
    #[schemars(with = "f64")]
    pub amount: serde_json::Number,
    /// What the customer pays for, shown on the payment page (1 to 255 characters),
    /// e.g. "Clase de matemáticas, martes 10:00".
    pub description: String,
    /// ISO 4217 code: CLP (the default when omitted), or another currency enabled on the
    /// merchant's Flow account (USD, PEN, UF, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// The payer's e-mail address; Flow requires it and sends the receipt there.
    pub customer_email: String,
    /// Optional id of the thing being paid for (a booking, an order, a session). The
    /// payment is linked to it (`payment_for`). An entity that is already paid gets no new
    /// payment unless `allowPaidEntity` is true; an unpaid link for the same entity and
    /// amount is returned instead of a second one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_id: Option<String>,
    /// Optional key that makes retries safe (1 to 128 characters of letters, digits,
    /// `-`, `_`, `.`, `:`). Calling again with the same key and the same arguments returns
    /// the same payment instead of charging twice; reuse it whenever you retry after an
    /// error or a timeout. Without a key, identical calls within 10 minutes are treated
    /// as the same payment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// Set true only when the customer really means to pay again for an entity that is
    /// already paid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_paid_entity: Option<bool>,
    /// Optional: which payment gateway makes the link, when the merchant has more than
    /// one. Leave it out to use the merchant's default; a currency the chosen gateway
    /// cannot take is refused with the name of one that can.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<GatewayArg>,
}

/// The payment gateways a call may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GatewayArg {
    /// Flow (flow.cl), for Chilean pesos.
    Flow,
    /// Stripe (Checkout), for cards in many currencies.
    Stripe,
}

impl GatewayArg {
    pub fn as_str(self) -> &'static str {
        match self {
            GatewayArg::Flow => "flow",
            GatewayArg::Stripe => "stripe",
        }
    }
}

/// Arguments of `payment.getStatus`.
///
/// Only `entityId` is advertised, and it is required (the seeds' contract). The validation
/// ([`crate::validate::parse_get_status`]) also accepts `paymentId` as an alias, for
/// agents that pass create's field name back; it is kept out of the schema so that a
/// client or model never sees a call with no id as valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetStatusArgs {
    /// The payment's id, as returned by payment.create in `paymentId` (starts with
    /// `ent_`).
    pub entity_id: String,
}

/// Arguments of `payment.list`. Every filter is optional; results are newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListPaymentsArgs {
    /// Only payments for this entity: the `entityId` given to payment.create (a booking,
    /// an order, a session).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_id: Option<String>,
    /// Only payments of this payer e-mail (case-insensitive), e.g. to answer "did Ana
    /// pay?".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_email: Option<String>,
    /// Only payments in this status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusArg>,
    /// Only payments created at or after this moment (RFC 3339, e.g.
    /// "2026-11-24T00:00:00Z").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_from: Option<String>,
    /// Only payments created before this moment (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_to: Option<String>,
    /// At most this many payments (1 to 100; 20 when omitted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// The `nextCursor` of the previous page, to get the next one (same filters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// A payment status a listing may filter on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StatusArg {
    /// Created, no link yet.
    Draft,
    /// Waiting for the customer.
    Pending,
    Paid,
    /// Rejected, cancelled or expired.
    Failed,
}

impl StatusArg {
    pub fn as_str(self) -> &'static str {
        match self {
            StatusArg::Draft => "draft",
            StatusArg::Pending => "pending",
            StatusArg::Paid => "paid",
            StatusArg::Failed => "failed",
        }
    }
}

/// Arguments of `payment.refund`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RefundPaymentArgs {
    /// The paid payment to refund: the paymentId that payment.create returned.
    pub payment_id: String,
    /// How much to give back, in the payment's currency's ordinary units (5000 with CLP is
    /// CLP 5.000). Leave it out to refund everything not yet refunded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<f64>")]
    pub amount: Option<serde_json::Number>,
    /// Optional key that makes retries safe, as in payment.create: the same key and
    /// arguments return the same refund instead of a second one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}
