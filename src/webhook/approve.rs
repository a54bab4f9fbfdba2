//! The approval page: where a person approves or declines a request paylink was asked to
//! make (a payment above the policy's threshold, a refund) when the MCP client could not
//! ask them itself.
//!
//! - `GET /approve/<id>` shows what would happen — amount, payer, description, gateway,
//!   sandbox or live — with Approve and Decline buttons.
//! - `POST /approve/<id>` takes the decision, once: the ledger swaps pending for approved
//!   or declined, so a second click, a replayed form or another replica changes nothing.
//!   An approved request runs at once (idempotently: the agent's own retry returns it).
//!
//! The id (165 random bits) is the secret that opens the page. The form is protected
//! against cross-site requests by a token in both a `SameSite=Strict`, `HttpOnly` cookie
//! and a hidden field, which must match, and by the `Origin` check; the page cannot be
//! framed (clickjacking), is not cached and never sends its address (which holds the id)
//! to another site (`Referrer-Policy: same-origin`: with `no-referrer` browsers send
//! `Origin: null` on the form's own POST, which the Origin check must refuse). An approval
//! expires after
//! `PAYLINK_APPROVAL_TTL_SECS`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::WebhookState;
use crate::domain::{Approval, ApprovalAction, DecidedVia, Standing, Timestamp};
use crate::html::escape as esc;
use crate::payments::approvals::NotDecided;

const COOKIE: &str = "paylink_approval_csrf";

#[derive(Deserialize)]
struct Decision {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    decision: String,
}

pub async fn get(State(state): State<WebhookState>, Path(id): Path<String>) -> Response {
    let approval = match state.payments().approval_by_id(&id).await {
        Ok(Some(a)) => a,
        Ok(None) => return not_found(),
        Err(e) => return unavailable(&e),
    };
    match approval.standing(Timestamp::now()) {
        Standing::Waiting => {}
        other => return settled(&approval, other, StatusCode::OK),
    }
    let token = new_token();
    let secure = state
        .payments()
        .settings()
        .public_base_url
        .starts_with("https://");
    let cookie = cookie::Cookie::build((COOKIE, token.clone()))
        .path(page_path(&state.payments().settings().public_base_url, &id))
        .http_only(true)
        .secure(secure)
        .same_site(cookie::SameSite::Strict)
        .max_age(cookie::time::Duration::seconds(
            (approval.expires_at.0 - Timestamp::now().0).max(0) / 1000 + 1,
        ))
        .build();
    let body = format!(
        "<p id=\"question\">{q}</p>\n<dl>\n<dt>Amount</dt><dd id=\"amount\">{amount}</dd>\n\
         <dt>{who}</dt><dd id=\"payer\">{payer}</dd>\n<dt>Description</dt><dd id=\"description\">{desc}</dd>\n\
         <dt>Through</dt><dd id=\"gateway\">{gateway}</dd>\n<dt>Mode</dt><dd id=\"mode\">{mode}</dd>\n\
         <dt>Answer before</dt><dd>{expires}</dd>\n</dl>\n\
         <form method=\"post\">\n<input type=\"hidden\" name=\"csrf\" value=\"{token}\">\n\
         <button type=\"submit\" name=\"decision\" value=\"approve\" id=\"approve\" class=\"primary\">Approve</button>\n\
         <button type=\"submit\" name=\"decision\" value=\"decline\" id=\"decline\">Decline</button>\n</form>",
        q = esc(&approval.question()),
        amount = esc(&approval.amount.for_people()),
        who = match approval.action {
            ApprovalAction::CreatePayment => "Payer",
            ApprovalAction::Refund => "Refunded to",
        },
        payer = esc(&approval.payer),
        desc = esc(&approval.description),
        gateway = esc(&approval.gateway),
        mode = if approval.live {
            "LIVE: real money moves"
        } else {
            "sandbox: no real money moves"
        },
        expires = esc(&approval.expires_at.rfc3339()),
        token = esc(&token),
    );
    let mut r = page(StatusCode::OK, title(&approval), &body);
    if let Ok(v) = HeaderValue::from_str(&cookie.to_string()) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

pub async fn post(
    State(state): State<WebhookState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(form) = serde_urlencoded::from_bytes::<Decision>(&body) else {
        return refused("The form could not be read. Open the approval link again.");
    };
    let public_base = state.payments().settings().public_base_url.clone();
    if !same_origin(&headers, &public_base) || !csrf_matches(&headers, &form.csrf) {
        return refused(
            "This answer did not come from the approval page itself. Open the approval link again and answer there.",
        );
    }
    let approve = match form.decision.as_str() {
        "approve" => true,
        "decline" => false,
        _ => return refused("Choose Approve or Decline."),
    };
    let payments = state.payments();
    let decided = match payments
        .decide_approval(None, &id, approve, DecidedVia::Link)
        .await
    {
        Ok(d) => d,
        Err(e) => return unavailable(&e),
    };
    match decided {
        Ok(a) if approve => match payments.run_approved(&a).await {
            Ok(made) => {
                payments.note_approval_outcome(&a.id, &made).await;
                page(
                    StatusCode::OK,
                    "Approved",
                    &format!(
                        "<p id=\"result\">Approved. paylink went ahead: {what} {made} was made. The agent learns it on its next check; you can close this page.</p>",
                        what = match a.action {
                            ApprovalAction::CreatePayment => "payment",
                            ApprovalAction::Refund => "refund",
                        },
                        made = esc(&made)
                    ),
                )
            }
            Err(e) => {
                tracing::warn!(error = %e, "an approved request did not run yet");
                page(
                    StatusCode::OK,
                    "Approved",
                    &format!(
                        "<p id=\"result\">Approved. paylink could not finish it just now ({}); it is finished when the agent checks again. You can close this page.</p>",
                        esc(&crate::mcp::tool_error(&e).message)
                    ),
                )
            }
        },
        Ok(_) => page(
            StatusCode::OK,
            "Declined",
            "<p id=\"result\">Declined. Nothing was made, and the agent is told so.</p>",
        ),
        Err(NotDecided::NotFound) => not_found(),
        Err(NotDecided::Expired) => page(
            StatusCode::GONE,
            "Approval expired",
            "<p id=\"result\">This approval expired; nothing was made. The agent can ask again.</p>",
        ),
        Err(NotDecided::AlreadyDecided(state)) => page(
            StatusCode::CONFLICT,
            "Already answered",
            &format!(
                "<p id=\"result\">This approval was already answered ({}). An approval link works once.</p>",
                match state {
                    crate::domain::ApprovalState::Approved => "approved",
                    crate::domain::ApprovalState::Declined => "declined",
                    crate::domain::ApprovalState::Pending => "pending",
                }
            ),
        ),
    }
}

fn title(a: &Approval) -> &'static str {
    match a.action {
        ApprovalAction::CreatePayment => "Approve a payment",
        ApprovalAction::Refund => "Approve a refund",
    }
}

fn settled(a: &Approval, standing: Standing, status: StatusCode) -> Response {
    let text = match standing {
        Standing::Approved => "This request was approved; nothing more to do here.",
        Standing::Declined => "This request was declined; nothing was made.",
        Standing::Expired => "This approval expired; nothing was made. The agent can ask again.",
        Standing::Waiting => "This request is waiting for an answer.",
    };
    page(
        status,
        title(a),
        &format!("<p id=\"result\">{}</p>", esc(text)),
    )
}

fn not_found() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "No such approval",
        "<p id=\"result\">There is no approval at this address. Check the link you were given.</p>",
    )
}

fn refused(why: &str) -> Response {
    page(
        StatusCode::FORBIDDEN,
        "Not accepted",
        &format!("<p id=\"result\">{}</p>", esc(why)),
    )
}

fn unavailable(e: &crate::payments::PaymentError) -> Response {
    tracing::warn!(error = %e, "the approval page cannot read the ledger");
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Try again",
        "<p id=\"result\">paylink cannot reach its ledger just now. Reload this page in a minute.</p>",
    )
}

/// A browser sends `Origin` on a form POST; when it names neither the host the request
/// was sent to nor paylink's public URL (behind a proxy), it is a cross-site request.
fn same_origin(headers: &HeaderMap, public_base: &str) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true; // not a browser, or a same-origin request of an older one
    };
    let host_of = |url: &str| -> String {
        let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
        rest.split('/').next().unwrap_or("").to_ascii_lowercase()
    };
    let origin_host = host_of(origin);
    let sent_to = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase);
    sent_to.as_deref() == Some(origin_host.as_str()) || host_of(public_base) == origin_host
}

/// The path under which the browser sees the page: the public URL's own path (a proxy
/// may serve paylink under a prefix) and `/approve/<id>`.
fn page_path(public_base: &str, id: &str) -> String {
    let rest = public_base
        .split_once("://")
        .map(|(_, r)| r)
        .unwrap_or(public_base);
    let prefix = rest.find('/').map(|i| &rest[i..]).unwrap_or("");
    format!("{}/approve/{id}", prefix.trim_end_matches('/'))
}

fn csrf_matches(headers: &HeaderMap, field: &str) -> bool {
    if field.is_empty() {
        return false;
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .filter(|c| c.name() == COOKIE)
        .any(|c| bool::from(c.value().as_bytes().ct_eq(field.as_bytes())))
}

fn new_token() -> String {
    use rand::Rng;
    let bytes: [u8; 24] = rand::rng().random();
    hex::encode(bytes)
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    // The payer pages' look (one card, system fonts, fits a phone).
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{t}</title>\n<style>{css}</style>\n</head>\n<body>\n<main>\n\
         <h1 id=\"title\">{t}</h1>\n{body}\n</main>\n</body>\n</html>\n",
        t = esc(title),
        css = crate::html::PAGE_CSS,
    );
    let mut r = (status, Html(html)).into_response();
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_path_follows_the_public_urls_prefix() {
        assert_eq!(
            page_path("http://127.0.0.1:8787", "apv_x"),
            "/approve/apv_x"
        );
        assert_eq!(
            page_path("https://pay.example.com/paylink/", "apv_x"),
            "/paylink/approve/apv_x"
        );
    }

    #[test]
    fn only_the_hosts_own_or_public_origin_may_post() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8787"));
        assert!(
            same_origin(&h, "https://pay.example.com"),
            "no Origin: not a browser"
        );
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8787"),
        );
        assert!(same_origin(&h, "https://pay.example.com"));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://pay.example.com"),
        );
        assert!(same_origin(&h, "https://pay.example.com/paylink"));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(!same_origin(&h, "https://pay.example.com"));
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(!same_origin(&h, "https://pay.example.com"));
    }
}
