//! The Stripe events paylink acts on, read from a verified body.
//!
//! An event only says which session (or payment) to look at again: the payment changes
//! only after a signed read of the session (`status`). Events are rendered in the
//! webhook endpoint's own API version, so only the few fields used are read, leniently.
//!
//! - `checkout.session.completed`, `…async_payment_succeeded`, `…async_payment_failed`,
//!   `…expired`: the session id is the token; `metadata.paymentId` is paylink's payment.
//! - `payment_intent.succeeded`, `payment_intent.payment_failed`: no token (a payment
//!   intent is not a session); `metadata.paymentId`, set through
//!   `payment_intent_data[metadata]` at creation, names the payment.
//! - `refund.created`, `refund.updated`, `refund.failed`, `charge.refund.updated`: the
//!   object is a Refund; its `re_…` id is [`Notification::refund_ref`] and
//!   `metadata.paylink_refund_id` (set at creation) is [`Notification::refund_id`]. Accounts
//!   on API versions before 2024-10-28 get `refund.*` only for refunds without a charge and
//!   `charge.refund.updated` for the others; both are read.
//! - `charge.refunded` names a Charge, not a refund (its `refunds` list has not been
//!   included since API version 2022-11-15), so it says nothing a refund can be verified
//!   by: acknowledged like any other type (`Ok(None)`); the `refund.*` events of the same
//!   change carry the refund.
//! - Any other type: a genuine event paylink does not act on (`Ok(None)`).

use serde::Deserialize;

use crate::gateway::{Notification, NotificationError};

/// The metadata key paylink writes its payment id under.
pub const PAYMENT_ID_KEY: &str = "paymentId";

/// Session events: the object is a Checkout Session.
pub const SESSION_EVENTS: [&str; 4] = [
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
];

/// Payment intent events: the object is a PaymentIntent.
pub const INTENT_EVENTS: [&str; 2] = ["payment_intent.succeeded", "payment_intent.payment_failed"];

/// The metadata key paylink writes its refund id under, on a Refund.
pub const REFUND_ID_KEY: &str = "paylink_refund_id";

/// Refund events: the object is a Refund.
pub const REFUND_EVENTS: [&str; 4] = [
    "refund.created",
    "refund.updated",
    "refund.failed",
    "charge.refund.updated",
];

#[derive(Deserialize)]
struct Event {
    #[serde(default)]
    id: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    data: Data,
}

#[derive(Deserialize)]
struct Data {
    object: Object,
}

#[derive(Deserialize)]
struct Object {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

/// What a verified event body names; `Ok(None)` for event types paylink ignores.
pub fn read(body: &[u8]) -> Result<Option<Notification>, NotificationError> {
    let event: Event =
        serde_json::from_slice(body).map_err(|e| NotificationError::Malformed(e.to_string()))?;
    let is_session = SESSION_EVENTS.contains(&event.kind.as_str());
    let is_intent = INTENT_EVENTS.contains(&event.kind.as_str());
    let is_refund = REFUND_EVENTS.contains(&event.kind.as_str());
    if is_refund {
        return refund_event(event).map(Some);
    }
    if !is_session && !is_intent {
        return Ok(None);
    }
    let payment_id = metadata_text(&event.data.object, PAYMENT_ID_KEY);
    let token = if is_session {
        match event.data.object.id {
            Some(id) if !id.is_empty() => Some(id),
            _ => {
                return Err(NotificationError::Malformed(format!(
                    "a {} event without the session's id",
                    event.kind
                )));
            }
        }
    } else {
        None
    };
    Ok(Some(Notification {
        event_id: event.id,
        kind: event.kind,
        token,
        payment_id,
        refund_ref: None,
        refund_id: None,
    }))
}

/// A refund event: the refund's id (required) and paylink's refund id from its metadata.
fn refund_event(event: Event) -> Result<Notification, NotificationError> {
    let refund_id = metadata_text(&event.data.object, REFUND_ID_KEY);
    let refund_ref = match event.data.object.id {
        Some(id) if !id.is_empty() => id,
        _ => {
            return Err(NotificationError::Malformed(format!(
                "a {} event without the refund's id",
                event.kind
            )));
        }
    };
    Ok(Notification {
        event_id: event.id,
        kind: event.kind,
        token: None,
        payment_id: None,
        refund_ref: Some(refund_ref),
        refund_id,
    })
}

/// A non-empty text value of the object's metadata.
fn metadata_text(object: &Object, key: &str) -> Option<String> {
    object
        .metadata
        .as_ref()
        .and_then(|m| m.get(key))
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, object: serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "id": "evt_1", "object": "event", "type": kind, "api_version": "2024-06-20",
            "created": 1_700_000_000, "livemode": false, "data": {"object": object}
        }))
        .unwrap()
    }

    #[test]
    fn session_events_name_the_session_and_the_payment() {
        for kind in SESSION_EVENTS {
            let body = event(
                kind,
                serde_json::json!({"id": "cs_test_1", "object": "checkout.session",
                    "metadata": {"paymentId": "pay_1", "reference": "ref-1"}}),
            );
            assert_eq!(
                read(&body).unwrap(),
                Some(Notification {
                    event_id: Some("evt_1".into()),
                    kind: kind.into(),
                    token: Some("cs_test_1".into()),
                    payment_id: Some("pay_1".into()),
                    refund_ref: None,
                    refund_id: None,
                }),
                "{kind}"
            );
        }
    }

    #[test]
    fn payment_intent_events_name_only_the_payment() {
        for kind in INTENT_EVENTS {
            let body = event(
                kind,
                serde_json::json!({"id": "pi_1", "object": "payment_intent",
                    "metadata": {"paymentId": "pay_2"}}),
            );
            let n = read(&body).unwrap().unwrap();
            assert_eq!(n.token, None, "{kind}");
            assert_eq!(n.payment_id.as_deref(), Some("pay_2"), "{kind}");
        }
        let body = event(
            "payment_intent.succeeded",
            serde_json::json!({"id": "pi_1", "metadata": {}}),
        );
        assert_eq!(read(&body).unwrap().unwrap().payment_id, None);
    }

    #[test]
    fn refund_events_name_the_refund_and_paylinks_refund_id() {
        for kind in REFUND_EVENTS {
            let body = event(
                kind,
                serde_json::json!({"id": "re_1", "object": "refund", "status": "succeeded",
                    "payment_intent": "pi_1", "metadata": {"paylink_refund_id": "rf_1"}}),
            );
            let n = read(&body).unwrap().unwrap();
            assert_eq!(n.refund_ref.as_deref(), Some("re_1"), "{kind}");
            assert_eq!(n.refund_id.as_deref(), Some("rf_1"), "{kind}");
            assert_eq!((&n.token, &n.payment_id), (&None, &None), "{kind}");
            assert!(n.is_refund());
        }
        // A refund made outside paylink has no refund id, and is still a refund event.
        let body = event(
            "refund.updated",
            serde_json::json!({"id": "re_2", "metadata": {}}),
        );
        let n = read(&body).unwrap().unwrap();
        assert_eq!((n.refund_ref.as_deref(), n.refund_id), (Some("re_2"), None));
        let no_id = event("refund.failed", serde_json::json!({"metadata": null}));
        assert!(matches!(read(&no_id), Err(NotificationError::Malformed(_))));
        // charge.refunded names a charge: nothing to verify a refund by.
        let charge = event(
            "charge.refunded",
            serde_json::json!({"id": "ch_1", "object": "charge", "amount_refunded": 500}),
        );
        assert_eq!(read(&charge).unwrap(), None);
    }

    #[test]
    fn payment_events_are_not_refund_events() {
        let body = event(
            "checkout.session.completed",
            serde_json::json!({"id": "cs_test_1", "metadata": {"paymentId": "pay_1"}}),
        );
        assert!(!read(&body).unwrap().unwrap().is_refund());
    }

    #[test]
    fn other_events_are_ignored_and_unreadable_bodies_malformed() {
        let body = event("customer.created", serde_json::json!({"id": "cus_1"}));
        assert_eq!(read(&body).unwrap(), None);
        assert!(matches!(
            read(b"not json"),
            Err(NotificationError::Malformed(_))
        ));
        assert!(matches!(
            read(br#"{"type":"checkout.session.completed"}"#),
            Err(NotificationError::Malformed(_))
        ));
        let no_id = event(
            "checkout.session.expired",
            serde_json::json!({"metadata": null}),
        );
        assert!(matches!(read(&no_id), Err(NotificationError::Malformed(_))));
    }
}
