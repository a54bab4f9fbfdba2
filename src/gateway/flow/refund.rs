//! Flow's refunds: `refund/create` (signed POST), `refund/getStatus` and `refund/cancel`
//! (by token), `RefundStatus` in neutral terms, and Flow's refund refusals.
//!
//! The original payment is named by `flowTrxId` (its flowOrder, unique) when paylink knows
//! it, else by `commerceTrxId` (our commerceOrder, which several Flow orders may share);
//! Flow's reference asks for one of the two. Flow documents no idempotency for
//! `refundCommerceOrder` and no read by it, so `refund/create` is re-sent only when it
//! certainly never reached Flow (see [`crate::gateway::refund`]).
//!
//! Flow publishes no refund error codes. The offline sandbox answers the ones below
//! (its own choice, see `sandbox::refunds`); any other refusal keeps Flow's message, which
//! the caller shows as it is.

use futures::future::BoxFuture;

use super::client::FlowClient;
use super::error::FlowError;
use super::wire::RefundStatus;
use crate::domain::{Currency, Money};
use crate::gateway::retry::Decision;
use crate::gateway::{
    GatewayError, RefundLookup, RefundRequest, RefundSnapshot, RefundState, Refusal,
};

/// The payment is not paid (or no longer refundable): nothing can be refunded.
pub const CODE_REFUND_NOT_PAID: i64 = 1801;
/// The amount is above what remains refundable of the payment.
pub const CODE_REFUND_EXCEEDS: i64 = 1802;
/// The refundCommerceOrder names another refund (other payment or other amount).
pub const CODE_REFUND_ORDER_USED: i64 = 1803;
/// `refund/cancel` of a refund that is no longer `created`.
pub const CODE_REFUND_NOT_CANCELABLE: i64 = 1804;

/// Flow's refund statuses, exhaustively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowRefundStatus {
    Created,
    Accepted,
    Rejected,
    Refunded,
    Canceled,
}

impl FlowRefundStatus {
    /// Flow's word for the status.
    pub fn parse(text: &str) -> Option<FlowRefundStatus> {
        match text.trim() {
            "created" => Some(FlowRefundStatus::Created),
            "accepted" => Some(FlowRefundStatus::Accepted),
            "rejected" => Some(FlowRefundStatus::Rejected),
            "refunded" => Some(FlowRefundStatus::Refunded),
            "canceled" => Some(FlowRefundStatus::Canceled),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FlowRefundStatus::Created => "created",
            FlowRefundStatus::Accepted => "accepted",
            FlowRefundStatus::Rejected => "rejected",
            FlowRefundStatus::Refunded => "refunded",
            FlowRefundStatus::Canceled => "canceled",
        }
    }

    /// The neutral state: Flow's five statuses are paylink's five states.
    pub fn state(self) -> RefundState {
        match self {
            FlowRefundStatus::Created => RefundState::Created,
            FlowRefundStatus::Accepted => RefundState::Accepted,
            FlowRefundStatus::Rejected => RefundState::Rejected,
            FlowRefundStatus::Refunded => RefundState::Refunded,
            FlowRefundStatus::Canceled => RefundState::Canceled,
        }
    }
}

/// The parameters of `refund/create`, as Flow names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundParams {
    pub refund_commerce_order: String,
    pub receiver_email: String,
    /// Major units as exact decimal text (`5000`).
    pub amount: String,
    pub url_callback: String,
    /// The original payment's commerceOrder.
    pub commerce_trx_id: Option<String>,
    /// The original payment's flowOrder.
    pub flow_trx_id: Option<String>,
}

impl RefundParams {
    /// The parameters for a neutral request: `flowTrxId` when the payment's gateway_ref is a
    /// flowOrder, else `commerceTrxId`.
    pub fn for_request(req: &RefundRequest) -> RefundParams {
        let flow_order = req
            .payment_gateway_ref
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n > 0);
        RefundParams {
            refund_commerce_order: req.refund_id.clone(),
            receiver_email: req.receiver_email.clone(),
            amount: req.amount.major_text(),
            url_callback: req.notify_url.clone(),
            commerce_trx_id: flow_order.is_none().then(|| req.payment_reference.clone()),
            flow_trx_id: flow_order.map(|n| n.to_string()),
        }
    }

    fn to_params(&self) -> Vec<(&'static str, String)> {
        let mut p = vec![
            ("refundCommerceOrder", self.refund_commerce_order.clone()),
            ("receiverEmail", self.receiver_email.clone()),
            ("amount", self.amount.clone()),
            ("urlCallBack", self.url_callback.clone()),
        ];
        if let Some(c) = &self.commerce_trx_id {
            p.push(("commerceTrxId", c.clone()));
        }
        if let Some(f) = &self.flow_trx_id {
            p.push(("flowTrxId", f.clone()));
        }
        p
    }
}

impl FlowClient {
    async fn refund_create_once(&self, p: &RefundParams) -> Result<RefundStatus, FlowError> {
        let resp = self
            .http()
            .post(self.url("refund/create"))
            .form(&self.signed(p.to_params()))
            .send()
            .await
            .map_err(|e| FlowError::from_reqwest(e, self.config().timeout))?;
        self.read_response(resp).await
    }

    /// `refund/create`. Re-sent (with the same refundCommerceOrder) only when an attempt
    /// certainly never reached Flow; any other failure is returned as it is.
    pub async fn refund_create(&self, p: &RefundParams) -> Result<RefundStatus, FlowError> {
        let policy = self.config().create_retry;
        let mut delays = policy.delays();
        let mut attempt = 1;
        loop {
            let err = match self.refund_create_once(p).await {
                Ok(r) => return Ok(r),
                Err(e) => e,
            };
            match policy.decide(attempt, err.never_sent(), delays.next()) {
                Decision::GiveUp => return Err(err),
                Decision::RetryAfter(d) => {
                    tracing::debug!(attempt, error = %err, "re-sending refund/create that never left");
                    tokio::time::sleep(d).await;
                    attempt += 1;
                }
            }
        }
    }

    /// `refund/getStatus` by token (a read: retried while retryable).
    pub async fn refund_get_status(&self, token: &str) -> Result<RefundStatus, FlowError> {
        self.get("refund/getStatus", vec![("token", token.to_string())])
            .await
    }

    /// `refund/cancel` of a refund still `created`; sent once.
    pub async fn refund_cancel(&self, token: &str) -> Result<RefundStatus, FlowError> {
        let resp = self
            .http()
            .post(self.url("refund/cancel"))
            .form(&self.signed(vec![("token", token.to_string())]))
            .send()
            .await
            .map_err(|e| FlowError::from_reqwest(e, self.config().timeout))?;
        self.read_response(resp).await
    }

    pub(super) fn open_refund<'a>(
        &'a self,
        req: &'a RefundRequest,
    ) -> BoxFuture<'a, Result<RefundSnapshot, GatewayError>> {
        Box::pin(async move {
            let answer = self
                .refund_create(&RefundParams::for_request(req))
                .await
                .map_err(refund_error)?;
            snapshot(&answer, Some(req.amount.currency)).map_err(GatewayError::from)
        })
    }

    pub(super) fn read_refund<'a>(
        &'a self,
        lookup: RefundLookup<'a>,
    ) -> BoxFuture<'a, Result<Option<RefundSnapshot>, GatewayError>> {
        Box::pin(async move {
            let token = match lookup {
                RefundLookup::Token(token) => token,
                RefundLookup::GatewayRef(_) => {
                    return Err(GatewayError::Misconfigured {
                        detail: "Flow reads a refund only by its token (refund/getStatus); \
                                 look it up by the token refund/create answered"
                            .into(),
                    });
                }
            };
            match self.refund_get_status(token).await {
                Ok(s) => snapshot(&s, None).map(Some).map_err(GatewayError::from),
                // Flow answers an unknown token with a 400 of its own, as for payments.
                Err(e) if e.is_not_found() => Ok(None),
                Err(e @ FlowError::Api { .. }) if !e.is_auth() => Ok(None),
                Err(e) => Err(GatewayError::from(e)),
            }
        })
    }
}

/// `RefundStatus` in neutral terms; `currency` is the refund's where the caller knows it
/// (Flow's answer names none). An unknown status is an error, never a guess.
pub fn snapshot(s: &RefundStatus, currency: Option<Currency>) -> Result<RefundSnapshot, FlowError> {
    let status = FlowRefundStatus::parse(&s.status).ok_or_else(|| {
        FlowError::Malformed(format!("unknown Flow refund status {:?}", s.status))
    })?;
    Ok(RefundSnapshot {
        gateway_refund_ref: s.flow_refund_order.clone(),
        token: Some(s.token.clone()),
        state: status.state(),
        amount: currency.and_then(|c| Money::parse_major(&s.amount, c).ok()),
    })
}

/// A refund's failure in neutral terms: Flow's refund codes become the refusals an agent
/// can act on; everything else is mapped as any Flow error is.
pub fn refund_error(e: FlowError) -> GatewayError {
    let reason = match e.code() {
        Some(CODE_REFUND_NOT_PAID) => Refusal::NotRefundable,
        Some(CODE_REFUND_EXCEEDS) => Refusal::RefundExceedsAvailable,
        _ => return GatewayError::from(e),
    };
    match e {
        FlowError::Api { code, message, .. } => GatewayError::Rejected {
            reason,
            code: code.map(|c| c.to_string()),
            message,
        },
        other => GatewayError::from(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(gateway_ref: &str) -> RefundRequest {
        RefundRequest {
            refund_id: "rf_1".into(),
            idempotency_key: "rf_1".into(),
            payment_gateway_ref: gateway_ref.into(),
            payment_token: None,
            payment_reference: "ORD-1".into(),
            amount: Money::from_minor(2500, Currency::CLP),
            receiver_email: "payer@gmail.com".into(),
            notify_url: "https://paylink.example/webhook/flow/refund".into(),
        }
    }

    #[test]
    fn every_flow_status_maps_to_its_state_and_unknown_ones_are_errors() {
        let table = [
            ("created", RefundState::Created),
            ("accepted", RefundState::Accepted),
            ("rejected", RefundState::Rejected),
            ("refunded", RefundState::Refunded),
            ("canceled", RefundState::Canceled),
        ];
        for (text, state) in table {
            let status = FlowRefundStatus::parse(text).unwrap();
            assert_eq!(status.as_str(), text);
            assert_eq!(status.state(), state);
            assert_eq!(state.as_str(), text, "the neutral names are Flow's");
        }
        for unknown in ["cancelled", "CREATED", "", "pending"] {
            assert_eq!(FlowRefundStatus::parse(unknown), None, "{unknown:?}");
        }
    }

    #[test]
    fn a_snapshot_reads_decimal_amounts_in_the_known_currency_only() {
        let s = RefundStatus {
            token: "TOK".into(),
            flow_refund_order: "122767".into(),
            date: None,
            status: "accepted".into(),
            amount: "2500.00".into(),
            fee: None,
        };
        let snap = snapshot(&s, Some(Currency::CLP)).unwrap();
        assert_eq!(snap.gateway_refund_ref, "122767");
        assert_eq!(snap.token.as_deref(), Some("TOK"));
        assert_eq!(snap.state, RefundState::Accepted);
        assert_eq!(snap.amount, Some(Money::from_minor(2500, Currency::CLP)));
        assert_eq!(snapshot(&s, None).unwrap().amount, None);
        let odd = RefundStatus {
            status: "pending".into(),
            ..s
        };
        assert!(matches!(snapshot(&odd, None), Err(FlowError::Malformed(_))));
    }

    #[test]
    fn the_original_is_named_by_flow_order_when_known() {
        let p = RefundParams::for_request(&request("9000001"));
        assert_eq!(p.flow_trx_id.as_deref(), Some("9000001"));
        assert_eq!(p.commerce_trx_id, None);
        assert_eq!(p.amount, "2500");
        let p = RefundParams::for_request(&request("not-a-flow-order"));
        assert_eq!(p.flow_trx_id, None);
        assert_eq!(p.commerce_trx_id.as_deref(), Some("ORD-1"));
        let names: Vec<&str> = p.to_params().iter().map(|(k, _)| *k).collect();
        assert_eq!(
            names,
            [
                "refundCommerceOrder",
                "receiverEmail",
                "amount",
                "urlCallBack",
                "commerceTrxId"
            ]
        );
    }

    #[test]
    fn refund_refusals_become_neutral_refusals() {
        let api = |code: i64| FlowError::Api {
            http_status: 400,
            code: Some(code),
            message: "m".into(),
        };
        let reason = |e: GatewayError| match e {
            GatewayError::Rejected { reason, .. } => reason,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            reason(refund_error(api(CODE_REFUND_NOT_PAID))),
            Refusal::NotRefundable
        );
        assert_eq!(
            reason(refund_error(api(CODE_REFUND_EXCEEDS))),
            Refusal::RefundExceedsAvailable
        );
        assert_eq!(
            reason(refund_error(api(CODE_REFUND_ORDER_USED))),
            Refusal::Other
        );
        assert!(matches!(
            refund_error(api(108)),
            GatewayError::Misconfigured { .. }
        ));
        assert!(
            refund_error(FlowError::Timeout(std::time::Duration::from_secs(1))).outcome_unknown()
        );
    }
}
