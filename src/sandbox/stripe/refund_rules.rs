//! `POST /v1/refunds`'s parameters as the sandbox reads them: which payment (`payment_intent`
//! and/or `charge`), `amount`, `metadata`, `reason`. Pure functions over the decoded form;
//! the checks against the payment (paid, what remains) are in `refunds.rs`. Errors here are
//! validation errors: an idempotency key keeps nothing for them.

use super::error::ApiError;
use super::rules::{owned, read_metadata};
use super::wire::Obj;

/// The reasons Stripe takes.
pub const REASONS: [&str; 3] = ["duplicate", "fraudulent", "requested_by_customer"];

/// A refund create's parameters, read but not yet checked against the payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundParams {
    pub payment_intent: Option<String>,
    pub charge: Option<String>,
    /// `None`: everything that remains.
    pub amount: Option<i64>,
    pub metadata: Vec<(String, String)>,
    pub reason: Option<String>,
}

/// Reads a refund create's form: unknown parameters, one of `payment_intent` and `charge`,
/// a positive `amount`, metadata limits, a known `reason`.
pub fn validate_refund(form: &Obj) -> Result<RefundParams, ApiError> {
    form.only(&["payment_intent", "charge", "amount", "metadata", "reason"])?;
    let payment_intent = owned(form.string("payment_intent")?);
    let charge = owned(form.string("charge")?);
    if payment_intent.is_none() && charge.is_none() {
        return Err(ApiError::invalid(
            "parameter_missing",
            "One of the following params should be provided for this request: payment_intent \
             or charge.",
        )
        .param("payment_intent"));
    }
    let amount = form.integer("amount")?;
    if amount.is_some_and(|a| a < 1) {
        return Err(
            ApiError::invalid_uncoded("This value must be greater than or equal to 1.")
                .param("amount"),
        );
    }
    let metadata = read_metadata(form, "metadata")?;
    let reason = owned(form.string("reason")?);
    if let Some(r) = &reason
        && !REASONS.contains(&r.as_str())
    {
        return Err(ApiError::invalid_uncoded(format!(
            "Invalid reason: must be one of {}",
            REASONS.join(", ")
        ))
        .param("reason"));
    }
    Ok(RefundParams {
        payment_intent,
        charge,
        amount,
        metadata,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::stripe::wire::parse_form;

    fn read(pairs: &[(&str, &str)]) -> Result<RefundParams, ApiError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let form = parse_form(&pairs)?;
        validate_refund(&Obj::root(&form))
    }

    fn param_of(r: Result<RefundParams, ApiError>) -> Option<String> {
        r.unwrap_err().param
    }

    #[test]
    fn a_refund_names_its_payment_and_a_positive_amount() {
        let ok = read(&[
            ("payment_intent", "pi_1"),
            ("amount", "500"),
            ("metadata[paylink_refund_id]", "rf_1"),
            ("reason", "requested_by_customer"),
        ])
        .unwrap();
        assert_eq!(ok.payment_intent.as_deref(), Some("pi_1"));
        assert_eq!(ok.amount, Some(500));
        assert_eq!(
            ok.metadata,
            vec![("paylink_refund_id".into(), "rf_1".into())]
        );
        assert_eq!(read(&[("charge", "ch_1")]).unwrap().amount, None);

        assert_eq!(param_of(read(&[])), Some("payment_intent".into()));
        assert_eq!(
            param_of(read(&[("payment_intent", "pi_1"), ("amount", "0")])),
            Some("amount".into())
        );
        assert_eq!(
            param_of(read(&[("payment_intent", "pi_1"), ("amount", "1.5")])),
            Some("amount".into())
        );
        assert_eq!(
            param_of(read(&[("payment_intent", "pi_1"), ("reason", "because")])),
            Some("reason".into())
        );
        assert_eq!(
            param_of(read(&[
                ("payment_intent", "pi_1"),
                ("refund_application_fee", "true")
            ])),
            Some("refund_application_fee".into())
        );
    }
}
