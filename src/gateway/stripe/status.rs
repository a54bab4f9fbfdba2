//! A Checkout Session in neutral terms.
//!
//! | `status`   | `payment_status`               | verdict                          |
//! |------------|--------------------------------|----------------------------------|
//! | `open`     | any                            | pending (with its link)          |
//! | `complete` | `paid`, `no_payment_required`  | paid                             |
//! | `complete` | `unpaid`                       | by the payment intent, see below |
//! | `expired`  | any                            | cancelled                        |
//!
//! A session completed unpaid was paid with a delayed method (bank debit, voucher): the
//! payment intent decides. `processing`, `requires_action` and the other in-between
//! states are pending; `succeeded` is paid (the session's own field lags behind it);
//! `requires_payment_method` or `canceled` after completion is an asynchronous failure
//! (Stripe's `checkout.session.async_payment_failed`), rejected. A session can never be
//! paid again once complete, so that failure is final. When the intent was not
//! expanded, is missing, or has a status Stripe adds later, the session stays pending.
//!
//! Expired is "cancelled": the core turns a cancelled payment past its expiry into
//! "expired". An unknown `status` or `payment_status` is not guessed at: it is an error.

use crate::gateway::{Checkout, GatewayStatus, Verdict};

use super::amounts;
use super::error::StripeError;
use super::wire::{IntentStatus, PaymentStatus, Session, SessionStatus};

/// Whether reading the session's verdict needs its payment intent.
pub fn needs_intent(s: &Session) -> bool {
    s.status == Some(SessionStatus::Complete) && s.payment_status == Some(PaymentStatus::Unpaid)
}

/// The verdict on a session (whose payment intent is expanded when [`needs_intent`]).
pub fn verdict(s: &Session) -> Result<Verdict, StripeError> {
    let unknown = || {
        StripeError::Malformed(format!(
            "unknown Stripe session state {:?}/{:?}",
            s.status, s.payment_status
        ))
    };
    let status = s.status.ok_or_else(unknown)?;
    Ok(match status {
        SessionStatus::Open => Verdict::Pending,
        SessionStatus::Expired => Verdict::Cancelled,
        SessionStatus::Complete => match s.payment_status.ok_or_else(unknown)? {
            PaymentStatus::Paid | PaymentStatus::NoPaymentRequired => {
                Verdict::Paid { paid_at: None }
            }
            PaymentStatus::Unpaid => after_async_payment(s),
            PaymentStatus::Unknown => return Err(unknown()),
        },
        SessionStatus::Unknown => return Err(unknown()),
    })
}

/// A session completed unpaid, by its payment intent.
fn after_async_payment(s: &Session) -> Verdict {
    let Some(status) = s.payment_intent.as_ref().and_then(|p| p.status()) else {
        return Verdict::Pending;
    };
    match status {
        IntentStatus::Succeeded => Verdict::Paid { paid_at: None },
        IntentStatus::RequiresPaymentMethod | IntentStatus::Canceled => Verdict::Rejected,
        IntentStatus::Processing
        | IntentStatus::RequiresAction
        | IntentStatus::RequiresConfirmation
        | IntentStatus::RequiresCapture
        | IntentStatus::Unknown => Verdict::Pending,
    }
}

/// The session as a neutral status: its verdict, our reference, its amount, and its link
/// while it can still be paid.
pub fn order_status(s: &Session) -> Result<GatewayStatus, StripeError> {
    let verdict = verdict(s)?;
    let amount = match (s.amount_total, s.currency.as_deref()) {
        (Some(total), Some(currency)) => amounts::from_stripe(total, currency),
        _ => None,
    };
    let checkout = match (s.status, &s.url) {
        (Some(SessionStatus::Open), Some(url)) if !url.is_empty() => Some(Checkout {
            gateway_ref: s.id.clone(),
            token: s.id.clone(),
            url: url.clone(),
        }),
        _ => None,
    };
    Ok(GatewayStatus {
        gateway_ref: s.id.clone(),
        reference: s.client_reference_id.clone().unwrap_or_default(),
        verdict,
        amount,
        checkout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Currency, Money};

    fn session(status: &str, payment_status: &str, intent: Option<&str>) -> Session {
        let pi = match intent {
            Some(st) => serde_json::json!({"id": "pi_1", "status": st}),
            None => serde_json::Value::Null,
        };
        serde_json::from_value(serde_json::json!({
            "id": "cs_test_1", "status": status, "payment_status": payment_status,
            "amount_total": 1250, "currency": "usd", "client_reference_id": "ref-1",
            "url": if status == "open" { serde_json::json!("https://checkout.stripe.com/c/pay/cs_test_1") } else { serde_json::Value::Null },
            "payment_intent": pi, "metadata": {"paymentId": "pay_1"}
        }))
        .unwrap()
    }

    #[test]
    fn verdicts_of_every_session_state() {
        let paid = Some(Verdict::Paid { paid_at: None });
        let table: &[(&str, &str, Option<&str>, Option<Verdict>)] = &[
            ("open", "unpaid", None, Some(Verdict::Pending)),
            ("complete", "paid", None, paid.clone()),
            ("complete", "no_payment_required", None, paid.clone()),
            ("complete", "unpaid", None, Some(Verdict::Pending)),
            (
                "complete",
                "unpaid",
                Some("processing"),
                Some(Verdict::Pending),
            ),
            (
                "complete",
                "unpaid",
                Some("requires_action"),
                Some(Verdict::Pending),
            ),
            ("complete", "unpaid", Some("succeeded"), paid.clone()),
            (
                "complete",
                "unpaid",
                Some("requires_payment_method"),
                Some(Verdict::Rejected),
            ),
            (
                "complete",
                "unpaid",
                Some("canceled"),
                Some(Verdict::Rejected),
            ),
            (
                "complete",
                "unpaid",
                Some("brand_new_state"),
                Some(Verdict::Pending),
            ),
            ("expired", "unpaid", None, Some(Verdict::Cancelled)),
            ("complete", "brand_new", None, None),
            ("brand_new", "paid", None, None),
        ];
        for (status, payment_status, intent, want) in table {
            let s = session(status, payment_status, *intent);
            assert_eq!(
                verdict(&s).ok(),
                *want,
                "{status}/{payment_status}/{intent:?}"
            );
        }
    }

    #[test]
    fn only_complete_unpaid_sessions_need_their_intent() {
        assert!(needs_intent(&session("complete", "unpaid", None)));
        assert!(!needs_intent(&session("complete", "paid", None)));
        assert!(!needs_intent(&session("open", "unpaid", None)));
    }

    #[test]
    fn an_open_session_gives_its_link_again() {
        let st = order_status(&session("open", "unpaid", None)).unwrap();
        assert_eq!(st.reference, "ref-1");
        assert_eq!(st.gateway_ref, "cs_test_1");
        assert_eq!(
            st.amount,
            Some(Money::from_minor(1250, Currency::from_code("USD").unwrap()))
        );
        let c = st.checkout.expect("an open session's link");
        assert_eq!(c.token, "cs_test_1");
        assert!(c.url.starts_with("https://checkout.stripe.com/"));

        let st = order_status(&session("complete", "paid", None)).unwrap();
        assert_eq!(st.checkout, None);
    }

    #[test]
    fn an_amount_in_an_unknown_currency_is_none() {
        let mut s = session("open", "unpaid", None);
        s.currency = Some("xts".into());
        assert_eq!(order_status(&s).unwrap().amount, None);
    }
}
