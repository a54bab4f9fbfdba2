//! The hosted checkout page at `/c/pay/{id}`, where a session's `url` leads.
//!
//! GET shows the amount, the line items, the payer's e-mail, a card-number field and a
//! "delayed method" choice; it works at 390 px (viewport meta, one fluid column). POST
//! takes `card=<number>` or `method=<…>` and settles through the sandbox's one settle path:
//!
//! | form field | effect |
//! | --- | --- |
//! | `card=4242424242424242` | paid |
//! | `card=4000000000000002` | declined (`generic_decline`); the page says "declined" |
//! | `card=4000000000009995` | declined (`insufficient_funds`) |
//! | `method=async_pending` | completes unpaid; the control API settles it later |
//! | `method=async_success` / `method=async_fail` | completes, then clears or fails at once |
//!
//! Spaces and dashes in card numbers are ignored; other numbers are refused and change
//! nothing. A completed payment answers 303 to `success_url` with `{CHECKOUT_SESSION_ID}`
//! replaced; "cancel" links to `cancel_url`. Every value put in the HTML is escaped.

use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::StripeSandbox;
use super::currency::format_amount;
use super::model::{Outcome, StripeSandboxError};
use super::rules::NewSession;
use super::settle::{Step, steps};
use super::state::SessionStatus;
use crate::html::escape as esc;

pub fn routes() -> Router<StripeSandbox> {
    Router::new().route("/c/pay/{id}", get(show).post(pay))
}

#[derive(Deserialize)]
struct PayForm {
    #[serde(default)]
    card: Option<String>,
    #[serde(default)]
    method: Option<String>,
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,sans-serif;margin:0;padding:16px;\
background:#f6f9fc;color:#1a1f36}main{max-width:420px;margin:0 auto;background:#fff;\
border-radius:8px;padding:20px;box-shadow:0 1px 3px rgba(0,0,0,.12)}h1{font-size:1.1rem;\
margin:0}.amount{font-size:2rem;font-weight:600;margin:8px 0 16px}label{display:block;\
margin:12px 0 4px}input,button{box-sizing:border-box;width:100%;font-size:1rem;padding:12px;\
border-radius:6px}input{border:1px solid #c4cdd5}button{margin-top:12px;border:0;\
background:#635bff;color:#fff}button.alt{background:#e3e8ee;color:#1a1f36}.note{font-size:.85rem;\
color:#697386}.error{color:#c0123c;font-weight:600}a{color:#635bff}";

fn page(status: StatusCode, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Stripe sandbox — checkout</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <main>\n<p class=\"note\">Test mode · offline Stripe sandbox</p>\n{body}\n</main>\n\
         </body>\n</html>\n"
    );
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn not_found() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "<h1>Checkout session not found</h1>\n<p>No checkout session has this id.</p>",
    )
}

/// What the page shows of a session, copied out under the lock.
struct View {
    id: String,
    req: NewSession,
    status: SessionStatus,
    paid: bool,
}

fn view(sb: &StripeSandbox, id: &str) -> Option<View> {
    sb.expire_due();
    let state = sb.lock();
    let s = state.session(id)?;
    Some(View {
        id: s.id.clone(),
        req: s.req.clone(),
        status: s.status,
        paid: s.paid,
    })
}

fn amount(req: &NewSession) -> String {
    format!(
        "{} {}",
        format_amount(req.amount_total, req.currency),
        req.currency.code.to_ascii_uppercase()
    )
}

/// The order summary at the top of every page of a session.
fn summary(v: &View) -> String {
    let names: Vec<String> = v.req.line_items.iter().map(|i| esc(&i.name)).collect();
    let mut html = format!(
        "<h1 id=\"description\">{}</h1>\n<p class=\"amount\" id=\"amount\">{}</p>",
        names.join(", "),
        esc(&amount(&v.req))
    );
    if v.req.line_items.len() > 1 || v.req.line_items.iter().any(|i| i.quantity > 1) {
        html.push_str("\n<ul id=\"items\">");
        for item in &v.req.line_items {
            html.push_str(&format!(
                "<li>{} × {} — {}</li>",
                item.quantity,
                esc(&item.name),
                esc(&format_amount(item.unit_amount, v.req.currency))
            ));
        }
        html.push_str("</ul>");
    }
    if let Some(email) = &v.req.customer_email {
        html.push_str(&format!("\n<p id=\"email\">{}</p>", esc(email)));
    }
    html
}

/// The payment forms of an open session, with `message` (an error) above them.
fn payment_forms(v: &View, message: Option<(&str, &str)>) -> String {
    let action = format!("/c/pay/{}", esc(&v.id));
    let alert = match message {
        Some((id, text)) => format!("\n<p class=\"error\" id=\"{id}\" role=\"alert\">{text}</p>"),
        None => String::new(),
    };
    let cancel = match &v.req.cancel_url {
        Some(url) => format!(
            "\n<p><a id=\"cancel\" href=\"{}\">Cancel and go back</a></p>",
            esc(url)
        ),
        None => String::new(),
    };
    format!(
        "{summary}{alert}\n<form method=\"post\" action=\"{action}\">\n\
         <label for=\"card\">Card number</label>\n\
         <input id=\"card\" name=\"card\" inputmode=\"numeric\" autocomplete=\"cc-number\" \
         placeholder=\"4242 4242 4242 4242\" required>\n\
         <button type=\"submit\" id=\"pay\">Pay {amount}</button>\n</form>\n\
         <p class=\"note\">Test cards: 4242 4242 4242 4242 pays; 4000 0000 0000 0002 is \
         declined; 4000 0000 0000 9995 is declined for insufficient funds.</p>\n\
         <form method=\"post\" action=\"{action}\">\n<p>Or pay by bank debit (a delayed method):</p>\n\
         <button class=\"alt\" type=\"submit\" name=\"method\" value=\"async_pending\" id=\"async-pending\">\
         Bank debit — clears later</button>\n\
         <button class=\"alt\" type=\"submit\" name=\"method\" value=\"async_success\" id=\"async-success\">\
         Bank debit — clears now</button>\n\
         <button class=\"alt\" type=\"submit\" name=\"method\" value=\"async_fail\" id=\"async-fail\">\
         Bank debit — fails</button>\n</form>{cancel}",
        summary = summary(v),
        amount = esc(&amount(&v.req)),
    )
}

/// The page of a session that can no longer be paid.
fn final_page(v: &View) -> Response {
    let text = match (v.status, v.paid) {
        (SessionStatus::Expired, _) => "This checkout session has expired.",
        (SessionStatus::Complete, true) => "This checkout session is paid.",
        (SessionStatus::Complete, false) => "The payment is processing.",
        (SessionStatus::Open, _) => "This checkout session is open.",
    };
    page(
        StatusCode::OK,
        &format!("{}\n<p id=\"final\">{text}</p>", summary(v)),
    )
}

async fn show(State(sb): State<StripeSandbox>, Path(id): Path<String>) -> Response {
    match view(&sb, &id) {
        None => not_found(),
        Some(v) if v.status == SessionStatus::Open => {
            page(StatusCode::OK, &payment_forms(&v, None))
        }
        Some(v) => final_page(&v),
    }
}

/// What the form asks for.
enum Choice {
    Outcome(Outcome),
    /// A declined card, with its `decline_code`.
    Decline(&'static str),
}

impl Choice {
    fn steps(self, open: bool) -> Vec<Step> {
        match self {
            Choice::Outcome(outcome) => steps(outcome, open),
            Choice::Decline(code) => vec![Step::Decline(code)],
        }
    }
}

/// Reads the form: a delayed method, or a test card number.
fn choice(form: Result<Form<PayForm>, FormRejection>) -> Result<Choice, &'static str> {
    let Ok(Form(form)) = form else {
        return Err("The form could not be read.");
    };
    match (
        form.method.as_deref(),
        form.card.as_deref().map(card_digits),
    ) {
        (Some("async_pending"), _) => Ok(Choice::Outcome(Outcome::AsyncPending)),
        (Some("async_success"), _) => Ok(Choice::Outcome(Outcome::AsyncSucceeded)),
        (Some("async_fail"), _) => Ok(Choice::Outcome(Outcome::AsyncFailed)),
        (Some(_), _) => Err("Unknown payment method."),
        (None, Some(card)) => match card.as_str() {
            "4242424242424242" => Ok(Choice::Outcome(Outcome::Paid)),
            "4000000000000002" => Ok(Choice::Decline("generic_decline")),
            "4000000000009995" => Ok(Choice::Decline("insufficient_funds")),
            _ => Err("That is not one of the sandbox's test card numbers."),
        },
        (None, None) => Err("Enter a card number or choose bank debit."),
    }
}

/// Strips spaces and dashes, as card fields do.
fn card_digits(card: &str) -> String {
    card.chars().filter(|c| !matches!(c, ' ' | '-')).collect()
}

async fn pay(
    State(sb): State<StripeSandbox>,
    Path(id): Path<String>,
    form: Result<Form<PayForm>, FormRejection>,
) -> Response {
    let Some(v) = view(&sb, &id) else {
        return not_found();
    };
    let choose = match choice(form) {
        Ok(choice) => choice,
        Err(message) if v.status == SessionStatus::Open => {
            return page(
                StatusCode::BAD_REQUEST,
                &payment_forms(&v, Some(("invalid", message))),
            );
        }
        Err(_) => return final_page(&v),
    };
    match sb.apply(&id, |open| choose.steps(open)) {
        Err(StripeSandboxError::UnknownSession(_)) => not_found(),
        Err(_) => {
            let v = view(&sb, &id).unwrap_or(v);
            let mut response = final_page(&v);
            *response.status_mut() = StatusCode::CONFLICT;
            response
        }
        Ok(_) => {
            let Some(v) = view(&sb, &id) else {
                return not_found();
            };
            if v.status == SessionStatus::Open {
                let text = "Your card was declined. Try another card.";
                return page(
                    StatusCode::PAYMENT_REQUIRED,
                    &payment_forms(&v, Some(("declined", text))),
                );
            }
            redirect_to_success(&v)
        }
    }
}

/// 303 to `success_url` (with the session id filled in), or a page saying it is done.
fn redirect_to_success(v: &View) -> Response {
    let location = v
        .req
        .success_url
        .as_ref()
        .map(|u| u.replace("{CHECKOUT_SESSION_ID}", &v.id))
        .and_then(|u| HeaderValue::from_str(&u).ok());
    match location {
        Some(location) => {
            let mut response = StatusCode::SEE_OTHER.into_response();
            response.headers_mut().insert(header::LOCATION, location);
            response
        }
        None => final_page(v),
    }
}
