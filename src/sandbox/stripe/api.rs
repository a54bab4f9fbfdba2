//! Stripe's API under `/v1`: the pipeline every request goes through.
//!
//! Read the request (query for GET and DELETE; query plus urlencoded body otherwise; other
//! body types are refused as Stripe refuses them), apply the first matching fault, then
//! authenticate → route → decode the bracket form → expire sessions due → claim the
//! idempotency key → run the resource (`resources.rs`) → keep the answer for the key →
//! answer with `Request-Id`, `Stripe-Version` and, for errors, `Stripe-Should-Retry`; and
//! record the request (never its `Authorization`). Like a real server, the sandbox finishes
//! a request it has received even when the client hangs up, so a create that the client
//! gave up on still creates its session.

use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;

use super::auth::{api_key, authenticate, mask};
use super::error::{ApiError, ErrorType};
use super::idempotency::{Claim, fingerprint};
use super::model::{FaultKind, FaultTarget, RecordedRequest};
use super::resources;
use super::webhooks::Cause;
use super::wire::{Obj, new_id, parse_form};
use super::{STRIPE_API_VERSION, StripeSandbox};
use crate::sandbox::net::ConnKill;

/// Largest body read.
const BODY_LIMIT: usize = 1 << 20;
/// Longest idempotency key Stripe takes.
const MAX_IDEMPOTENCY_KEY: usize = 255;

pub fn routes() -> Router<StripeSandbox> {
    Router::new()
        .route("/v1", any(handle))
        .route("/v1/{*path}", any(handle))
}

/// The Stripe resource a request addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    CreateSession,
    ListSessions,
    RetrieveSession(String),
    ExpireSession(String),
    CreateEndpoint,
    ListEndpoints,
    RetrieveEndpoint(String),
    DeleteEndpoint(String),
    CreateRefund,
    RetrieveRefund(String),
}

impl Route {
    fn parse(method: &Method, path: &str) -> Option<Route> {
        let rest = path.strip_prefix("/v1")?;
        let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
        let id = |s: &str| s.to_string();
        Some(match (method.as_str(), segments.as_slice()) {
            ("POST", ["checkout", "sessions"]) => Route::CreateSession,
            ("GET", ["checkout", "sessions"]) => Route::ListSessions,
            ("GET", ["checkout", "sessions", s]) => Route::RetrieveSession(id(s)),
            ("POST", ["checkout", "sessions", s, "expire"]) => Route::ExpireSession(id(s)),
            ("POST", ["webhook_endpoints"]) => Route::CreateEndpoint,
            ("GET", ["webhook_endpoints"]) => Route::ListEndpoints,
            ("GET", ["webhook_endpoints", e]) => Route::RetrieveEndpoint(id(e)),
            ("DELETE", ["webhook_endpoints", e]) => Route::DeleteEndpoint(id(e)),
            ("POST", ["refunds"]) => Route::CreateRefund,
            ("GET", ["refunds", r]) => Route::RetrieveRefund(id(r)),
            _ => return None,
        })
    }

    fn fault_target(&self) -> Option<FaultTarget> {
        match self {
            Route::CreateSession => Some(FaultTarget::Create),
            Route::ListSessions => Some(FaultTarget::List),
            Route::RetrieveSession(_) => Some(FaultTarget::Retrieve),
            Route::ExpireSession(_) => Some(FaultTarget::Expire),
            Route::CreateEndpoint
            | Route::ListEndpoints
            | Route::RetrieveEndpoint(_)
            | Route::DeleteEndpoint(_)
            | Route::CreateRefund
            | Route::RetrieveRefund(_) => None,
        }
    }
}

/// A request as read off the wire.
struct Incoming {
    method: Method,
    path: String,
    authorization: Option<String>,
    idempotency_key: Option<String>,
    stripe_version: Option<String>,
    /// `http://<Host>`, for the session's `url`.
    base_url: String,
    pairs: Vec<(String, String)>,
    body_error: Option<ApiError>,
}

/// What the API answers, before headers.
struct Answer {
    status: StatusCode,
    body: Vec<u8>,
    outcome: String,
    replayed: bool,
    retry_after: Option<u64>,
}

impl Answer {
    fn error(e: &ApiError) -> Answer {
        Answer {
            status: e.status,
            body: e.body().to_string().into_bytes(),
            outcome: e.code_str().to_string(),
            replayed: false,
            retry_after: None,
        }
    }

    fn into_response(self, request_id: &str, version: Option<&str>) -> Response {
        let mut response = (self.status, Body::from(self.body)).into_response();
        let headers = response.headers_mut();
        let mut set = |name: &'static str, value: &str| {
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.insert(name, v);
            }
        };
        set("content-type", "application/json");
        set("request-id", request_id);
        set("stripe-version", version.unwrap_or(STRIPE_API_VERSION));
        if self.replayed {
            set("idempotent-replayed", "true");
        }
        if self.status.is_client_error() || self.status.is_server_error() {
            let retry = matches!(self.status.as_u16(), 409 | 429 | 500..=599);
            set("stripe-should-retry", if retry { "true" } else { "false" });
        }
        if let Some(seconds) = self.retry_after {
            set("retry-after", &seconds.to_string());
        }
        response
    }
}

async fn handle(State(sb): State<StripeSandbox>, req: Request) -> Response {
    let kill = req
        .extensions()
        .get::<ConnectInfo<ConnKill>>()
        .map(|c| c.0.clone());
    let incoming = read(req).await;
    let task = tokio::spawn(process(sb, incoming, kill));
    task.await.unwrap_or_else(|_| {
        (StatusCode::INTERNAL_SERVER_ERROR, "sandbox task failed").into_response()
    })
}

async fn process(sb: StripeSandbox, inc: Incoming, kill: Option<ConnKill>) -> Response {
    let request_id = new_id("req_", 14);
    let at = sb.at();
    let version = inc.stripe_version.clone();
    let route = Route::parse(&inc.method, &inc.path);
    let fault = sb
        .lock()
        .take_fault(route.as_ref().and_then(Route::fault_target));
    let answer = match fault {
        None => answer(&sb, &inc, route, &request_id, Duration::ZERO).await,
        Some(FaultKind::Delay { ms }) => {
            answer(&sb, &inc, route, &request_id, Duration::from_millis(ms)).await
        }
        Some(FaultKind::TimeoutThenCreate { ms }) => {
            let answer = answer(&sb, &inc, route, &request_id, Duration::ZERO).await;
            let outcome = format!("fault:timeout_then_create ({})", answer.outcome);
            record(&sb, at, &inc, &request_id, answer.status.as_u16(), outcome);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            return answer.into_response(&request_id, version.as_deref());
        }
        Some(FaultKind::Http500) => Answer {
            outcome: "fault:http500".into(),
            ..Answer::error(
                &ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, ErrorType::Api, None)
                    .message("An unexpected error occurred (sandbox fault http500)."),
            )
        },
        Some(FaultKind::Http429 { retry_after }) => Answer {
            outcome: "fault:http429".into(),
            retry_after: Some(retry_after),
            ..Answer::error(
                &ApiError::invalid(
                    "rate_limit",
                    "Rate limited (sandbox fault http429); retry after the Retry-After delay.",
                )
                .status(StatusCode::TOO_MANY_REQUESTS),
            )
        },
        Some(FaultKind::MalformedBody) => Answer {
            status: StatusCode::OK,
            body: b"{\"id\": \"cs_test_".to_vec(),
            outcome: "fault:malformed_body".into(),
            replayed: false,
            retry_after: None,
        },
        Some(FaultKind::CloseConnection) => {
            let status = match &kill {
                Some(kill) => {
                    kill.trip();
                    0
                }
                None => 200,
            };
            record(
                &sb,
                at,
                &inc,
                &request_id,
                status,
                "fault:close_connection".into(),
            );
            return broken_response();
        }
    };
    tracing::debug!(method = %inc.method, path = %inc.path, status = answer.status.as_u16(),
        outcome = %answer.outcome, "stripe sandbox api request");
    let outcome = answer.outcome.clone();
    record(&sb, at, &inc, &request_id, answer.status.as_u16(), outcome);
    answer.into_response(&request_id, version.as_deref())
}

/// Handles the request; `slow` is how long the resource takes once the idempotency key is
/// claimed (a retry with the key meanwhile gets 409 `idempotency_key_in_use`).
async fn answer(
    sb: &StripeSandbox,
    inc: &Incoming,
    route: Option<Route>,
    request_id: &str,
    slow: Duration,
) -> Answer {
    let key = match authenticate(sb, inc.authorization.as_deref()) {
        Ok(key) => key,
        Err(e) => return Answer::error(&e),
    };
    if let Some(e) = &inc.body_error {
        return Answer::error(e);
    }
    let Some(route) = route else {
        return Answer::error(
            &ApiError::invalid_uncoded(format!(
                "Unrecognized request URL ({}: {}); the offline sandbox emulates Checkout \
                 Sessions, refunds and webhook endpoints only.",
                inc.method, inc.path
            ))
            .status(StatusCode::NOT_FOUND),
        );
    };
    let form = match parse_form(&inc.pairs) {
        Ok(form) => form,
        Err(e) => return Answer::error(&e),
    };
    sb.expire_due();
    let idempotency_key = match (&inc.method, &inc.idempotency_key) {
        (&Method::POST, Some(k)) => Some(k.as_str()),
        _ => None,
    };
    if let Some(k) = idempotency_key {
        if k.is_empty() || k.len() > MAX_IDEMPOTENCY_KEY {
            return Answer::error(&ApiError::invalid_uncoded(format!(
                "Idempotency keys must be 1 to {MAX_IDEMPOTENCY_KEY} characters long."
            )));
        }
        let print = fingerprint(&inc.method, &inc.path, &inc.pairs);
        match sb.lock().claim(&key, k, print) {
            Claim::Claimed => {}
            Claim::Replay { status, body } => {
                return Answer {
                    status: StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
                    body,
                    outcome: "replayed".into(),
                    replayed: true,
                    retry_after: None,
                };
            }
            Claim::Mismatch => {
                return Answer::error(
                    &ApiError::new(StatusCode::BAD_REQUEST, ErrorType::Idempotency, None).message(
                        format!(
                            "The idempotency key '{k}' was first used with other parameters \
                             or on another endpoint; a different request needs a new key."
                        ),
                    ),
                );
            }
            Claim::InFlight => {
                return Answer::error(
                    &ApiError::new(
                        StatusCode::CONFLICT,
                        ErrorType::Idempotency,
                        Some("idempotency_key_in_use"),
                    )
                    .message(format!(
                        "A request with the idempotency key '{k}' is still in progress; \
                         retry it once that one has finished."
                    )),
                );
            }
        }
    }
    if !slow.is_zero() {
        tokio::time::sleep(slow).await;
    }
    let cause = Cause {
        request_id: Some(request_id.to_string()),
        idempotency_key: idempotency_key.map(str::to_string),
    };
    let result = resources::dispatch(sb, &route, &Obj::root(&form), &inc.base_url, &cause);
    let answer = match &result {
        Ok((status, body)) => Answer {
            status: *status,
            body: body.to_string().into_bytes(),
            outcome: "ok".into(),
            replayed: false,
            retry_after: None,
        },
        Err(e) => Answer::error(e),
    };
    if let Some(k) = idempotency_key {
        let keep = result.as_ref().map_or_else(|e| e.executed, |_| true);
        let kept = keep.then(|| (answer.status.as_u16(), answer.body.clone()));
        sb.lock().finish(&key, k, kept);
    }
    answer
}

/// `http://<host>` from a `Host` header made only of host characters, else loopback.
fn base_url(host: Option<&str>) -> String {
    let host = host
        .filter(|h| !h.is_empty() && h.len() <= 255)
        .filter(|h| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

fn decode(text: &[u8]) -> Option<Vec<(String, String)>> {
    serde_urlencoded::from_bytes(text).ok()
}

async fn read(req: Request) -> Incoming {
    let (parts, body) = req.into_parts();
    let header = |name: header::HeaderName| {
        parts
            .headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let content_type = header(header::CONTENT_TYPE).unwrap_or_default();
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let query = parts.uri.query().unwrap_or("");
    let mut pairs = decode(query.as_bytes()).unwrap_or_default();
    let mut body_error = None;
    let declared = header(header::CONTENT_LENGTH).and_then(|v| v.trim().parse::<u64>().ok());
    let too_large = || {
        ApiError::invalid_uncoded(format!(
            "The request body is larger than {BODY_LIMIT} bytes."
        ))
        .status(StatusCode::PAYLOAD_TOO_LARGE)
    };
    if parts.method != Method::GET && parts.method != Method::DELETE {
        // A body declared too large is refused unread; one that grows too large, once read
        // up to the limit.
        if declared.is_some_and(|n| n > BODY_LIMIT as u64) {
            body_error = Some(too_large());
        } else {
            match axum::body::to_bytes(body, BODY_LIMIT).await {
                Err(_) => body_error = Some(too_large()),
                Ok(bytes) => body_error = read_body(&bytes, &mime, &mut pairs),
            }
        }
    }
    Incoming {
        method: parts.method.clone(),
        path: parts.uri.path().to_string(),
        authorization: header(header::AUTHORIZATION),
        idempotency_key: header(header::HeaderName::from_static("idempotency-key")),
        stripe_version: header(header::HeaderName::from_static("stripe-version")),
        base_url: base_url(header(header::HOST).as_deref()),
        pairs,
        body_error,
    }
}

/// Appends a urlencoded body's pairs; other body types are Stripe's 400.
fn read_body(bytes: &Bytes, mime: &str, pairs: &mut Vec<(String, String)>) -> Option<ApiError> {
    if bytes.is_empty() {
        return None;
    }
    if !mime.is_empty() && mime != "application/x-www-form-urlencoded" {
        return Some(ApiError::invalid_uncoded(format!(
            "Invalid request: unsupported Content-Type {mime}. Send \
             application/x-www-form-urlencoded."
        )));
    }
    match decode(bytes) {
        Some(body) => {
            pairs.extend(body);
            None
        }
        None => Some(ApiError::invalid_uncoded(
            "Invalid request: the body is not valid form data.",
        )),
    }
}

/// Adds a handled request to the request log, without its credentials.
fn record(
    sb: &StripeSandbox,
    at: String,
    inc: &Incoming,
    request_id: &str,
    http_status: u16,
    outcome: String,
) {
    let entry = RecordedRequest {
        at,
        request_id: request_id.to_string(),
        method: inc.method.to_string(),
        path: inc.path.clone(),
        params: inc.pairs.clone(),
        idempotency_key: inc.idempotency_key.clone(),
        key: api_key(inc.authorization.as_deref()).map(|k| mask(&k)),
        stripe_version: inc.stripe_version.clone(),
        http_status,
        outcome,
    };
    sb.lock().requests.push(entry);
}

/// The answer to `close_connection`. With a kill switch it is never written; without one
/// (the router served elsewhere) its body fails before the first byte, so hyper aborts.
fn broken_response() -> Response {
    let failing = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_hosts() {
        let post = Method::POST;
        assert_eq!(
            Route::parse(&post, "/v1/checkout/sessions/cs_1/expire"),
            Some(Route::ExpireSession("cs_1".into()))
        );
        assert_eq!(Route::parse(&post, "/v1/checkout/sessions/cs_1"), None);
        assert_eq!(Route::parse(&Method::GET, "/v2/checkout/sessions"), None);
        assert_eq!(base_url(Some("127.0.0.1:4242")), "http://127.0.0.1:4242");
        assert_eq!(base_url(Some("evil\"><script>")), "http://127.0.0.1");
    }
}
