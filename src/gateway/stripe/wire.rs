//! Stripe's wire shapes: the form bodies it takes (bracket notation) and the JSON it
//! answers with, read leniently (unknown fields ignored, unknown enum values kept as
//! `Unknown` so the caller decides, missing optional fields as `None`).

use std::collections::HashMap;

use serde::Deserialize;

/// A form body or query string in Stripe's bracket notation
/// (`line_items[0][price_data][currency]=usd`), in the order the pairs were added.
/// Brackets in names are left as they are, as Stripe's own libraries send them; every
/// other byte outside `A-Z a-z 0-9 - . _ ~` is percent-encoded (UTF-8), in names and values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form {
    pairs: Vec<(String, String)>,
}

impl Form {
    pub fn new() -> Form {
        Form::default()
    }

    /// Adds `path` (`["metadata", "paymentId"]` is `metadata[paymentId]`) = `value`.
    pub fn push(&mut self, path: &[&str], value: impl Into<String>) -> &mut Form {
        self.pairs.push((key(path), value.into()));
        self
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// The encoded text: `a=1&b%5Bc%5D…`, brackets left literal.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        for (i, (k, v)) in self.pairs.iter().enumerate() {
            if i > 0 {
                out.push('&');
            }
            encode_into(&mut out, k, true);
            out.push('=');
            encode_into(&mut out, v, false);
        }
        out
    }
}

/// `["line_items", "0", "quantity"]` → `line_items[0][quantity]`.
pub fn key(path: &[&str]) -> String {
    let mut k = String::new();
    for (i, part) in path.iter().enumerate() {
        if i == 0 {
            k.push_str(part);
        } else {
            k.push('[');
            k.push_str(part);
            k.push(']');
        }
    }
    k
}

fn encode_into(out: &mut String, text: &str, keep_brackets: bool) {
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(b))
            }
            b'[' | b']' if keep_brackets => out.push(char::from(b)),
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xF)]));
            }
        }
    }
}

/// Stripe's error body, `{"error": {"type", "code", "message", "param", "decline_code"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ErrorBody {
    pub error: ApiError,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ApiError {
    /// `api_error`, `card_error`, `idempotency_error` or `invalid_request_error`.
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub param: Option<String>,
    #[serde(default)]
    pub decline_code: Option<String>,
}

/// A Checkout Session's `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    Open,
    Complete,
    Expired,
    #[serde(other)]
    Unknown,
}

/// A Checkout Session's `payment_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Paid,
    Unpaid,
    NoPaymentRequired,
    #[serde(other)]
    Unknown,
}

/// A PaymentIntent's `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntentStatus {
    RequiresPaymentMethod,
    RequiresConfirmation,
    RequiresAction,
    Processing,
    RequiresCapture,
    Canceled,
    Succeeded,
    #[serde(other)]
    Unknown,
}

/// The part of a PaymentIntent paylink reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PaymentIntent {
    pub id: String,
    pub status: IntentStatus,
}

/// A session's `payment_intent`: an id, or the object when expanded.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum IntentRef {
    Expanded(PaymentIntent),
    Id(String),
}

impl IntentRef {
    /// The payment intent's status, when it was expanded.
    pub fn status(&self) -> Option<IntentStatus> {
        match self {
            IntentRef::Expanded(pi) => Some(pi.status),
            IntentRef::Id(_) => None,
        }
    }
}

/// The part of a Checkout Session paylink reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Session {
    pub id: String,
    pub status: Option<SessionStatus>,
    pub payment_status: Option<PaymentStatus>,
    #[serde(default)]
    pub amount_total: Option<i64>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub client_reference_id: Option<String>,
    /// The hosted page; null once the session is complete or expired.
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub payment_intent: Option<IntentRef>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: HashMap<String, String>,
    #[serde(default)]
    pub created: i64,
    #[serde(default)]
    pub expires_at: Option<i64>,
}

/// A Refund's `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    Pending,
    RequiresAction,
    Succeeded,
    Failed,
    Canceled,
    #[serde(other)]
    Unknown,
}

/// The part of a Refund paylink reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Refund {
    pub id: String,
    /// Nullable in Stripe's schema.
    #[serde(default)]
    pub status: Option<RefundStatus>,
    #[serde(default)]
    pub amount: Option<i64>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub payment_intent: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: HashMap<String, String>,
    /// Why a failed refund failed (`expired_or_canceled_card`, `declined`, …).
    #[serde(default)]
    pub failure_reason: Option<String>,
}

/// A page of a list (`{"object": "list", "data": [...], "has_more": bool}`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct List<T> {
    pub data: Vec<T>,
    #[serde(default)]
    pub has_more: bool,
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_use_bracket_notation() {
        assert_eq!(key(&["mode"]), "mode");
        assert_eq!(
            key(&["line_items", "0", "price_data", "currency"]),
            "line_items[0][price_data][currency]"
        );
        assert_eq!(key(&["expand", ""]), "expand[]");
    }

    #[test]
    fn values_are_percent_encoded_and_brackets_in_names_kept() {
        let mut f = Form::new();
        f.push(
            &["line_items", "0", "price_data", "product_data", "name"],
            "Clase ñ & co + 100%=ok?",
        )
        .push(
            &["success_url"],
            "https://m.example/r?x=1&session_id={CHECKOUT_SESSION_ID}",
        )
        .push(&["metadata", "paymentId"], "pay_1");
        assert_eq!(
            f.encode(),
            "line_items[0][price_data][product_data][name]=Clase%20%C3%B1%20%26%20co%20%2B%20100%25%3Dok%3F\
             &success_url=https%3A%2F%2Fm.example%2Fr%3Fx%3D1%26session_id%3D%7BCHECKOUT_SESSION_ID%7D\
             &metadata[paymentId]=pay_1"
        );
        // Any form reader gets the exact pairs back.
        let back: Vec<(String, String)> = serde_urlencoded::from_str(&f.encode()).unwrap();
        assert_eq!(back, f.pairs());
    }

    #[test]
    fn a_session_reads_with_unknown_values_and_nulls() {
        let s: Session = serde_json::from_str(
            r#"{"id":"cs_test_1","object":"checkout.session","status":"open","payment_status":"unpaid",
                "amount_total":1250,"currency":"usd","client_reference_id":"ref-1","url":"https://checkout.stripe.com/c/pay/cs_test_1",
                "payment_intent":null,"metadata":null,"created":1700000000,"expires_at":1700086400,"new_field":{"x":1}}"#,
        )
        .unwrap();
        assert_eq!(s.status, Some(SessionStatus::Open));
        assert_eq!(s.payment_status, Some(PaymentStatus::Unpaid));
        assert!(s.metadata.is_empty());
        assert_eq!(s.payment_intent, None);

        let s: Session = serde_json::from_str(
            r#"{"id":"cs_2","status":"someday","payment_status":"later","payment_intent":"pi_1"}"#,
        )
        .unwrap();
        assert_eq!(s.status, Some(SessionStatus::Unknown));
        assert_eq!(s.payment_status, Some(PaymentStatus::Unknown));
        assert_eq!(s.payment_intent, Some(IntentRef::Id("pi_1".into())));

        let s: Session = serde_json::from_str(
            r#"{"id":"cs_3","status":"complete","payment_status":"unpaid",
                "payment_intent":{"id":"pi_2","object":"payment_intent","status":"requires_payment_method"}}"#,
        )
        .unwrap();
        assert_eq!(
            s.payment_intent.and_then(|p| p.status()),
            Some(IntentStatus::RequiresPaymentMethod)
        );
    }

    #[test]
    fn a_refund_reads_with_unknown_statuses_and_nulls() {
        let r: Refund = serde_json::from_str(
            r#"{"id":"re_1","object":"refund","amount":500,"currency":"usd","status":"requires_action",
                "payment_intent":"pi_1","metadata":{"paylink_refund_id":"rf_1"},"failure_reason":null,
                "destination_details":{"type":"card"}}"#,
        )
        .unwrap();
        assert_eq!(r.status, Some(RefundStatus::RequiresAction));
        assert_eq!(r.metadata["paylink_refund_id"], "rf_1");
        let r: Refund =
            serde_json::from_str(r#"{"id":"re_2","status":"on_hold","metadata":null}"#).unwrap();
        assert_eq!(r.status, Some(RefundStatus::Unknown));
        assert_eq!((r.amount, r.currency), (None, None));
    }

    #[test]
    fn an_error_body_reads_with_missing_fields() {
        let e: ErrorBody = serde_json::from_str(
            r#"{"error":{"type":"invalid_request_error","code":"amount_too_small","message":"Amount must be at least $0.50 usd","param":"line_items[0][price_data][unit_amount]","doc_url":"x"}}"#,
        )
        .unwrap();
        assert_eq!(e.error.kind, "invalid_request_error");
        assert_eq!(e.error.code.as_deref(), Some("amount_too_small"));
        let e: ErrorBody = serde_json::from_str(r#"{"error":{"type":"api_error"}}"#).unwrap();
        assert_eq!(e.error.code, None);
    }
}
