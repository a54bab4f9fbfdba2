//! The Stripe sandbox's in-memory account: Checkout Sessions and their PaymentIntents and
//! JSON shapes, webhook endpoints, events and deliveries, the request log, faults, and
//! idempotency keys (how sessions change is in `settle.rs`, refunds in `refunds.rs`).
//!
//! Sessions are stored in creation order, which is also `created` order because the
//! sandbox clock never moves back. The state sits behind a `std::sync::Mutex` that is never
//! held across an `.await`.

use std::collections::HashMap;

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::error::ApiError;
use super::model::{DeliveryRecord, Fault, FaultKind, FaultTarget, RecordedRequest};
use super::params::ListQuery;
use super::refunds::Refund;
use super::rules::{NewSession, line_items_json, metadata_json};
use super::webhooks::EventRecord;
use super::wire::new_id;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStatus {
    Open,
    Complete,
    Expired,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Open => "open",
            SessionStatus::Complete => "complete",
            SessionStatus::Expired => "expired",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PiStatus {
    RequiresPaymentMethod,
    Processing,
    Succeeded,
    Canceled,
}

impl PiStatus {
    fn as_str(self) -> &'static str {
        match self {
            PiStatus::RequiresPaymentMethod => "requires_payment_method",
            PiStatus::Processing => "processing",
            PiStatus::Succeeded => "succeeded",
            PiStatus::Canceled => "canceled",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub created: i64,
    pub page_url: String,
    pub req: NewSession,
    pub status: SessionStatus,
    pub paid: bool,
    pub payment_intent: Option<String>,
}

impl Session {
    pub fn payment_status(&self) -> &'static str {
        if self.paid { "paid" } else { "unpaid" }
    }
}

#[derive(Debug, Clone)]
pub struct PaymentIntent {
    pub id: String,
    pub created: i64,
    pub amount: i64,
    pub currency: &'static str,
    pub metadata: Vec<(String, String)>,
    pub description: Option<String>,
    pub status: PiStatus,
    pub latest_charge: Option<String>,
    /// The last failure: (code, decline_code, message).
    pub last_error: Option<(&'static str, Option<&'static str>, String)>,
    pub payment_method_types: Vec<String>,
}

impl PaymentIntent {
    pub fn json(&self) -> Value {
        let last_payment_error = match &self.last_error {
            None => Value::Null,
            Some((code, decline_code, message)) => json!({
                "type": "card_error",
                "code": code,
                "decline_code": decline_code,
                "message": message,
            }),
        };
        let received = if self.status == PiStatus::Succeeded {
            self.amount
        } else {
            0
        };
        json!({
            "id": self.id,
            "object": "payment_intent",
            "amount": self.amount,
            "amount_received": received,
            "currency": self.currency,
            "status": self.status.as_str(),
            "metadata": metadata_json(&self.metadata),
            "description": self.description,
            "latest_charge": self.latest_charge,
            "last_payment_error": last_payment_error,
            "created": self.created,
            "livemode": false,
            "payment_method_types": self.payment_method_types,
        })
    }
}

/// A webhook endpoint (from the configuration, the API or the control API).
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub id: String,
    pub url: String,
    pub secret: String,
    pub enabled_events: Vec<String>,
    pub description: Option<String>,
    pub metadata: Vec<(String, String)>,
    pub api_version: Option<String>,
    pub created: i64,
}

impl Endpoint {
    /// The endpoint object; the secret only in the create answer, as Stripe does.
    pub fn json(&self, with_secret: bool) -> Value {
        let mut v = json!({
            "id": self.id,
            "object": "webhook_endpoint",
            "url": self.url,
            "enabled_events": self.enabled_events,
            "description": self.description,
            "metadata": metadata_json(&self.metadata),
            "api_version": self.api_version,
            "status": "enabled",
            "created": self.created,
            "livemode": false,
            "application": null,
        });
        if with_secret {
            v["secret"] = json!(self.secret);
        }
        v
    }
}

/// What an idempotency key holds: a request still running, or the answer to replay.
#[derive(Debug, Clone)]
pub enum Idem {
    InFlight {
        fingerprint: String,
    },
    Done {
        fingerprint: String,
        status: u16,
        body: Vec<u8>,
    },
}

/// An event to emit: its type and the object as of now.
pub type Pending = (&'static str, Value);

#[derive(Default)]
pub struct State {
    /// In creation order; `by_id` indexes it (both change only in [`State::create`]).
    pub(super) sessions: Vec<Session>,
    pub(super) by_id: HashMap<String, usize>,
    pub(super) intents: HashMap<String, PaymentIntent>,
    pub endpoints: Vec<Endpoint>,
    pub events: Vec<EventRecord>,
    pub deliveries: Vec<DeliveryRecord>,
    pub faults: Vec<Fault>,
    pub requests: Vec<RecordedRequest>,
    pub drops_pending: u32,
    pub duplicates_pending: u32,
    pub idempotency: HashMap<(String, String), Idem>,
    /// Refunds in creation order (`refunds.rs`).
    pub(super) refunds: Vec<Refund>,
    /// How many of the next refunds start `pending`.
    pub refunds_held: u32,
}

impl State {
    /// Stores a validated session and returns its id.
    pub fn create(&mut self, req: NewSession, now: i64, base_url: &str) -> String {
        let mut id = new_id("cs_test_", 58);
        while self.by_id.contains_key(&id) {
            id = new_id("cs_test_", 58);
        }
        self.by_id.insert(id.clone(), self.sessions.len());
        self.sessions.push(Session {
            page_url: format!("{base_url}/c/pay/{id}"),
            id: id.clone(),
            created: now,
            req,
            status: SessionStatus::Open,
            paid: false,
            payment_intent: None,
        });
        id
    }

    pub fn session(&self, id: &str) -> Option<&Session> {
        self.by_id.get(id).map(|&i| &self.sessions[i])
    }

    pub fn intent(&self, id: &str) -> Option<&PaymentIntent> {
        self.intents.get(id)
    }

    /// The Checkout Session object; `expand_pi` replaces the PaymentIntent id by the object.
    pub fn session_json(&self, s: &Session, expand_pi: bool) -> Value {
        let open = s.status == SessionStatus::Open;
        let payment_intent = match (&s.payment_intent, expand_pi) {
            (Some(id), true) => self
                .intents
                .get(id)
                .map_or(Value::Null, PaymentIntent::json),
            (Some(id), false) => json!(id),
            (None, _) => Value::Null,
        };
        let customer_details = match s.status {
            SessionStatus::Complete => json!({"email": s.req.customer_email}),
            _ => Value::Null,
        };
        json!({
            "id": s.id,
            "object": "checkout.session",
            "url": if open { json!(s.page_url) } else { Value::Null },
            "status": s.status.as_str(),
            "payment_status": s.payment_status(),
            "amount_total": s.req.amount_total,
            "amount_subtotal": s.req.amount_total,
            "currency": s.req.currency.code,
            "client_reference_id": s.req.client_reference_id,
            "customer_email": s.req.customer_email,
            "customer_details": customer_details,
            "metadata": metadata_json(&s.req.metadata),
            "expires_at": s.req.expires_at,
            "created": s.created,
            "mode": "payment",
            "livemode": false,
            "payment_intent": payment_intent,
            "payment_method_types": s.req.payment_method_types,
            "success_url": s.req.success_url,
            "cancel_url": s.req.cancel_url,
            "locale": s.req.locale,
        })
    }

    /// The session JSON by id, with its line items (for the control API).
    pub fn session_view(&self, id: &str) -> Option<Value> {
        let s = self.session(id)?;
        let mut v = self.session_json(s, true);
        v["line_items"] = line_items_json(&s.req);
        Some(v)
    }

    /// `GET /v1/checkout/sessions`: the page of sessions matching `q`, newest first, and
    /// whether more follow.
    pub fn list(&self, q: &ListQuery) -> Result<(Vec<Value>, bool), ApiError> {
        let cursor = |id: &Option<String>, param: &str| match id {
            None => Ok(None),
            Some(id) => self.by_id.get(id).copied().map(Some).ok_or_else(|| {
                ApiError::no_such("checkout.session", id, param).status(StatusCode::BAD_REQUEST)
            }),
        };
        let after = cursor(&q.starting_after, "starting_after")?;
        let before = cursor(&q.ending_before, "ending_before")?;
        let matches = |s: &Session| {
            q.created.contains(s.created)
                && q.status.as_deref().is_none_or(|st| st == s.status.as_str())
                && q.payment_intent
                    .as_ref()
                    .is_none_or(|p| s.payment_intent.as_ref() == Some(p))
                && q.customer_email
                    .as_ref()
                    .is_none_or(|e| s.req.customer_email.as_ref() == Some(e))
        };
        // Newest first is reverse storage order.
        let mut picked: Vec<usize> = (0..self.sessions.len())
            .rev()
            .filter(|&i| after.is_none_or(|a| i < a) && before.is_none_or(|b| i > b))
            .filter(|&i| matches(&self.sessions[i]))
            .collect();
        let has_more = picked.len() > q.limit;
        if before.is_some() {
            // The page just before the cursor: the `limit` sessions nearest to it.
            let skip = picked.len().saturating_sub(q.limit);
            picked.drain(..skip);
        } else {
            picked.truncate(q.limit);
        }
        let data = picked
            .into_iter()
            .map(|i| self.session_json(&self.sessions[i], q.expand_payment_intent))
            .collect();
        Ok((data, has_more))
    }

    /// Takes the first fault for `target`, counting one use of it.
    pub fn take_fault(&mut self, target: Option<FaultTarget>) -> Option<FaultKind> {
        let index = self
            .faults
            .iter()
            .position(|f| f.target == FaultTarget::Any || Some(f.target) == target)?;
        let fault = &mut self.faults[index];
        let kind = fault.kind.clone();
        match &mut fault.times {
            Some(left) if *left <= 1 => {
                self.faults.remove(index);
            }
            Some(left) => *left -= 1,
            None => {}
        }
        Some(kind)
    }
}
