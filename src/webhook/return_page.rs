//! The default return page at `/payment/return`, where the gateway sends the payer's
//! browser after its pay page with the payment's token: Flow sends an auto-submitted POST
//! carrying `token`, and a GET with `?token=` works too.
//!
//! The page asks the gateway live (bounded by a short timeout, falling back to the ledger) so the
//! payer sees the real outcome even when the confirmation has not arrived yet, and says it
//! plainly in the payer's language, naming the payment's organization's merchant
//! ([`super::return_view`] writes it; `<body data-state>` carries the state for scripts).
//!
//! # Bounded work per unauthenticated request
//!
//! Anyone can request this page, so a request must not turn into a signed gateway call by
//! itself ([`LiveChecks`]): a token the ledger does not know is answered 404 from the
//! ledger; a payment already paid or failed is shown from the ledger; requests for the same
//! token share one live check, whose answer is reused for [`REUSE_FOR`]; and new checks are
//! rate-limited for the whole process (the confirmation path's [`TokenBucket`]). Over the
//! limit the page shows the ledger's status.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Html;
use serde::Deserialize;

use super::WebhookState;
use super::queue::TokenBucket;
use super::return_view::{self as view, State as Shown};
use crate::domain::{Payment, PaymentStatus, Source};
use crate::payer::{Lang, Merchant};

/// Which payment the payer returns from: Flow's `token`, or Stripe's `session_id` (the
/// `{CHECKOUT_SESSION_ID}` placeholder of the success URL); both are a payment's gateway
/// token.
#[derive(Deserialize)]
pub(crate) struct TokenQuery {
    #[serde(default)]
    token: String,
    #[serde(default)]
    session_id: String,
}

impl TokenQuery {
    fn token(&self) -> &str {
        if self.token.is_empty() {
            &self.session_id
        } else {
            &self.token
        }
    }
}

/// Whether `token` can be a gateway token at all: 1 to 255 ASCII letters, digits and `_`
/// (Flow's tokens are letters and digits; Stripe's session ids have underscores).
fn plausible_token(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= 255
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

type Page = (StatusCode, Html<String>);

/// How long a live check's answer (or the check in flight) serves later requests for the
/// same token.
pub(crate) const REUSE_FOR: Duration = Duration::from_secs(5);

/// Remembered checks beyond which expired ones are swept (the rate limit bounds the rest).
const SWEEP_ABOVE: usize = 1024;

/// One live check: its answer once it has one (None: it failed; show the ledger).
type Check = Arc<tokio::sync::OnceCell<Option<Payment>>>;

/// The return page's live checks: coalesced and reused per token, rate-limited overall.
pub(crate) struct LiveChecks {
    limit: TokenBucket,
    recent: Mutex<HashMap<String, (Instant, Check)>>,
}

impl LiveChecks {
    pub fn new(per_second: u32) -> LiveChecks {
        LiveChecks {
            limit: TokenBucket::new(per_second),
            recent: Mutex::new(HashMap::new()),
        }
    }

    /// The check to join for `token`: a recent one, a new one if the rate allows, or None
    /// (show the ledger).
    fn join(&self, token: &str) -> Option<Check> {
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = recent
            .get(token)
            .filter(|(started, _)| started.elapsed() < REUSE_FOR);
        if let Some((_, check)) = fresh {
            return Some(check.clone());
        }
        if !self.limit.try_take() {
            return None;
        }
        if recent.len() >= SWEEP_ABOVE {
            recent.retain(|_, (started, _)| started.elapsed() < REUSE_FOR);
        }
        let check = Check::default();
        recent.insert(token.to_owned(), (Instant::now(), check.clone()));
        Some(check)
    }
}

pub(crate) async fn get(
    State(state): State<WebhookState>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Page {
    render(&state, &headers, q.token()).await
}

/// The POST form's `token`, or the query's when the body has none.
pub(crate) async fn post(
    State(state): State<WebhookState>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
    body: Bytes,
) -> Page {
    let from_body = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body)
        .ok()
        .and_then(|pairs| {
            pairs
                .into_iter()
                .find(|(k, _)| k == "token")
                .map(|(_, v)| v)
        });
    render(&state, &headers, from_body.as_deref().unwrap_or(q.token())).await
}

async fn render(state: &WebhookState, headers: &HeaderMap, token: &str) -> Page {
    let lang = Lang::from_accept_language(
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    );
    let neutral = Merchant::default();
    if !plausible_token(token) {
        let html = view::render(lang, &neutral, Shown::NotFound, None, None);
        return (StatusCode::BAD_REQUEST, Html(html));
    }
    let stored = match state.payments().by_token(token).await {
        Ok(Some(p)) => p,
        Ok(None) => {
            let html = view::render(lang, &neutral, Shown::NotFound, None, None);
            return (StatusCode::NOT_FOUND, Html(html));
        }
        Err(e) => {
            tracing::error!(error = %e, "return page: the ledger failed");
            let html = view::render(lang, &neutral, Shown::Unavailable, None, None);
            return (StatusCode::INTERNAL_SERVER_ERROR, Html(html));
        }
    };
    let payment = live_or_stored(state, token, stored).await;
    let merchant = merchant_of(state, &payment.organization).await;
    let html = view::render(
        lang,
        &merchant,
        Shown::of(&payment),
        Some(&payment),
        Some(token),
    );
    (StatusCode::OK, Html(html))
}

/// The merchant the page names for `organization`: the one stored for it, else the
/// settings' for the default organization; the settings' (or none) if the ledger fails.
async fn merchant_of(state: &WebhookState, organization: &str) -> Merchant {
    let options = state.options();
    crate::payments::merchant::effective(
        state.payments().store(),
        organization,
        &options.merchant_organization,
        &options.merchant,
    )
    .await
    .unwrap_or_else(|e| {
        tracing::warn!(error = %e, "return page: the stored merchant could not be read");
        options.merchant_of(organization).clone()
    })
}

/// The payment as the gateway reports it now, when a live check is allowed and answers; else as
/// the ledger has it. Paid and failed payments are shown from the ledger.
async fn live_or_stored(state: &WebhookState, token: &str, stored: Payment) -> Payment {
    if matches!(stored.status, PaymentStatus::Paid | PaymentStatus::Failed) {
        return stored;
    }
    let Some(check) = state.inner.return_checks.join(token) else {
        return stored;
    };
    let answer = check
        .get_or_init(|| async {
            let live = tokio::time::timeout(
                state.options().return_page_timeout,
                state
                    .payments()
                    .status(&stored.organization, &stored.id, Source::Webhook),
            )
            .await;
            match live {
                Ok(Ok(outcome)) => Some(outcome.payment),
                Ok(Err(e)) => {
                    tracing::warn!(payment = %stored.id, error = %e, "return page: status check failed; showing the ledger");
                    None
                }
                Err(_) => {
                    tracing::warn!(payment = %stored.id, "return page: the gateway did not answer in time; showing the ledger");
                    None
                }
            }
        })
        .await;
    answer.clone().unwrap_or(stored)
}
