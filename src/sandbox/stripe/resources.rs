//! The resources behind `/v1` routes: Checkout Sessions, refunds and webhook endpoints. Each
//! function reads its (authenticated, decoded) form, applies the rules of `rules.rs` and
//! answers Stripe's object or error. Errors raised after a resource was looked up are
//! marked `executed`, so an idempotency key keeps them; validation errors are not.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::StripeSandbox;
use super::api::Route;
use super::error::ApiError;
use super::model::{Outcome, StripeSandboxError};
use super::params::{limit, validate_endpoint, validate_list};
use super::refund_rules::validate_refund;
use super::rules::{expand, validate_create};
use super::state::Endpoint;
use super::webhooks::Cause;
use super::wire::{Obj, list_json, new_id};

type Answer = Result<(StatusCode, Value), ApiError>;

pub fn dispatch(
    sb: &StripeSandbox,
    route: &Route,
    form: &Obj,
    base_url: &str,
    cause: &Cause,
) -> Answer {
    match route {
        Route::CreateSession => create_session(sb, form, base_url),
        Route::ListSessions => list_sessions(sb, form),
        Route::RetrieveSession(id) => retrieve_session(sb, id, form),
        Route::ExpireSession(id) => expire_session(sb, id, form, cause),
        Route::CreateEndpoint => create_endpoint(sb, form),
        Route::ListEndpoints => list_endpoints(sb, form),
        Route::RetrieveEndpoint(id) => retrieve_endpoint(sb, id, form),
        Route::DeleteEndpoint(id) => delete_endpoint(sb, id, form),
        Route::CreateRefund => create_refund(sb, form, cause),
        Route::RetrieveRefund(id) => retrieve_refund(sb, id, form),
    }
}

fn create_refund(sb: &StripeSandbox, form: &Obj, cause: &Cause) -> Answer {
    let params = validate_refund(form)?;
    let now = sb.now_unix();
    let (body, events) = sb.lock().create_refund(params, now)?;
    tracing::debug!(refund = %body["id"], "stripe sandbox: refund created");
    sb.publish(events, cause);
    ok(body)
}

fn retrieve_refund(sb: &StripeSandbox, id: &str, form: &Obj) -> Answer {
    form.only(&[])?;
    let state = sb.lock();
    let refund = state
        .refund(id)
        .ok_or_else(|| ApiError::no_such("refund", id, "id").executed())?;
    ok(refund.json())
}

fn ok(body: Value) -> Answer {
    Ok((StatusCode::OK, body))
}

fn no_session(id: &str) -> ApiError {
    ApiError::no_such("checkout.session", id, "id").executed()
}

/// The `expand[]` of a single session: whether `payment_intent` is expanded.
fn expands_intent(form: &Obj) -> Result<bool, ApiError> {
    Ok(!expand(form, &["payment_intent"])?.is_empty())
}

fn create_session(sb: &StripeSandbox, form: &Obj, base_url: &str) -> Answer {
    let now = sb.now_unix();
    let new = validate_create(form, now)?;
    let expand_pi = expands_intent(form)?;
    let mut state = sb.lock();
    let id = state.create(new, now, base_url);
    let session = state.session(&id).ok_or_else(|| no_session(&id))?;
    tracing::debug!(session = %id, "stripe sandbox: session created");
    ok(state.session_json(session, expand_pi))
}

fn retrieve_session(sb: &StripeSandbox, id: &str, form: &Obj) -> Answer {
    form.only(&["expand"])?;
    let expand_pi = expands_intent(form)?;
    let state = sb.lock();
    let session = state.session(id).ok_or_else(|| no_session(id))?;
    ok(state.session_json(session, expand_pi))
}

fn list_sessions(sb: &StripeSandbox, form: &Obj) -> Answer {
    let query = validate_list(form)?;
    let (data, has_more) = sb.lock().list(&query)?;
    ok(list_json(data, has_more, "/v1/checkout/sessions"))
}

fn expire_session(sb: &StripeSandbox, id: &str, form: &Obj, cause: &Cause) -> Answer {
    form.only(&["expand"])?;
    let expand_pi = expands_intent(form)?;
    let applied = sb.lock().apply(id, Outcome::Expired, sb.now_unix());
    let events = match applied {
        Ok(events) => events,
        Err(StripeSandboxError::UnknownSession(_)) => return Err(no_session(id)),
        Err(StripeSandboxError::NotAllowed { status, .. }) => {
            return Err(ApiError::invalid_uncoded(format!(
                "Only an open Checkout Session can be expired; this one is {status}."
            ))
            .executed());
        }
        Err(e) => return Err(ApiError::invalid_uncoded(e.to_string()).executed()),
    };
    sb.publish(events, cause);
    let state = sb.lock();
    let session = state.session(id).ok_or_else(|| no_session(id))?;
    ok(state.session_json(session, expand_pi))
}

fn create_endpoint(sb: &StripeSandbox, form: &Obj) -> Answer {
    let new = validate_endpoint(form)?;
    let endpoint = Endpoint {
        id: new_id("we_", 24),
        url: new.url,
        secret: new_id("whsec_", 32),
        enabled_events: new.enabled_events,
        description: new.description,
        metadata: new.metadata,
        api_version: new.api_version,
        created: sb.now_unix(),
    };
    let body = endpoint.json(true);
    sb.lock().endpoints.push(endpoint);
    ok(body)
}

fn list_endpoints(sb: &StripeSandbox, form: &Obj) -> Answer {
    form.only(&["limit", "starting_after"])?;
    let limit = limit(form)?;
    let state = sb.lock();
    let newest_first: Vec<&Endpoint> = state.endpoints.iter().rev().collect();
    let start = match form.string("starting_after")? {
        None => 0,
        Some(after) => {
            newest_first
                .iter()
                .position(|e| e.id == after)
                .ok_or_else(|| {
                    ApiError::no_such("webhook_endpoint", after, "starting_after")
                        .status(StatusCode::BAD_REQUEST)
                })?
                + 1
        }
    };
    let rest = &newest_first[start.min(newest_first.len())..];
    let data = rest.iter().take(limit).map(|e| e.json(false)).collect();
    ok(list_json(data, rest.len() > limit, "/v1/webhook_endpoints"))
}

fn no_endpoint(id: &str) -> ApiError {
    ApiError::no_such("webhook_endpoint", id, "id").executed()
}

fn retrieve_endpoint(sb: &StripeSandbox, id: &str, form: &Obj) -> Answer {
    form.only(&[])?;
    let state = sb.lock();
    let endpoint = state.endpoints.iter().find(|e| e.id == id);
    ok(endpoint.ok_or_else(|| no_endpoint(id))?.json(false))
}

fn delete_endpoint(sb: &StripeSandbox, id: &str, form: &Obj) -> Answer {
    form.only(&[])?;
    let mut state = sb.lock();
    let index = state.endpoints.iter().position(|e| e.id == id);
    state
        .endpoints
        .remove(index.ok_or_else(|| no_endpoint(id))?);
    ok(json!({"id": id, "object": "webhook_endpoint", "deleted": true}))
}
