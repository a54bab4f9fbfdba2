//! Refunds in the Flow sandbox: the refunds book, their status machine, the `RefundStatus`
//! JSON, and settling a refund (the one path behind `POST /sandbox/refunds/{token}/{action}`,
//! [`Sandbox::settle_refund`] and `/api/refund/cancel`).
//!
//! # Behaviour (Flow's where documented, the sandbox's choice where marked)
//!
//! - A refund starts `created` and waits for its receiver: `accept` makes it `accepted`,
//!   `reject` `rejected`; `refund` pays it out (`refunded`) from `created` or `accepted`;
//!   `cancel` (the merchant's `refund/cancel`, or the control API) withdraws a `created`
//!   one. `rejected`, `refunded` and `canceled` never change. Flow gives the receiver ten
//!   days; the sandbox waits for a test or a person to decide.
//! - Every change POSTs `token=<token>` (urlencoded) to the refund's `urlCallBack` once,
//!   like a payment confirmation (20 s timeout, no retries, recorded with latency and
//!   alert), into a log of its own ([`Sandbox::refund_callbacks`]); `confirmations/drop`
//!   does not apply to them. Flow documents the callback for accept and reject; the
//!   sandbox sends it for every change (choice).
//! - What remains refundable of a payment is its amount less every refund of it that is
//!   `created`, `accepted` or `refunded` (choice; Flow does not say whether a pending
//!   refund holds its amount).
//! - `RefundStatus` JSON: `token`, `flowRefundOrder` (a string, consecutive from
//!   [`FIRST_REFUND_ORDER`]), `date` (creation, UTC), `status`, `amount` and `fee` as
//!   decimal strings with at least two decimals (`"5000.00"`, as Flow's OpenAPI example
//!   writes them); the fee is 3.19 % like a payment's (choice).

use std::collections::HashMap;

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::Sandbox;
use super::model::{ConfirmationRecord, RefundAction, RefundReport, SandboxError};
use super::refund_rules::NewRefund;
use super::rules::{fee_minor, minor_text};
use super::state::{State, date_time, new_token};

/// The first flowRefundOrder handed out.
pub const FIRST_REFUND_ORDER: i64 = 120_001;

/// A refund's status, as Flow names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundStatus {
    Created,
    Accepted,
    Rejected,
    Refunded,
    Canceled,
}

impl RefundStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundStatus::Created => "created",
            RefundStatus::Accepted => "accepted",
            RefundStatus::Rejected => "rejected",
            RefundStatus::Refunded => "refunded",
            RefundStatus::Canceled => "canceled",
        }
    }

    /// Whether the refund counts against what remains refundable of its payment.
    pub fn holds_amount(self) -> bool {
        match self {
            RefundStatus::Created | RefundStatus::Accepted | RefundStatus::Refunded => true,
            RefundStatus::Rejected | RefundStatus::Canceled => false,
        }
    }
}

/// Where `action` leads from `status`; `None` if it is not allowed there.
pub fn next(status: RefundStatus, action: RefundAction) -> Option<RefundStatus> {
    use RefundStatus::{Accepted, Canceled, Created, Refunded, Rejected};
    match (status, action) {
        (Created, RefundAction::Accept) => Some(Accepted),
        (Created, RefundAction::Reject) => Some(Rejected),
        (Created | Accepted, RefundAction::Refund) => Some(Refunded),
        (Created, RefundAction::Cancel) => Some(Canceled),
        (Accepted | Rejected | Refunded | Canceled, _) => None,
    }
}

#[derive(Debug, Clone)]
pub struct StoredRefund {
    pub token: String,
    pub flow_refund_order: i64,
    pub api_key: String,
    pub req: NewRefund,
    pub created_at: OffsetDateTime,
    pub status: RefundStatus,
}

impl StoredRefund {
    /// The `RefundStatus` JSON that refund/create, refund/getStatus and refund/cancel return.
    pub fn json(&self) -> Value {
        let amount = &self.req.amount;
        // At least two decimals, as Flow's example writes "12000.00".
        let shown = amount.exponent.max(2);
        let scale = 10i128.pow(shown - amount.exponent);
        let text = |minor: i128| minor_text(minor * scale, shown);
        json!({
            "token": self.token,
            "flowRefundOrder": self.flow_refund_order.to_string(),
            "date": date_time(self.created_at),
            "status": self.status.as_str(),
            "amount": text(amount.minor),
            "fee": text(fee_minor(amount.minor)),
        })
    }
}

/// Every refund, in creation order, indexed by token.
#[derive(Default)]
pub struct RefundBook {
    refunds: Vec<StoredRefund>,
    by_token: HashMap<String, usize>,
}

impl RefundBook {
    pub fn by_token(&self, token: &str) -> Option<&StoredRefund> {
        self.by_token.get(token).map(|&i| &self.refunds[i])
    }

    /// The merchant's refund with this refundCommerceOrder.
    pub fn by_commerce_order(&self, api_key: &str, order: &str) -> Option<&StoredRefund> {
        self.refunds
            .iter()
            .find(|r| r.api_key == api_key && r.req.refund_commerce_order == order)
    }

    /// Minor units of the payment `flow_order` that its refunds hold.
    pub fn held_for(&self, flow_order: i64) -> i128 {
        self.refunds
            .iter()
            .filter(|r| r.req.flow_order == flow_order && r.status.holds_amount())
            .map(|r| r.req.amount.minor)
            .sum()
    }

    /// Applies `action` to the refund `token` of `api_key` (any merchant's when `None`)
    /// and returns its JSON and the callback URL.
    pub fn apply(
        &mut self,
        token: &str,
        api_key: Option<&str>,
        action: RefundAction,
    ) -> Result<(Value, String), SandboxError> {
        let index = self
            .by_token
            .get(token)
            .copied()
            .filter(|&i| api_key.is_none_or(|k| self.refunds[i].api_key == k))
            .ok_or_else(|| SandboxError::UnknownRefund(token.to_string()))?;
        let refund = &mut self.refunds[index];
        refund.status =
            next(refund.status, action).ok_or_else(|| SandboxError::RefundNotAllowed {
                status: refund.status.as_str(),
                action: action.as_str(),
            })?;
        Ok((refund.json(), refund.req.url_callback.clone()))
    }
}

impl State {
    /// Stores a validated refund of `api_key` and returns its RefundStatus JSON.
    pub fn create_refund(&mut self, api_key: &str, req: NewRefund, now: OffsetDateTime) -> Value {
        let mut token = new_token();
        while self.refunds.by_token.contains_key(&token) || self.by_token(&token).is_some() {
            token = new_token();
        }
        let book = &mut self.refunds;
        let refund = StoredRefund {
            token: token.clone(),
            flow_refund_order: FIRST_REFUND_ORDER + book.refunds.len() as i64,
            api_key: api_key.to_string(),
            req,
            created_at: now,
            status: RefundStatus::Created,
        };
        let json = refund.json();
        book.by_token.insert(token, book.refunds.len());
        book.refunds.push(refund);
        json
    }
}

impl Sandbox {
    /// Applies `action` to the refund with `token` and sends its callback, which has been
    /// answered by the time this returns.
    pub async fn settle_refund(
        &self,
        token: &str,
        action: RefundAction,
    ) -> Result<RefundReport, SandboxError> {
        let (refund, url, drop) = {
            let mut state = self.lock();
            let (refund, url) = state.refunds.apply(token, None, action)?;
            // `drop_next_confirmations` loses refund callbacks too, as a network would.
            let drop = state.drops_pending > 0;
            if drop {
                state.drops_pending -= 1;
            }
            (refund, url, drop)
        };
        tracing::info!(token, ?action, "flow sandbox: refund settled");
        let callback = if drop {
            let record = ConfirmationRecord {
                token: token.to_string(),
                url,
                http_status: None,
                latency_ms: 0,
                alert: false,
                error: None,
                dropped: true,
            };
            self.lock().refund_callbacks.push(record.clone());
            record
        } else {
            self.refund_callback(token, url).await
        };
        Ok(RefundReport {
            refund,
            callback: Some(callback),
        })
    }

    /// POSTs `token` to a refund's `urlCallBack` and records the answer.
    pub(super) async fn refund_callback(&self, token: &str, url: String) -> ConfirmationRecord {
        let record = self.confirm(token, url).await;
        self.lock().refund_callbacks.push(record.clone());
        record
    }

    /// The refund's RefundStatus JSON, as refund/getStatus would return it now.
    pub fn refund(&self, token: &str) -> Option<Value> {
        self.lock().refunds.by_token(token).map(StoredRefund::json)
    }

    /// The token of the refund made for `refund_commerce_order` (paylink's refund id), by
    /// any merchant.
    pub fn refund_token_for(&self, refund_commerce_order: &str) -> Option<String> {
        self.lock()
            .refunds
            .refunds
            .iter()
            .find(|r| r.req.refund_commerce_order == refund_commerce_order)
            .map(|r| r.token.clone())
    }

    /// Every refund callback sent so far.
    pub fn refund_callbacks(&self) -> Vec<ConfirmationRecord> {
        self.lock().refund_callbacks.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RefundAction::{Accept, Cancel, Refund, Reject};
    use RefundStatus::{Accepted, Canceled, Created, Refunded, Rejected};

    #[test]
    fn the_status_machine_allows_only_flows_paths() {
        let table = [
            (Created, Accept, Some(Accepted)),
            (Created, Reject, Some(Rejected)),
            (Created, Refund, Some(Refunded)),
            (Created, Cancel, Some(Canceled)),
            (Accepted, Refund, Some(Refunded)),
            (Accepted, Accept, None),
            (Accepted, Reject, None),
            (Accepted, Cancel, None),
        ];
        for (from, action, to) in table {
            assert_eq!(next(from, action), to, "{from:?} {action:?}");
        }
        for from in [Rejected, Refunded, Canceled] {
            for action in [Accept, Reject, Refund, Cancel] {
                assert_eq!(next(from, action), None, "{from:?} is final");
            }
        }
    }
}
