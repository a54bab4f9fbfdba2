//! Outbound lifecycle notifications: when a payment becomes paid or failed, POST a signed
//! JSON event to the organization's notification URL.
//!
//! The event is `{"type": "payment.paid" | "payment.failed", "timestamp": …, "data": {…}}`,
//! signed the Standard Webhooks way: headers `webhook-id` (the payment id and the event's
//! seq, stable across retries, so receivers can de-duplicate), `webhook-timestamp` (unix
//! seconds of the attempt) and `webhook-signature: v1,<base64 HMAC-SHA256 of
//! "{id}.{timestamp}.{body}">`. A secret written `whsec_<base64>` is used as the decoded
//! key, as Standard Webhooks libraries do; any other secret is used as its bytes.
//!
//! # Invariants
//!
//! - Only changes that reach paid or failed are sent, only to organizations with a target.
//! - A non-2xx answer or a transport error is retried with exponential backoff, up to
//!   `retry.attempts` attempts in all; each delivery runs in its own task (at most
//!   [`MAX_IN_FLIGHT`] at once), so one slow receiver does not hold up the others.
//! - The secret is never logged: [`NotifyTarget`] wraps it in `SecretString`.
//! - On sled, delivery is at-least-once while the process runs; an event missed while
//!   paylink was down is not replayed (the receiver can ask `payment.getStatus`).
//! - On a shared PostgreSQL ledger, deliveries come from the outbox the change's own
//!   transaction filled: one replica at a time holds each, and one committed while every
//!   replica was down leaves when one starts. A replica that dies after the receiver
//!   answered but before the row was cleared sends it again after the lease: receivers
//!   de-duplicate by `webhook-id`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use sha2::Sha256;
use tokio::sync::Semaphore;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use crate::domain::{Payment, PaymentStatus};
use crate::payments::{PaymentChange, Payments};
use crate::webhook::Metrics;

/// Deliveries running at once.
pub const MAX_IN_FLIGHT: usize = 16;

/// On a shared ledger, how many times an outbox row is handed out (each time with all of
/// [`NotifyRetry::attempts`]) before it is abandoned.
pub const OUTBOX_ROUNDS: u32 = 5;

/// Where one organization's notifications go.
#[derive(Debug, Clone)]
pub struct NotifyTarget {
    pub url: String,
    pub secret: SecretString,
}

/// How deliveries are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotifyRetry {
    /// Attempts in all, the first included.
    pub attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Per-attempt timeout.
    pub timeout: Duration,
}

impl Default for NotifyRetry {
    fn default() -> Self {
        NotifyRetry {
            attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            timeout: Duration::from_secs(10),
        }
    }
}

impl NotifyRetry {
    /// The pause after failed attempt number `attempt` (1-based): base × 2^(attempt-1), capped.
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1).min(31))
            .unwrap_or(u32::MAX);
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// Why a delivery was abandoned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    #[error("the receiver answered HTTP {status} to all {attempts} attempts")]
    Status { status: u16, attempts: u32 },
    #[error("the receiver could not be reached in {attempts} attempts: {message}")]
    Transport { message: String, attempts: u32 },
}

/// Sends lifecycle notifications for the organizations that configured a target.
#[derive(Clone)]
pub struct Notifier {
    targets: Arc<HashMap<String, NotifyTarget>>,
    http: reqwest::Client,
    retry: NotifyRetry,
    metrics: Option<Arc<Metrics>>,
}

impl Notifier {
    pub fn new(targets: HashMap<String, NotifyTarget>) -> Notifier {
        let http = reqwest::Client::builder()
            .user_agent(concat!("paylink/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Notifier {
            targets: Arc::new(targets),
            http,
            retry: NotifyRetry::default(),
            metrics: None,
        }
    }

    pub fn with_retry(mut self, retry: NotifyRetry) -> Notifier {
        self.retry = retry;
        self
    }

    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Notifier {
        self.metrics = Some(metrics);
        self
    }

    /// A notifier for one organization's target (from `PAYLINK_NOTIFY_URL` and
    /// `PAYLINK_NOTIFY_SECRET`, validated by [`crate::config`]).
    pub fn for_organization(organization: &str, target: NotifyTarget) -> Notifier {
        Notifier::new(HashMap::from([(organization.to_string(), target)]))
    }

    /// Subscribes to payment changes now (so none committed after this call is missed) and
    /// delivers them in the background until `shutdown`.
    pub fn start(
        self,
        payments: &Payments,
        shutdown: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        if payments.ledger_is_shared() {
            return self.start_outbox(payments.clone(), shutdown);
        }
        let mut changes = payments.subscribe();
        tokio::spawn(async move {
            let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
            loop {
                let change = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    c = changes.recv() => c,
                };
                let change = match change {
                    Ok(c) => c,
                    Err(RecvError::Lagged(n)) => {
                        tracing::warn!(
                            missed = n,
                            "notifier lagged; some lifecycle notifications were not sent"
                        );
                        continue;
                    }
                    Err(RecvError::Closed) => return,
                };
                if event_type(&change).is_none()
                    || !self.targets.contains_key(&change.payment.organization)
                {
                    continue;
                }
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    return;
                };
                let (me, stop) = (self.clone(), shutdown.clone());
                tokio::spawn(async move {
                    let _slot = slot;
                    tokio::select! {
                        _ = stop.cancelled() => {}
                        _ = me.deliver(&change) => {}
                    }
                });
            }
        })
    }

    /// On a shared ledger: delivers from the outbox, which the transaction of each change
    /// to paid or failed filled, so each notification leaves from one replica at a time
    /// however many run, and one committed while no replica was up leaves later. Each row
    /// is leased for as long as a delivery with all its retries can take; a delivery whose
    /// retries all failed is offered again later, up to [`OUTBOX_ROUNDS`] times.
    fn start_outbox(
        self,
        payments: Payments,
        shutdown: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let mut wake = payments.subscribe();
        tokio::spawn(async move {
            let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
            let lease = self.retry_budget() + Duration::from_secs(30);
            loop {
                let free = slots.available_permits();
                let items = if free == 0 {
                    Vec::new()
                } else {
                    match payments
                        .claim_outbox(crate::domain::Timestamp::now(), lease, free)
                        .await
                    {
                        Ok(items) => items,
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot read the notification outbox");
                            Vec::new()
                        }
                    }
                };
                for item in items {
                    let Ok(slot) = slots.clone().acquire_owned().await else {
                        return;
                    };
                    let (me, ps, stop) = (self.clone(), payments.clone(), shutdown.clone());
                    tokio::spawn(async move {
                        let _slot = slot;
                        tokio::select! {
                            _ = stop.cancelled() => {}
                            _ = me.deliver_from_outbox(&ps, item) => {}
                        }
                    });
                }
                // A change anywhere may have filled the outbox; else look again in a second.
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = wake.recv() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        })
    }

    /// The longest one delivery with all its retries can take.
    fn retry_budget(&self) -> Duration {
        let mut total = Duration::ZERO;
        for attempt in 1..=self.retry.attempts {
            total += self.retry.timeout + self.retry.delay_after(attempt);
        }
        total
    }

    async fn deliver_from_outbox(
        &self,
        payments: &Payments,
        item: crate::store::postgres::OutboxItem,
    ) {
        let (id, seq) = (item.payment.id.clone(), item.event.seq);
        let change = PaymentChange {
            payment: item.payment,
            event: item.event,
        };
        let done = match self.deliver(&change).await {
            Ok(_) => true,
            Err(e) if item.attempts >= OUTBOX_ROUNDS => {
                tracing::warn!(payment = %id, error = %e, rounds = item.attempts, "lifecycle notification abandoned");
                true
            }
            Err(e) => {
                let again = crate::domain::Timestamp::now().plus_millis(
                    self.retry.max_delay.as_millis() as i64 * i64::from(item.attempts),
                );
                tracing::warn!(payment = %id, error = %e, "lifecycle notification failed; offered again later");
                if let Err(e) = payments.outbox_retry_at(&id, seq, again).await {
                    tracing::warn!(payment = %id, error = %e, "cannot reschedule a notification");
                }
                false
            }
        };
        if done && let Err(e) = payments.outbox_done(&id, seq).await {
            tracing::warn!(payment = %id, error = %e, "cannot clear a delivered notification");
        }
    }

    /// Delivers one change (if it is a paid/failed change of a configured organization),
    /// retrying; returns the number of attempts made.
    pub async fn deliver(&self, change: &PaymentChange) -> Result<u32, NotifyError> {
        let (Some(kind), Some(target)) = (
            event_type(change),
            self.targets.get(&change.payment.organization),
        ) else {
            return Ok(0);
        };
        let id = format!("{}_{}", change.payment.id, change.event.seq);
        let body = json!({
            "type": kind,
            "timestamp": change.event.at.rfc3339(),
            "data": payment_data(&change.payment),
        })
        .to_string();
        let mut attempt = 1;
        loop {
            let err = match self.attempt(target, &id, &body).await {
                Ok(()) => {
                    tracing::info!(payment = %change.payment.id, event = %id, attempt, "lifecycle notification delivered");
                    if let Some(m) = &self.metrics {
                        m.notifications_sent.inc();
                    }
                    return Ok(attempt);
                }
                Err(e) => e,
            };
            tracing::warn!(payment = %change.payment.id, event = %id, attempt, error = %err, "lifecycle notification failed");
            if attempt >= self.retry.attempts.max(1) {
                if let Some(m) = &self.metrics {
                    m.notifications_failed.inc();
                }
                return Err(match err {
                    AttemptError::Status(status) => NotifyError::Status {
                        status,
                        attempts: attempt,
                    },
                    AttemptError::Transport(message) => NotifyError::Transport {
                        message,
                        attempts: attempt,
                    },
                });
            }
            tokio::time::sleep(self.retry.delay_after(attempt)).await;
            attempt += 1;
        }
    }

    async fn attempt(
        &self,
        target: &NotifyTarget,
        id: &str,
        body: &str,
    ) -> Result<(), AttemptError> {
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs()
            .to_string();
        let signature = sign(&target.secret, id, &timestamp, body);
        let response = self
            .http
            .post(&target.url)
            .timeout(self.retry.timeout)
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", &timestamp)
            .header("webhook-signature", signature)
            .body(body.to_string())
            .send()
            .await
            // The URL is the operator's own configuration; keep it out of the message anyway.
            .map_err(|e| AttemptError::Transport(e.without_url().to_string()))?;
        let status = response.status();
        let _ = response.bytes().await;
        if status.is_success() {
            Ok(())
        } else {
            Err(AttemptError::Status(status.as_u16()))
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum AttemptError {
    #[error("HTTP {0}")]
    Status(u16),
    #[error("{0}")]
    Transport(String),
}

/// `payment.paid` or `payment.failed` for a change into that status.
fn event_type(change: &PaymentChange) -> Option<&'static str> {
    match change.event.to {
        PaymentStatus::Paid => Some("payment.paid"),
        PaymentStatus::Failed => Some("payment.failed"),
        PaymentStatus::Draft | PaymentStatus::Pending => None,
    }
}

/// The payment as the receiver sees it: no idempotency key or scheduling internals.
fn payment_data(p: &Payment) -> serde_json::Value {
    json!({
        "id": p.id,
        "organization": p.organization,
        "environment": p.environment,
        "status": p.status,
        "amount": p.amount.major_text(),
        "amountMinor": p.amount.minor,
        "currency": p.amount.currency.code(),
        "description": p.description,
        "customerEmail": p.customer_email,
        "entityId": p.entity_id,
        "commerceOrder": p.reference,
        "providerReference": p.gateway_ref,
        "paidAt": p.paid_at.map(|t| t.rfc3339()),
        "failureReason": p.failure_reason.map(|r| r.as_str()),
        "createdAt": p.created_at.rfc3339(),
        "updatedAt": p.updated_at.rfc3339(),
    })
}

/// What is wrong with a notification secret, if anything: an empty one, or a
/// `whsec_<base64>` one whose rest is not base64. The answer never repeats the secret.
pub fn secret_problem(secret: &str) -> Option<&'static str> {
    if secret.trim().is_empty() {
        return Some("is empty; give the secret the receiver verifies signatures with");
    }
    match secret.strip_prefix("whsec_") {
        Some(b) if BASE64.decode(b).is_err() => Some(
            "starts with whsec_ but the rest is not base64; give the secret exactly as the receiver shows it",
        ),
        _ => None,
    }
}

/// The key a secret stands for: `whsec_<base64>` decoded, anything else as its bytes.
fn key_bytes(secret: &SecretString) -> Vec<u8> {
    let s = secret.expose_secret();
    s.strip_prefix("whsec_")
        .and_then(|b| BASE64.decode(b).ok())
        .unwrap_or_else(|| s.as_bytes().to_vec())
}

/// `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`.
pub fn sign(secret: &SecretString, id: &str, timestamp: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(&key_bytes(secret))
        .expect("HMAC accepts keys of any length");
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whsec_secret_signs_with_its_decoded_key() {
        let raw = SecretString::from("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_string());
        let wrapped = SecretString::from(format!(
            "whsec_{}",
            BASE64.encode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        ));
        assert_eq!(sign(&raw, "a", "1", "{}"), sign(&wrapped, "a", "1", "{}"));
        assert!(sign(&raw, "a", "1", "{}").starts_with("v1,"));
        assert_ne!(sign(&raw, "a", "1", "{}"), sign(&raw, "a", "2", "{}"));
    }

    #[test]
    fn retry_delays_double_up_to_the_cap() {
        let r = NotifyRetry {
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(5),
            ..NotifyRetry::default()
        };
        let delays: Vec<u64> = (1..=5).map(|a| r.delay_after(a).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 5, 5]);
    }
}
