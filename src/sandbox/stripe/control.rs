//! The JSON control API under `/sandbox/`, for tests and demos; `GET /sandbox/` lists it.
//! Each route is a thin wrapper over the same-named [`StripeSandbox`] method; its errors
//! map to HTTP here and only here: unknown session, event or refund 404, a session or
//! refund whose state does not allow the outcome 409, a bad endpoint or outcome 400.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;

use super::StripeSandbox;
use super::model::{Fault, Outcome, RefundOutcome, StripeSandboxError, WebhookEndpointConfig};
use super::params::event_type_ok;
use super::wire::new_id;

/// Every control route: method, path, what it does (the index at `GET /sandbox/`).
const ROUTES: &[(&str, &str, &str)] = &[
    ("GET", "/sandbox/", "this index"),
    ("GET", "/sandbox/health", "ok"),
    (
        "POST",
        "/sandbox/settle",
        "{\"session\":\"cs_…\",\"outcome\":\"paid|declined|async_pending|async_succeeded|async_failed|expired\"}",
    ),
    (
        "POST",
        "/sandbox/clock/advance",
        "{\"seconds\":N}: move the sandbox clock forward",
    ),
    ("GET", "/sandbox/faults", "the active faults"),
    (
        "POST",
        "/sandbox/faults",
        "{\"target\":\"create|retrieve|list|expire|any\",\"kind\":{\"kind\":\"delay\",\"ms\":N}|{\"kind\":\"http500\"}|{\"kind\":\"http429\",\"retry_after\":N}|{\"kind\":\"malformed_body\"}|{\"kind\":\"close_connection\"}|{\"kind\":\"timeout_then_create\",\"ms\":N},\"times\":N|null}",
    ),
    ("DELETE", "/sandbox/faults", "clear every fault"),
    (
        "POST",
        "/sandbox/webhooks/drop",
        "{\"count\":N}: drop the next N deliveries",
    ),
    (
        "POST",
        "/sandbox/webhooks/duplicate",
        "{\"count\":N}: send the next N deliveries twice",
    ),
    (
        "POST",
        "/sandbox/webhooks/redeliver",
        "{\"event\":\"evt_…\",\"endpoint\":\"we_…\"?}: send an event again",
    ),
    (
        "POST",
        "/sandbox/webhook_endpoints",
        "{\"url\":\"…\",\"enabled_events\":[\"*\"]?,\"secret\":\"whsec_…\"?}: add an endpoint",
    ),
    (
        "GET",
        "/sandbox/requests",
        "every /v1 request (no credentials)",
    ),
    ("GET", "/sandbox/events", "every event"),
    ("GET", "/sandbox/deliveries", "every delivery attempt"),
    (
        "GET",
        "/sandbox/sessions/{id}",
        "a session with its PaymentIntent and line items",
    ),
    (
        "POST",
        "/sandbox/refunds/{id}/{outcome}",
        "no body; outcome succeed|fail|cancel: settle a refund (pending → succeeded|failed|canceled; succeeded → failed)",
    ),
    (
        "POST",
        "/sandbox/refunds/hold",
        "{\"count\":N}: the next N refunds start pending instead of succeeded",
    ),
    ("GET", "/sandbox/refunds/{id}", "a refund"),
];

pub fn routes() -> Router<StripeSandbox> {
    Router::new()
        .route("/sandbox", get(index))
        .route("/sandbox/", get(index))
        .route("/sandbox/health", get(|| async { "ok" }))
        .route("/sandbox/settle", post(settle))
        .route("/sandbox/clock/advance", post(advance_clock))
        .route(
            "/sandbox/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .route("/sandbox/webhooks/drop", post(drop_deliveries))
        .route("/sandbox/webhooks/duplicate", post(duplicate_deliveries))
        .route("/sandbox/webhooks/redeliver", post(redeliver))
        .route("/sandbox/webhook_endpoints", post(add_endpoint))
        .route(
            "/sandbox/requests",
            get(|State(sb): State<StripeSandbox>| async move { Json(sb.requests()) }),
        )
        .route(
            "/sandbox/events",
            get(|State(sb): State<StripeSandbox>| async move { Json(sb.events()) }),
        )
        .route(
            "/sandbox/deliveries",
            get(|State(sb): State<StripeSandbox>| async move { Json(sb.deliveries()) }),
        )
        .route("/sandbox/sessions/{id}", get(session))
        .route("/sandbox/refunds/hold", post(hold_refunds))
        .route("/sandbox/refunds/{id}", get(refund))
        .route("/sandbox/refunds/{id}/{outcome}", post(settle_refund))
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

impl IntoResponse for StripeSandboxError {
    fn into_response(self) -> Response {
        let status = match self {
            StripeSandboxError::UnknownSession(_)
            | StripeSandboxError::UnknownEvent(_)
            | StripeSandboxError::UnknownRefund(_) => StatusCode::NOT_FOUND,
            StripeSandboxError::NotAllowed { .. } | StripeSandboxError::RefundNotAllowed { .. } => {
                StatusCode::CONFLICT
            }
            StripeSandboxError::InvalidEndpoint(_) => StatusCode::BAD_REQUEST,
        };
        error(status, self.to_string())
    }
}

async fn index() -> Json<Value> {
    let routes: Vec<Value> = ROUTES
        .iter()
        .map(|(method, path, what)| json!({"method": method, "path": path, "description": what}))
        .collect();
    Json(json!({"sandbox": "stripe", "routes": routes}))
}

#[derive(Deserialize)]
struct SettleBody {
    session: String,
    outcome: Outcome,
}

async fn settle(State(sb): State<StripeSandbox>, Json(body): Json<SettleBody>) -> Response {
    match sb.settle(&body.session, body.outcome) {
        Ok(report) => Json(report).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
struct AdvanceBody {
    seconds: i64,
}

async fn advance_clock(State(sb): State<StripeSandbox>, Json(body): Json<AdvanceBody>) -> Response {
    if body.seconds < 0 {
        return error(
            StatusCode::BAD_REQUEST,
            "the sandbox clock only moves forward",
        );
    }
    sb.advance_clock(body.seconds);
    let now = sb.now();
    Json(json!({
        "offset_seconds": sb.clock_offset(),
        "now": now.format(&Rfc3339).unwrap_or_default(),
        "unix": now.unix_timestamp(),
    }))
    .into_response()
}

async fn list_faults(State(sb): State<StripeSandbox>) -> Json<Vec<Fault>> {
    Json(sb.faults())
}

async fn add_fault(State(sb): State<StripeSandbox>, Json(fault): Json<Fault>) -> Json<Vec<Fault>> {
    sb.add_fault(fault);
    Json(sb.faults())
}

async fn clear_faults(State(sb): State<StripeSandbox>) -> Json<Vec<Fault>> {
    sb.clear_faults();
    Json(sb.faults())
}

#[derive(Deserialize)]
struct CountBody {
    count: u32,
}

async fn drop_deliveries(
    State(sb): State<StripeSandbox>,
    Json(body): Json<CountBody>,
) -> Json<Value> {
    sb.drop_next_deliveries(body.count);
    Json(json!({"drops_pending": body.count}))
}

async fn duplicate_deliveries(
    State(sb): State<StripeSandbox>,
    Json(body): Json<CountBody>,
) -> Json<Value> {
    sb.duplicate_next_deliveries(body.count);
    Json(json!({"duplicates_pending": body.count}))
}

#[derive(Deserialize)]
struct RedeliverBody {
    event: String,
    #[serde(default)]
    endpoint: Option<String>,
}

async fn redeliver(State(sb): State<StripeSandbox>, Json(body): Json<RedeliverBody>) -> Response {
    match sb.redeliver_to(&body.event, body.endpoint.as_deref()) {
        Ok(n) => Json(json!({"deliveries": n})).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
struct EndpointBody {
    url: String,
    #[serde(default)]
    enabled_events: Option<Vec<String>>,
    #[serde(default)]
    secret: Option<String>,
}

async fn add_endpoint(State(sb): State<StripeSandbox>, Json(body): Json<EndpointBody>) -> Response {
    let events = body.enabled_events.unwrap_or_else(|| vec!["*".to_string()]);
    if let Some(bad) = events.iter().find(|e| !event_type_ok(e)) {
        return StripeSandboxError::InvalidEndpoint(format!("invalid event type {bad}"))
            .into_response();
    }
    let secret = body.secret.unwrap_or_else(|| new_id("whsec_", 32));
    let endpoint = sb.endpoint_from(WebhookEndpointConfig {
        url: body.url,
        secret,
        enabled_events: events,
    });
    sb.lock().endpoints.push(endpoint.clone());
    Json(endpoint.json(true)).into_response()
}

async fn session(State(sb): State<StripeSandbox>, Path(id): Path<String>) -> Response {
    match sb.session(&id) {
        Some(session) => Json(session).into_response(),
        None => StripeSandboxError::UnknownSession(id).into_response(),
    }
}

async fn hold_refunds(State(sb): State<StripeSandbox>, Json(body): Json<CountBody>) -> Json<Value> {
    sb.hold_next_refunds(body.count);
    Json(json!({"refunds_held": body.count}))
}

async fn refund(State(sb): State<StripeSandbox>, Path(id): Path<String>) -> Response {
    match sb.refund(&id) {
        Some(refund) => Json(refund).into_response(),
        None => StripeSandboxError::UnknownRefund(id).into_response(),
    }
}

async fn settle_refund(
    State(sb): State<StripeSandbox>,
    Path((id, outcome)): Path<(String, String)>,
) -> Response {
    let Some(outcome) = RefundOutcome::parse(&outcome) else {
        return error(
            StatusCode::BAD_REQUEST,
            format!("unknown refund outcome {outcome:?}; use succeed, fail or cancel"),
        );
    };
    match sb.settle_refund(&id, outcome) {
        Ok(report) => Json(report).into_response(),
        Err(e) => e.into_response(),
    }
}
