#![allow(deprecated)] // resources/subscribe is the 2025-11-25 wire rmcp still speaks.
//! A Stripe payment through the real binary, over MCP stdio, against the offline Stripe
//! sandbox: a Checkout link from `payment.create` (once, however often it is retried), the
//! payer pays on the sandbox's checkout page, Stripe's signed event reaches the side
//! listener, and `payment.getStatus` says paid. Forged events change nothing.

use std::process::Stdio;
use std::time::Duration;

use hmac::{Hmac, Mac};
use paylink::sandbox::stripe::{
    DEFAULT_STRIPE_TEST_KEY, DEFAULT_WEBHOOK_SECRET, RunningStripeSandbox, StripeSandbox,
    StripeSandboxConfig, WebhookEndpointConfig,
};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::support::*;

pub(crate) struct Rig {
    pub world: World,
    pub stripe: RunningStripeSandbox,
    /// The side listener, `http://127.0.0.1:PORT`.
    pub side: String,
    pub listen: String,
}

impl Rig {
    pub async fn start() -> Rig {
        let world = World::new().await;
        let port = free_port();
        let side = format!("http://127.0.0.1:{port}");
        let endpoint = format!("{side}/webhook/stripe/default/development");
        let stripe = StripeSandbox::start(StripeSandboxConfig {
            webhook_endpoints: vec![WebhookEndpointConfig::new(&endpoint)],
            ..StripeSandboxConfig::default()
        })
        .await
        .unwrap();
        Rig {
            world,
            stripe,
            side,
            listen: format!("127.0.0.1:{port}"),
        }
    }

    pub async fn serve(&self) -> (Client, tokio::sync::mpsc::UnboundedReceiver<String>) {
        self.serve_with(&[]).await
    }

    pub async fn serve_with(
        &self,
        extra: &[(&str, &str)],
    ) -> (Client, tokio::sync::mpsc::UnboundedReceiver<String>) {
        let mut env = vec![
            ("PAYLINK_LISTEN", self.listen.as_str()),
            ("STRIPE_SECRET_KEY", DEFAULT_STRIPE_TEST_KEY),
            ("STRIPE_WEBHOOK_SECRET", DEFAULT_WEBHOOK_SECRET),
            ("STRIPE_API_BASE", self.stripe.api_base.as_str()),
        ];
        env.extend_from_slice(extra);
        self.world.stdio_with(&[], &env, Stdio::null()).await
    }

    /// The idempotency keys of the session creations the sandbox received, in order.
    fn create_keys(&self) -> Vec<String> {
        self.stripe
            .sandbox
            .requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path == "/v1/checkout/sessions")
            .map(|r| r.idempotency_key.clone().unwrap_or_default())
            .collect()
    }

    /// Session creations the sandbox received (retries included).
    fn creates(&self) -> usize {
        self.stripe
            .sandbox
            .requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path == "/v1/checkout/sessions")
            .count()
    }

    async fn metric(&self, name: &str) -> u64 {
        let text = reqwest::get(format!("{}/metrics", self.side))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find(|l| l.starts_with(name) && !l.starts_with('#'))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// POSTs `body` to the Stripe webhook endpoint signed with `secret` at time `t`.
    async fn post_event(&self, body: &str, secret: &str, t: i64) -> u16 {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.{body}").as_bytes());
        let sig = hex::encode(mac.finalize().into_bytes());
        reqwest::Client::new()
            .post(format!("{}/webhook/stripe/default/development", self.side))
            .header("stripe-signature", format!("t={t},v1={sig}"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

pub(crate) fn create_args(key: &str) -> Value {
    json!({"amount": 12.5, "currency": "USD", "description": "Clase de matemáticas",
           "customerEmail": "ana@gmail.com", "gateway": "stripe", "idempotencyKey": key})
}

async fn status_of(client: &Client, id: &str) -> Value {
    structured(&call(client, "payment.getStatus", json!({"entityId": id})).await)
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn a_stripe_checkout_link_is_paid_and_its_signed_event_makes_the_payment_paid() {
    let rig = Rig::start().await;
    let (client, mut updates) = rig.serve().await;

    let created = structured(&call(&client, "payment.create", create_args("stripe-1")).await);
    assert_eq!(created["status"], "pending", "{created}");
    assert_eq!(created["currency"], "USD");
    assert_eq!(created["amountMinor"], 1250);
    let link = created["paymentLinkUrl"].as_str().unwrap().to_string();
    assert!(
        link.starts_with(&format!("{}/c/pay/cs_test_", rig.stripe.api_base)),
        "{link}"
    );
    let id = created["paymentId"].as_str().unwrap().to_string();
    // A retry with the same key is the same payment, and Stripe saw one session.
    let again = structured(&call(&client, "payment.create", create_args("stripe-1")).await);
    assert_eq!(again["paymentId"], id.as_str());
    assert_eq!(rig.creates(), 1);
    let session = link.rsplit('/').next().unwrap().to_string();
    let s = rig
        .stripe
        .sandbox
        .session(&session)
        .expect("the session exists");
    assert_eq!(s["client_reference_id"], id.as_str());
    assert_eq!(s["metadata"]["paymentId"], id.as_str());
    assert_eq!(s["amount_total"], 1250);

    client
        .subscribe(rmcp::model::SubscribeRequestParams::new(
            created["resourceUri"].as_str().unwrap(),
        ))
        .await
        .unwrap();
    // The payer pays on the checkout page.
    let paid = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(&link)
        .form(&[("card", "4242424242424242")])
        .send()
        .await
        .unwrap();
    assert!(paid.status().is_redirection() || paid.status().is_success());
    // Stripe's signed event is verified (by reading the session back) and applied.
    hears_update(&mut updates, created["resourceUri"].as_str().unwrap()).await;
    wait_for(
        "the signed event to be verified",
        Duration::from_secs(10),
        || async { rig.metric("paylink_confirmations_verified_total").await >= 1 },
    )
    .await;
    let status = status_of(&client, &id).await;
    assert_eq!(status["status"], "paid", "{status}");
    assert!(
        status.get("flowStatus").is_none(),
        "no Flow codes for Stripe: {status}"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn forged_stale_or_foreign_stripe_events_change_nothing() {
    let rig = Rig::start().await;
    let (client, _) = rig.serve().await;
    let created = structured(&call(&client, "payment.create", create_args("stripe-2")).await);
    let id = created["paymentId"].as_str().unwrap().to_string();
    let session = created["paymentLinkUrl"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let event = json!({
        "id": "evt_forged", "object": "event", "type": "checkout.session.completed",
        "created": now_unix(), "livemode": false,
        "data": {"object": {"id": session, "object": "checkout.session", "status": "complete",
                            "payment_status": "paid", "metadata": {"paymentId": id}}}
    })
    .to_string();
    // Signed with another secret, or too old: refused.
    assert_eq!(
        rig.post_event(&event, "whsec_not_the_right_one", now_unix())
            .await,
        400
    );
    assert_eq!(
        rig.post_event(&event, DEFAULT_WEBHOOK_SECRET, now_unix() - 600)
            .await,
        400
    );
    // Correctly signed but untrue (the session is unpaid at Stripe): verified by reading
    // the session back, so nothing changes.
    assert_eq!(
        rig.post_event(&event, DEFAULT_WEBHOOK_SECRET, now_unix())
            .await,
        200
    );
    wait_for(
        "the event to be checked",
        Duration::from_secs(10),
        || async { rig.metric("paylink_confirmations_verified_total").await >= 1 },
    )
    .await;
    let status = status_of(&client, &id).await;
    assert_eq!(status["status"], "pending", "{status}");
    // A declined card leaves it pending; a lost event is caught by the live check.
    rig.stripe.sandbox.drop_next_deliveries(10);
    rig.stripe
        .sandbox
        .settle(&session, paylink::sandbox::stripe::Outcome::Paid)
        .unwrap();
    let status = status_of(&client, &id).await;
    assert_eq!(status["status"], "paid", "{status}");
    assert_eq!(status["checkedLive"], true);
    client.cancel().await.unwrap();
}

/// Calls `payment.create` until it answers a link (a retryable error means "call again"),
/// within a deadline.
async fn create_until_pending(client: &Client, args: Value) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = call(client, "payment.create", args.clone()).await;
        if r.is_error != Some(true) {
            return structured(&r);
        }
        let e = error_of(&r);
        assert_eq!(
            e["retryable"], true,
            "only retryable errors are expected: {e}"
        );
        assert!(std::time::Instant::now() < deadline, "never finished: {e}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_create_whose_answer_was_lost_is_finished_with_the_same_session() {
    use paylink::sandbox::stripe::{Fault, FaultKind, FaultTarget};
    let rig = Rig::start().await;
    let (client, _) = rig
        .serve_with(&[
            ("PAYLINK_FLOW_TIMEOUT_SECS", "1"),
            ("PAYLINK_CREATE_SETTLE_SECS", "1"),
        ])
        .await;
    // Stripe makes the session but answers after the client gave up.
    rig.stripe.sandbox.add_fault(Fault {
        target: FaultTarget::Create,
        kind: FaultKind::TimeoutThenCreate { ms: 3000 },
        times: Some(1),
    });
    let first = call(&client, "payment.create", create_args("lost-answer")).await;
    assert_eq!(error_code(&first), "gateway_unavailable");
    // The retry finds the session by our reference and finishes with its link.
    let created = create_until_pending(&client, create_args("lost-answer")).await;
    assert_eq!(created["status"], "pending", "{created}");
    let link = created["paymentLinkUrl"].as_str().unwrap();
    let sessions: std::collections::HashSet<String> = rig
        .stripe
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.path == "/v1/checkout/sessions" && r.method == "POST")
        .map(|r| r.idempotency_key.clone().unwrap_or_default())
        .collect();
    assert_eq!(sessions.len(), 1, "one attempt, one key: {sessions:?}");
    assert_eq!(rig.creates(), 1, "never sent again");
    assert!(link.contains("/c/pay/cs_test_"), "{link}");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn after_a_failed_attempt_that_made_nothing_the_next_uses_a_new_idempotency_key() {
    use paylink::sandbox::stripe::{Fault, FaultKind, FaultTarget};
    let rig = Rig::start().await;
    let (client, _) = rig
        .serve_with(&[
            ("PAYLINK_FLOW_TIMEOUT_SECS", "1"),
            ("PAYLINK_CREATE_SETTLE_SECS", "1"),
        ])
        .await;
    rig.stripe.sandbox.add_fault(Fault {
        target: FaultTarget::Create,
        kind: FaultKind::Http500,
        times: Some(1),
    });
    let first = call(&client, "payment.create", create_args("five-hundred")).await;
    assert_eq!(error_code(&first), "gateway_unavailable");
    // The 500's outcome is unknown: nothing is sent until the settle window has passed
    // and a lookup found no session; then a second attempt, under a new key.
    let created = create_until_pending(&client, create_args("five-hundred")).await;
    assert_eq!(created["status"], "pending", "{created}");
    let keys = rig.create_keys();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(
        keys[0].ends_with("-1") && keys[1].ends_with("-2"),
        "{keys:?}"
    );
    assert!(
        rig.stripe
            .sandbox
            .requests()
            .iter()
            .any(|r| r.path == "/v1/checkout/sessions" && r.method == "GET"),
        "the lookup by reference ran before the second attempt"
    );
    client.cancel().await.unwrap();
}

/// The payments core on a Stripe account of the sandbox, with no webhook endpoint: only
/// the reconciler can learn what happened.
async fn stripe_payments(
    sb: &RunningStripeSandbox,
    dir: &std::path::Path,
) -> paylink::payments::Payments {
    use paylink::accounts::{Connection, StripeAccount};
    use paylink::domain::{Currency, Environment};
    use paylink::payments::{Gateways, PaymentSettings, Payments};
    let store = paylink::store::Store::open(dir).unwrap();
    let gateways = Gateways::new();
    let account = StripeAccount {
        api_base: sb.api_base.clone(),
        secret_key: DEFAULT_STRIPE_TEST_KEY.into(),
        webhook_secrets: Vec::new(),
        retiring_webhook_secrets: Vec::new(),
        environment: Environment::Development,
        default_currency: Currency::CLP,
        organization: None,
    };
    let conn = Connection::new(Duration::from_secs(5)).unwrap();
    gateways.insert("default", account.gateway_entry(&conn).unwrap());
    Payments::new(
        store,
        gateways,
        PaymentSettings::with_public_base("http://127.0.0.1:9"),
    )
}

#[tokio::test]
async fn the_reconciler_settles_stripe_payments_whose_events_never_came() {
    use paylink::domain::{FailureReason, PaymentStatus, Source, Timestamp};
    use paylink::payments::CreateInput;
    use paylink::reconcile::{Reconciler, reconcile_once};
    use paylink::sandbox::stripe::Outcome;
    let sb = StripeSandbox::start(StripeSandboxConfig::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let payments = stripe_payments(&sb, dir.path()).await;
    let create = |key: &str| CreateInput {
        organization: "default".into(),
        amount_text: "12.50".into(),
        currency: Some("USD".into()),
        description: "Clase".into(),
        customer_email: "ana@gmail.com".into(),
        entity_id: None,
        idempotency_key: Some(key.into()),
        allow_paid_entity: false,
        gateway: None,
    };
    let paid = payments
        .create(create("r-paid"), Source::Tool)
        .await
        .unwrap();
    let lapsed = payments
        .create(create("r-lapsed"), Source::Tool)
        .await
        .unwrap();
    let session = paid.payment.gateway_token.clone().unwrap();
    sb.sandbox.settle(&session, Outcome::Paid).unwrap();

    let reconciler = Reconciler::new(payments.clone());
    let r = reconcile_once(&reconciler, Timestamp::now().plus_secs(2 * 3600)).await;
    assert_eq!((r.checked, r.changed, r.errors), (2, 1, 0), "{r:?}");
    let got = |id: &str| {
        futures::executor::block_on(payments.get(id))
            .unwrap()
            .unwrap()
    };
    assert_eq!(got(&paid.payment.id).status, PaymentStatus::Paid);
    assert_eq!(got(&lapsed.payment.id).status, PaymentStatus::Pending);

    // Past its expiry the session is expired at Stripe, and the payment reads as expired.
    sb.sandbox.advance_clock(25 * 3600);
    let r = reconcile_once(&reconciler, Timestamp::now().plus_secs(25 * 3600)).await;
    assert_eq!((r.changed, r.errors), (1, 0), "{r:?}");
    let lapsed = got(&lapsed.payment.id);
    assert_eq!(
        (lapsed.status, lapsed.failure_reason),
        (PaymentStatus::Failed, Some(FailureReason::Expired))
    );
}

#[tokio::test]
async fn over_http_an_organizations_stripe_events_come_to_its_own_endpoint() {
    use rmcp::ServiceExt;
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    const ACME: &str = "acme-token-0123456789abcdef";
    let world = World::new().await;
    let port = free_port();
    let side = format!("http://127.0.0.1:{port}");
    let stripe = StripeSandbox::start(StripeSandboxConfig {
        webhook_endpoints: vec![WebhookEndpointConfig::new(format!(
            "{side}/webhook/stripe/acme/development"
        ))],
        ..StripeSandboxConfig::default()
    })
    .await
    .unwrap();
    let listen = format!("127.0.0.1:{port}");
    let tokens = format!("{ACME}=acme");
    let (_child, url) = world
        .http(
            &[
                ("PAYLINK_LISTEN", &listen),
                ("PAYLINK_HTTP_TOKENS", &tokens),
                ("STRIPE_SECRET_KEY", DEFAULT_STRIPE_TEST_KEY),
                ("STRIPE_WEBHOOK_SECRET", DEFAULT_WEBHOOK_SECRET),
                ("STRIPE_API_BASE", &stripe.api_base),
            ],
            &[],
        )
        .await;
    let (tx, mut updates) = tokio::sync::mpsc::unbounded_channel();
    let client = Recorder(tx)
        .serve(StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(url.clone())
                .auth_header(ACME.to_string()),
        ))
        .await
        .unwrap();
    let created = structured(&call(&client, "payment.create", create_args("http-1")).await);
    assert_eq!(created["status"], "pending", "{created}");
    let uri = created["resourceUri"].as_str().unwrap().to_string();
    client
        .subscribe(rmcp::model::SubscribeRequestParams::new(uri.clone()))
        .await
        .unwrap();
    let link = created["paymentLinkUrl"].as_str().unwrap();
    let session = link.rsplit('/').next().unwrap();
    stripe
        .sandbox
        .settle(session, paylink::sandbox::stripe::Outcome::Paid)
        .unwrap();
    hears_update(&mut updates, &uri).await;
    let deliveries = stripe.sandbox.deliveries();
    assert!(
        deliveries
            .iter()
            .any(|d| d.url.ends_with("/webhook/stripe/acme/development")
                && d.http_status == Some(200)),
        "{deliveries:?}"
    );
    let id = created["paymentId"].as_str().unwrap();
    assert_eq!(status_of(&client, id).await["status"], "paid");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn duplicated_and_out_of_order_stripe_events_change_the_payment_once() {
    let rig = Rig::start().await;
    let (client, mut updates) = rig.serve().await;
    let created = structured(&call(&client, "payment.create", create_args("dup-1")).await);
    let id = created["paymentId"].as_str().unwrap().to_string();
    let uri = created["resourceUri"].as_str().unwrap().to_string();
    client
        .subscribe(rmcp::model::SubscribeRequestParams::new(uri.clone()))
        .await
        .unwrap();
    let session = created["paymentLinkUrl"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    // Every event delivered twice: completed, payment_intent.succeeded, and their twins.
    rig.stripe.sandbox.duplicate_next_deliveries(10);
    let report = rig
        .stripe
        .sandbox
        .settle(&session, paylink::sandbox::stripe::Outcome::Paid)
        .unwrap();
    assert!(report.events.len() >= 2, "{report:?}");
    hears_update(&mut updates, &uri).await;
    wait_for(
        "every delivery answered",
        Duration::from_secs(10),
        || async {
            let d = rig.stripe.sandbox.deliveries();
            d.len() >= 2 * report.events.len() && d.iter().all(|d| d.http_status == Some(200))
        },
    )
    .await;
    // The payment's log: created, pending, paid — one paid, however many events said so.
    let read = client
        .read_resource(rmcp::model::ReadResourceRequestParams::new(uri.clone()))
        .await
        .unwrap();
    let text = match &read.contents[0] {
        rmcp::model::ResourceContents::TextResourceContents { text, .. } => text.clone(),
        other => panic!("{other:?}"),
    };
    let body: Value = serde_json::from_str(&text).unwrap();
    let kinds: Vec<&str> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["to"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["draft", "pending", "paid"], "{body}");
    assert_eq!(status_of(&client, &id).await["status"], "paid");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn signed_refund_events_are_acknowledged_and_never_taken_for_payment_confirmations() {
    let rig = Rig::start().await;
    let (client, _) = rig.serve().await;
    let refund = json!({
        "id": "evt_refund", "object": "event", "type": "refund.updated",
        "created": now_unix(), "livemode": false,
        "data": {"object": {"id": "re_1", "object": "refund", "status": "succeeded",
                            "metadata": {"paylink_refund_id": "rf_1"}}}
    })
    .to_string();
    assert_eq!(
        rig.post_event(&refund, DEFAULT_WEBHOOK_SECRET, now_unix())
            .await,
        200
    );
    // A payment event after it is counted: the refund event was not.
    let payment = json!({
        "id": "evt_payment", "object": "event", "type": "checkout.session.completed",
        "created": now_unix(), "livemode": false,
        "data": {"object": {"id": "cs_test_unknown", "object": "checkout.session"}}
    })
    .to_string();
    assert_eq!(
        rig.post_event(&payment, DEFAULT_WEBHOOK_SECRET, now_unix())
            .await,
        200
    );
    assert_eq!(rig.metric("paylink_confirmations_received_total").await, 1);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_stripe_refund_is_approved_made_once_and_settled_by_its_signed_event() {
    use paylink::sandbox::stripe::RefundOutcome;
    let rig = Rig::start().await;
    let (client, _) = rig.serve().await;
    let created = structured(&call(&client, "payment.create", create_args("stripe-refund")).await);
    let id = created["paymentId"].as_str().unwrap().to_string();
    let link = created["paymentLinkUrl"].as_str().unwrap().to_string();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(&link)
        .form(&[("card", "4242424242424242")])
        .send()
        .await
        .unwrap();
    let (c, i) = (&client, &id);
    wait_for(
        "the payment to be paid",
        Duration::from_secs(10),
        || async move { status_of(c, i).await["status"] == "paid" },
    )
    .await;

    // The refund waits for a person (approval link), then Stripe gets one request.
    let args = json!({"paymentId": id, "amount": 5, "idempotencyKey": "refund-1"});
    let e = error_of(&call(&client, "payment.refund", args.clone()).await);
    assert_eq!(e["code"], "confirmation_required", "{e}");
    let refunds = || {
        rig.stripe
            .sandbox
            .requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path == "/v1/refunds")
            .count()
    };
    assert_eq!(refunds(), 0);
    rig.stripe.sandbox.hold_next_refunds(1);
    let url = e["approval"]["approvalUrl"].as_str().unwrap().to_string();
    let http = reqwest::Client::new();
    let (_, form) = crate::mcp_approval::open_page(&http, &url).await;
    let (status, page) =
        crate::mcp_approval::answer(&http, &url, &form.unwrap(), "approve", None).await;
    assert_eq!(status, 200, "{page}");
    let r = structured(&call(&client, "payment.refund", args.clone()).await);
    assert_eq!(r["status"], "created", "{r}");
    assert_eq!(r["reused"], true);
    assert_eq!(r["currency"], "USD");
    let sent: Vec<_> = rig
        .stripe
        .sandbox
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("refund"))
        .map(|r| format!("{} {} {} {}", r.method, r.path, r.http_status, r.outcome))
        .collect();
    assert_eq!(refunds(), 1, "{sent:?}");

    // Stripe succeeds it; its signed event makes paylink read the refund and record it.
    let re = rig
        .stripe
        .sandbox
        .refund_for_paylink(r["refundId"].as_str().unwrap())
        .expect("Stripe holds the refund with paylink's id");
    rig.stripe
        .sandbox
        .settle_refund(&re, RefundOutcome::Succeed)
        .unwrap();
    wait_for(
        "the refund to be refunded",
        Duration::from_secs(10),
        || async move { status_of(c, i).await["refunds"][0]["status"] == "refunded" },
    )
    .await;
    let s = status_of(&client, &id).await;
    assert_eq!(s["amountRefunded"], 5.0, "{s}");
    // A forged refund event (wrong secret) is refused and changes nothing.
    let forged =
        json!({"id": "evt_x", "object": "event", "type": "refund.updated", "created": now_unix(),
        "livemode": false, "data": {"object": {"id": re, "object": "refund", "status": "failed",
        "metadata": {"paylink_refund_id": r["refundId"]}}}})
        .to_string();
    assert_eq!(
        rig.post_event(&forged, "whsec_wrong", now_unix()).await,
        400
    );
    assert_eq!(
        status_of(&client, &id).await["refunds"][0]["status"],
        "refunded"
    );
    client.cancel().await.unwrap();
}
