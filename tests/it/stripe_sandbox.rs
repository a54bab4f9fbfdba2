//! The offline Stripe sandbox over real HTTP: bracket-notation forms from reqwest, the
//! hosted checkout page, a webhook receiver on port 0 whose `Stripe-Signature` the test
//! checks with its own HMAC, and the control API. No test sleeps blindly: each waits for a
//! condition with a deadline.

use std::future::IntoFuture;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac};
use paylink::domain::{Currency, Money, Timestamp};
use paylink::gateway::stripe::{StripeClient, StripeConfig};
use paylink::gateway::{CheckoutRequest, Gateway, Lookup, Verdict};
use paylink::sandbox::stripe::{
    DEFAULT_STRIPE_TEST_KEY, DEFAULT_WEBHOOK_SECRET, DeliveryPolicy, Fault, FaultKind, FaultTarget,
    Outcome, RunningStripeSandbox, StripeSandbox, StripeSandboxConfig, StripeSandboxError,
    WebhookEndpointConfig,
};
use proptest::prelude::*;
use secrecy::SecretString;
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::fuzz_inputs::{numeric_text, runner};
use crate::support::wait_for;

const KEY: &str = DEFAULT_STRIPE_TEST_KEY;
const RESTRICTED_KEY: &str = "rk_test_paylink_restricted";
const SUCCESS: &str = "http://127.0.0.1:9/paid?session={CHECKOUT_SESSION_ID}";
const WAIT: Duration = Duration::from_secs(5);

/// A valid create form with `extra` replacing or adding parameters and `without` removed.
fn create_form<'a>(extra: &[(&'a str, &'a str)], without: &[&str]) -> Vec<(&'a str, &'a str)> {
    let mut params = vec![
        ("mode", "payment"),
        ("line_items[0][price_data][currency]", "usd"),
        ("line_items[0][price_data][unit_amount]", "1250"),
        (
            "line_items[0][price_data][product_data][name]",
            "Clase de yoga",
        ),
        ("line_items[0][quantity]", "1"),
        ("client_reference_id", "pay_1"),
        ("customer_email", "payer@gmail.com"),
        ("metadata[paymentId]", "pay_1"),
        ("payment_intent_data[metadata][paymentId]", "pay_1"),
        ("success_url", SUCCESS),
        ("cancel_url", "http://127.0.0.1:9/cancel"),
        ("locale", "es"),
    ];
    params.retain(|(k, _)| !without.contains(k) && extra.iter().all(|(e, _)| e != k));
    params.extend_from_slice(extra);
    params
}

/// Deliveries retried after 20, 40 and 80 ms, so retry tests take well under a second.
fn fast_config() -> StripeSandboxConfig {
    StripeSandboxConfig {
        api_keys: vec![KEY.to_string(), RESTRICTED_KEY.to_string()],
        webhook_endpoints: Vec::new(),
        delivery: DeliveryPolicy {
            timeout: Duration::from_secs(5),
            retry_delays: [20, 40, 80].map(Duration::from_millis).to_vec(),
        },
    }
}

/// A running sandbox and one HTTP client that does not follow redirects.
struct Env {
    sb: RunningStripeSandbox,
    http: reqwest::Client,
}

impl Env {
    async fn start() -> Env {
        Env::with(fast_config()).await
    }

    async fn with(config: StripeSandboxConfig) -> Env {
        Env {
            sb: StripeSandbox::start(config).await.unwrap(),
            http: reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    fn sandbox(&self) -> &StripeSandbox {
        &self.sb.sandbox
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sb.api_base)
    }

    async fn send(req: reqwest::RequestBuilder) -> (u16, HeaderMap, Value) {
        let resp = req.send().await.unwrap();
        let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON: {text}"));
        (status, headers, body)
    }

    async fn post(&self, path: &str, params: &[(&str, &str)]) -> (u16, Value) {
        let req = self.http.post(self.url(path)).bearer_auth(KEY).form(params);
        let (status, _, body) = Env::send(req).await;
        (status, body)
    }

    async fn post_idem(
        &self,
        key: &str,
        idempotency_key: &str,
        params: &[(&str, &str)],
    ) -> (u16, HeaderMap, Value) {
        let req = self
            .http
            .post(self.url("/v1/checkout/sessions"))
            .bearer_auth(key)
            .header("idempotency-key", idempotency_key)
            .form(params);
        Env::send(req).await
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
        let req = self.http.get(self.url(path)).bearer_auth(KEY).query(query);
        let (status, _, body) = Env::send(req).await;
        (status, body)
    }

    async fn create(&self, extra: &[(&str, &str)]) -> Value {
        let (status, body) = self
            .post("/v1/checkout/sessions", &create_form(extra, &[]))
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    async fn retrieve(&self, id: &str) -> Value {
        let (status, body) = self.get(&format!("/v1/checkout/sessions/{id}"), &[]).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// The ids of a list answer, and its `has_more`.
    async fn list(&self, query: &[(&str, &str)]) -> (Vec<String>, bool) {
        let (status, body) = self.get("/v1/checkout/sessions", query).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            (&body["object"], &body["url"]),
            (&json!("list"), &json!("/v1/checkout/sessions"))
        );
        let ids = body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect();
        (ids, body["has_more"].as_bool().unwrap())
    }

    async fn control(&self, path: &str, body: Value) -> (u16, Value) {
        let req = self
            .http
            .post(self.url(&format!("/sandbox/{path}")))
            .json(&body);
        let (status, _, body) = Env::send(req).await;
        (status, body)
    }

    async fn control_get(&self, path: &str) -> (u16, Value) {
        let (status, _, body) =
            Env::send(self.http.get(self.url(&format!("/sandbox/{path}")))).await;
        (status, body)
    }

    async fn page(&self, id: &str) -> (u16, String) {
        let resp = self
            .http
            .get(self.url(&format!("/c/pay/{id}")))
            .send()
            .await;
        let resp = resp.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    /// Submits the checkout page's form.
    async fn pay(&self, id: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let url = self.url(&format!("/c/pay/{id}"));
        self.http.post(url).form(form).send().await.unwrap()
    }
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_string()
}

#[derive(Clone, Debug)]
struct Hit {
    signature: String,
    body: String,
}

/// A merchant webhook endpoint on port 0 recording what it receives; it can be told to
/// answer 500 to the next few deliveries.
struct Receiver {
    url: String,
    hits: Arc<Mutex<Vec<Hit>>>,
    failures_left: Arc<AtomicU32>,
}

impl Receiver {
    async fn start() -> Receiver {
        let hits = Arc::new(Mutex::new(Vec::new()));
        let failures_left = Arc::new(AtomicU32::new(0));
        let (seen, failing) = (hits.clone(), failures_left.clone());
        let app = axum::Router::new().route(
            "/hook",
            post(move |headers: HeaderMap, body: String| async move {
                let signature = headers
                    .get("stripe-signature")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                seen.lock().unwrap().push(Hit { signature, body });
                let fail = failing
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                if fail {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(axum::serve(listener, app).into_future());
        Receiver {
            url,
            hits,
            failures_left,
        }
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// Every event received, each signature checked against `secret`.
    fn events(&self, secret: &str) -> Vec<Value> {
        self.hits().iter().map(|h| verify(secret, h)).collect()
    }

    fn types(&self, secret: &str) -> Vec<String> {
        let mut types: Vec<String> = self
            .events(secret)
            .iter()
            .map(|e| e["type"].as_str().unwrap().to_string())
            .collect();
        types.sort();
        types
    }

    async fn wait_for_hits(&self, n: usize) {
        let what = format!("{n} webhook deliveries");
        wait_for(&what, WAIT, || async { self.hits().len() >= n }).await;
    }

    /// Waits for an event of `kind` and returns it (signature checked).
    async fn event(&self, secret: &str, kind: &str) -> Value {
        let what = format!("a {kind} event");
        wait_for(&what, WAIT, || async {
            self.events(secret).iter().any(|e| e["type"] == kind)
        })
        .await;
        let events = self.events(secret);
        events.into_iter().find(|e| e["type"] == kind).unwrap()
    }
}

/// Checks `Stripe-Signature: t=…,v1=…` independently of the sandbox (HMAC-SHA256 of
/// `"{t}.{body}"` keyed with the secret, `t` within five minutes) and returns the event.
fn verify(secret: &str, hit: &Hit) -> Value {
    let mut t = None;
    let mut v1 = Vec::new();
    for part in hit.signature.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = Some(value),
            Some(("v1", value)) => v1.push(value),
            _ => {}
        }
    }
    let t = t.unwrap_or_else(|| panic!("no t= in {:?}", hit.signature));
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{}", hit.body).as_bytes());
    let expected = hex::encode(mac.finalize().into_bytes());
    assert!(v1.contains(&expected.as_str()), "bad signature {hit:?}");
    let age = time::OffsetDateTime::now_utc().unix_timestamp() - t.parse::<i64>().unwrap();
    assert!(age.abs() <= 300, "t is {age} s from now");
    serde_json::from_str(&hit.body).unwrap()
}

#[tokio::test]
async fn a_created_session_has_stripes_shape_and_is_retrieved_as_created() {
    let env = Env::start().await;
    let req = env
        .http
        .post(env.url("/v1/checkout/sessions"))
        .bearer_auth(KEY)
        .header("stripe-version", "2024-06-20")
        .form(&create_form(&[], &[]));
    let (status, headers, created) = Env::send(req).await;
    assert_eq!(status, 200, "{created}");
    let request_id = headers["request-id"].to_str().unwrap();
    assert!(request_id.starts_with("req_"), "{request_id}");
    let id = id_of(&created);
    assert!(id.starts_with("cs_test_"), "{id}");
    let created_at = created["created"].as_i64().unwrap();
    let expected = json!({
        "id": id,
        "object": "checkout.session",
        "url": env.url(&format!("/c/pay/{id}")),
        "status": "open",
        "payment_status": "unpaid",
        "amount_total": 1250,
        "amount_subtotal": 1250,
        "currency": "usd",
        "client_reference_id": "pay_1",
        "customer_email": "payer@gmail.com",
        "customer_details": null,
        "metadata": {"paymentId": "pay_1"},
        "expires_at": created_at + 24 * 3600,
        "created": created_at,
        "mode": "payment",
        "livemode": false,
        "payment_intent": null,
        "payment_method_types": ["card"],
        "success_url": SUCCESS,
        "cancel_url": "http://127.0.0.1:9/cancel",
        "locale": "es",
    });
    assert_eq!(created, expected);
    assert_eq!(env.retrieve(&id).await, created);
    let (status, missing) = env.get("/v1/checkout/sessions/cs_test_nope", &[]).await;
    assert_eq!(status, 404);
    assert_eq!(
        (&missing["error"]["code"], &missing["error"]["param"]),
        (&json!("resource_missing"), &json!("id"))
    );
    let recorded = env.sandbox().requests();
    assert_eq!(recorded[0].request_id, request_id);
    assert_eq!(recorded[0].stripe_version.as_deref(), Some("2024-06-20"));
}

#[tokio::test]
async fn the_list_filters_by_created_status_and_payment_intent_and_pages_newest_first() {
    let env = Env::start().await;
    let a_json = env.create(&[("client_reference_id", "pay_a")]).await;
    let a = id_of(&a_json);
    env.sandbox().advance_clock(100);
    let b_json = env.create(&[("client_reference_id", "pay_b")]).await;
    let b = id_of(&b_json);
    env.sandbox().advance_clock(100);
    let c = id_of(&env.create(&[("client_reference_id", "pay_c")]).await);
    let b_created = b_json["created"].as_i64().unwrap().to_string();
    let a_created = a_json["created"].as_i64().unwrap().to_string();

    assert_eq!(
        env.list(&[]).await,
        (vec![c.clone(), b.clone(), a.clone()], false)
    );
    assert_eq!(env.list(&[("limit", "1")]).await, (vec![c.clone()], true));
    assert_eq!(
        env.list(&[("limit", "1"), ("starting_after", &c)]).await,
        (vec![b.clone()], true)
    );
    assert_eq!(
        env.list(&[("limit", "1"), ("starting_after", &b)]).await,
        (vec![a.clone()], false)
    );
    assert_eq!(
        env.list(&[("limit", "1"), ("ending_before", &a)]).await,
        (vec![b.clone()], true)
    );
    assert_eq!(
        env.list(&[("created[gte]", &b_created)]).await.0,
        [c.clone(), b.clone()]
    );
    assert_eq!(
        env.list(&[("created[lt]", &b_created)]).await.0,
        [a.as_str()]
    );
    assert_eq!(
        env.list(&[("created[gt]", &a_created), ("created[lte]", &b_created)])
            .await
            .0,
        [b.as_str()]
    );
    assert_eq!(env.list(&[("created", &a_created)]).await.0, [a.as_str()]);

    let report = env.sandbox().settle(&b, Outcome::Paid).unwrap();
    let pi = report.session["payment_intent"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(env.list(&[("payment_intent", &pi)]).await.0, [b.as_str()]);
    assert_eq!(env.list(&[("status", "complete")]).await.0, [b.as_str()]);
    assert_eq!(
        env.list(&[("status", "open")]).await.0,
        [c.clone(), a.clone()]
    );

    for (query, code) in [
        (("limit", "0"), "parameter_invalid_integer"),
        (("limit", "abc"), "parameter_invalid_integer"),
        (("starting_after", "cs_test_nope"), "resource_missing"),
        (("colour", "red"), "parameter_unknown"),
    ] {
        let (status, body) = env.get("/v1/checkout/sessions", &[query]).await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (400, &json!(code)),
            "{query:?}"
        );
    }
}

#[tokio::test]
async fn paying_on_the_checkout_page_completes_the_session_and_sends_signed_webhooks() {
    let receiver = Receiver::start().await;
    let mut config = fast_config();
    config.webhook_endpoints = vec![WebhookEndpointConfig::new(&receiver.url)];
    let env = Env::with(config).await;
    let id = id_of(&env.create(&[]).await);

    let (status, html) = env.page(&id).await;
    assert_eq!(status, 200);
    for needle in [
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        "12.50 USD",
        "Clase de yoga",
        "name=\"card\"",
        "href=\"http://127.0.0.1:9/cancel\"",
    ] {
        assert!(html.contains(needle), "{needle} missing from {html}");
    }

    let paid = env.pay(&id, &[("card", "4242 4242 4242 4242")]).await;
    assert_eq!(paid.status(), 303);
    let expected = SUCCESS.replace("{CHECKOUT_SESSION_ID}", &id);
    assert_eq!(paid.headers()["location"], expected.as_str());

    let completed = receiver
        .event(DEFAULT_WEBHOOK_SECRET, "checkout.session.completed")
        .await;
    receiver.wait_for_hits(2).await;
    assert_eq!(
        receiver.types(DEFAULT_WEBHOOK_SECRET),
        ["checkout.session.completed", "payment_intent.succeeded"]
    );
    assert!(completed["id"].as_str().unwrap().starts_with("evt_"));
    assert_eq!(
        (&completed["object"], &completed["livemode"]),
        (&json!("event"), &json!(false))
    );
    assert_eq!(completed["pending_webhooks"], 1);
    assert_eq!(
        completed["request"],
        json!({"id": null, "idempotency_key": null})
    );
    let object = &completed["data"]["object"];
    assert_eq!(
        (&object["id"], &object["status"]),
        (&json!(id), &json!("complete"))
    );
    assert_eq!(object["payment_status"], "paid");
    let pi_event = receiver
        .event(DEFAULT_WEBHOOK_SECRET, "payment_intent.succeeded")
        .await;
    let pi = &pi_event["data"]["object"];
    assert_eq!(
        (&pi["object"], &pi["status"], &pi["amount"], &pi["currency"]),
        (
            &json!("payment_intent"),
            &json!("succeeded"),
            &json!(1250),
            &json!("usd")
        )
    );
    assert_eq!(pi["metadata"], json!({"paymentId": "pay_1"}));
    assert!(pi["latest_charge"].as_str().unwrap().starts_with("ch_"));

    let session = env.retrieve(&id).await;
    assert_eq!(
        (
            &session["status"],
            &session["payment_status"],
            &session["url"]
        ),
        (&json!("complete"), &json!("paid"), &Value::Null)
    );
    assert_eq!(session["payment_intent"], pi["id"]);
    let expanded = env
        .get(
            &format!("/v1/checkout/sessions/{id}"),
            &[("expand[]", "payment_intent")],
        )
        .await
        .1;
    assert_eq!(expanded["payment_intent"]["status"], "succeeded");
    assert!(
        env.page(&id)
            .await
            .1
            .contains("This checkout session is paid.")
    );
    wait_for("two delivery records", WAIT, || async {
        env.sandbox().deliveries().len() == 2
    })
    .await;
    let deliveries = env.sandbox().deliveries();
    assert!(deliveries.iter().all(|d| d.succeeded() && d.attempt == 1));
}

#[tokio::test]
async fn a_declined_card_leaves_the_session_open_and_sends_payment_failed() {
    let receiver = Receiver::start().await;
    let env = Env::start().await;
    let secret = env.sandbox().add_webhook_endpoint(&receiver.url, &["*"]);
    let id = id_of(&env.create(&[]).await);

    let declined = env.pay(&id, &[("card", "4000000000000002")]).await;
    assert_eq!(declined.status(), 402);
    let html = declined.text().await.unwrap();
    assert!(
        html.contains("id=\"declined\"") && html.contains("declined"),
        "{html}"
    );

    let failed = receiver
        .event(&secret, "payment_intent.payment_failed")
        .await;
    let pi = &failed["data"]["object"];
    assert_eq!(pi["status"], "requires_payment_method");
    assert_eq!(pi["last_payment_error"]["code"], "card_declined");
    assert_eq!(pi["last_payment_error"]["decline_code"], "generic_decline");
    let session = env.retrieve(&id).await;
    assert_eq!(
        (&session["status"], &session["payment_status"]),
        (&json!("open"), &json!("unpaid"))
    );
    assert_eq!(session["payment_intent"], pi["id"]);

    // A second attempt with a good card pays the same PaymentIntent.
    assert_eq!(
        env.pay(&id, &[("card", "4242424242424242")]).await.status(),
        303
    );
    let session = env.retrieve(&id).await;
    assert_eq!(session["payment_status"], "paid");
    assert_eq!(session["payment_intent"], pi["id"]);
    let unknown = env.pay(&id, &[("card", "1234")]).await;
    assert_eq!(unknown.status(), 200, "a paid session shows its final page");
}

#[tokio::test]
async fn a_delayed_method_completes_unpaid_then_succeeds_or_fails() {
    let receiver = Receiver::start().await;
    let env = Env::start().await;
    let secret = env.sandbox().add_webhook_endpoint(&receiver.url, &[]);

    // Completes now, clears when the control API says so.
    let later = id_of(&env.create(&[]).await);
    let pending = env.pay(&later, &[("method", "async_pending")]).await;
    assert_eq!(pending.status(), 303);
    let completed = receiver.event(&secret, "checkout.session.completed").await;
    assert_eq!(completed["data"]["object"]["payment_status"], "unpaid");
    let session = env.retrieve(&later).await;
    assert_eq!(
        (&session["status"], &session["payment_status"]),
        (&json!("complete"), &json!("unpaid"))
    );
    assert!(env.page(&later).await.1.contains("processing"));
    let (status, report) = env
        .control(
            "settle",
            json!({"session": later, "outcome": "async_succeeded"}),
        )
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["session"]["payment_status"], "paid");
    receiver
        .event(&secret, "checkout.session.async_payment_succeeded")
        .await;
    assert_eq!(env.retrieve(&later).await["payment_status"], "paid");
    let (status, refused) = env
        .control("settle", json!({"session": later, "outcome": "paid"}))
        .await;
    assert_eq!(status, 409, "{refused}");

    // Fails later, through the Rust API.
    let failing = id_of(&env.create(&[]).await);
    env.sandbox()
        .settle(&failing, Outcome::AsyncPending)
        .unwrap();
    let report = env
        .sandbox()
        .settle(&failing, Outcome::AsyncFailed)
        .unwrap();
    assert_eq!(report.events.len(), 2);
    assert_eq!(
        report.payment_intent.unwrap()["status"],
        "requires_payment_method"
    );
    let failed = receiver
        .event(&secret, "checkout.session.async_payment_failed")
        .await;
    assert_eq!(failed["data"]["object"]["id"], failing);
    let session = env.retrieve(&failing).await;
    assert_eq!(
        (&session["status"], &session["payment_status"]),
        (&json!("complete"), &json!("unpaid"))
    );
    assert!(matches!(
        env.sandbox().settle(&failing, Outcome::AsyncSucceeded),
        Err(StripeSandboxError::NotAllowed { .. })
    ));

    // The "clears now" button completes and pays at once.
    let now = id_of(&env.create(&[]).await);
    assert_eq!(
        env.pay(&now, &[("method", "async_success")]).await.status(),
        303
    );
    assert_eq!(env.retrieve(&now).await["payment_status"], "paid");
}

#[tokio::test]
async fn the_clock_expires_sessions_and_expire_ends_an_open_one() {
    let receiver = Receiver::start().await;
    let env = Env::start().await;
    let secret = env
        .sandbox()
        .add_webhook_endpoint(&receiver.url, &["checkout.session.expired"]);
    let now = env.sandbox().now().unix_timestamp();
    let soon = (now + 1810).to_string();
    let id = id_of(&env.create(&[("expires_at", &soon)]).await);

    env.sandbox().advance_clock(1790);
    assert_eq!(env.retrieve(&id).await["status"], "open");
    let (status, clock) = env.control("clock/advance", json!({"seconds": 30})).await;
    assert_eq!(status, 200, "{clock}");
    let expired = receiver.event(&secret, "checkout.session.expired").await;
    assert_eq!(expired["data"]["object"]["id"], id);
    let session = env.retrieve(&id).await;
    assert_eq!(
        (&session["status"], &session["url"]),
        (&json!("expired"), &Value::Null)
    );
    assert!(env.page(&id).await.1.contains("expired"));
    assert!(env.sandbox().settle(&id, Outcome::Paid).is_err());

    let open = id_of(&env.create(&[]).await);
    let path = format!("/v1/checkout/sessions/{open}/expire");
    let (status, body) = env.post(&path, &[]).await;
    assert_eq!(
        (status, &body["status"]),
        (200, &json!("expired")),
        "{body}"
    );
    let (status, again) = env.post(&path, &[]).await;
    assert_eq!(status, 400, "{again}");
    let (status, _) = env
        .post("/v1/checkout/sessions/cs_test_nope/expire", &[])
        .await;
    assert_eq!(status, 404);
    receiver.wait_for_hits(2).await;

    let now = env.sandbox().now().unix_timestamp();
    for at in [now + 1700, now + 24 * 3600 + 60, 0] {
        let at = at.to_string();
        let (status, body) = env
            .post(
                "/v1/checkout/sessions",
                &create_form(&[("expires_at", &at)], &[]),
            )
            .await;
        assert_eq!(status, 400, "{at}");
        assert_eq!(
            (&body["error"]["code"], &body["error"]["param"]),
            (&json!("parameter_invalid_integer"), &json!("expires_at"))
        );
    }
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_answer_and_refuses_other_parameters() {
    let env = Env::start().await;
    let params = create_form(&[], &[]);
    let (status, headers, first) = env.post_idem(KEY, "order-1", &params).await;
    assert_eq!(status, 200);
    assert!(headers.get("idempotent-replayed").is_none());
    let (status, headers, replay) = env.post_idem(KEY, "order-1", &params).await;
    assert_eq!((status, &replay), (200, &first));
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(env.list(&[]).await.0, [id_of(&first)]);

    let other = create_form(&[("line_items[0][price_data][unit_amount]", "1300")], &[]);
    let (status, _, mismatch) = env.post_idem(KEY, "order-1", &other).await;
    assert_eq!(status, 400);
    assert_eq!(mismatch["error"]["type"], "idempotency_error");

    // Keys are kept per API key.
    let (status, _, restricted) = env.post_idem(RESTRICTED_KEY, "order-1", &params).await;
    assert_eq!(status, 200);
    assert_ne!(id_of(&restricted), id_of(&first));

    // As Stripe documents, a request that fails validation keeps nothing for its key.
    let bad = create_form(&[("colour", "red")], &[]);
    let (status, _, refused) = env.post_idem(KEY, "order-2", &bad).await;
    assert_eq!(
        (status, &refused["error"]["code"]),
        (400, &json!("parameter_unknown"))
    );
    let (status, headers, fixed) = env.post_idem(KEY, "order-2", &params).await;
    assert_eq!(status, 200, "{fixed}");
    assert!(headers.get("idempotent-replayed").is_none());

    let recorded = env.sandbox().requests();
    assert_eq!(recorded[1].outcome, "replayed");
    assert_eq!(recorded[1].idempotency_key.as_deref(), Some("order-1"));
    let log = serde_json::to_string(&recorded).unwrap();
    assert!(!log.contains(KEY) && !log.contains("Bearer"), "{log}");
    assert_eq!(recorded[0].key.as_deref(), Some("sk_test_****dbox"));
}

/// A create form, the error code it must get, and the `param` it must name.
type ErrorCase<'a> = (Vec<(&'a str, &'a str)>, &'a str, Value);

#[tokio::test]
async fn bad_parameters_get_stripes_errors_naming_the_parameter() {
    let env = Env::start().await;
    let cases: Vec<ErrorCase> = vec![
        (
            create_form(&[("colour", "red")], &[]),
            "parameter_unknown",
            json!("colour"),
        ),
        (
            create_form(&[("line_items[0][price_data][tax]", "1")], &[]),
            "parameter_unknown",
            json!("line_items[0][price_data][tax]"),
        ),
        (
            create_form(&[], &["mode"]),
            "parameter_missing",
            json!("mode"),
        ),
        (
            create_form(
                &[(
                    "line_items[0][price_data][product_data][description]",
                    "60 min",
                )],
                &["line_items[0][price_data][product_data][name]"],
            ),
            "parameter_missing",
            json!("line_items[0][price_data][product_data][name]"),
        ),
        (
            create_form(&[("line_items[0][price_data][unit_amount]", "12.50")], &[]),
            "parameter_invalid_integer",
            json!("line_items[0][price_data][unit_amount]"),
        ),
        (
            create_form(&[("line_items[0][price_data][unit_amount]", "49")], &[]),
            "amount_too_small",
            Value::Null,
        ),
        (
            create_form(
                &[
                    ("line_items[0][price_data][currency]", "gbp"),
                    ("line_items[0][price_data][unit_amount]", "29"),
                ],
                &[],
            ),
            "amount_too_small",
            Value::Null,
        ),
        (
            create_form(
                &[
                    ("line_items[0][price_data][currency]", "clp"),
                    ("line_items[0][price_data][unit_amount]", "499"),
                ],
                &[],
            ),
            "amount_too_small",
            Value::Null,
        ),
        (
            create_form(&[("customer_email", "not-an-email")], &[]),
            "email_invalid",
            json!("customer_email"),
        ),
        (
            create_form(&[("success_url", "/relative")], &[]),
            "url_invalid",
            json!("success_url"),
        ),
        (
            create_form(&[("client_reference_id", "")], &[]),
            "parameter_invalid_empty",
            json!("client_reference_id"),
        ),
    ];
    for (params, code, param) in cases {
        let (status, body) = env.post("/v1/checkout/sessions", &params).await;
        assert_eq!(status, 400, "{code}: {body}");
        let error = &body["error"];
        assert_eq!(
            (&error["code"], &error["param"]),
            (&json!(code), &param),
            "{body}"
        );
        assert_eq!(error["type"], "invalid_request_error");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let many: Vec<(String, String)> = (0..51)
        .map(|i| (format!("metadata[k{i}]"), "v".to_string()))
        .collect();
    let mut params: Vec<(&str, &str)> = create_form(&[], &["metadata[paymentId]"]);
    params.extend(many.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let (status, body) = env.post("/v1/checkout/sessions", &params).await;
    assert_eq!((status, &body["error"]["param"]), (400, &json!("metadata")));

    // Zero-decimal currencies take whole units.
    let clp = env
        .create(&[
            ("line_items[0][price_data][currency]", "clp"),
            ("line_items[0][price_data][unit_amount]", "5000"),
            ("line_items[0][quantity]", "2"),
        ])
        .await;
    assert_eq!(
        (&clp["amount_total"], &clp["currency"]),
        (&json!(10000), &json!("clp"))
    );
}

#[tokio::test]
async fn keys_that_are_missing_unknown_or_live_get_401() {
    let env = Env::start().await;
    let url = env.url("/v1/checkout/sessions");
    let params = create_form(&[], &[]);
    let answer = |req: reqwest::RequestBuilder| Env::send(req.form(&params));
    let (status, _, none) = answer(env.http.post(&url)).await;
    assert_eq!(status, 401, "{none}");
    let (status, _, wrong) =
        answer(env.http.post(&url).bearer_auth("sk_test_wrong_key_1234")).await;
    assert_eq!(status, 401);
    assert_eq!(wrong["error"]["type"], "invalid_request_error");
    assert!(
        wrong["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sk_test_****1234")
    );
    for live in ["sk_live_abcdefgh1234", "rk_live_abcdefgh1234"] {
        let (status, _, refused) = answer(env.http.post(&url).bearer_auth(live)).await;
        assert_eq!(status, 401);
        assert_eq!(refused["error"]["code"], "livemode_mismatch");
        let message = refused["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("test keys only") && !message.contains(live),
            "{message}"
        );
    }
    let (status, _, _) = answer(env.http.post(&url).bearer_auth(RESTRICTED_KEY)).await;
    assert_eq!(status, 200);
    let (status, _, _) = answer(env.http.post(&url).basic_auth(KEY, Some(""))).await;
    assert_eq!(status, 200);

    let live = StripeSandboxConfig {
        api_keys: vec!["sk_live_real_money".into()],
        ..fast_config()
    };
    assert!(StripeSandbox::start(live).await.is_err());
}

#[tokio::test]
async fn faults_answer_500_429_and_broken_bodies_then_clear() {
    let env = Env::start().await;
    let fault = |target, kind, times| Fault {
        target,
        kind,
        times: Some(times),
    };
    env.sandbox()
        .add_fault(fault(FaultTarget::Create, FaultKind::Http500, 1));
    let (status, body) = env
        .post("/v1/checkout/sessions", &create_form(&[], &[]))
        .await;
    assert_eq!((status, &body["error"]["type"]), (500, &json!("api_error")));
    let id = id_of(&env.create(&[]).await);

    let (status, faults) = env
        .control(
            "faults",
            json!({"target": "retrieve", "kind": {"kind": "http429", "retry_after": 3}, "times": 1}),
        )
        .await;
    assert_eq!((status, faults.as_array().unwrap().len()), (200, 1));
    let resp = env
        .http
        .get(env.url(&format!("/v1/checkout/sessions/{id}")))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "3");
    assert_eq!(resp.headers()["stripe-should-retry"], "true");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limit");

    env.sandbox()
        .add_fault(fault(FaultTarget::List, FaultKind::MalformedBody, 1));
    let malformed = env
        .http
        .get(env.url("/v1/checkout/sessions"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 200);
    assert!(malformed.json::<Value>().await.is_err());

    env.sandbox()
        .add_fault(fault(FaultTarget::Any, FaultKind::CloseConnection, 1));
    let closed = env
        .http
        .get(env.url(&format!("/v1/checkout/sessions/{id}")))
        .bearer_auth(KEY)
        .send()
        .await;
    assert!(closed.is_err(), "{closed:?}");

    env.sandbox().add_fault(fault(
        FaultTarget::Retrieve,
        FaultKind::Delay { ms: 200 },
        1,
    ));
    let started = Instant::now();
    assert_eq!(env.retrieve(&id).await["id"], id);
    assert!(started.elapsed() >= Duration::from_millis(200));

    env.sandbox().add_fault(Fault {
        target: FaultTarget::Create,
        kind: FaultKind::Http500,
        times: None,
    });
    assert_eq!(
        env.control_get("faults").await.1.as_array().unwrap().len(),
        1
    );
    let cleared = env
        .http
        .delete(env.url("/sandbox/faults"))
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.json::<Value>().await.unwrap(), json!([]));
    env.create(&[]).await;
    let outcomes: Vec<String> = env
        .sandbox()
        .requests()
        .into_iter()
        .map(|r| r.outcome)
        .collect();
    for expected in [
        "fault:http500",
        "fault:http429",
        "fault:malformed_body",
        "fault:close_connection",
    ] {
        assert!(
            outcomes.iter().any(|o| o == expected),
            "{expected} in {outcomes:?}"
        );
    }
}

#[tokio::test]
async fn timeout_then_create_makes_the_session_although_the_answer_comes_too_late() {
    let env = Env::start().await;
    env.sandbox().add_fault(Fault {
        target: FaultTarget::Create,
        kind: FaultKind::TimeoutThenCreate { ms: 3_000 },
        times: Some(1),
    });
    let impatient = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let params = create_form(&[("client_reference_id", "late_1")], &[]);
    let lost = impatient
        .post(env.url("/v1/checkout/sessions"))
        .bearer_auth(KEY)
        .header("idempotency-key", "late-1")
        .form(&params)
        .send()
        .await;
    assert!(lost.as_ref().is_err_and(|e| e.is_timeout()), "{lost:?}");

    // The client finds the session by listing recent ones and matching its reference.
    let (status, list) = env.get("/v1/checkout/sessions", &[("limit", "10")]).await;
    assert_eq!(status, 200);
    let found: Vec<&Value> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["client_reference_id"] == "late_1")
        .collect();
    assert_eq!(found.len(), 1);
    let recorded = env.sandbox().requests();
    assert!(
        recorded[0].outcome.starts_with("fault:timeout_then_create"),
        "{recorded:?}"
    );
    assert_eq!(recorded[0].http_status, 200);

    // A retry with the same key gets the session that was made, not a second one.
    let (status, headers, retried) = env.post_idem(KEY, "late-1", &params).await;
    assert_eq!(status, 200);
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(retried["id"], found[0]["id"]);
}

#[tokio::test]
async fn a_retry_during_a_slow_create_gets_409_and_later_the_replay() {
    let env = Env::start().await;
    env.sandbox().add_fault(Fault {
        target: FaultTarget::Create,
        kind: FaultKind::Delay { ms: 1_000 },
        times: Some(1),
    });
    let params: Vec<(String, String)> = create_form(&[], &[])
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let slow = env
        .http
        .post(env.url("/v1/checkout/sessions"))
        .bearer_auth(KEY)
        .header("idempotency-key", "slow-1")
        .form(&params)
        .send();
    let first = tokio::spawn(async move { slow.await.unwrap().json::<Value>().await.unwrap() });
    // The slow create takes the fault as it arrives, just before it claims its key.
    wait_for("the slow create to arrive", WAIT, || async {
        env.sandbox().faults().is_empty()
    })
    .await;
    let (status, headers, busy) = env.post_idem(KEY, "slow-1", &create_form(&[], &[])).await;
    assert_eq!(status, 409, "{busy}");
    assert_eq!(
        (&busy["error"]["type"], &busy["error"]["code"]),
        (
            &json!("idempotency_error"),
            &json!("idempotency_key_in_use")
        )
    );
    assert_eq!(headers["stripe-should-retry"], "true");
    let first = first.await.unwrap();
    let (status, headers, replay) = env.post_idem(KEY, "slow-1", &create_form(&[], &[])).await;
    assert_eq!((status, &replay), (200, &first));
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(env.list(&[]).await.0, [id_of(&first)]);
}

#[tokio::test]
async fn failed_deliveries_are_retried_until_the_endpoint_answers_2xx() {
    let receiver = Receiver::start().await;
    receiver.failures_left.store(2, Ordering::SeqCst);
    let env = Env::start().await;
    let (status, endpoint) = env
        .post(
            "/v1/webhook_endpoints",
            &[
                ("url", receiver.url.as_str()),
                ("enabled_events[]", "checkout.session.completed"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{endpoint}");
    let secret = endpoint["secret"].as_str().unwrap().to_string();
    let id = id_of(&env.create(&[]).await);
    env.sandbox().settle(&id, Outcome::Paid).unwrap();

    wait_for("a delivery that succeeded", WAIT, || async {
        env.sandbox().deliveries().iter().any(|d| d.succeeded())
    })
    .await;
    let attempts: Vec<(u32, Option<u16>, bool)> = env
        .sandbox()
        .deliveries()
        .iter()
        .map(|d| (d.attempt, d.http_status, d.will_retry))
        .collect();
    assert_eq!(
        attempts,
        [
            (1, Some(500), true),
            (2, Some(500), true),
            (3, Some(200), false)
        ]
    );
    let events = receiver.events(&secret);
    assert_eq!(events.len(), 3);
    assert!(
        events.iter().all(|e| e == &events[0]),
        "the same event each time"
    );
    assert_eq!(events[0]["type"], "checkout.session.completed");
}

#[tokio::test]
async fn deliveries_can_be_dropped_duplicated_and_redelivered() {
    let receiver = Receiver::start().await;
    let env = Env::start().await;
    let secret = env
        .sandbox()
        .add_webhook_endpoint(&receiver.url, &["checkout.session.completed"]);
    let sessions = [
        id_of(&env.create(&[]).await),
        id_of(&env.create(&[]).await),
        id_of(&env.create(&[]).await),
    ];
    let session_of = |e: &Value| e["data"]["object"]["id"].as_str().unwrap().to_string();

    assert_eq!(
        env.control("webhooks/drop", json!({"count": 1})).await.0,
        200
    );
    env.sandbox().settle(&sessions[0], Outcome::Paid).unwrap();
    env.sandbox().settle(&sessions[1], Outcome::Paid).unwrap();
    receiver.wait_for_hits(1).await;
    // Once the second session's event has arrived, the first provably never will.
    assert_eq!(session_of(&receiver.events(&secret)[0]), sessions[1]);
    let records = env.sandbox().deliveries();
    assert!(records.iter().any(|d| d.dropped && d.attempt == 0));

    assert_eq!(
        env.control("webhooks/duplicate", json!({"count": 1}))
            .await
            .0,
        200
    );
    env.sandbox().settle(&sessions[2], Outcome::Paid).unwrap();
    receiver.wait_for_hits(3).await;
    let twice: Vec<Value> = receiver.events(&secret)[1..].to_vec();
    assert_eq!(twice[0], twice[1]);
    assert_eq!(session_of(&twice[0]), sessions[2]);

    let completed_first = env
        .sandbox()
        .events()
        .into_iter()
        .find(|e| e["type"] == "checkout.session.completed" && session_of(e) == sessions[0])
        .unwrap()["id"]
        .clone();
    let (status, body) = env
        .control("webhooks/redeliver", json!({"event": completed_first}))
        .await;
    assert_eq!((status, &body["deliveries"]), (200, &json!(1)));
    receiver.wait_for_hits(4).await;
    assert_eq!(session_of(&receiver.events(&secret)[3]), sessions[0]);
    let (status, _) = env
        .control("webhooks/redeliver", json!({"event": "evt_nope"}))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn webhook_endpoints_are_created_listed_and_deleted() {
    let kept = Receiver::start().await;
    let deleted = Receiver::start().await;
    let env = Env::start().await;
    let env = &env;
    let create = |url: String| async move {
        let params = [("url", url.as_str()), ("enabled_events[]", "*")];
        env.post("/v1/webhook_endpoints", &params).await
    };
    let (status, first) = create(kept.url.clone()).await;
    assert_eq!(status, 200, "{first}");
    assert!(first["id"].as_str().unwrap().starts_with("we_"));
    assert!(first["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(
        (&first["object"], &first["status"], &first["enabled_events"]),
        (&json!("webhook_endpoint"), &json!("enabled"), &json!(["*"]))
    );
    let (_, second) = create(deleted.url.clone()).await;
    let (status, list) = env.get("/v1/webhook_endpoints", &[]).await;
    assert_eq!(status, 200);
    let listed = list["data"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|e| e.get("secret").is_none()));
    assert_eq!(listed[0]["id"], second["id"], "newest first");

    let path = format!("/v1/webhook_endpoints/{}", id_of(&second));
    let resp = env
        .http
        .delete(env.url(&path))
        .bearer_auth(KEY)
        .send()
        .await;
    let gone: Value = resp.unwrap().json().await.unwrap();
    assert_eq!(
        gone,
        json!({"id": second["id"], "object": "webhook_endpoint", "deleted": true})
    );
    assert_eq!(env.get(&path, &[]).await.0, 404);

    let id = id_of(&env.create(&[]).await);
    env.sandbox().settle(&id, Outcome::Paid).unwrap();
    kept.wait_for_hits(2).await;
    assert!(deleted.hits().is_empty());

    for (params, code) in [
        (vec![("enabled_events[]", "*")], "parameter_missing"),
        (
            vec![("url", "ftp://x"), ("enabled_events[]", "*")],
            "url_invalid",
        ),
        (vec![("url", "http://127.0.0.1:9/h")], "parameter_missing"),
        (
            vec![
                ("url", "http://127.0.0.1:9/h"),
                ("enabled_events[]", "Bad Event"),
            ],
            "invalid_request_error",
        ),
    ] {
        let (status, body) = env.post("/v1/webhook_endpoints", &params).await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (400, &json!(code)),
            "{params:?}"
        );
    }
}

#[tokio::test]
async fn the_control_api_lists_its_routes_and_shows_sessions_events_and_requests() {
    let receiver = Receiver::start().await;
    let env = Env::start().await;
    let (status, endpoint) = env
        .control(
            "webhook_endpoints",
            json!({"url": receiver.url, "secret": "whsec_mine"}),
        )
        .await;
    assert_eq!((status, &endpoint["secret"]), (200, &json!("whsec_mine")));
    let (status, index) = env.control_get("").await;
    assert_eq!(status, 200);
    let paths: Vec<&str> = index["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    for path in [
        "/sandbox/settle",
        "/sandbox/clock/advance",
        "/sandbox/faults",
        "/sandbox/webhooks/redeliver",
    ] {
        assert!(paths.contains(&path), "{path} in {paths:?}");
    }
    let health = env
        .http
        .get(env.url("/sandbox/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.text().await.unwrap(), "ok");

    let id = id_of(&env.create(&[]).await);
    let (status, view) = env.control_get(&format!("sessions/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(
        view["line_items"]["data"][0]["description"],
        "Clase de yoga"
    );
    assert_eq!(env.control_get("sessions/cs_test_nope").await.0, 404);
    let (status, _) = env
        .control("settle", json!({"session": id, "outcome": "declined"}))
        .await;
    assert_eq!(status, 200);
    receiver
        .event("whsec_mine", "payment_intent.payment_failed")
        .await;
    let (_, events) = env.control_get("events").await;
    assert_eq!(events[0]["type"], "payment_intent.payment_failed");
    wait_for("the delivery record", WAIT, || async {
        !env.sandbox().deliveries().is_empty()
    })
    .await;
    let (_, deliveries) = env.control_get("deliveries").await;
    assert_eq!(deliveries[0]["event"], events[0]["id"]);
    let (_, requests) = env.control_get("requests").await;
    assert_eq!(requests[0]["path"], "/v1/checkout/sessions");
    assert!(!requests.to_string().contains(KEY));
    let (status, _) = env
        .control(
            "settle",
            json!({"session": "cs_test_nope", "outcome": "paid"}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, clock) = env.control("clock/advance", json!({"seconds": -5})).await;
    assert_eq!(status, 400, "{clock}");
}

#[tokio::test]
async fn the_checkout_page_escapes_what_it_shows() {
    let env = Env::start().await;
    let hostile = "<script>alert('x')</script> & \"quotes\"";
    let id = id_of(
        &env.create(&[
            ("line_items[0][price_data][product_data][name]", hostile),
            ("cancel_url", "http://127.0.0.1:9/c?a=\"><b>"),
        ])
        .await,
    );
    let (status, html) = env.page(&id).await;
    assert_eq!(status, 200);
    assert!(
        !html.contains("<script>") && !html.contains("\"><b>"),
        "{html}"
    );
    assert!(
        html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;quotes&quot;")
    );
    let (status, _) = env.page("cs_test_<b>").await;
    assert_eq!(status, 404);
    let bad = env.pay(&id, &[("card", "<b>1</b>")]).await;
    assert_eq!(bad.status(), 400);
    assert!(!bad.text().await.unwrap().contains("<b>1"));
    assert_eq!(
        env.retrieve(&id).await["status"],
        "open",
        "a refused card changes nothing"
    );
}

#[tokio::test]
async fn malformed_requests_get_stripe_errors_and_never_break_the_sandbox() {
    let env = Env::start().await;
    let url = env.url("/v1/checkout/sessions");
    let deep = format!("{}=1", "a[b]".repeat(20));
    let many = (0..1500)
        .map(|i| format!("k{i}=v"))
        .collect::<Vec<_>>()
        .join("&");
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        (
            "application/x-www-form-urlencoded",
            b"%zz=%ff%fe&=&&==".to_vec(),
        ),
        (
            "application/x-www-form-urlencoded",
            vec![0xff, 0xfe, b'=', 0x00],
        ),
        (
            "application/x-www-form-urlencoded",
            b"a[=1&b]=2&c[d]e=3".to_vec(),
        ),
        (
            "application/x-www-form-urlencoded",
            b"mode=payment&mode[x]=1".to_vec(),
        ),
        ("application/x-www-form-urlencoded", deep.into_bytes()),
        ("application/x-www-form-urlencoded", many.into_bytes()),
        (
            "application/x-www-form-urlencoded",
            b"mode=payment&line_items[x][quantity]=1&expires_at=99999999999999999999".to_vec(),
        ),
        ("application/json", br#"{"mode":"payment"}"#.to_vec()),
        ("multipart/form-data; boundary=x", b"--x--".to_vec()),
        ("", b"".to_vec()),
    ];
    for (content_type, body) in bodies {
        let mut req = env.http.post(&url).bearer_auth(KEY).body(body);
        if !content_type.is_empty() {
            req = req.header("content-type", content_type);
        }
        let (status, headers, answer) = Env::send(req).await;
        assert!(
            (400..500).contains(&status),
            "{content_type}: {status} {answer}"
        );
        assert!(answer["error"]["type"].is_string() && answer["error"]["code"].is_string());
        assert!(headers.contains_key("request-id"));
    }
    let long_key = "k".repeat(300);
    let (status, _, _) = env.post_idem(KEY, &long_key, &create_form(&[], &[])).await;
    assert_eq!(status, 400);
    let (status, _, body) = Env::send(env.http.put(&url).bearer_auth(KEY)).await;
    assert_eq!(
        (status, &body["error"]["type"]),
        (404, &json!("invalid_request_error"))
    );
    let (status, _, _) = Env::send(env.http.get(env.url("/v1/charges")).bearer_auth(KEY)).await;
    assert_eq!(status, 404);
    let garbage = env
        .http
        .post(env.url("/sandbox/settle"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert!(garbage.status().is_client_error());
    let unreadable = env
        .http
        .post(env.url("/c/pay/cs_test_x"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![0xff, 0xfe])
        .send()
        .await
        .unwrap();
    assert!(unreadable.status().is_client_error());

    // A body declared larger than the limit is refused before it is sent.
    let addr = env.sb.api_base.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /v1/checkout/sessions HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {KEY}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 10485760\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 64];
    let read = tokio::time::timeout(WAIT, stream.read(&mut answer)).await;
    let n = read.expect("an answer without the body").unwrap();
    let status_line = String::from_utf8_lossy(&answer[..n]).to_string();
    assert!(status_line.starts_with("HTTP/1.1 413"), "{status_line}");
    env.create(&[]).await;
}

#[tokio::test]
async fn the_stripe_gateway_client_and_the_sandbox_agree() {
    let receiver = Receiver::start().await;
    let mut config = fast_config();
    config.webhook_endpoints = vec![WebhookEndpointConfig::new(&receiver.url)];
    let env = Env::with(config).await;
    let mut cfg = StripeConfig::new(SecretString::from(KEY.to_string()));
    cfg.api_base = env.sb.api_base.clone();
    cfg.webhook_secrets = vec![SecretString::from(DEFAULT_WEBHOOK_SECRET.to_string())];
    cfg.timeout = Duration::from_secs(5);
    let client = StripeClient::new(cfg).unwrap();
    let request = CheckoutRequest {
        reference: "ref-agree".into(),
        payment_id: "pay_agree".into(),
        entity_id: None,
        idempotency_key: "paylink-ref-agree-1".into(),
        subject: "Clase de matemáticas".into(),
        amount: Money::parse_major("12.50", Currency::from_code("USD").unwrap()).unwrap(),
        payer_email: "payer@gmail.com".into(),
        notify_url: "http://127.0.0.1:9/webhook/stripe".into(),
        return_url: "http://127.0.0.1:9/return".into(),
        expires_in_secs: Some(3600),
    };
    let started = Timestamp::now().plus_secs(-60);
    let checkout = client.create_checkout(&request).await.unwrap();
    assert_eq!(checkout.url, env.url(&format!("/c/pay/{}", checkout.token)));
    let pending = client.status(Lookup::Token(&checkout.token)).await.unwrap();
    assert_eq!(pending.unwrap().verdict, Verdict::Pending);
    let lookup = Lookup::Reference {
        reference: "ref-agree",
        created_after: started,
    };
    let found = client.status(lookup).await.unwrap().unwrap();
    assert_eq!(found.reference, "ref-agree");

    let paid = env
        .pay(&checkout.token, &[("card", "4242424242424242")])
        .await;
    assert_eq!(paid.status(), 303);
    let status = client.status(Lookup::Token(&checkout.token)).await;
    assert!(matches!(
        status.unwrap().unwrap().verdict,
        Verdict::Paid { .. }
    ));

    receiver
        .event(DEFAULT_WEBHOOK_SECRET, "checkout.session.completed")
        .await;
    let hit = receiver
        .hits()
        .into_iter()
        .find(|h| h.body.contains("checkout.session.completed"))
        .unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("stripe-signature", hit.signature.parse().unwrap());
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let notification = client
        .verify_notification(&headers, hit.body.as_bytes(), now)
        .unwrap()
        .unwrap();
    assert_eq!(notification.token.as_deref(), Some(checkout.token.as_str()));
    assert_eq!(notification.payment_id.as_deref(), Some("pay_agree"));
}

/// Form bodies that look like Checkout Session creates, often are not, and sometimes are
/// not forms at all.
fn create_body() -> impl Strategy<Value = Vec<u8>> {
    let key = prop_oneof![
        Just("mode".to_string()),
        Just("line_items[0][price_data][currency]".to_string()),
        Just("line_items[0][price_data][unit_amount]".to_string()),
        Just("line_items[0][price_data][product_data][name]".to_string()),
        Just("line_items[0][quantity]".to_string()),
        Just("metadata[k]".to_string()),
        Just("expires_at".to_string()),
        Just("expand[]".to_string()),
        "[a-z_]{1,8}(\\[[a-z0-9_]{0,6}\\]){0,4}",
        "[\\[\\]a-z0-9]{0,12}",
    ];
    let value = prop_oneof![
        Just("payment".to_string()),
        Just("usd".to_string()),
        Just("clp".to_string()),
        numeric_text(),
        ".{0,20}",
    ];
    prop_oneof![
        4 => proptest::collection::vec((key, value), 0..14)
            .prop_map(|pairs| serde_urlencoded::to_string(pairs).unwrap().into_bytes()),
        1 => proptest::collection::vec(any::<u8>(), 0..200),
    ]
}

#[test]
fn any_create_body_gets_a_session_or_a_stripe_error() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let env = rt.block_on(Env::start());
    let url = env.url("/v1/checkout/sessions");
    let result = runner(256).run(&create_body(), |body| {
        let req = env
            .http
            .post(&url)
            .bearer_auth(KEY)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        let resp = rt
            .block_on(req.send())
            .map_err(|e| TestCaseError::fail(format!("no answer: {e}")))?;
        let status = resp.status().as_u16();
        let answer: Value = rt
            .block_on(resp.json())
            .map_err(|e| TestCaseError::fail(format!("not JSON: {e}")))?;
        prop_assert!(status == 200 || status == 400, "HTTP {} {}", status, answer);
        if status == 200 {
            prop_assert_eq!(&answer["object"], &json!("checkout.session"));
        } else {
            prop_assert!(answer["error"]["code"].is_string(), "{}", answer);
        }
        Ok(())
    });
    let health = rt.block_on(env.http.get(env.url("/sandbox/health")).send());
    assert_eq!(health.unwrap().status(), 200, "the sandbox still serves");
    drop(env);
    result.unwrap();
}
