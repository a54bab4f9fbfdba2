//! The create's parameters: what a Checkout Session for one payment is made of.
//!
//! One line item priced inline (`price_data`, no Stripe product to manage) for the whole
//! amount; `client_reference_id` and `metadata[reference]` are our reference (the lookup
//! key), `metadata[paymentId]` (also on the payment intent, so `payment_intent.*` events
//! name it) is paylink's payment id. The payer returns to `success_url` with the session
//! id in the query, or to `cancel_url`.

use super::amounts;
use super::error::StripeError;
use super::events::PAYMENT_ID_KEY;
use super::wire::Form;
use crate::gateway::CheckoutRequest;

/// Stripe's window for `expires_at`: 30 minutes to 24 hours after creation.
pub const MIN_EXPIRY_SECS: u64 = 30 * 60;
pub const MAX_EXPIRY_SECS: u64 = 24 * 60 * 60;
/// Kept inside Stripe's window on both ends, so that our clock running a little ahead
/// of or behind Stripe's never makes `expires_at` fall outside it.
pub const CLOCK_MARGIN_SECS: u64 = 60;

/// The create's form body. `expires_at` is `now_unix` plus the requested lifetime,
/// clamped into Stripe's window (30 min to 24 h, less [`CLOCK_MARGIN_SECS`] at each end;
/// no lifetime means the longest). Stripe takes no per-session notification URL: events
/// go to the endpoint configured on the account, so `notify_url` is not sent.
pub fn create_form(
    req: &CheckoutRequest,
    unit_amount: i64,
    now_unix: i64,
) -> Result<Form, StripeError> {
    let currency = amounts::stripe_currency(req.amount.currency).map_err(StripeError::Amount)?;
    let name = if req.subject.trim().is_empty() {
        req.reference.as_str()
    } else {
        req.subject.as_str()
    };
    let mut f = Form::new();
    f.push(&["mode"], "payment")
        .push(&["line_items", "0", "price_data", "currency"], currency)
        .push(
            &["line_items", "0", "price_data", "unit_amount"],
            unit_amount.to_string(),
        )
        .push(
            &["line_items", "0", "price_data", "product_data", "name"],
            name,
        )
        .push(&["line_items", "0", "quantity"], "1")
        .push(&["client_reference_id"], req.reference.as_str());
    if !req.payer_email.trim().is_empty() {
        f.push(&["customer_email"], req.payer_email.trim());
    }
    f.push(&["metadata", PAYMENT_ID_KEY], req.payment_id.as_str())
        .push(&["metadata", "reference"], req.reference.as_str())
        // So that payment_intent.* events name the payment too.
        .push(
            &["payment_intent_data", "metadata", PAYMENT_ID_KEY],
            req.payment_id.as_str(),
        )
        .push(
            &["payment_intent_data", "metadata", "reference"],
            req.reference.as_str(),
        )
        .push(
            &["expires_at"],
            expires_at(now_unix, req.expires_in_secs).to_string(),
        )
        .push(&["success_url"], success_url(&req.return_url))
        .push(&["cancel_url"], req.return_url.as_str());
    // What the payment is for, as the merchant's own records name it (an invoice, a
    // booking), visible in Stripe's dashboard beside the payment.
    if let Some(entity) = &req.entity_id {
        f.push(&["metadata", "entityId"], entity.as_str()).push(
            &["payment_intent_data", "metadata", "entityId"],
            entity.as_str(),
        );
    }
    Ok(f)
}

/// When a session made at `now_unix` should expire (see [`create_form`]).
pub fn expires_at(now_unix: i64, expires_in_secs: Option<u64>) -> i64 {
    let shortest = MIN_EXPIRY_SECS + CLOCK_MARGIN_SECS;
    let longest = MAX_EXPIRY_SECS - CLOCK_MARGIN_SECS;
    let secs = expires_in_secs.unwrap_or(longest).clamp(shortest, longest);
    now_unix + secs as i64
}

/// `return_url` with `session_id={CHECKOUT_SESSION_ID}` added to its query (Stripe puts
/// the session's id there), before any `#fragment`.
pub fn success_url(return_url: &str) -> String {
    let (base, fragment) = match return_url.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (return_url, None),
    };
    let sep = if !base.contains('?') {
        "?"
    } else if base.ends_with('?') || base.ends_with('&') {
        ""
    } else {
        "&"
    };
    let mut url = format!("{base}{sep}session_id={{CHECKOUT_SESSION_ID}}");
    if let Some(f) = fragment {
        url.push('#');
        url.push_str(f);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Currency, Money};

    const NOW: i64 = 1_700_000_000;

    fn request() -> CheckoutRequest {
        CheckoutRequest {
            reference: "ref-1".into(),
            payment_id: "pay_1".into(),
            entity_id: None,
            idempotency_key: "paylink-ref-1-1".into(),
            subject: "Clase de matemáticas".into(),
            amount: Money::parse_major("12.50", Currency::from_code("USD").unwrap()).unwrap(),
            payer_email: "payer@example.com".into(),
            notify_url: "https://paylink.example/webhook/stripe".into(),
            return_url: "https://shop.example/return".into(),
            expires_in_secs: Some(3600),
        }
    }

    #[test]
    fn the_create_form_carries_every_parameter() {
        let f = create_form(&request(), 1250, NOW).unwrap();
        let pairs: Vec<(&str, &str)> = f
            .pairs()
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let expires = (NOW + 3600).to_string();
        assert_eq!(
            pairs,
            vec![
                ("mode", "payment"),
                ("line_items[0][price_data][currency]", "usd"),
                ("line_items[0][price_data][unit_amount]", "1250"),
                (
                    "line_items[0][price_data][product_data][name]",
                    "Clase de matemáticas"
                ),
                ("line_items[0][quantity]", "1"),
                ("client_reference_id", "ref-1"),
                ("customer_email", "payer@example.com"),
                ("metadata[paymentId]", "pay_1"),
                ("metadata[reference]", "ref-1"),
                ("payment_intent_data[metadata][paymentId]", "pay_1"),
                ("payment_intent_data[metadata][reference]", "ref-1"),
                ("expires_at", expires.as_str()),
                (
                    "success_url",
                    "https://shop.example/return?session_id={CHECKOUT_SESSION_ID}"
                ),
                ("cancel_url", "https://shop.example/return"),
            ]
        );
    }

    #[test]
    fn the_entity_a_payment_is_for_travels_as_metadata() {
        let mut req = request();
        req.entity_id = Some("invoice-1001".into());
        let f = create_form(&req, 1250, NOW).unwrap();
        let value = |k: &str| {
            f.pairs()
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(value("metadata[entityId]").as_deref(), Some("invoice-1001"));
        assert_eq!(
            value("payment_intent_data[metadata][entityId]").as_deref(),
            Some("invoice-1001")
        );
    }

    #[test]
    fn the_create_form_skips_an_empty_email_and_names_a_blank_subject() {
        let mut req = request();
        req.payer_email = " ".into();
        req.subject = "".into();
        let f = create_form(&req, 1250, NOW).unwrap();
        assert!(f.pairs().iter().all(|(k, _)| k != "customer_email"));
        assert!(
            f.pairs()
                .iter()
                .any(|(k, v)| k == "line_items[0][price_data][product_data][name]" && v == "ref-1")
        );
    }

    #[test]
    fn expiry_is_clamped_into_stripes_window() {
        let table = [
            (None, 86_400 - 60),
            (Some(0), 1_800 + 60),
            (Some(600), 1_800 + 60),
            (Some(1_860), 1_860),
            (Some(3_600), 3_600),
            (Some(86_400), 86_400 - 60),
            (Some(7 * 86_400), 86_400 - 60),
            (Some(u64::MAX), 86_400 - 60),
        ];
        for (asked, secs) in table {
            assert_eq!(expires_at(NOW, asked), NOW + secs, "{asked:?}");
        }
    }

    #[test]
    fn success_urls_get_the_session_id_placeholder() {
        let p = "session_id={CHECKOUT_SESSION_ID}";
        let table = [
            ("https://s.example/r", format!("https://s.example/r?{p}")),
            (
                "https://s.example/r?a=1",
                format!("https://s.example/r?a=1&{p}"),
            ),
            ("https://s.example/r?", format!("https://s.example/r?{p}")),
            (
                "https://s.example/r?a=1&",
                format!("https://s.example/r?a=1&{p}"),
            ),
            (
                "https://s.example/r#top",
                format!("https://s.example/r?{p}#top"),
            ),
            (
                "https://s.example/r?a=1#x?y",
                format!("https://s.example/r?a=1&{p}#x?y"),
            ),
        ];
        for (url, want) in table {
            assert_eq!(success_url(url), want, "{url}");
        }
    }
}
