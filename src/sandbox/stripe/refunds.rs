//! Refunds in the Stripe sandbox: a refund of a succeeded PaymentIntent, its status machine
//! and JSON, and the events it causes. The one path behind `POST /v1/refunds`, the control
//! API's `POST /sandbox/refunds/{id}/{outcome}` and [`StripeSandbox::settle_refund`].
//!
//! # Behaviour
//!
//! - Only a `succeeded` PaymentIntent can be refunded (else 400, as Stripe's "does not have
//!   a successful charge to refund"). What remains is its amount less its refunds that are
//!   `pending`, `requires_action` or `succeeded`; nothing left is `charge_already_refunded`,
//!   more than what is left is `amount_too_large` (param `amount`), as Stripe answers.
//! - A refund of a card payment succeeds at once in Stripe's test mode, so a new refund is
//!   `succeeded`; after [`StripeSandbox::hold_next_refunds`]`(n)` the next `n` start
//!   `pending` instead (as Stripe's test card 4000 0000 0000 7726 makes them).
//! - `succeed` turns a `pending` refund into `succeeded`; `cancel` into `canceled`; `fail`
//!   turns it, or a `succeeded` one (as Stripe's test card 4000 0000 0000 5126 does, days
//!   later), into `failed` with a `failure_reason`. `failed` and `canceled` never change.
//!   (`requires_action`, for payment methods that need the customer's bank details, is
//!   not emulated: the sandbox takes cards only.)
//! - Events, in order: `refund.created` at creation; `refund.updated` on every change,
//!   then `refund.failed` when it failed; and `charge.refunded` (a minimal Charge with
//!   `amount_refunded`) whenever a refund succeeds. These are the events of accounts on
//!   API version 2024-10-28 or later (see `gateway::stripe::events`); the event envelope
//!   still carries [`STRIPE_API_VERSION`](super::STRIPE_API_VERSION).

use serde_json::{Value, json};

use super::StripeSandbox;
use super::currency::{currency, format_amount};
use super::error::ApiError;
use super::model::{RefundOutcome, RefundSettleReport, StripeSandboxError};
use super::refund_rules::RefundParams;
use super::rules::metadata_json;
use super::state::{PaymentIntent, Pending, PiStatus, State};
use super::webhooks::Cause;
use super::wire::new_id;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundStatus {
    Pending,
    Succeeded,
    Failed,
    Canceled,
}

impl RefundStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundStatus::Pending => "pending",
            RefundStatus::Succeeded => "succeeded",
            RefundStatus::Failed => "failed",
            RefundStatus::Canceled => "canceled",
        }
    }

    fn holds_amount(self) -> bool {
        match self {
            RefundStatus::Pending | RefundStatus::Succeeded => true,
            RefundStatus::Failed | RefundStatus::Canceled => false,
        }
    }
}

/// Where `outcome` leads from `status` (with the failure reason it sets); `None` if it is
/// not allowed there.
fn next(
    status: RefundStatus,
    outcome: RefundOutcome,
) -> Option<(RefundStatus, Option<&'static str>)> {
    use RefundStatus::{Canceled, Failed, Pending, Succeeded};
    match (status, outcome) {
        (Pending, RefundOutcome::Succeed) => Some((Succeeded, None)),
        (Pending, RefundOutcome::Cancel) => Some((Canceled, None)),
        (Pending, RefundOutcome::Fail) => Some((Failed, Some("declined"))),
        (Succeeded, RefundOutcome::Fail) => Some((Failed, Some("expired_or_canceled_card"))),
        (Succeeded, RefundOutcome::Succeed | RefundOutcome::Cancel) | (Failed | Canceled, _) => {
            None
        }
    }
}

#[derive(Debug, Clone)]
pub struct Refund {
    pub id: String,
    pub created: i64,
    pub amount: i64,
    pub currency: &'static str,
    pub payment_intent: String,
    pub charge: Option<String>,
    pub metadata: Vec<(String, String)>,
    pub reason: Option<String>,
    pub status: RefundStatus,
    pub failure_reason: Option<&'static str>,
}

impl Refund {
    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "refund",
            "amount": self.amount,
            "balance_transaction": null,
            "charge": self.charge,
            "created": self.created,
            "currency": self.currency,
            "failure_reason": self.failure_reason,
            "metadata": metadata_json(&self.metadata),
            "next_action": null,
            "payment_intent": self.payment_intent,
            "reason": self.reason,
            "receipt_number": null,
            "status": self.status.as_str(),
        })
    }
}

impl State {
    pub fn refund(&self, id: &str) -> Option<&Refund> {
        self.refunds.iter().find(|r| r.id == id)
    }

    /// Minor units of the PaymentIntent `pi` that its refunds hold, and those refunded.
    fn refunded_of(&self, pi: &str) -> (i64, i64) {
        let mine = self.refunds.iter().filter(|r| r.payment_intent == pi);
        let held = mine
            .clone()
            .filter(|r| r.status.holds_amount())
            .map(|r| r.amount)
            .sum();
        let refunded = mine
            .filter(|r| r.status == RefundStatus::Succeeded)
            .map(|r| r.amount)
            .sum();
        (held, refunded)
    }

    /// A minimal Charge of the PaymentIntent, for `charge.refunded`.
    fn charge_json(&self, pi: &PaymentIntent) -> Value {
        let (_, refunded) = self.refunded_of(&pi.id);
        json!({
            "id": pi.latest_charge,
            "object": "charge",
            "amount": pi.amount,
            "amount_captured": pi.amount,
            "amount_refunded": refunded,
            "currency": pi.currency,
            "metadata": metadata_json(&pi.metadata),
            "paid": true,
            "payment_intent": pi.id,
            "refunded": refunded >= pi.amount,
            "status": "succeeded",
            "livemode": false,
        })
    }

    /// The PaymentIntent a refund names (by id, or by its charge; both must agree).
    fn refunded_intent(&self, p: &RefundParams) -> Result<&PaymentIntent, ApiError> {
        let by_charge = |charge: &str| {
            self.intents
                .values()
                .find(|pi| pi.latest_charge.as_deref() == Some(charge))
                .ok_or_else(|| ApiError::no_such("charge", charge, "charge").executed())
        };
        match (&p.payment_intent, &p.charge) {
            (Some(id), charge) => {
                let pi = self.intent(id).ok_or_else(|| {
                    ApiError::no_such("payment_intent", id, "payment_intent").executed()
                })?;
                match charge {
                    Some(c) if pi.latest_charge.as_deref() != Some(c.as_str()) => {
                        Err(ApiError::invalid_uncoded(format!(
                            "The charge {c} does not belong to the PaymentIntent {id}."
                        ))
                        .param("charge")
                        .executed())
                    }
                    _ => Ok(pi),
                }
            }
            (None, Some(charge)) => by_charge(charge),
            (None, None) => Err(ApiError::missing("payment_intent")),
        }
    }

    /// Makes a refund (`pending` when `hold`, else `succeeded`) and returns its JSON and
    /// the events it causes.
    pub fn create_refund(
        &mut self,
        p: RefundParams,
        now: i64,
    ) -> Result<(Value, Vec<Pending>), ApiError> {
        let pi = self.refunded_intent(&p)?;
        let charge = pi.latest_charge.clone();
        if pi.status != PiStatus::Succeeded || charge.is_none() {
            return Err(ApiError::invalid_uncoded(format!(
                "This PaymentIntent ({}) does not have a successful charge to refund.",
                pi.id
            ))
            .param("payment_intent")
            .executed());
        }
        let (pi_id, pi_currency) = (pi.id.clone(), pi.currency);
        let remaining = pi.amount - self.refunded_of(&pi_id).0;
        let shown = |minor: i64| match currency(pi_currency) {
            Some(c) => format!("{} {}", format_amount(minor, c), c.code),
            None => format!("{minor} {pi_currency}"),
        };
        if remaining <= 0 {
            return Err(ApiError::invalid(
                "charge_already_refunded",
                format!(
                    "Charge {} has already been refunded.",
                    charge.as_deref().unwrap_or_default()
                ),
            )
            .executed());
        }
        let amount = p.amount.unwrap_or(remaining);
        if amount > remaining {
            return Err(ApiError::invalid(
                "amount_too_large",
                format!(
                    "Refund amount ({}) is greater than unrefunded amount on charge ({}).",
                    shown(amount),
                    shown(remaining)
                ),
            )
            .param("amount")
            .executed());
        }
        let status = if self.refunds_held > 0 {
            self.refunds_held -= 1;
            RefundStatus::Pending
        } else {
            RefundStatus::Succeeded
        };
        let refund = Refund {
            id: new_id("re_", 24),
            created: now,
            amount,
            currency: pi_currency,
            payment_intent: pi_id.clone(),
            charge,
            metadata: p.metadata,
            reason: p.reason,
            status,
            failure_reason: None,
        };
        let body = refund.json();
        self.refunds.push(refund);
        let mut events = vec![("refund.created", body.clone())];
        if status == RefundStatus::Succeeded {
            events.extend(self.charge_refunded(&pi_id));
        }
        Ok((body, events))
    }

    fn charge_refunded(&self, pi: &str) -> Option<Pending> {
        self.intent(pi)
            .map(|pi| ("charge.refunded", self.charge_json(pi)))
    }

    /// Applies `outcome` to the refund `id`; its JSON and the events it causes.
    pub fn settle_refund(
        &mut self,
        id: &str,
        outcome: RefundOutcome,
    ) -> Result<(Value, Vec<Pending>), StripeSandboxError> {
        let index = self
            .refunds
            .iter()
            .position(|r| r.id == id)
            .ok_or_else(|| StripeSandboxError::UnknownRefund(id.to_string()))?;
        let refund = &mut self.refunds[index];
        let (status, failure_reason) =
            next(refund.status, outcome).ok_or(StripeSandboxError::RefundNotAllowed {
                status: refund.status.as_str(),
                outcome: outcome.as_str(),
            })?;
        refund.status = status;
        refund.failure_reason = failure_reason;
        let (body, pi) = (refund.json(), refund.payment_intent.clone());
        let mut events = vec![("refund.updated", body.clone())];
        match status {
            RefundStatus::Failed => events.push(("refund.failed", body.clone())),
            RefundStatus::Succeeded => events.extend(self.charge_refunded(&pi)),
            RefundStatus::Pending | RefundStatus::Canceled => {}
        }
        Ok((body, events))
    }
}

impl StripeSandbox {
    /// Applies `outcome` to the refund `id` and starts the deliveries of its events.
    pub fn settle_refund(
        &self,
        id: &str,
        outcome: RefundOutcome,
    ) -> Result<RefundSettleReport, StripeSandboxError> {
        let (refund, events) = self.lock().settle_refund(id, outcome)?;
        tracing::info!(refund = id, ?outcome, "stripe sandbox: refund settled");
        let events = self.publish(events, &Cause::default());
        Ok(RefundSettleReport { refund, events })
    }

    /// The refund's JSON, as `GET /v1/refunds/{id}` shows it now.
    pub fn refund(&self, id: &str) -> Option<Value> {
        self.lock().refund(id).map(Refund::json)
    }

    /// The `re_…` id of the refund whose `metadata[paylink_refund_id]` is `paylink_id`.
    pub fn refund_for_paylink(&self, paylink_id: &str) -> Option<String> {
        self.lock()
            .refunds
            .iter()
            .find(|r| {
                r.metadata
                    .iter()
                    .any(|(k, v)| k == "paylink_refund_id" && v == paylink_id)
            })
            .map(|r| r.id.clone())
    }

    /// The next `n` refunds start `pending` instead of `succeeded` (replaces any count
    /// still pending; 0 cancels).
    pub fn hold_next_refunds(&self, n: u32) {
        self.lock().refunds_held = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RefundOutcome::{Cancel, Fail, Succeed};
    use RefundStatus::{Canceled, Failed, Pending, Succeeded};

    #[test]
    fn the_status_machine_allows_only_stripes_paths() {
        let table = [
            (Pending, Succeed, Some(Succeeded)),
            (Pending, Cancel, Some(Canceled)),
            (Pending, Fail, Some(Failed)),
            (Succeeded, Fail, Some(Failed)),
            (Succeeded, Succeed, None),
            (Succeeded, Cancel, None),
        ];
        for (from, outcome, to) in table {
            assert_eq!(next(from, outcome).map(|n| n.0), to, "{from:?} {outcome:?}");
        }
        for from in [Failed, Canceled] {
            for outcome in [Succeed, Cancel, Fail] {
                assert_eq!(next(from, outcome), None, "{from:?} is final");
            }
        }
        assert_eq!(
            next(Succeeded, Fail).unwrap().1,
            Some("expired_or_canceled_card")
        );
    }
}
