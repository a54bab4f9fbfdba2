//! The side listener: gateways' confirmations, the payer's return page, health and metrics.
//!
//! # Routes
//!
//! - `POST /webhook/<gateway>` — a gateway's server-to-server confirmation, one route per
//!   [`GatewayKind`]. The gateway reads the body ([`GatewayKind::read_notification`]; for
//!   Flow, a form field `token` of 1 to 128 letters and digits); a body it cannot read gets
//!   400 and is not recorded. Any other gets 200 at once, whatever happens next: its token
//!   is handed to a bounded queue and verified by background workers ([`verify`] says how),
//!   so the gateway's own time limit (15 s at Flow) holds even when its API is slow or down.
//!   A full queue still answers 200 (counted; the reconciler is the safety net).
//! - `POST /webhook/<gateway>/refund` — a refund's callback (Flow's `urlCallBack`): the token
//!   only says "look at this refund"; it is followed by a signed read in the background.
//! - `GET|POST /payment/return` — the default return page ([`return_page`]).
//! - `GET|POST /approve/<id>` — the approval page a person opens to approve or decline a
//!   request the policy holds for them ([`approve`]).
//! - `GET /healthz` — `ok`, touching nothing. Served by [`serve`] on a lane of its own,
//!   so it answers promptly even while a storm keeps the main runtime busy ([`lane`]).
//!   `503` with the reason while the ledger cannot write (an atomic flag the store keeps;
//!   no ledger I/O per check), so a load balancer stops sending payments to a full disk.
//! - `GET /metrics` — Prometheus text ([`crate::telemetry`]); never scans the ledger. Open on a
//!   loopback listener, else only with `PAYLINK_METRICS_TOKEN` ([`metrics_access`]).
//!
//! # Invariants
//!
//! The handler never calls a gateway and never waits for a ledger flush. A confirmation changes
//! at most the one payment the token belongs to, and only by the gateway's signed answer.
//! Workers stop when the shutdown token is cancelled.

mod approve;
mod lane;
pub mod log;
pub mod metrics_access;
mod queue;
mod return_page;
mod return_view;
mod verify;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio_util::sync::CancellationToken;

pub use crate::telemetry::Metrics;
pub use lane::serve;
pub use log::{ConfirmationEntry, list_confirmations};
pub use metrics_access::MetricsAccess;

use crate::domain::Environment;
use crate::gateway::{GatewayKind, NotificationError};
use crate::payments::Payments;
use log::Outcome;
use queue::{Confirmation, Offer, Queue, TokenBucket};
use verify::Verifier;

/// The largest request body the side listener reads (a confirmation is one short field).
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Tunables of the listener.
#[derive(Debug, Clone)]
pub struct WebhookOptions {
    /// Verification workers (each verifies one token at a time).
    pub workers: usize,
    /// Tokens waiting for a worker before new ones are acknowledged but dropped.
    pub queue_capacity: usize,
    /// At most this many gateway accounts are asked about a token the ledger does not know.
    pub fallback_accounts: usize,
    /// Fallback lookups per second, for the whole process (a burst of as many is allowed).
    pub fallback_per_second: u32,
    /// How long the return page waits for the gateway before showing the ledger's status.
    pub return_page_timeout: Duration,
    /// Live checks the (unauthenticated) return page may start per second, for the whole
    /// process; over it, the page shows the ledger's status.
    pub return_page_checks_per_second: u32,
    /// Who may read `/metrics` (open by default, as on a loopback listener).
    pub metrics_access: MetricsAccess,
    /// The organization whose merchant the return page names (the default organization);
    /// payments of any other organization get the neutral page.
    pub merchant_organization: String,
    /// Its merchant name and site (`PAYLINK_MERCHANT_NAME`, `PAYLINK_MERCHANT_URL`).
    pub merchant: crate::payer::Merchant,
}

/// The merchant of an organization that configured none.
static NO_MERCHANT: crate::payer::Merchant = crate::payer::Merchant {
    name: None,
    url: None,
};

impl WebhookOptions {
    /// The merchant the return page names for a payment of `organization`.
    pub fn merchant_of(&self, organization: &str) -> &crate::payer::Merchant {
        if organization == self.merchant_organization {
            &self.merchant
        } else {
            &NO_MERCHANT
        }
    }
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
            merchant_organization: String::new(),
            merchant: crate::payer::Merchant::default(),
        }
    }
}

struct Shared {
    payments: Payments,
    /// Refund callbacks being followed right now; over the cap, a callback is acknowledged
    /// and left to the reconciler (refunds are due for a check anyway).
    refund_checks: Arc<tokio::sync::Semaphore>,
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
    pub fn new(payments: Payments, shutdown: CancellationToken) -> WebhookState {
        WebhookState::start(payments, WebhookOptions::default(), shutdown)
    }

    /// The listener's state; spawns `options.workers` verification workers.
    pub fn start(
        payments: Payments,
        options: WebhookOptions,
        shutdown: CancellationToken,
    ) -> WebhookState {
        let (queue, rx) = Queue::new(options.queue_capacity);
        let queue = Arc::new(queue);
        let verifier = Arc::new(Verifier {
            payments: payments.clone(),
            fallback_limit: TokenBucket::new(options.fallback_per_second),
            fallback_accounts: options.fallback_accounts,
        });
        queue::spawn_workers(options.workers, queue.clone(), rx, verifier, shutdown);
        WebhookState {
            inner: Arc::new(Shared {
                payments,
                refund_checks: Arc::new(tokio::sync::Semaphore::new(8)),
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
        self.inner.payments.metrics()
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
    let mut router = Router::new();
    for kind in GatewayKind::ALL {
        if let Some(path) = kind.shared_webhook_path() {
            router = router.route(
                path,
                post(move |state: State<WebhookState>, body: Bytes| confirm(state, kind, body)),
            );
        }
    }
    for kind in GatewayKind::ALL {
        if let Some(path) = kind.shared_webhook_path() {
            router = router.route(
                &format!("{path}/refund"),
                post(move |state: State<WebhookState>, body: Bytes| {
                    refund_callback(state, kind, body)
                }),
            );
        }
    }
    router
        .route(
            "/webhook/{gateway}/{organization}/{environment}",
            post(confirm_signed),
        )
        .route(
            "/payment/return",
            get(return_page::get).post(return_page::post),
        )
        .route("/approve/{id}", get(approve::get).post(approve::post))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn confirm(
    State(state): State<WebhookState>,
    kind: GatewayKind,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let token = match kind.read_notification(&body) {
        Ok(hint) => hint.token,
        Err(why) => {
            state.metrics().confirmations_rejected.inc();
            return (StatusCode::BAD_REQUEST, why);
        }
    };
    enqueue(&state, Confirmation::Token(token));
    (StatusCode::OK, "ok")
}

/// `POST /webhook/<gateway>/refund`: a refund changed (Flow's `urlCallBack`, an unsigned
/// `token=…`). Answered at once; the refund is followed by a signed read in the
/// background, at most a few at a time (over that, the reconciler's next pass does it).
async fn refund_callback(
    State(state): State<WebhookState>,
    kind: GatewayKind,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let token = match kind.read_notification(&body) {
        Ok(hint) => hint.token,
        Err(why) => return (StatusCode::BAD_REQUEST, why),
    };
    follow_refund(&state, RefundHint::Token(token));
    (StatusCode::OK, "ok")
}

enum RefundHint {
    Token(String),
    /// paylink's refund id from a signed event of `organization`'s account.
    Id {
        organization: String,
        id: String,
    },
}

fn follow_refund(state: &WebhookState, hint: RefundHint) {
    let Ok(permit) = state.inner.refund_checks.clone().try_acquire_owned() else {
        tracing::info!("refund callback left to the reconciler: too many being followed");
        return;
    };
    let payments = state.payments().clone();
    tokio::spawn(async move {
        let _permit = permit;
        let r = match &hint {
            RefundHint::Token(t) => payments.refund_callback(t).await,
            RefundHint::Id { organization, id } => payments.refund_event(organization, id).await,
        };
        match r {
            Ok(Some(refund)) => {
                tracing::info!(refund = %refund.id, status = refund.status.as_str(), "refund callback verified")
            }
            Ok(None) => tracing::info!("refund callback names no refund of ours; ignored"),
            Err(e) => {
                tracing::warn!(error = %e, "refund callback not verified; the reconciler will retry")
            }
        }
    });
}

/// Hands a confirmation to the workers; duplicates and a full queue are counted and logged.
fn enqueue(state: &WebhookState, item: Confirmation) {
    let m = state.metrics();
    m.confirmations_received.inc();
    let label = item.label().to_string();
    match state.inner.queue.offer(item) {
        Offer::Queued => {}
        Offer::Coalesced => {
            m.confirmations_coalesced.inc();
            record_later(state, label, Outcome::Duplicate);
        }
        Offer::Full => {
            m.confirmations_queue_full.inc();
            tracing::warn!("confirmation queue full; acknowledged, left to the reconciler");
            record_later(state, label, Outcome::QueueFull);
        }
    }
}

/// Logs a confirmation that will not be verified, without holding up the answer.
fn record_later(state: &WebhookState, label: String, outcome: Outcome) {
    let payments = state.payments().clone();
    tokio::spawn(async move { log::record(&payments, &label, &outcome, None).await });
}

/// `POST /webhook/<gateway>/<organization>/<environment>`: a signed event of one account
/// (Stripe's). The account's gateway checks the signature over the raw body; a bad,
/// stale or missing one gets 400 and changes nothing. A genuine event paylink does not act
/// on gets 200 (so the gateway stops retrying it); any other is queued like a token.
async fn confirm_signed(
    State(state): State<WebhookState>,
    Path((gateway, organization, environment)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let (Some(kind), Some(environment)) = (
        GatewayKind::parse(&gateway),
        Environment::parse(&environment),
    ) else {
        return (StatusCode::NOT_FOUND, "no such webhook endpoint");
    };
    let now_unix = time::OffsetDateTime::now_utc().unix_timestamp();
    let verified = state.payments().verify_notification(
        kind,
        &organization,
        environment,
        &headers,
        &body,
        now_unix,
    );
    match verified {
        None => (StatusCode::NOT_FOUND, "no such webhook endpoint"),
        Some(Err(e)) => {
            state.metrics().confirmations_rejected.inc();
            tracing::warn!(gateway = %kind, organization = %organization, error = %e, "signed notification refused");
            (
                StatusCode::BAD_REQUEST,
                match e {
                    NotificationError::BadSignature => "the signature is missing, stale or wrong",
                    NotificationError::Malformed(_) => "the body cannot be read",
                    NotificationError::NotConfigured => {
                        "this endpoint has no webhook secret configured"
                    }
                },
            )
        }
        Some(Ok(None)) => {
            // Genuine (the signature held) but not about a payment's outcome: acknowledged,
            // so the gateway stops retrying it.
            tracing::info!(gateway = %kind, organization = %organization, "signed event acknowledged; paylink does not act on its type");
            (StatusCode::OK, "ignored")
        }
        Some(Ok(Some(notification))) if notification.is_refund() => {
            match notification.refund_id.clone() {
                Some(id) => follow_refund(
                    &state,
                    RefundHint::Id {
                        organization: organization.clone(),
                        id,
                    },
                ),
                None => tracing::info!("a refund event without paylink's refund id; ignored"),
            }
            (StatusCode::OK, "ok")
        }
        Some(Ok(Some(notification))) => {
            enqueue(
                &state,
                Confirmation::Event {
                    organization,
                    environment,
                    kind,
                    notification,
                },
            );
            (StatusCode::OK, "ok")
        }
    }
}

async fn healthz(State(state): State<WebhookState>) -> (StatusCode, &'static str) {
    if state.payments().ledger_writable() {
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
    let text = state.payments().render_metrics().await;
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
