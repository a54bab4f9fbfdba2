//! Flow's JSON and form shapes, accepted as Flow really sends them (numbers that arrive as
//! strings, fields that arrive null or missing).
//!
//! Numbers may arrive as JSON numbers or as numeric strings; `optional` may be an object,
//! a string or null; `paymentData` and `pending_info` may be null or hold null fields.
//! Amounts are kept as the decimal *text* Flow sent (never parsed into a float); the
//! gateway layer turns them into [`Money`](crate::domain::Money) with the currency table.

use serde::{Deserialize, Deserializer, Serialize};

/// `payment/create`'s answer (`PayResponse`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PayResponse {
    pub url: String,
    pub token: String,
    #[serde(deserialize_with = "int_lenient")]
    pub flow_order: i64,
}

/// Flow's error body, `{"code": 1901, "message": "The minimum amount is 350 CLP"}`.
/// Some errors come with a message and no code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    #[serde(default, deserialize_with = "opt_int_lenient")]
    pub code: Option<i64>,
    #[serde(default)]
    pub message: String,
}

/// `PaymentStatus`, as returned by the three getStatus services.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentStatus {
    #[serde(deserialize_with = "int_lenient")]
    pub flow_order: i64,
    #[serde(default)]
    pub commerce_order: String,
    #[serde(default)]
    pub request_date: Option<String>,
    /// 1 pending, 2 paid, 3 rejected, 4 cancelled.
    #[serde(deserialize_with = "int_lenient")]
    pub status: i64,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub currency: Option<String>,
    /// The order amount as the decimal text Flow sent.
    #[serde(deserialize_with = "decimal_text")]
    pub amount: String,
    #[serde(default)]
    pub payer: Option<String>,
    #[serde(default, deserialize_with = "optional_field")]
    pub optional: Option<serde_json::Value>,
    #[serde(default, rename = "pending_info")]
    pub pending_info: Option<PendingInfo>,
    #[serde(default)]
    pub payment_data: Option<PaymentData>,
    #[serde(default)]
    pub merchant_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PendingInfo {
    #[serde(default)]
    pub media: Option<String>,
    #[serde(default)]
    pub date: Option<String>,
}

/// Filled once paid; every field may be null.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PaymentData {
    #[serde(default)]
    pub date: Option<String>,
    #[serde(default)]
    pub media: Option<String>,
    #[serde(default)]
    pub conversion_date: Option<String>,
    #[serde(default, deserialize_with = "opt_decimal_text")]
    pub conversion_rate: Option<String>,
    #[serde(default, deserialize_with = "opt_decimal_text")]
    pub amount: Option<String>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default, deserialize_with = "opt_decimal_text")]
    pub fee: Option<String>,
    #[serde(default, deserialize_with = "opt_decimal_text")]
    pub balance: Option<String>,
    #[serde(default)]
    pub transfer_date: Option<String>,
}

/// `RefundStatus`, as `refund/create`, `refund/getStatus` and `refund/cancel` return it.
/// Flow's OpenAPI types `flowRefundOrder` as a string and shows `amount` as a decimal
/// string (`"12000.00"`); both are read from numbers too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundStatus {
    pub token: String,
    #[serde(deserialize_with = "id_text")]
    pub flow_refund_order: String,
    /// `yyyy-mm-dd hh:mm:ss`.
    #[serde(default)]
    pub date: Option<String>,
    /// `created`, `accepted`, `rejected`, `refunded` or `canceled`, as Flow writes it.
    pub status: String,
    /// The refund amount as the decimal text Flow sent (no currency is given).
    #[serde(deserialize_with = "decimal_text")]
    pub amount: String,
    #[serde(default, deserialize_with = "opt_decimal_text")]
    pub fee: Option<String>,
}

/// A number or a numeric string, as JSON.
#[derive(Deserialize)]
#[serde(untagged)]
enum NumOrText {
    Num(serde_json::Number),
    Text(String),
}

impl NumOrText {
    fn into_text(self) -> String {
        match self {
            NumOrText::Num(n) => n.to_string(),
            NumOrText::Text(t) => t.trim().to_string(),
        }
    }
}

/// An id Flow may send as a number or as text: kept as non-empty text.
fn id_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let text = NumOrText::deserialize(d)?.into_text();
    if text.is_empty() {
        return Err(serde::de::Error::custom("an empty id"));
    }
    Ok(text)
}

fn int_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let text = NumOrText::deserialize(d)?.into_text();
    parse_int(&text)
        .ok_or_else(|| serde::de::Error::custom(format!("expected an integer, got {text:?}")))
}

fn opt_int_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Option::<NumOrText>::deserialize(d)? {
        None => Ok(None),
        Some(v) => {
            let text = v.into_text();
            if text.is_empty() {
                return Ok(None);
            }
            parse_int(&text).map(Some).ok_or_else(|| {
                serde::de::Error::custom(format!("expected an integer, got {text:?}"))
            })
        }
    }
}

/// Integers may be written `12`, `"12"` or `12.0` / `"12.00"`.
fn parse_int(text: &str) -> Option<i64> {
    if let Ok(v) = text.parse::<i64>() {
        return Some(v);
    }
    let (whole, frac) = text.split_once('.')?;
    if frac.bytes().all(|b| b == b'0') {
        whole.parse().ok()
    } else {
        None
    }
}

fn is_decimal_text(t: &str) -> bool {
    let t = t.strip_prefix('-').unwrap_or(t);
    !t.is_empty()
        && t.bytes().all(|b| {
            b.is_ascii_digit() || b == b'.' || b == b'e' || b == b'E' || b == b'+' || b == b'-'
        })
        && t.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_digit() || b == b'.')
}

fn decimal_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let text = NumOrText::deserialize(d)?.into_text();
    if is_decimal_text(&text) {
        Ok(text)
    } else {
        Err(serde::de::Error::custom(format!(
            "expected a decimal number, got {text:?}"
        )))
    }
}

fn opt_decimal_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<NumOrText>::deserialize(d)? {
        None => Ok(None),
        Some(v) => {
            let text = v.into_text();
            if text.is_empty() {
                Ok(None)
            } else if is_decimal_text(&text) {
                Ok(Some(text))
            } else {
                Err(serde::de::Error::custom(format!(
                    "expected a decimal number, got {text:?}"
                )))
            }
        }
    }
}

/// `optional`: an object, a JSON string holding an object, a plain string, or null.
fn optional_field<'de, D: Deserializer<'de>>(d: D) -> Result<Option<serde_json::Value>, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    Ok(match v {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) if s.is_empty() => None,
        Some(serde_json::Value::String(s)) => match serde_json::from_str::<serde_json::Value>(&s) {
            Ok(obj @ serde_json::Value::Object(_)) => Some(obj),
            _ => Some(serde_json::Value::String(s)),
        },
        Some(other) => Some(other),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payment_status_accepts_the_documented_example() {
        let body = r#"{
            "flowOrder": 3567899, "commerceOrder": "sf12377", "requestDate": "2017-07-21 12:32:11",
            "status": 1, "subject": "game console", "currency": "CLP", "amount": 12000,
            "payer": "pperez@gamil.com", "optional": {"RUT": "7025521-9", "ID": "899564778"},
            "pending_info": {"media": "Multicaja", "date": "2017-07-21 10:30:12"},
            "paymentData": {"date": "2017-07-21 12:32:11", "media": "webpay", "conversionDate": "2017-07-21",
                "conversionRate": 1.1, "amount": 12000, "currency": "CLP", "fee": 551, "balance": 11499,
                "transferDate": "2017-07-24"},
            "merchantId": null
        }"#;
        let s: PaymentStatus = serde_json::from_str(body).unwrap();
        assert_eq!(s.flow_order, 3567899);
        assert_eq!(s.amount, "12000");
        assert_eq!(
            s.payment_data.as_ref().unwrap().balance.as_deref(),
            Some("11499")
        );
        assert!(s.optional.unwrap().is_object());
    }

    #[test]
    fn payment_status_accepts_strings_for_numbers_and_nulls_everywhere() {
        let body = r#"{"flowOrder": "9914808", "commerceOrder": "A", "status": "2", "amount": "5000.00",
            "optional": "{\"rut\":\"1-9\"}", "pending_info": null, "paymentData": {"date": null, "fee": "",
            "amount": "5000"}}"#;
        let s: PaymentStatus = serde_json::from_str(body).unwrap();
        assert_eq!((s.flow_order, s.status), (9914808, 2));
        assert_eq!(s.amount, "5000.00");
        assert_eq!(s.optional.unwrap()["rut"], "1-9");
        assert!(s.pending_info.is_none());
        assert_eq!(s.payment_data.unwrap().fee, None);
    }

    #[test]
    fn optional_may_be_a_plain_string_or_absent() {
        let s: PaymentStatus =
            serde_json::from_str(r#"{"flowOrder":1,"status":1,"amount":1,"optional":"hello"}"#)
                .unwrap();
        assert_eq!(s.optional, Some(serde_json::Value::String("hello".into())));
        let s: PaymentStatus =
            serde_json::from_str(r#"{"flowOrder":1,"status":1,"amount":1}"#).unwrap();
        assert_eq!(s.optional, None);
    }

    #[test]
    fn garbage_in_a_number_field_is_an_error_not_a_panic() {
        assert!(
            serde_json::from_str::<PaymentStatus>(r#"{"flowOrder":"x","status":1,"amount":1}"#)
                .is_err()
        );
        assert!(
            serde_json::from_str::<PaymentStatus>(r#"{"flowOrder":1,"status":1,"amount":"NaN"}"#)
                .is_err()
        );
        assert!(
            serde_json::from_str::<PayResponse>(r#"{"url":"u","token":"t","flowOrder":1.5}"#)
                .is_err()
        );
    }

    #[test]
    fn refund_status_accepts_decimal_strings_and_numbers() {
        let body = r#"{"token": "C93B4FAD6D63ED9A3F25D21E5D6DD0105FA8CAAQ",
            "flowRefundOrder": "122767", "date": "2017-07-21 12:33:15",
            "status": "created", "amount": "12000.00", "fee": "240.00"}"#;
        let r: RefundStatus = serde_json::from_str(body).unwrap();
        assert_eq!(r.flow_refund_order, "122767");
        assert_eq!(
            (r.amount.as_str(), r.fee.as_deref()),
            ("12000.00", Some("240.00"))
        );
        let r: RefundStatus = serde_json::from_str(
            r#"{"token":"T","flowRefundOrder":122767,"status":"refunded","amount":5000,"fee":null}"#,
        )
        .unwrap();
        assert_eq!(
            (r.flow_refund_order.as_str(), r.amount.as_str()),
            ("122767", "5000")
        );
        assert_eq!(r.date, None);
        assert!(
            serde_json::from_str::<RefundStatus>(
                r#"{"token":"T","flowRefundOrder":"","status":"created","amount":1}"#
            )
            .is_err()
        );
    }

    #[test]
    fn error_body_with_or_without_code() {
        let e: ErrorBody =
            serde_json::from_str(r#"{"code":1901,"message":"The minimum amount is 350 CLP"}"#)
                .unwrap();
        assert_eq!(e.code, Some(1901));
        let e: ErrorBody = serde_json::from_str(r#"{"message":"Transaction not found"}"#).unwrap();
        assert_eq!(e.code, None);
        let e: ErrorBody =
            serde_json::from_str(r#"{"code":"108","message":"Invalid Signature"}"#).unwrap();
        assert_eq!(e.code, Some(108));
    }
}
