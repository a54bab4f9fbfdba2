//! Flow's payment and refund services under `/api`.
//!
//! One entry point per request: decode the parameters (query for GET; urlencoded or
//! multipart body otherwise; anything else decodes to nothing, hence "missing params"),
//! apply the first matching fault, check apiKey → signature → required params → business
//! rules, answer, and record the request (without `s`) in the request log.

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;

use super::Sandbox;
use super::model::{FaultKind, RecordedRequest, RefundAction, SandboxError};
use super::net::ConnKill;
use super::refund_rules::{Verdict, validate_refund};
use super::refunds::StoredRefund;
use super::rules::{ApiError, param, required, validate_create};
use crate::gateway::flow::refund::CODE_REFUND_NOT_CANCELABLE;
use crate::gateway::flow::sign::{SIGNATURE_PARAM, verify};

/// Largest urlencoded body read (multipart uses axum's default limit).
const BODY_LIMIT: usize = 1 << 20;

pub fn routes() -> Router<Sandbox> {
    Router::new().route("/api/{*endpoint}", any(handle))
}

#[derive(Clone, Copy)]
enum Service {
    Create,
    ByToken,
    ByFlowOrder,
    ByCommerceId,
    RefundCreate,
    RefundStatus,
    RefundCancel,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.http,
            axum::Json(json!({"code": self.code, "message": self.message})),
        )
            .into_response()
    }
}

async fn handle(State(sb): State<Sandbox>, Path(endpoint): Path<String>, req: Request) -> Response {
    let method = req.method().clone();
    let kill = req
        .extensions()
        .get::<ConnectInfo<ConnKill>>()
        .map(|c| c.0.clone());
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string();
    let at = sb.now().format(&Rfc3339).unwrap_or_default();
    let params = read_params(req).await;

    // Like a real server, the sandbox finishes a request it has received even when the
    // client hangs up (a client timeout during a delayed create still creates the order).
    let task = tokio::spawn(async move {
        let fault = sb.lock().take_fault(&endpoint);
        let (response, outcome) = match fault {
            Some(FaultKind::Http500) => (
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response(),
                "fault:http500".to_string(),
            ),
            Some(FaultKind::MalformedBody) => (
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    "{\"flowOrder\": ",
                )
                    .into_response(),
                "fault:malformed_body".to_string(),
            ),
            Some(FaultKind::CloseConnection) => {
                if let Some(kill) = &kill {
                    kill.trip();
                }
                (broken_response(), "fault:close_connection".to_string())
            }
            Some(FaultKind::Delay { ms }) => {
                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                answer(&sb, &method, &endpoint, &params, &host)
            }
            Some(FaultKind::GatewayTimeoutThenDeliver { ms }) => {
                let (sb, method, endpoint, params, host) = (
                    sb.clone(),
                    method.clone(),
                    endpoint.clone(),
                    params.clone(),
                    host.clone(),
                );
                tokio::spawn(async move {
                    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                    let at = sb.now().format(&Rfc3339).unwrap_or_default();
                    let (response, outcome) = answer(&sb, &method, &endpoint, &params, &host);
                    tracing::debug!(%endpoint, %outcome, "flow sandbox: late delivery handled");
                    // Recorded like any request Flow handled, answered to nobody.
                    let status = response.status().as_u16();
                    record(&sb, at, &method, endpoint, params, status, outcome);
                });
                (
                    (StatusCode::GATEWAY_TIMEOUT, "gateway timeout").into_response(),
                    "fault:gateway_timeout_then_deliver".to_string(),
                )
            }
            None => answer(&sb, &method, &endpoint, &params, &host),
        };
        let http_status = match fault {
            Some(FaultKind::CloseConnection) if kill.is_some() => 0,
            _ => response.status().as_u16(),
        };
        tracing::debug!(%method, %endpoint, http_status, %outcome, "flow sandbox api request");
        record(&sb, at, &method, endpoint, params, http_status, outcome);
        response
    });
    task.await.unwrap_or_else(|_| {
        (StatusCode::INTERNAL_SERVER_ERROR, "sandbox task failed").into_response()
    })
}

/// Adds a handled request to the request log (its signature left out).
fn record(
    sb: &Sandbox,
    at: String,
    method: &Method,
    endpoint: String,
    params: Vec<(String, String)>,
    http_status: u16,
    outcome: String,
) {
    let entry = RecordedRequest {
        at,
        method: method.to_string(),
        api_key: param(&params, "apiKey").map(str::to_string),
        params: params
            .into_iter()
            .filter(|(n, _)| n != SIGNATURE_PARAM)
            .collect(),
        endpoint,
        http_status,
        outcome,
    };
    sb.lock().requests.push(entry);
}

/// The answer to `close_connection`. With a kill switch it is never written. Without one
/// (the router served elsewhere) its body fails before the first byte, so hyper aborts the
/// connection after (at most) the head and the client gets a body or transport error.
fn broken_response() -> Response {
    let failing = futures::stream::once(async {
        Err::<axum::body::Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "closed by a sandbox fault",
        ))
    });
    let mut response = Response::new(Body::from_stream(failing));
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Handles the request normally: the response and the outcome to record.
fn answer(
    sb: &Sandbox,
    method: &Method,
    endpoint: &str,
    params: &[(String, String)],
    host: &str,
) -> (Response, String) {
    match dispatch(sb, method, endpoint, params, host) {
        Ok(body) => (
            (StatusCode::OK, axum::Json(body)).into_response(),
            "ok".to_string(),
        ),
        Err(e) => {
            let outcome = e.message.clone();
            (e.into_response(), outcome)
        }
    }
}

fn dispatch(
    sb: &Sandbox,
    method: &Method,
    endpoint: &str,
    params: &[(String, String)],
    host: &str,
) -> Result<Value, ApiError> {
    let (service, expected) = match endpoint {
        "payment/create" => (Service::Create, Method::POST),
        "payment/getStatus" => (Service::ByToken, Method::GET),
        "payment/getStatusByFlowOrder" => (Service::ByFlowOrder, Method::GET),
        "payment/getStatusByCommerceId" => (Service::ByCommerceId, Method::GET),
        "refund/create" => (Service::RefundCreate, Method::POST),
        "refund/getStatus" => (Service::RefundStatus, Method::GET),
        "refund/cancel" => (Service::RefundCancel, Method::POST),
        other => return Err(ApiError::unknown_service(other)),
    };
    if *method != expected {
        return Err(ApiError::method_not_allowed());
    }
    let api_key = required(params, "apiKey")?;
    let signature = required(params, SIGNATURE_PARAM)?;
    let merchant = sb
        .merchant(api_key)
        .ok_or_else(ApiError::invalid_signature)?;
    let pairs = params.iter().map(|(n, v)| (n.as_str(), v.as_str()));
    if !verify(pairs, merchant.secret_key.as_bytes(), signature) {
        return Err(ApiError::invalid_signature());
    }
    let now = sb.now();
    match service {
        Service::Create => {
            let order = validate_create(params, merchant)?;
            let (token, flow_order) = sb.lock().create(api_key, order, now);
            Ok(json!({
                "url": format!("http://{host}/app/web/pay.php"),
                "token": token,
                "flowOrder": flow_order,
            }))
        }
        Service::ByToken => {
            let token = required(params, "token")?;
            let state = sb.lock();
            let order = state.by_token(token).filter(|o| o.api_key == api_key);
            order
                .map(|o| o.status_json(now))
                .ok_or_else(ApiError::not_found)
        }
        Service::ByFlowOrder => {
            let flow_order = required(params, "flowOrder")?;
            let flow_order: i64 = flow_order.parse().map_err(|_| ApiError::not_found())?;
            let state = sb.lock();
            let order = state
                .by_flow_order(flow_order)
                .filter(|o| o.api_key == api_key);
            order
                .map(|o| o.status_json(now))
                .ok_or_else(ApiError::not_found)
        }
        Service::ByCommerceId => {
            let commerce_id = required(params, "commerceId")?;
            let state = sb.lock();
            let order = state.by_commerce_id(api_key, commerce_id);
            order
                .map(|o| o.status_json(now))
                .ok_or_else(ApiError::not_found)
        }
        Service::RefundCreate => {
            let mut state = sb.lock();
            match validate_refund(params, api_key, &state, now)? {
                Verdict::Create(new) => Ok(state.create_refund(api_key, new, now)),
                Verdict::Existing(token) => state
                    .refunds
                    .by_token(&token)
                    .map(StoredRefund::json)
                    .ok_or_else(ApiError::refund_not_found),
            }
        }
        Service::RefundStatus => {
            let token = required(params, "token")?;
            let state = sb.lock();
            let refund = state
                .refunds
                .by_token(token)
                .filter(|r| r.api_key == api_key);
            refund
                .map(StoredRefund::json)
                .ok_or_else(ApiError::refund_not_found)
        }
        Service::RefundCancel => refund_cancel(sb, params, api_key),
    }
}

/// `refund/cancel`: a `created` refund becomes `canceled`; its callback is sent after the
/// answer, in the background.
fn refund_cancel(
    sb: &Sandbox,
    params: &[(String, String)],
    api_key: &str,
) -> Result<Value, ApiError> {
    let token = required(params, "token")?;
    let applied = sb
        .lock()
        .refunds
        .apply(token, Some(api_key), RefundAction::Cancel);
    match applied {
        Ok((json, url)) => {
            let (sb, token) = (sb.clone(), token.to_string());
            tokio::spawn(async move { sb.refund_callback(&token, url).await });
            Ok(json)
        }
        Err(SandboxError::UnknownRefund(_)) => Err(ApiError::refund_not_found()),
        Err(SandboxError::RefundNotAllowed { status, .. }) => Err(ApiError::business(
            CODE_REFUND_NOT_CANCELABLE,
            format!("The refund cannot be canceled: it is {status}"),
        )),
        Err(other) => Err(ApiError::business(
            CODE_REFUND_NOT_CANCELABLE,
            other.to_string(),
        )),
    }
}

/// Standard form decoding (`+` → space, `%XX` → byte, UTF-8) of the query or body.
/// Unsupported content types (JSON included) and malformed bodies decode to no params.
async fn read_params(req: Request) -> Vec<(String, String)> {
    if req.method() == Method::GET {
        let query = req.uri().query().unwrap_or("");
        return serde_urlencoded::from_str(query).unwrap_or_default();
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    match mime.as_str() {
        "application/x-www-form-urlencoded" => {
            match axum::body::to_bytes(req.into_body(), BODY_LIMIT).await {
                Ok(bytes) => serde_urlencoded::from_bytes(&bytes).unwrap_or_default(),
                Err(_) => Vec::new(),
            }
        }
        "multipart/form-data" => read_multipart(req).await.unwrap_or_default(),
        _ => Vec::new(),
    }
}

async fn read_multipart(req: Request) -> Option<Vec<(String, String)>> {
    let mut multipart = Multipart::from_request(req, &()).await.ok()?;
    let mut params = Vec::new();
    while let Some(field) = multipart.next_field().await.ok()? {
        let Some(name) = field.name().map(str::to_string) else {
            continue;
        };
        params.push((name, field.text().await.ok()?));
    }
    Some(params)
}
