//! Refunds at the gateway, in neutral terms: what paylink asks for ([`RefundRequest`]), the
//! states a refund goes through ([`RefundState`]), what a create or a read answers
//! ([`RefundSnapshot`]) and how a refund is found again ([`RefundLookup`]).
//!
//! # How each gateway fits
//!
//! - Flow: `refund/create` answers a token and a `flowRefundOrder`; the receiver then
//!   accepts or rejects (Flow gives them 10 days), Flow pays the refund out, and every
//!   change is announced by an unsigned form POST `token=<token>` to the refund's
//!   `urlCallBack` ([`RefundRequest::notify_url`]). That body has exactly the shape of a
//!   payment confirmation, so [`GatewayKind::read_notification`](super::GatewayKind::read_notification)
//!   reads it; the caller tells the two apart by the route it gave Flow (a refund's
//!   `notify_url` points at its own path, `/webhook/flow/refund`), never by the body. The
//!   token is only a hint: the truth is a signed `refund/getStatus`
//!   ([`RefundLookup::Token`]). Flow reads refunds by token only.
//! - Stripe: `POST /v1/refunds` on the payment's PaymentIntent, read back by its `re_…` id
//!   (either lookup); there is no token and no per-refund URL: events (`refund.created`,
//!   `refund.updated`, `refund.failed`, `charge.refund.updated`) reach the account's
//!   webhook endpoint and name the refund in
//!   [`Notification::refund_ref`](super::Notification::refund_ref) and paylink's refund id
//!   in [`Notification::refund_id`](super::Notification::refund_id).
//!
//! # Retries
//!
//! A create is re-sent by the clients only when it certainly never left. Stripe honours the
//! idempotency key, so the caller may send the same [`RefundRequest`] again after an
//! unknown outcome. Flow documents no idempotency for `refundCommerceOrder` and has no
//! lookup by it: after an unknown outcome (`GatewayError::outcome_unknown`) the caller must
//! not send the create again blindly (a second refund could be paid out); it waits for the
//! callback or leaves the refund for an operator.

use crate::domain::Money;

/// A refund paylink asks a gateway to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    /// paylink's refund id (`rf_…`): Flow's `refundCommerceOrder`, Stripe's
    /// `metadata[paylink_refund_id]`.
    pub refund_id: String,
    /// The same on every retry of one refund (Stripe's `Idempotency-Key`; Flow has none).
    pub idempotency_key: String,
    /// The payment's `gateway_ref`: Flow's flowOrder (sent as `flowTrxId`), Stripe's
    /// Checkout Session id (`cs_…`, whose PaymentIntent is refunded).
    pub payment_gateway_ref: String,
    /// The payment's gateway token, where the gateway needs it (neither does today).
    pub payment_token: Option<String>,
    /// Our reference (commerceOrder) of the payment: Flow's `commerceTrxId` when the
    /// flowOrder is not known; Stripe's `metadata[reference]`.
    pub payment_reference: String,
    /// How much to give back, in the payment's currency.
    pub amount: Money,
    /// Who receives the refund (Flow requires it; Stripe refunds the payment method).
    pub receiver_email: String,
    /// Where Flow POSTs `token=…` when the refund changes (`urlCallBack`); Stripe ignores
    /// it (its events go to the account's webhook endpoint).
    pub notify_url: String,
}

/// Where a refund stands, in neutral terms.
///
/// | state      | Flow `status` | Stripe `status`                |
/// |------------|---------------|--------------------------------|
/// | `Created`  | `created`     | `pending`, `requires_action`   |
/// | `Accepted` | `accepted`    | (none)                         |
/// | `Rejected` | `rejected`    | `failed`                       |
/// | `Refunded` | `refunded`    | `succeeded`                    |
/// | `Canceled` | `canceled`    | `canceled`                     |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RefundState {
    /// Asked for; nobody has acted on it yet (Stripe: still processing, or waiting for
    /// the customer to give refund details).
    Created,
    /// The receiver accepted it; the money has not moved yet (Flow only).
    Accepted,
    /// The receiver refused it, or the gateway could not pay it out. Nothing was refunded.
    Rejected,
    /// The money went back.
    Refunded,
    /// Withdrawn before it was paid out. Nothing was refunded.
    Canceled,
}

impl RefundState {
    /// The lowercase name used in the ledger and in tool results.
    pub fn as_str(self) -> &'static str {
        match self {
            RefundState::Created => "created",
            RefundState::Accepted => "accepted",
            RefundState::Rejected => "rejected",
            RefundState::Refunded => "refunded",
            RefundState::Canceled => "canceled",
        }
    }

    /// Whether the gateway is done with the refund. Stripe can, rarely, turn a succeeded
    /// refund into a failed one days later (the card was closed); it says so with a
    /// `refund.failed` event, so a caller that keeps listening can still record it.
    pub fn is_final(self) -> bool {
        match self {
            RefundState::Created | RefundState::Accepted => false,
            RefundState::Rejected | RefundState::Refunded | RefundState::Canceled => true,
        }
    }

    /// Whether the refund's amount is spoken for: it is, or may still be, paid out (so it
    /// counts against what remains refundable).
    pub fn holds_amount(self) -> bool {
        match self {
            RefundState::Created | RefundState::Accepted | RefundState::Refunded => true,
            RefundState::Rejected | RefundState::Canceled => false,
        }
    }
}

impl std::fmt::Display for RefundState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refund as the gateway reports it (a signed answer: a create's, or a status read's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundSnapshot {
    /// The gateway's own id for the refund: Flow's `flowRefundOrder`, Stripe's `re_…`.
    pub gateway_refund_ref: String,
    /// The token its notifications carry (Flow's); `None` where there is none (Stripe).
    pub token: Option<String>,
    pub state: RefundState,
    /// The refunded amount as the gateway reports it, when its currency is known (Flow's
    /// `refund/getStatus` names no currency, so a read by token gives `None`).
    pub amount: Option<Money>,
}

/// How to find a refund at the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundLookup<'a> {
    /// By the token its notifications carry (Flow); at Stripe, the `re_…` id.
    Token(&'a str),
    /// By the gateway's own id (Stripe's `re_…`). Flow cannot read a refund this way.
    GatewayRef(&'a str),
}

impl RefundLookup<'_> {
    /// A metric label for the kind of read.
    pub fn label(&self) -> &'static str {
        match self {
            RefundLookup::Token(_) => "refund_status_by_token",
            RefundLookup::GatewayRef(_) => "refund_status_by_gateway_ref",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_have_lowercase_names_and_only_created_and_accepted_are_open() {
        let table = [
            (RefundState::Created, "created", false, true),
            (RefundState::Accepted, "accepted", false, true),
            (RefundState::Rejected, "rejected", true, false),
            (RefundState::Refunded, "refunded", true, true),
            (RefundState::Canceled, "canceled", true, false),
        ];
        for (state, name, is_final, holds) in table {
            assert_eq!(state.as_str(), name);
            assert_eq!(state.to_string(), name);
            assert_eq!(state.is_final(), is_final, "{name}");
            assert_eq!(state.holds_amount(), holds, "{name}");
            assert_eq!(serde_json::to_value(state).unwrap(), name);
        }
    }
}
