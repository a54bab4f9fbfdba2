//! Stripe refunds end to end over loopback HTTP: the Stripe client (through the neutral
//! `Gateway` trait) against the offline Stripe sandbox, its control API driven over HTTP,
//! and a webhook endpoint on port 0 whose signed events the client itself verifies.

use std::time::Duration;

use axum::http::HeaderMap;
use paylink::domain::{Currency, Money};
use paylink::gateway::retry::RetryPolicy;
use paylink::gateway::stripe::{StripeClient, StripeConfig};
use paylink::gateway::{
    CheckoutRequest, Gateway, GatewayError, Notification, NotificationError, RefundLookup,
    RefundRequest, RefundSnapshot, RefundState, Refusal,
};
use paylink::sandbox::stripe::{
    DEFAULT_STRIPE_TEST_KEY, DEFAULT_WEBHOOK_SECRET, Outcome, RunningStripeSandbox, StripeSandbox,
    StripeSandboxConfig, WebhookEndpointConfig,
};
use secrecy::SecretString;
use serde_json::Value;

use crate::support::hook::{Hit, Hook};

struct Env {
    sb: RunningStripeSandbox,
    stripe: StripeClient,
    hook: Hook,
    http: reqwest::Client,
}

impl Env {
    async fn start() -> Env {
        let hook = Hook::start().await;
        let sb = StripeSandbox::start(StripeSandboxConfig {
            webhook_endpoints: vec![WebhookEndpointConfig::new(hook.url("/webhook/stripe"))],
            ..StripeSandboxConfig::default()
        })
        .await
        .unwrap();
        let mut cfg = StripeConfig::new(SecretString::from(DEFAULT_STRIPE_TEST_KEY));
        cfg.api_base = sb.api_base.clone();
        cfg.timeout = Duration::from_secs(5);
        cfg.webhook_secrets = vec![SecretString::from(DEFAULT_WEBHOOK_SECRET)];
        cfg.read_retry = RetryPolicy {
            max_attempts: 2,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(20),
        };
        Env {
            stripe: StripeClient::new(cfg).unwrap(),
            hook,
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
            sb,
        }
    }

    /// A USD 12.50 Checkout Session for `reference`, paid when `paid`; its id.
    async fn session(&self, reference: &str, paid: bool) -> String {
        let checkout = self
            .stripe
            .create_checkout(&CheckoutRequest {
                reference: reference.into(),
                payment_id: format!("pay_{reference}"),
                entity_id: None,
                idempotency_key: format!("paylink-{reference}-1"),
                subject: "Clase de yoga".into(),
                amount: usd("12.50"),
                payer_email: "payer@gmail.com".into(),
                notify_url: "http://127.0.0.1:9/unused".into(),
                return_url: "http://127.0.0.1:9/return".into(),
                expires_in_secs: Some(3600),
            })
            .await
            .unwrap();
        if paid {
            self.sb
                .sandbox
                .settle(&checkout.token, Outcome::Paid)
                .unwrap();
        }
        checkout.gateway_ref
    }

    fn request(&self, session: &str, refund_id: &str, amount: &str) -> RefundRequest {
        RefundRequest {
            refund_id: refund_id.into(),
            idempotency_key: format!("paylink-refund-{refund_id}"),
            payment_gateway_ref: session.into(),
            payment_token: Some(session.into()),
            payment_reference: format!("ref-of-{session}"),
            amount: usd(amount),
            receiver_email: "payer@gmail.com".into(),
            notify_url: "http://127.0.0.1:9/ignored-by-stripe".into(),
        }
    }

    async fn refund(
        &self,
        session: &str,
        refund_id: &str,
        amount: &str,
    ) -> Result<RefundSnapshot, GatewayError> {
        self.stripe
            .create_refund(&self.request(session, refund_id, amount))
            .await
    }

    async fn settle(&self, id: &str, outcome: &str) -> (u16, Value) {
        let url = format!("{}/sandbox/refunds/{id}/{outcome}", self.sb.api_base);
        let resp = self.http.post(url).send().await.unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap())
    }

    async fn hold(&self, count: u32) {
        let url = format!("{}/sandbox/refunds/hold", self.sb.api_base);
        let body = serde_json::json!({ "count": count });
        let resp = self.http.post(url).json(&body).send().await.unwrap();
        assert_eq!(resp.status(), 200);
    }

    /// Waits for the signed event `kind` about refund `id` and verifies it as paylink does.
    async fn verified_event(&self, kind: &str, id: &str) -> Notification {
        let needle = format!("\"type\":\"{kind}\"");
        let hit = self
            .hook
            .wait_for(kind, |h| {
                h.text().contains(&needle) && h.text().contains(id)
            })
            .await;
        self.verify(&hit)
            .unwrap()
            .expect("a refund event is acted on")
    }

    fn verify(&self, hit: &Hit) -> Result<Option<Notification>, NotificationError> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        self.stripe
            .verify_notification(&hit.headers, &hit.body, now)
    }
}

fn usd(amount: &str) -> Money {
    Money::parse_major(amount, Currency::from_code("USD").unwrap()).unwrap()
}

fn rejected(r: Result<RefundSnapshot, GatewayError>) -> (Refusal, Option<String>, String) {
    match r {
        Err(GatewayError::Rejected {
            reason,
            code,
            message,
        }) => (reason, code, message),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_paid_session_is_refunded_in_part_then_in_full_under_its_idempotency_key() {
    let env = Env::start().await;
    let session = env.session("ref-rf-1", true).await;

    let part = env.refund(&session, "rf_part", "5.00").await.unwrap();
    assert_eq!(
        part.state,
        RefundState::Refunded,
        "card refunds succeed at once"
    );
    assert_eq!(part.amount, Some(usd("5.00")));
    assert_eq!(part.token, None);
    assert!(part.gateway_refund_ref.starts_with("re_"));

    let sent = env.sb.sandbox.requests();
    let create = sent
        .iter()
        .rfind(|r| r.method == "POST" && r.path == "/v1/refunds")
        .unwrap();
    assert_eq!(
        create.idempotency_key.as_deref(),
        Some("paylink-refund-rf_part")
    );
    let param = |name: &str| {
        create
            .params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let intent = env.sb.sandbox.session(&session).unwrap()["payment_intent"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(param("payment_intent"), Some(intent.as_str()));
    assert_eq!(param("amount"), Some("500"));
    assert_eq!(param("metadata[paylink_refund_id]"), Some("rf_part"));

    // The same request again, as after a lost answer: Stripe replays the same refund.
    let again = env.refund(&session, "rf_part", "5.00").await.unwrap();
    assert_eq!(again, part);
    let replayed = env.sb.sandbox.requests();
    assert_eq!(replayed.last().unwrap().outcome, "replayed");

    let rest = env.refund(&session, "rf_rest", "7.50").await.unwrap();
    assert_eq!(rest.amount, Some(usd("7.50")));
    assert_ne!(rest.gateway_refund_ref, part.gateway_refund_ref);

    let (reason, code, message) = rejected(env.refund(&session, "rf_more", "0.01").await);
    assert_eq!(reason, Refusal::NotRefundable);
    assert_eq!(code.as_deref(), Some("charge_already_refunded"));
    assert!(message.contains("already been refunded"), "{message}");
}

#[tokio::test]
async fn a_refund_above_what_remains_is_refused_with_stripes_error_as_a_neutral_refusal() {
    let env = Env::start().await;
    let session = env.session("ref-rf-2", true).await;
    let (reason, code, message) = rejected(env.refund(&session, "rf_big", "12.51").await);
    assert_eq!(reason, Refusal::RefundExceedsAvailable);
    assert_eq!(code.as_deref(), Some("amount_too_large"));
    assert!(message.contains("12.50 usd"), "{message}");

    env.refund(&session, "rf_10", "10.00").await.unwrap();
    let (reason, _, message) = rejected(env.refund(&session, "rf_3", "3.00").await);
    assert_eq!(reason, Refusal::RefundExceedsAvailable);
    assert!(
        message.contains("2.50 usd"),
        "what remains is named: {message}"
    );
}

#[tokio::test]
async fn unpaid_and_unknown_sessions_cannot_be_refunded() {
    let env = Env::start().await;
    let open = env.session("ref-rf-3", false).await;
    let (reason, _, message) = rejected(env.refund(&open, "rf_open", "1.00").await);
    assert_eq!(reason, Refusal::NotRefundable);
    assert!(message.contains("not paid"), "{message}");
    assert!(
        env.sb
            .sandbox
            .requests()
            .iter()
            .all(|r| r.path != "/v1/refunds"),
        "refused before asking Stripe"
    );
    assert_eq!(
        env.refund("cs_test_nosuchsession", "rf_none", "1.00")
            .await
            .unwrap_err(),
        GatewayError::NotFound
    );

    // Stripe itself refuses a PaymentIntent without a successful charge.
    let intent_less = env.session("ref-rf-3b", false).await;
    env.sb
        .sandbox
        .settle(&intent_less, Outcome::Declined)
        .unwrap();
    let pi = env.sb.sandbox.session(&intent_less).unwrap()["payment_intent"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let url = format!("{}/v1/refunds", env.sb.api_base);
    let resp = env
        .http
        .post(url)
        .bearer_auth(DEFAULT_STRIPE_TEST_KEY)
        .form(&[("payment_intent", pi.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["param"], "payment_intent");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("does not have a successful charge")
    );
}

#[tokio::test]
async fn refund_events_are_signed_and_name_paylinks_refund_through_every_change() {
    let env = Env::start().await;
    let session = env.session("ref-rf-4", true).await;
    env.hold(1).await;
    let created = env.refund(&session, "rf_events", "4.00").await.unwrap();
    assert_eq!(
        created.state,
        RefundState::Created,
        "held refunds start pending"
    );
    let id = created.gateway_refund_ref.clone();

    let n = env.verified_event("refund.created", &id).await;
    assert_eq!(n.kind, "refund.created");
    assert_eq!(n.refund_ref.as_deref(), Some(id.as_str()));
    assert_eq!(n.refund_id.as_deref(), Some("rf_events"));
    assert!(n.is_refund());

    let (status, report) = env.settle(&id, "succeed").await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["refund"]["status"], "succeeded");
    let n = env.verified_event("refund.updated", &id).await;
    assert_eq!(n.refund_id.as_deref(), Some("rf_events"));
    let read = env
        .stripe
        .refund_status(RefundLookup::GatewayRef(&id))
        .await
        .unwrap();
    assert_eq!(read.unwrap().state, RefundState::Refunded);
    // charge.refunded names a charge, not the refund: acknowledged, not acted on.
    let charge = env
        .hook
        .wait_for("charge.refunded", |h| {
            h.text().contains("\"type\":\"charge.refunded\"")
        })
        .await;
    assert_eq!(env.verify(&charge).unwrap(), None);

    // Days later the card turns out closed: the refund fails after all.
    assert_eq!(env.settle(&id, "fail").await.0, 200);
    let n = env.verified_event("refund.failed", &id).await;
    assert_eq!(n.refund_ref.as_deref(), Some(id.as_str()));
    let read = env
        .stripe
        .refund_status(RefundLookup::Token(&id))
        .await
        .unwrap();
    assert_eq!(read.unwrap().state, RefundState::Rejected);
    assert_eq!(env.settle(&id, "succeed").await.0, 409, "failed is final");
    assert_eq!(env.settle("re_nosuchrefund", "fail").await.0, 404);
    assert_eq!(env.settle(&id, "explode").await.0, 400);

    // A failed refund holds nothing: the whole payment can be refunded again.
    assert!(env.refund(&session, "rf_again", "12.50").await.is_ok());
}

#[tokio::test]
async fn a_pending_refund_can_be_canceled_and_unknown_or_forged_ones_are_refused() {
    let env = Env::start().await;
    let session = env.session("ref-rf-5", true).await;
    env.hold(1).await;
    let id = env
        .refund(&session, "rf_cancel", "1.00")
        .await
        .unwrap()
        .gateway_refund_ref;
    assert_eq!(env.settle(&id, "cancel").await.0, 200);
    env.verified_event("refund.updated", &id).await;
    let read = env
        .stripe
        .refund_status(RefundLookup::GatewayRef(&id))
        .await
        .unwrap();
    assert_eq!(read.unwrap().state, RefundState::Canceled);

    assert_eq!(
        env.stripe
            .refund_status(RefundLookup::GatewayRef("re_doesnotexist"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        env.stripe
            .refund_status(RefundLookup::Token("../v1/x"))
            .await
            .unwrap(),
        None
    );

    // A signed event whose body was changed in transit is refused.
    let hit = env
        .hook
        .wait_for("refund.created", |h| h.text().contains("refund.created"))
        .await;
    let forged = hit.text().replace("rf_cancel", "rf_someone_else");
    let mut tampered = hit.clone();
    tampered.body = forged.into();
    assert_eq!(env.verify(&tampered), Err(NotificationError::BadSignature));
    let mut unsigned = hit;
    unsigned.headers = HeaderMap::new();
    assert_eq!(env.verify(&unsigned), Err(NotificationError::BadSignature));
}
