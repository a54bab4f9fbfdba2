//! A small server that plays Stripe's Checkout Sessions API for the client's tests:
//! API keys checked (a restricted key lacks permissions), idempotency keys stored and
//! replayed (other parameters refused), list paging newest first, and faults on demand.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

pub const KEY: &str = "sk_test_fakeKEY0123456789";
pub const LIMITED_KEY: &str = "rk_test_limitedKEY0123456789";
/// The fake's clock: sessions are "created" from here on, one second apart.
pub const EPOCH: i64 = 1_700_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Create,
    Retrieve,
    List,
}

#[derive(Debug, Clone)]
pub enum Fault {
    Status {
        code: u16,
        body: Value,
        retry_after: Option<u64>,
    },
    Delay(Duration),
}

#[derive(Debug, Clone)]
pub struct Recorded {
    pub target: Target,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub form: Vec<(String, String)>,
}

/// A form body's pairs.
pub type FormPairs = Vec<(String, String)>;

/// What Stripe keeps for an idempotency key: the parameters it came with, and the answer.
pub type Stored = (FormPairs, u16, Value);

#[derive(Default)]
pub struct Fake {
    /// Sessions in creation order.
    pub sessions: Mutex<Vec<Value>>,
    /// Idempotency key → the first request's answer, as Stripe stores them.
    pub keys: Mutex<HashMap<String, Stored>>,
    pub requests: Mutex<Vec<Recorded>>,
    pub faults: Mutex<VecDeque<(Target, Fault)>>,
}

pub type Shared = Arc<Fake>;

impl Fake {
    pub fn fault(&self, target: Target, fault: Fault, times: usize) {
        let mut f = self.faults.lock().unwrap();
        for _ in 0..times {
            f.push_back((target, fault.clone()));
        }
    }

    pub fn requests(&self, target: Target) -> Vec<Recorded> {
        let r = self.requests.lock().unwrap();
        r.iter().filter(|r| r.target == target).cloned().collect()
    }

    pub fn add_session(&self, reference: &str) -> String {
        let mut s = self.sessions.lock().unwrap();
        let n = s.len();
        let id = format!("cs_test_{n:04}");
        s.push(json!({
            "id": id, "object": "checkout.session", "status": "open", "payment_status": "unpaid",
            "amount_total": 1250, "currency": "usd", "client_reference_id": reference,
            "url": format!("https://checkout.stripe.test/c/pay/{id}"),
            "payment_intent": null, "metadata": {}, "created": EPOCH + n as i64,
        }));
        id
    }

    pub fn update(&self, id: &str, patch: Value) {
        let mut s = self.sessions.lock().unwrap();
        let session = s.iter_mut().find(|s| s["id"] == id).expect("session");
        for (k, v) in patch.as_object().unwrap() {
            session[k] = v.clone();
        }
    }
}

pub fn stripe_error(code: u16, kind: &str, err_code: Option<&str>, message: &str) -> (u16, Value) {
    (
        code,
        json!({"error": {"type": kind, "code": err_code, "message": message,
            "doc_url": "https://stripe.com/docs/error-codes"}}),
    )
}

fn reply(status: u16, body: Value, extra: &[(&'static str, String)]) -> Response {
    let mut r = (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response();
    for (k, v) in extra {
        r.headers_mut().insert(*k, v.parse().unwrap());
    }
    r
}

/// Records the request, then plays the next fault for `target`, if any.
async fn arrive(
    fake: &Fake,
    target: Target,
    path: String,
    query: Option<String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<Response> {
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    fake.requests.lock().unwrap().push(Recorded {
        target,
        path,
        query: query.unwrap_or_default(),
        headers: headers.clone(),
        form,
    });
    let fault = {
        let mut faults = fake.faults.lock().unwrap();
        let at = faults.iter().position(|(t, _)| *t == target);
        at.and_then(|i| faults.remove(i)).map(|(_, f)| f)
    };
    let faulted = match fault {
        Some(Fault::Status {
            code,
            body,
            retry_after,
        }) => {
            let extra: Vec<(&'static str, String)> = retry_after
                .map(|s| ("retry-after", s.to_string()))
                .into_iter()
                .collect();
            Some(reply(code, body, &extra))
        }
        Some(Fault::Delay(d)) => {
            tokio::time::sleep(d).await;
            None
        }
        None => None,
    };
    if faulted.is_some() {
        return faulted;
    }
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    let (code, body) = match auth {
        Some(a) if a == format!("Bearer {KEY}") => return None,
        Some(a) if a == format!("Bearer {LIMITED_KEY}") => stripe_error(
            403,
            "invalid_request_error",
            None,
            "The provided key 'rk_test_*****************6789' does not have the required permissions for this endpoint.",
        ),
        _ => stripe_error(
            401,
            "invalid_request_error",
            None,
            "Invalid API Key provided: sk_test_*****************6789",
        ),
    };
    Some(reply(code, body, &[]))
}

async fn create(State(fake): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    // In a task of its own: a create the client gave up on still lands, as at Stripe.
    tokio::spawn(create_inner(fake, headers, body))
        .await
        .unwrap()
}

async fn create_inner(fake: Shared, headers: HeaderMap, body: Bytes) -> Response {
    let path = "/v1/checkout/sessions".to_string();
    if let Some(r) = arrive(&fake, Target::Create, path, None, &headers, &body).await {
        return r;
    }
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap();
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let Some(key) = &key
        && let Some((sent, status, body)) = fake.keys.lock().unwrap().get(key).cloned()
    {
        if sent != form {
            let (code, body) = stripe_error(
                400,
                "idempotency_error",
                None,
                "Keys for idempotent requests can only be used with the same parameters they were first used with.",
            );
            return reply(code, body, &[]);
        }
        return reply(status, body, &[("idempotent-replayed", "true".into())]);
    }
    let get = |k: &str| {
        form.iter()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let amount: i64 = get("line_items[0][price_data][unit_amount]")
        .parse()
        .unwrap();
    let currency = get("line_items[0][price_data][currency]");
    // Stripe's own rule for currencies without a fixed minimum: USD 0.50 or equivalent.
    let (status, answer) = if currency == "clp" && amount < 450 {
        stripe_error(
            400,
            "invalid_request_error",
            Some("amount_too_small"),
            "The Checkout Session's total amount due must add up to at least $0.50 usd",
        )
    } else {
        let id = fake.add_session(&get("client_reference_id"));
        fake.update(
            &id,
            json!({"amount_total": amount, "currency": currency,
                "metadata": {"paymentId": get("metadata[paymentId]")}}),
        );
        let s = fake.sessions.lock().unwrap();
        (200, s.last().unwrap().clone())
    };
    if let Some(key) = key {
        fake.keys
            .lock()
            .unwrap()
            .insert(key, (form, status, answer.clone()));
    }
    reply(status, answer, &[])
}

async fn retrieve(
    State(fake): State<Shared>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let path = format!("/v1/checkout/sessions/{id}");
    if let Some(r) = arrive(&fake, Target::Retrieve, path, query.clone(), &headers, b"").await {
        return r;
    }
    let expand = query
        .unwrap_or_default()
        .contains("expand[]=payment_intent");
    let found = fake
        .sessions
        .lock()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id.as_str())
        .cloned();
    match found {
        Some(mut s) => {
            // The fake keeps intents expanded; unexpanded, Stripe gives only the id.
            if !expand && s["payment_intent"].is_object() {
                s["payment_intent"] = s["payment_intent"]["id"].clone();
            }
            reply(200, s, &[])
        }
        None => {
            let (code, body) = stripe_error(
                404,
                "invalid_request_error",
                Some("resource_missing"),
                &format!("No such checkout.session: '{id}'"),
            );
            reply(code, body, &[])
        }
    }
}

async fn list(
    State(fake): State<Shared>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let path = "/v1/checkout/sessions".to_string();
    if let Some(r) = arrive(&fake, Target::List, path, query.clone(), &headers, b"").await {
        return r;
    }
    let q: Vec<(String, String)> = serde_urlencoded::from_str(&query.unwrap_or_default()).unwrap();
    let param = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let gte: i64 = param("created[gte]").map_or(0, |v| v.parse().unwrap());
    let limit: usize = param("limit").map_or(10, |v| v.parse().unwrap());
    let mut all: Vec<Value> = fake.sessions.lock().unwrap().clone();
    all.reverse(); // newest first
    all.retain(|s| s["created"].as_i64().unwrap() >= gte);
    if let Some(after) = param("starting_after") {
        let at = all.iter().position(|s| s["id"] == after.as_str()).unwrap();
        all.drain(..=at);
    }
    let has_more = all.len() > limit;
    all.truncate(limit);
    for s in &mut all {
        if s["payment_intent"].is_object() {
            s["payment_intent"] = s["payment_intent"]["id"].clone();
        }
    }
    reply(
        200,
        json!({"object": "list", "url": "/v1/checkout/sessions", "has_more": has_more, "data": all}),
        &[],
    )
}

pub async fn fake_stripe() -> (Shared, SocketAddr) {
    let fake: Shared = Arc::default();
    let app = Router::new()
        .route("/v1/checkout/sessions", post(create).get(list))
        .route("/v1/checkout/sessions/{id}", get(retrieve))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (fake, addr)
}
