//! Events and their webhook deliveries: the one path behind the pay page, the control API,
//! the clock and `POST /v1/checkout/sessions/{id}/expire`.
//!
//! An event is stored once, its JSON serialized once; every delivery of it (retries,
//! duplicates, redeliveries) sends those same bytes. Each endpoint whose `enabled_events`
//! match (`*` matches all) gets its own delivery, run in the background: a POST with
//! `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "{t}.{body}" keyed with the secret>`,
//! retried on a non-2xx answer, a transport error or a timeout after each pause of the
//! [`DeliveryPolicy`](super::DeliveryPolicy), every attempt recorded. Redirects are not
//! followed (a 3xx is a failure, as at Stripe). `t` is wall-clock time, not the sandbox
//! clock: the receiver checks it against its own clock, which the sandbox cannot advance.
//! A pending drop count swallows whole deliveries; a pending duplicate count sends a
//! delivery twice. Deliveries stop when the sandbox stops or the endpoint is deleted.

use std::sync::Arc;
use std::time::Instant;

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::model::{DeliveryRecord, StripeSandboxError};
use super::params::listens_to;
use super::state::{Pending, State};
use super::wire::new_id;
use super::{STRIPE_API_VERSION, StripeSandbox};

/// The `User-Agent` Stripe's deliveries carry.
const USER_AGENT: &str = "Stripe/1.0 (+https://stripe.com/docs/webhooks)";

/// A stored event: its JSON and the exact bytes every delivery sends.
#[derive(Debug, Clone)]
pub struct EventRecord {
    pub id: String,
    pub event_type: String,
    pub json: Value,
    pub body: Arc<str>,
}

/// What caused an event: an API request (its `Request-Id` and idempotency key), or
/// nobody the API knows (the pay page, the clock, a test).
#[derive(Debug, Clone, Default)]
pub struct Cause {
    pub request_id: Option<String>,
    pub idempotency_key: Option<String>,
}

/// One delivery of an event to an endpoint, to be run in the background.
#[derive(Debug, Clone)]
pub struct DeliveryJob {
    delivery: String,
    event: String,
    event_type: String,
    endpoint: String,
    url: String,
    secret: String,
    body: Arc<str>,
    duplicate: bool,
}

/// Stripe's `v1` signature: lowercase hex HMAC-SHA256 of `"{t}.{body}"`.
pub fn sign(secret: &str, t: i64, body: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(format!("{t}.{body}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The `Stripe-Signature` header for `body` signed at `t`.
pub fn signature_header(secret: &str, t: i64, body: &str) -> String {
    format!("t={t},v1={}", sign(secret, t, body))
}

impl State {
    /// Stores an event and returns its id and the deliveries it needs.
    pub fn emit(
        &mut self,
        event: Pending,
        cause: &Cause,
        now: i64,
        at: &str,
    ) -> (String, Vec<DeliveryJob>) {
        let (event_type, object) = event;
        let id = new_id("evt_", 24);
        let pending = self
            .endpoints
            .iter()
            .filter(|e| listens_to(&e.enabled_events, event_type))
            .count();
        let json = json!({
            "id": id,
            "object": "event",
            "type": event_type,
            "created": now,
            "livemode": false,
            "api_version": STRIPE_API_VERSION,
            "data": {"object": object},
            "pending_webhooks": pending,
            "request": {"id": cause.request_id, "idempotency_key": cause.idempotency_key},
        });
        let body: Arc<str> = json.to_string().into();
        self.events.push(EventRecord {
            id: id.clone(),
            event_type: event_type.to_string(),
            json,
            body,
        });
        let jobs = self.jobs_for(self.events.len() - 1, None, at, true);
        (id, jobs)
    }

    /// The deliveries of an event (to one endpoint or to all that listen); with `counted`,
    /// pending drops and duplicates apply.
    fn jobs_for(
        &mut self,
        index: usize,
        only: Option<&str>,
        at: &str,
        counted: bool,
    ) -> Vec<DeliveryJob> {
        let event = self.events[index].clone();
        let targets: Vec<_> = self
            .endpoints
            .iter()
            .filter(|e| only.is_none_or(|o| o == e.id))
            .filter(|e| listens_to(&e.enabled_events, &event.event_type))
            .cloned()
            .collect();
        let mut jobs = Vec::new();
        for endpoint in targets {
            let job = DeliveryJob {
                delivery: new_id("whdel_", 20),
                event: event.id.clone(),
                event_type: event.event_type.clone(),
                endpoint: endpoint.id.clone(),
                url: endpoint.url.clone(),
                secret: endpoint.secret.clone(),
                body: event.body.clone(),
                duplicate: false,
            };
            if counted && self.drops_pending > 0 {
                self.drops_pending -= 1;
                self.deliveries.push(DeliveryRecord {
                    delivery: job.delivery,
                    event: job.event,
                    event_type: job.event_type,
                    endpoint: job.endpoint,
                    url: job.url,
                    attempt: 0,
                    at: at.to_string(),
                    signature: String::new(),
                    http_status: None,
                    latency_ms: 0,
                    error: None,
                    dropped: true,
                    duplicate: false,
                    will_retry: false,
                });
                continue;
            }
            if counted && self.duplicates_pending > 0 {
                self.duplicates_pending -= 1;
                jobs.push(DeliveryJob {
                    delivery: new_id("whdel_", 20),
                    duplicate: true,
                    ..job.clone()
                });
            }
            jobs.push(job);
        }
        // The original first, then its duplicate.
        jobs.sort_by_key(|j| j.duplicate);
        jobs
    }

    /// Deliveries that send a stored event again, to `endpoint` or to every endpoint
    /// listening to its type now.
    pub fn redeliver(
        &mut self,
        event: &str,
        endpoint: Option<&str>,
        at: &str,
    ) -> Result<Vec<DeliveryJob>, StripeSandboxError> {
        let index = self
            .events
            .iter()
            .position(|e| e.id == event)
            .ok_or_else(|| StripeSandboxError::UnknownEvent(event.to_string()))?;
        if let Some(id) = endpoint
            && !self.endpoints.iter().any(|e| e.id == id)
        {
            return Err(StripeSandboxError::InvalidEndpoint(format!(
                "no webhook endpoint with id {id}"
            )));
        }
        Ok(self.jobs_for(index, endpoint, at, false))
    }
}

impl StripeSandbox {
    /// Stores the events and starts their deliveries; returns the event ids.
    pub(super) fn publish(&self, events: Vec<Pending>, cause: &Cause) -> Vec<String> {
        if events.is_empty() {
            return Vec::new();
        }
        let (now, at) = (self.now_unix(), self.at());
        let mut ids = Vec::with_capacity(events.len());
        let mut jobs = Vec::new();
        {
            let mut state = self.lock();
            for event in events {
                let (id, more) = state.emit(event, cause, now, &at);
                tracing::debug!(event = %id, "stripe sandbox: event");
                ids.push(id);
                jobs.extend(more);
            }
        }
        self.spawn_deliveries(jobs);
        ids
    }

    /// Runs each delivery in a task of its own (no order between them, as at Stripe).
    pub(super) fn spawn_deliveries(&self, jobs: Vec<DeliveryJob>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(
                "stripe sandbox: no tokio runtime; {} deliveries not sent",
                jobs.len()
            );
            return;
        };
        for job in jobs {
            runtime.spawn(self.clone().deliver(job));
        }
    }

    async fn deliver(self, job: DeliveryJob) {
        let stopping = self.inner.tasks.clone();
        let delays = self.inner.delivery.retry_delays.clone();
        let mut attempt: u32 = 1;
        loop {
            if !self.lock().endpoints.iter().any(|e| e.id == job.endpoint) {
                tracing::debug!(delivery = %job.delivery, "stripe sandbox: endpoint deleted; delivery stopped");
                return;
            }
            let t = time::OffsetDateTime::now_utc().unix_timestamp();
            let signature = signature_header(&job.secret, t, &job.body);
            let at = self.at();
            let started = Instant::now();
            let request = self
                .http()
                .post(&job.url)
                .header("content-type", "application/json; charset=utf-8")
                .header("user-agent", USER_AGENT)
                .header("stripe-signature", &signature)
                .body(job.body.to_string())
                .send();
            let result = tokio::select! {
                () = stopping.cancelled() => return,
                result = request => result,
            };
            let (http_status, error) = match result {
                Ok(response) => {
                    let status = response.status().as_u16();
                    // Read the body so the connection can be reused; its content is ignored.
                    let _ = response.bytes().await;
                    (Some(status), None)
                }
                Err(e) => (None, Some(e.to_string())),
            };
            let succeeded = http_status.is_some_and(|s| (200..300).contains(&s));
            let delay = delays.get(attempt as usize - 1).copied();
            let will_retry = !succeeded && delay.is_some();
            if !succeeded {
                tracing::debug!(delivery = %job.delivery, attempt, ?http_status, ?error, will_retry,
                    "stripe sandbox: webhook delivery failed");
            }
            self.lock().deliveries.push(DeliveryRecord {
                delivery: job.delivery.clone(),
                event: job.event.clone(),
                event_type: job.event_type.clone(),
                endpoint: job.endpoint.clone(),
                url: job.url.clone(),
                attempt,
                at,
                signature,
                http_status,
                latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                error,
                dropped: false,
                duplicate: job.duplicate,
                will_retry,
            });
            let Some(delay) = delay.filter(|_| will_retry) else {
                return;
            };
            tokio::select! {
                () = stopping.cancelled() => return,
                () = tokio::time::sleep(delay) => {}
            }
            attempt += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hex_hmac_of_timestamp_dot_body() {
        // The expected MAC was computed independently (Python's hmac module).
        let header = signature_header("whsec_test", 1_700_000_000, "{\"id\":\"evt_1\"}");
        let (t, v1) = header.split_once(',').unwrap();
        assert_eq!(t, "t=1700000000");
        let v1 = v1.strip_prefix("v1=").unwrap();
        assert_eq!(
            v1,
            "c89214b5b5da833daed6f0b8c5bb6bd58cea9022bd80ccc78230f3942d632925"
        );
        assert_ne!(v1, sign("whsec_other", 1_700_000_000, "{\"id\":\"evt_1\"}"));
        assert_ne!(v1, sign("whsec_test", 1_700_000_001, "{\"id\":\"evt_1\"}"));
    }
}
