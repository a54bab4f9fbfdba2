//! The side listener: Flow's confirmations, the payer's return page, health and metrics.
//!
//! # Routes
//!
//! - `POST /webhook/flow` — Flow's server-to-server confirmation, form field `token` only
//!   (reference §6.1). A token that is missing, empty, longer than [`MAX_TOKEN_LEN`] or not
//!   `[A-Za-z0-9]` gets 400 and is not recorded. Any other token gets 200 at once, whatever
//!   happens next: it is handed to a bounded queue and verified by background workers
//!   ([`verify`] says how), so Flow's 15 s limit holds even when Flow's own API is slow or
//!   down. A full queue still answers 200 (counted; the reconciler is the safety net).
//! - `GET|POST /payment/return` — the default return page ([`return_page`]).
//! - `GET /healthz` — `ok`, touching nothing. Served by [`serve`] on a lane of its own,
//!   so it answers promptly even while a storm keeps the main runtime busy ([`lane`]).
//!   `503` with the reason while the ledger cannot write (an atomic flag the store keeps;
//!   no ledger I/O per check), so a load balancer stops sending payments to a full disk.
//! - `GET /metrics` — Prometheus text ([`metrics`]); never scans the ledger. Open on a
//!   loopback listener, else only with `PAYLINK_METRICS_TOKEN` ([`metrics_access`]).
//!
//! # Invariants
//!
//! The handler never calls Flow and never waits for a ledger flush. A confirmation changes
//! at most the one payment the token belongs to, and only by the gateway's signed answer.
//! Workers stop when the shutdown token is cancelled.

mod lane;
pub mod log;
pub mod metrics;
pub mod metrics_access;
mod queue;
mod return_page;
mod verify;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio_util::sync::CancellationToken;

pub use lane::serve;
pub use log::{ConfirmationEntry, list_confirmations};
pub use metrics::Metrics;
pub use metrics_access::MetricsAccess;

use crate::payments::Payments;
use log::Outcome;
use queue::{Offer, Queue, TokenBucket};
use verify::Verifier;

/// The largest request body the side listener reads (a confirmation is one short field).
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The longest token accepted (Flow's are 40 characters).
pub const MAX_TOKEN_LEN: usize = 128;

/// Tunables of the listener.
#[derive(Debug, Clone)]
pub struct WebhookOptions {
    /// Verification workers (each verifies one token at a time).
    pub workers: usize,
    /// Tokens waiting for a worker before new ones are acknowledged but dropped.
    pub queue_capacity: usize,
    /// At most this many Flow accounts are asked about a token the ledger does not know.
    pub fallback_accounts: usize,
    /// Fallback lookups per second, for the whole process (a burst of as many is allowed).
    pub fallback_per_second: u32,
    /// How long the return page waits for Flow before showing the ledger's status.
    pub return_page_timeout: Duration,
    /// Live checks the (unauthenticated) return page may start per second, for the whole
    /// process; over it, the page shows the ledger's status.
    pub return_page_checks_per_second: u32,
    /// Who may read `/metrics` (open by default, as on a loopback listener).
    pub metrics_access: MetricsAccess,
}

impl Default for WebhookOptions {
    fn default() -> Self {
        WebhookOptions {
            workers: 8,
            queue_capacity: 4096,
            fallback_accounts: 4,
            fallback_per_second: 10,
            return_page_timeout: Duration::from_secs(5),
            return_page_checks_per_second: 10,
            metrics_access: MetricsAccess::Open,
        }
    }
}

struct Shared {
    payments: Payments,
    metrics: Arc<Metrics>,
    queue: Arc<Queue>,
    return_checks: return_page::LiveChecks,
    options: WebhookOptions,
}

/// What the listener's handlers share; cheap to clone.
#[derive(Clone)]
pub struct WebhookState {
    inner: Arc<Shared>,
}

impl WebhookState {
    /// The listener's state with default options; its workers run until `shutdown`.
    /// Must be called inside a tokio runtime (it spawns the workers).
    pub fn new(
        payments: Payments,
        metrics: Arc<Metrics>,
        shutdown: CancellationToken,
    ) -> WebhookState {
        WebhookState::start(payments, metrics, WebhookOptions::default(), shutdown)
    }

    /// The listener's state; spawns `options.workers` verification workers.
    pub fn start(
        payments: Payments,
        metrics: Arc<Metrics>,
        options: WebhookOptions,
        shutdown: CancellationToken,
    ) -> WebhookState {
        let (queue, rx) = Queue::new(options.queue_capacity);
        let queue = Arc::new(queue);
        let verifier = Arc::new(Verifier {
            payments: payments.clone(),
            metrics: metrics.clone(),
            fallback_limit: TokenBucket::new(options.fallback_per_second),
            fallback_accounts: options.fallback_accounts,
        });
        queue::spawn_workers(options.workers, queue.clone(), rx, verifier, shutdown);
        WebhookState {
            inner: Arc::new(Shared {
                payments,
                metrics,
                queue,
                return_checks: return_page::LiveChecks::new(options.return_page_checks_per_second),
                options,
            }),
        }
    }

    pub fn payments(&self) -> &Payments {
        &self.inner.payments
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    pub fn options(&self) -> &WebhookOptions {
        &self.inner.options
    }

    /// Confirmations queued or being verified right now (tests wait for 0).
    pub fn pending_confirmations(&self) -> usize {
        self.inner.queue.pending()
    }
}

pub fn router(state: WebhookState) -> Router {
    Router::new()
        .route("/webhook/flow", post(confirm))
        .route(
            "/payment/return",
            get(return_page::get).post(return_page::post),
        )
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Whether `token` looks like a token at all: 1..=128 ASCII letters and digits.
pub fn valid_token(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= MAX_TOKEN_LEN
        && token.bytes().all(|b| b.is_ascii_alphanumeric())
}

async fn confirm(State(state): State<WebhookState>, body: Bytes) -> (StatusCode, &'static str) {
    let token = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body)
        .ok()
        .and_then(|pairs| {
            pairs
                .into_iter()
                .find(|(k, _)| k == "token")
                .map(|(_, v)| v)
        });
    let Some(token) = token.filter(|t| valid_token(t)) else {
        state.metrics().confirmations_rejected.inc();
        return (
            StatusCode::BAD_REQUEST,
            "a form field token of 1 to 128 letters and digits is required",
        );
    };
    let m = state.metrics();
    m.confirmations_received.inc();
    match state.inner.queue.offer(&token) {
        Offer::Queued => {}
        Offer::Coalesced => {
            m.confirmations_coalesced.inc();
            log::record(state.payments().store(), &token, &Outcome::Duplicate, None);
        }
        Offer::Full => {
            m.confirmations_queue_full.inc();
            tracing::warn!("confirmation queue full; acknowledged, left to the reconciler");
            log::record(state.payments().store(), &token, &Outcome::QueueFull, None);
        }
    }
    (StatusCode::OK, "ok")
}

async fn healthz(State(state): State<WebhookState>) -> (StatusCode, &'static str) {
    if state.payments().store().writable() {
        (StatusCode::OK, "ok")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "unhealthy: the ledger cannot write to disk (full or failing); free disk space, \
             paylink resumes by itself",
        )
    }
}

async fn metrics(State(state): State<WebhookState>, headers: HeaderMap) -> Response {
    if let Some(refusal) = state.options().metrics_access.refusal(&headers) {
        return refusal;
    }
    let text = state.metrics().render(state.payments().store());
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::valid_token;

    #[test]
    fn tokens_are_letters_and_digits_of_bounded_length() {
        assert!(valid_token("0123456789ABCDEF0123456789ABCDEF0123456H"));
        assert!(!valid_token(""));
        assert!(!valid_token("a b"));
        assert!(!valid_token("a%00"));
        assert!(!valid_token("ñ"));
        assert!(!valid_token(&"A".repeat(129)));
        assert!(valid_token(&"A".repeat(128)));
    }
}
