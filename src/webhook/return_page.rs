//! The default return page at `/payment/return`, where Flow sends the payer's browser after
//! the pay page (reference §6.2): an auto-submitted POST carrying `token`, or a GET with
//! `?token=`.
//!
//! The page asks Flow live (bounded by a short timeout, falling back to the ledger) so the
//! payer sees the real outcome even when the confirmation has not arrived yet, and says it
//! plainly: received, pending, rejected, cancelled, expired or failed. The bare status word
//! is in `<p id="status">` for tests and scripts. Every value placed in the HTML is escaped.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Html;
use serde::Deserialize;

use super::{WebhookState, valid_token};
use crate::domain::{FailureReason, Payment, PaymentStatus, Source};
use crate::html::escape as esc;

#[derive(Deserialize)]
pub(crate) struct TokenQuery {
    #[serde(default)]
    token: String,
}

type Page = (StatusCode, Html<String>);

pub(crate) async fn get(State(state): State<WebhookState>, Query(q): Query<TokenQuery>) -> Page {
    render(&state, &q.token).await
}

/// The POST form's `token`, or the query's when the body has none.
pub(crate) async fn post(
    State(state): State<WebhookState>,
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
    render(&state, from_body.as_deref().unwrap_or(&q.token)).await
}

async fn render(state: &WebhookState, token: &str) -> Page {
    if !valid_token(token) {
        return page(
            StatusCode::BAD_REQUEST,
            "Payment not found",
            "<p id=\"status\">unknown</p>\n<p>This address carries no valid payment token.</p>",
        );
    }
    let stored = match state.payments().store().by_token(token) {
        Ok(Some(p)) => p,
        Ok(None) => {
            return page(
                StatusCode::NOT_FOUND,
                "Payment not found",
                "<p id=\"status\">unknown</p>\n<p>No payment here has this token.</p>",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "return page: the ledger failed");
            return page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Payment status unavailable",
                "<p id=\"status\">unknown</p>\n<p>Please check again in a moment.</p>",
            );
        }
    };
    let started = Instant::now();
    let live = tokio::time::timeout(
        state.options().return_page_timeout,
        state
            .payments()
            .status(&stored.organization, &stored.id, Source::Webhook),
    )
    .await;
    if stored.status == PaymentStatus::Pending {
        // Only a pending payment is checked live (timed with the recording of its verdict).
        state
            .metrics()
            .observe_gateway("status_by_token", "return_page", started);
    }
    let payment = match live {
        Ok(Ok(outcome)) => outcome.payment,
        Ok(Err(e)) => {
            tracing::warn!(payment = %stored.id, error = %e, "return page: status check failed; showing the ledger");
            stored
        }
        Err(_) => {
            tracing::warn!(payment = %stored.id, "return page: Flow did not answer in time; showing the ledger");
            stored
        }
    };
    let (title, explanation) = wording(&payment);
    let reason = payment
        .failure_reason
        .map(|r| format!("\n<p id=\"reason\">{}</p>", esc(r.as_str())))
        .unwrap_or_default();
    let body = format!(
        "<p id=\"status\">{}</p>{reason}\n<p>{}</p>\n<dl>\n\
         <dt>Amount</dt><dd id=\"amount\">{}</dd>\n\
         <dt>Description</dt><dd id=\"description\">{}</dd>\n\
         <dt>Payment</dt><dd id=\"payment-id\">{}</dd>\n</dl>",
        payment.status.as_str(),
        esc(explanation),
        esc(&payment.amount.to_string()),
        esc(&payment.description),
        esc(&payment.id),
    );
    page(StatusCode::OK, title, &body)
}

/// The headline and a sentence for the payer.
fn wording(p: &Payment) -> (&'static str, &'static str) {
    match p.status {
        PaymentStatus::Paid => ("Payment received", "Thank you: your payment was received."),
        PaymentStatus::Pending | PaymentStatus::Draft => (
            "Payment pending",
            "Your payment is not confirmed yet. If you paid with a cash coupon it is confirmed when paid; you may close this page.",
        ),
        PaymentStatus::Failed => match p.failure_reason {
            Some(FailureReason::Rejected) => (
                "Payment rejected",
                "The payment was rejected. No money was taken.",
            ),
            Some(FailureReason::Cancelled) => (
                "Payment cancelled",
                "The payment was cancelled. No money was taken.",
            ),
            Some(FailureReason::Expired) => (
                "Payment expired",
                "This payment link expired before it was paid.",
            ),
            Some(
                FailureReason::GatewayRefused | FailureReason::LinkLost | FailureReason::NotCreated,
            )
            | None => (
                "Payment failed",
                "The payment could not be completed. No money was taken.",
            ),
        },
    }
}

fn page(status: StatusCode, title: &str, body: &str) -> Page {
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{t}</title>\n</head>\n<body>\n<h1 id=\"title\">{t}</h1>\n{body}\n</body>\n</html>\n",
        t = esc(title)
    );
    (status, Html(html))
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn markup_in_a_description_is_escaped() {
        assert_eq!(
            esc("<b>\"x\" & 'y'</b>"),
            "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;"
        );
    }
}
