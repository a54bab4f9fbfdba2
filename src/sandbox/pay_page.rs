//! The pay page at `/app/web/pay.php`, where Flow's `url + "?token=" + token` leads.
//!
//! GET shows the order (merchant order, subject, amount, payer) with four buttons in one
//! POST form: pay, reject, cancel, and leave pending with a cash coupon. POST settles the
//! order through [`Sandbox::settle`] (so the confirmation goes out first, as Flow does for
//! cards) and answers with a form that the browser auto-submits to `urlReturn` carrying
//! `token`. Every value put in the HTML is escaped.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Html;
use axum::routing::get;
use serde::Deserialize;

use super::Sandbox;
use super::model::{Outcome, SandboxError};
use crate::html::{PAGE_CSS, escape as esc};

pub fn routes() -> Router<Sandbox> {
    Router::new().route("/app/web/pay.php", get(show).post(act))
}

#[derive(Deserialize)]
struct TokenQuery {
    #[serde(default)]
    token: String,
}

#[derive(Deserialize)]
struct PayForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    action: String,
}

type Page = (StatusCode, Html<String>);

/// A page with the payer pages' viewport and stylesheet ([`PAGE_CSS`]), so the sandbox
/// looks and fits like the return page it leads to.
fn page(status: StatusCode, body: &str) -> Page {
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Flow sandbox — pay</title>\n<style>{PAGE_CSS}</style>\n</head>\n\
         <body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    );
    (status, Html(html))
}

fn status_name(code: u64, expired: bool) -> &'static str {
    match (code, expired) {
        (4, true) => "expired",
        (1, _) => "pending",
        (2, _) => "paid",
        (3, _) => "rejected",
        _ => "cancelled",
    }
}

async fn show(State(sb): State<Sandbox>, Query(q): Query<TokenQuery>) -> Page {
    let now = sb.now();
    let state = sb.lock();
    let Some(order) = state.by_token(&q.token) else {
        return page(
            StatusCode::NOT_FOUND,
            "<h1>Order not found</h1>\n<p>No payment order has this token.</p>",
        );
    };
    let code = u64::from(order.status_code(now));
    let details = format!(
        "<h1>Flow sandbox</h1>\n<dl>\n\
         <dt>Merchant order</dt><dd id=\"commerce-order\">{}</dd>\n\
         <dt>Subject</dt><dd id=\"subject\">{}</dd>\n\
         <dt>Amount</dt><dd id=\"amount\">{} {}</dd>\n\
         <dt>Payer</dt><dd id=\"payer\">{}</dd>\n\
         <dt>Flow order</dt><dd id=\"flow-order\">{}</dd>\n</dl>",
        esc(&order.req.commerce_order),
        esc(&order.req.subject),
        esc(&order.req.amount.text),
        esc(&order.req.currency),
        esc(&order.req.email),
        order.flow_order,
    );
    if code != 1 {
        let name = status_name(code, order.is_expired(now));
        let body = format!(
            "{details}\n<p id=\"final\">This order is {name} (status {code}); it can no longer be paid.</p>"
        );
        return page(StatusCode::OK, &body);
    }
    let coupon = match order.coupon_at {
        Some(_) => "\n<p id=\"coupon\">A cash coupon was issued; the payment is still pending.</p>",
        None => "",
    };
    let body = format!(
        "{details}{coupon}\n<form method=\"post\" action=\"/app/web/pay.php\">\n\
         <input type=\"hidden\" name=\"token\" value=\"{}\">\n\
         <button type=\"submit\" name=\"action\" class=\"primary\" id=\"pay\" value=\"pay\">Pay</button>\n\
         <button type=\"submit\" name=\"action\" id=\"reject\" value=\"reject\">Reject</button>\n\
         <button type=\"submit\" name=\"action\" id=\"cancel\" value=\"cancel\">Cancel</button>\n\
         <button type=\"submit\" name=\"action\" id=\"pending\" value=\"pending\">Leave pending (cash coupon)</button>\n\
         </form>",
        esc(&order.token),
    );
    page(StatusCode::OK, &body)
}

async fn act(State(sb): State<Sandbox>, axum::Form(form): axum::Form<PayForm>) -> Page {
    let outcome = match form.action.as_str() {
        "pay" => Outcome::Paid,
        "reject" => Outcome::Rejected,
        "cancel" => Outcome::Cancelled,
        "pending" => Outcome::Pending,
        _ => {
            return page(
                StatusCode::BAD_REQUEST,
                "<h1>Unknown action</h1>\n<p>Choose pay, reject, cancel or pending.</p>",
            );
        }
    };
    match sb.settle(&form.token, outcome).await {
        Ok(_) => {
            let url_return = sb
                .lock()
                .by_token(&form.token)
                .map(|o| o.req.url_return.clone())
                .unwrap_or_default();
            page(StatusCode::OK, &return_form(&url_return, &form.token))
        }
        Err(SandboxError::UnknownToken(_)) => page(
            StatusCode::NOT_FOUND,
            "<h1>Order not found</h1>\n<p>No payment order has this token.</p>",
        ),
        Err(e) => page(
            StatusCode::CONFLICT,
            &format!(
                "<h1>Order not payable</h1>\n<p id=\"final\">{}</p>",
                esc(&e.to_string())
            ),
        ),
    }
}

/// The auto-submitted POST of `token` to the merchant's `urlReturn`.
fn return_form(url_return: &str, token: &str) -> String {
    format!(
        "<p>Returning to the merchant…</p>\n<form method=\"post\" action=\"{}\">\n\
         <input type=\"hidden\" name=\"token\" value=\"{}\">\n\
         <button type=\"submit\" id=\"continue\">Continue</button>\n</form>\n\
         <script>document.forms[0].submit()</script>",
        esc(url_return),
        esc(token),
    )
}
