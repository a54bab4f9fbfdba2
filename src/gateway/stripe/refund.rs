//! Stripe refunds: `POST /v1/refunds` on the PaymentIntent of the payment's Checkout
//! Session, `GET /v1/refunds/{id}`, and a Refund's `status` in neutral terms.
//!
//! The create first reads the session (with its PaymentIntent expanded): a session that is
//! not paid is refused here as [`Refusal::NotRefundable`] without asking Stripe, and its
//! PaymentIntent is what Stripe refunds. The create carries the request's idempotency key
//! and `metadata[paylink_refund_id]` (so refund events name paylink's refund) and
//! `metadata[reference]`; it is re-sent only when it certainly never left, and a caller
//! may send it again with the same key after an unknown outcome (Stripe replays the
//! first answer).
//!
//! | Stripe `status`   | state      | why                                                   |
//! |-------------------|------------|-------------------------------------------------------|
//! | `pending`         | `Created`  | Stripe is still processing it; no money has moved    |
//! | `requires_action` | `Created`  | the customer must give refund details; nothing moved |
//! | `succeeded`       | `Refunded` | the money went back                                   |
//! | `failed`          | `Rejected` | it could not be paid out; the money stays with us     |
//! | `canceled`        | `Canceled` | withdrawn before it was paid out                      |
//!
//! Stripe has no step like Flow's receiver acceptance, so `Accepted` never comes from it. A
//! status Stripe adds later (or none) is an error, not a guess.

use super::StripeClient;
use super::amounts;
use super::error::StripeError;
use super::events::REFUND_ID_KEY;
use super::status::verdict;
use super::wire::{Form, IntentRef, Refund, RefundStatus};
use crate::gateway::{
    GatewayError, RefundLookup, RefundRequest, RefundSnapshot, RefundState, Refusal, Verdict,
};

/// Stripe's code for a charge with nothing left to refund.
pub const CODE_CHARGE_ALREADY_REFUNDED: &str = "charge_already_refunded";
/// Stripe's code for a refund above what remains unrefunded on the charge.
pub const CODE_AMOUNT_TOO_LARGE: &str = "amount_too_large";

/// A Refund's status in neutral terms (see the table in the module doc).
pub fn refund_state(status: Option<RefundStatus>) -> Result<RefundState, StripeError> {
    let unknown = || StripeError::Malformed(format!("unknown Stripe refund status {status:?}"));
    match status.ok_or_else(unknown)? {
        RefundStatus::Pending | RefundStatus::RequiresAction => Ok(RefundState::Created),
        RefundStatus::Succeeded => Ok(RefundState::Refunded),
        RefundStatus::Failed => Ok(RefundState::Rejected),
        RefundStatus::Canceled => Ok(RefundState::Canceled),
        RefundStatus::Unknown => Err(unknown()),
    }
}

/// A Refund as a neutral snapshot.
pub fn snapshot(r: &Refund) -> Result<RefundSnapshot, StripeError> {
    let amount = match (r.amount, r.currency.as_deref()) {
        (Some(amount), Some(currency)) => amounts::from_stripe(amount, currency),
        _ => None,
    };
    Ok(RefundSnapshot {
        gateway_refund_ref: r.id.clone(),
        token: None,
        state: refund_state(r.status)?,
        amount,
    })
}

/// A refund's failure in neutral terms: Stripe's refund codes become the refusals an agent
/// can act on; everything else is mapped as any Stripe error is.
pub fn refund_error(e: StripeError) -> GatewayError {
    if let StripeError::Api(a) = &e
        && a.http_status == 400
    {
        let reason = match a.code.as_deref() {
            Some(CODE_CHARGE_ALREADY_REFUNDED) => Some(Refusal::NotRefundable),
            Some(CODE_AMOUNT_TOO_LARGE) => Some(Refusal::RefundExceedsAvailable),
            _ => None,
        };
        if let Some(reason) = reason {
            return GatewayError::Rejected {
                reason,
                code: a.code.clone(),
                message: a.message.clone(),
            };
        }
    }
    GatewayError::from(e)
}

fn not_refundable(message: String) -> GatewayError {
    GatewayError::Rejected {
        reason: Refusal::NotRefundable,
        code: None,
        message,
    }
}

impl StripeClient {
    /// `POST /v1/refunds` for `amount` (Stripe's units) of `payment_intent`.
    pub async fn refund_create(
        &self,
        payment_intent: &str,
        amount: i64,
        req: &RefundRequest,
    ) -> Result<Refund, StripeError> {
        Self::check_idempotency_key(&req.idempotency_key)?;
        let mut f = Form::new();
        f.push(&["payment_intent"], payment_intent)
            .push(&["amount"], amount.to_string())
            .push(&["metadata", REFUND_ID_KEY], req.refund_id.as_str());
        if !req.payment_reference.is_empty() {
            f.push(&["metadata", "reference"], req.payment_reference.as_str());
        }
        self.post_create("/v1/refunds", &req.idempotency_key, f.encode())
            .await
    }

    /// `GET /v1/refunds/{id}`; `None` when Stripe has no such refund.
    pub async fn retrieve_refund(&self, id: &str) -> Result<Option<Refund>, StripeError> {
        if !Self::is_stripe_id(id) {
            return Ok(None);
        }
        match self.get::<Refund>(&format!("/v1/refunds/{id}")).await {
            Ok(r) => Ok(Some(r)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(super) async fn open_refund(
        &self,
        req: &RefundRequest,
    ) -> Result<RefundSnapshot, GatewayError> {
        let amount = amounts::to_stripe(req.amount).map_err(StripeError::Amount)?;
        let session = self
            .retrieve_session(&req.payment_gateway_ref)
            .await?
            .ok_or(GatewayError::NotFound)?;
        if !matches!(verdict(&session)?, Verdict::Paid { .. }) {
            return Err(not_refundable(format!(
                "the payment's Checkout Session {} is not paid, so there is nothing to refund",
                session.id
            )));
        }
        let paid_currency = session.currency.as_deref().unwrap_or("");
        if !paid_currency.eq_ignore_ascii_case(req.amount.currency.code()) {
            return Err(GatewayError::Rejected {
                reason: Refusal::Other,
                code: None,
                message: format!(
                    "the refund is in {} but the payment was in {}; refund in the payment's currency",
                    req.amount.currency.code(),
                    paid_currency.to_ascii_uppercase()
                ),
            });
        }
        let payment_intent = match &session.payment_intent {
            Some(IntentRef::Expanded(pi)) => pi.id.clone(),
            Some(IntentRef::Id(id)) => id.clone(),
            None => {
                return Err(not_refundable(format!(
                    "the payment's Checkout Session {} has no PaymentIntent to refund",
                    session.id
                )));
            }
        };
        let refund = self
            .refund_create(&payment_intent, amount, req)
            .await
            .map_err(refund_error)?;
        Ok(snapshot(&refund)?)
    }

    /// Either lookup is the refund's `re_…` id (Stripe refunds have no token).
    pub(super) async fn read_refund(
        &self,
        lookup: RefundLookup<'_>,
    ) -> Result<Option<RefundSnapshot>, GatewayError> {
        let id = match lookup {
            RefundLookup::Token(id) | RefundLookup::GatewayRef(id) => id,
        };
        match self.retrieve_refund(id).await? {
            Some(r) => Ok(Some(snapshot(&r)?)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Currency, Money};
    use crate::gateway::stripe::error::ApiFailure;

    #[test]
    fn every_refund_status_maps_to_a_state_and_unknown_ones_are_errors() {
        let table = [
            (RefundStatus::Pending, RefundState::Created),
            (RefundStatus::RequiresAction, RefundState::Created),
            (RefundStatus::Succeeded, RefundState::Refunded),
            (RefundStatus::Failed, RefundState::Rejected),
            (RefundStatus::Canceled, RefundState::Canceled),
        ];
        for (status, state) in table {
            assert_eq!(refund_state(Some(status)).unwrap(), state, "{status:?}");
        }
        assert!(refund_state(Some(RefundStatus::Unknown)).is_err());
        assert!(refund_state(None).is_err());
    }

    #[test]
    fn a_snapshot_has_no_token_and_stripes_amount_as_money() {
        let r: Refund = serde_json::from_value(serde_json::json!({
            "id": "re_1", "status": "succeeded", "amount": 500, "currency": "usd",
            "metadata": {"paylink_refund_id": "rf_1"}
        }))
        .unwrap();
        let snap = snapshot(&r).unwrap();
        assert_eq!(snap.gateway_refund_ref, "re_1");
        assert_eq!(snap.token, None);
        assert_eq!(snap.state, RefundState::Refunded);
        let usd = Currency::from_code("USD").unwrap();
        assert_eq!(snap.amount, Some(Money::from_minor(500, usd)));
    }

    #[test]
    fn refund_codes_become_neutral_refusals() {
        let api = |status: u16, code: &str| {
            StripeError::Api(Box::new(ApiFailure {
                http_status: status,
                kind: "invalid_request_error".into(),
                code: Some(code.into()),
                message: "m".into(),
                param: Some("amount".into()),
                decline_code: None,
                retry_after: None,
            }))
        };
        let reason = |e: GatewayError| match e {
            GatewayError::Rejected { reason, .. } => reason,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            reason(refund_error(api(400, CODE_AMOUNT_TOO_LARGE))),
            Refusal::RefundExceedsAvailable
        );
        assert_eq!(
            reason(refund_error(api(400, CODE_CHARGE_ALREADY_REFUNDED))),
            Refusal::NotRefundable
        );
        assert_eq!(
            reason(refund_error(api(400, "parameter_invalid_integer"))),
            Refusal::Other
        );
        assert_eq!(
            refund_error(api(404, "resource_missing")),
            GatewayError::NotFound
        );
    }
}
