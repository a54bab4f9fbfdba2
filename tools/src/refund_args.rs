//! Validating `payment.refund`'s arguments.

use serde_json::{Map, Value};

use crate::errors::{ErrorCode, ToolError};
use crate::validate::{MAX_ENTITY_CHARS, check_id, idempotency_key, kind, unknown_field};

const REFUND_FIELDS: &[&str] = &["paymentId", "amount", "idempotencyKey"];

/// A validated `payment.refund` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    pub payment_id: String,
    /// The exact decimal text of the amount; None: everything not yet refunded.
    pub amount_text: Option<String>,
    pub idempotency_key: Option<String>,
}

pub fn parse_refund(args: &Map<String, Value>) -> Result<RefundRequest, ToolError> {
    if let Some(name) = args.keys().find(|k| !REFUND_FIELDS.contains(&k.as_str())) {
        return Err(unknown_field(name, REFUND_FIELDS));
    }
    let payment_id = match args.get("paymentId") {
        Some(Value::String(s)) => check_id("paymentId", s.trim(), MAX_ENTITY_CHARS)?,
        None | Some(Value::Null) => {
            return Err(ToolError::new(
                ErrorCode::InvalidArguments,
                "paymentId is required: the paymentId of the paid payment to refund",
                "Call again with the paymentId that payment.create returned (payment.list finds it).",
            )
            .field("paymentId"));
        }
        Some(other) => {
            return Err(ToolError::new(
                ErrorCode::InvalidArguments,
                format!("paymentId must be a string, not {}", kind(other)),
                "Call again with the paymentId as a string.",
            )
            .field("paymentId"));
        }
    };
    let amount_text = match args.get("amount") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(other) => {
            return Err(ToolError::new(
                ErrorCode::InvalidAmount,
                format!(
                    "amount must be a JSON number such as 5000, not {}",
                    kind(other)
                ),
                "Send the amount as a number in ordinary units, or leave it out to refund everything.",
            )
            .field("amount"));
        }
    };
    Ok(RefundRequest {
        payment_id,
        amount_text,
        idempotency_key: idempotency_key(args)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn a_refund_needs_a_payment_id_and_takes_an_optional_amount_and_key() {
        let r = parse_refund(&args(
            serde_json::json!({"paymentId": "ent_abc", "amount": 5000, "idempotencyKey": "r-1"}),
        ))
        .unwrap();
        assert_eq!(r.payment_id, "ent_abc");
        assert_eq!(r.amount_text.as_deref(), Some("5000"));
        assert_eq!(r.idempotency_key.as_deref(), Some("r-1"));
        let full = parse_refund(&args(serde_json::json!({"paymentId": "ent_abc"}))).unwrap();
        assert_eq!(full.amount_text, None);
        let e = parse_refund(&args(serde_json::json!({"amount": 1}))).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("paymentId"));
        let e = parse_refund(&args(
            serde_json::json!({"paymentId": "ent_abc", "amount": "5000"}),
        ))
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidAmount);
        let e = parse_refund(&args(
            serde_json::json!({"paymentId": "ent_abc", "reason": "x"}),
        ))
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidArguments);
        let e = parse_refund(&args(
            serde_json::json!({"paymentId": "ent_abc", "idempotencyKey": "a b"}),
        ))
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidIdempotencyKey);
    }
}
