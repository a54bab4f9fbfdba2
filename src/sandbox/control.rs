//! The JSON control API under `/sandbox/`, for tests and demos (shapes in the `sandbox`
//! module doc); `GET /sandbox/` lists it. Each route is a thin wrapper over the same-named [`Sandbox`] method;
//! settle errors map to HTTP here and only here: unknown token or refund 404, final or
//! expired order and a refund whose status does not allow the action 409.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;

use super::Sandbox;
use super::model::{Fault, Outcome, RefundAction, SandboxError};

/// Every control route: method, path, what it does (the index at `GET /sandbox/`).
const ROUTES: &[(&str, &str, &str)] = &[
    ("GET", "/sandbox/", "this index"),
    ("GET", "/sandbox/health", "ok"),
    (
        "POST",
        "/sandbox/settle",
        "{\"token\":\"…\",\"outcome\":\"paid|rejected|cancelled|pending\"}: settle an order as its payer would (404 unknown token, 409 already final or expired); paid, rejected and cancelled send the confirmation",
    ),
    (
        "POST",
        "/sandbox/clock/advance",
        "{\"seconds\":N}: move the sandbox clock forward (orders expire by it)",
    ),
    ("GET", "/sandbox/faults", "the active faults"),
    (
        "POST",
        "/sandbox/faults",
        "{\"target\":\"create|get_status|any\",\"kind\":{\"kind\":\"delay\",\"ms\":N}|{\"kind\":\"http500\"}|{\"kind\":\"malformed_body\"}|{\"kind\":\"close_connection\"},\"times\":N|null}",
    ),
    ("DELETE", "/sandbox/faults", "clear every fault"),
    (
        "POST",
        "/sandbox/confirmations/drop",
        "{\"count\":N}: drop the next N confirmations (0 cancels)",
    ),
    ("GET", "/sandbox/requests", "every /api request (without s)"),
    (
        "GET",
        "/sandbox/confirmations",
        "every confirmation sent or dropped",
    ),
    (
        "GET",
        "/sandbox/orders/{token}",
        "an order, as payment/getStatus returns it now",
    ),
    ("GET", "/sandbox/refunds/{token}", "a refund's status"),
    (
        "POST",
        "/sandbox/refunds/{token}/{action}",
        "no body; action accept|reject|refund|cancel: move a refund on and send its callback",
    ),
    ("GET", "/sandbox/refund_callbacks", "every refund callback"),
];

pub fn routes() -> Router<Sandbox> {
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
        .route("/sandbox/confirmations/drop", post(drop_confirmations))
        .route(
            "/sandbox/requests",
            get(|State(sb): State<Sandbox>| async move { Json(sb.requests()) }),
        )
        .route(
            "/sandbox/confirmations",
            get(|State(sb): State<Sandbox>| async move { Json(sb.confirmations()) }),
        )
        .route("/sandbox/orders/{token}", get(order))
        .route("/sandbox/refunds/{token}", get(refund))
        .route("/sandbox/refunds/{token}/{action}", post(settle_refund))
        .route(
            "/sandbox/refund_callbacks",
            get(|State(sb): State<Sandbox>| async move { Json(sb.refund_callbacks()) }),
        )
}

async fn index() -> Json<Value> {
    let routes: Vec<Value> = ROUTES
        .iter()
        .map(|(method, path, what)| json!({"method": method, "path": path, "description": what}))
        .collect();
    Json(json!({"sandbox": "flow", "routes": routes}))
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

impl IntoResponse for SandboxError {
    fn into_response(self) -> Response {
        let status = match self {
            SandboxError::UnknownToken(_) | SandboxError::UnknownRefund(_) => StatusCode::NOT_FOUND,
            SandboxError::AlreadyFinal { .. }
            | SandboxError::Expired
            | SandboxError::RefundNotAllowed { .. } => StatusCode::CONFLICT,
        };
        error(status, self.to_string())
    }
}

#[derive(Deserialize)]
struct SettleBody {
    token: String,
    outcome: Outcome,
}

async fn settle(State(sb): State<Sandbox>, Json(body): Json<SettleBody>) -> Response {
    match sb.settle(&body.token, body.outcome).await {
        Ok(report) => Json(report).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
struct AdvanceBody {
    seconds: i64,
}

async fn advance_clock(State(sb): State<Sandbox>, Json(body): Json<AdvanceBody>) -> Response {
    if body.seconds < 0 {
        return error(
            StatusCode::BAD_REQUEST,
            "the sandbox clock only moves forward",
        );
    }
    sb.advance_clock(body.seconds);
    let now = sb.now().format(&Rfc3339).unwrap_or_default();
    Json(json!({"offset_seconds": sb.clock_offset(), "now": now})).into_response()
}

async fn list_faults(State(sb): State<Sandbox>) -> Json<Vec<Fault>> {
    Json(sb.faults())
}

async fn add_fault(State(sb): State<Sandbox>, Json(fault): Json<Fault>) -> Json<Vec<Fault>> {
    sb.add_fault(fault);
    Json(sb.faults())
}

async fn clear_faults(State(sb): State<Sandbox>) -> Json<Vec<Fault>> {
    sb.clear_faults();
    Json(sb.faults())
}

#[derive(Deserialize)]
struct DropBody {
    count: u32,
}

async fn drop_confirmations(State(sb): State<Sandbox>, Json(body): Json<DropBody>) -> Response {
    sb.drop_next_confirmations(body.count);
    Json(json!({"drops_pending": body.count})).into_response()
}

async fn order(State(sb): State<Sandbox>, Path(token): Path<String>) -> Response {
    match sb.order(&token) {
        Some(status) => Json(status).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            format!("no order with token {token}"),
        ),
    }
}

async fn refund(State(sb): State<Sandbox>, Path(token): Path<String>) -> Response {
    match sb.refund(&token) {
        Some(status) => Json(status).into_response(),
        None => SandboxError::UnknownRefund(token).into_response(),
    }
}

async fn settle_refund(
    State(sb): State<Sandbox>,
    Path((token, action)): Path<(String, String)>,
) -> Response {
    let Some(action) = RefundAction::parse(&action) else {
        return error(
            StatusCode::BAD_REQUEST,
            format!("unknown refund action {action:?}; use accept, reject, refund or cancel"),
        );
    };
    match sb.settle_refund(&token, action).await {
        Ok(report) => Json(report).into_response(),
        Err(e) => e.into_response(),
    }
}
