//! Flow refunds end to end over loopback HTTP: the Flow client (through the neutral
//! `Gateway` trait) against the offline Flow sandbox, the sandbox's control API driven
//! over HTTP, and a merchant endpoint on port 0 receiving the refund callbacks.

use std::time::Duration;

use paylink::domain::{Currency, Money};
use paylink::gateway::flow::client::CreateParams;
use paylink::gateway::flow::sign::sign;
use paylink::gateway::flow::{FlowClient, FlowClientConfig};
use paylink::gateway::retry::RetryPolicy;
use paylink::gateway::{
    Gateway, GatewayError, GatewayKind, RefundLookup, RefundRequest, RefundSnapshot, RefundState,
    Refusal,
};
use paylink::sandbox::{
    DEFAULT_API_KEY, DEFAULT_SECRET_KEY, Merchant, Outcome, RunningSandbox, Sandbox, SandboxConfig,
};
use secrecy::SecretString;
use serde_json::Value;

use crate::support::hook::Hook;

const OTHER_KEY: &str = "OTHER-MERCHANT-REFUNDS-0000-000000000000";
const OTHER_SECRET: &str = "other-merchant-refund-secret-0123456789ab";

struct Env {
    sb: RunningSandbox,
    flow: FlowClient,
    hook: Hook,
    http: reqwest::Client,
}

fn client(sb: &RunningSandbox, api_key: &str, secret: &str) -> FlowClient {
    let mut cfg = FlowClientConfig::new(
        sb.api_url.clone(),
        api_key,
        SecretString::from(secret.to_string()),
    );
    let quick = RetryPolicy {
        max_attempts: 2,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    };
    cfg.read_retry = quick;
    cfg.create_retry = quick;
    FlowClient::new(cfg).unwrap()
}

impl Env {
    async fn start() -> Env {
        let merchants = vec![
            Merchant::default(),
            Merchant {
                api_key: OTHER_KEY.into(),
                secret_key: OTHER_SECRET.into(),
                currencies: vec!["CLP".into()],
            },
        ];
        let sb = Sandbox::start(SandboxConfig { merchants }).await.unwrap();
        Env {
            flow: client(&sb, DEFAULT_API_KEY, DEFAULT_SECRET_KEY),
            hook: Hook::start().await,
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
            sb,
        }
    }

    /// A CLP order of `amount`, settled as `outcome` (left pending with `None`); its
    /// (commerceOrder, flowOrder).
    async fn order(
        &self,
        commerce_order: &str,
        amount: &str,
        outcome: Option<Outcome>,
    ) -> (String, i64) {
        let created = self
            .flow
            .create(&CreateParams {
                commerce_order: commerce_order.into(),
                subject: "Clase de matemáticas".into(),
                currency: "CLP".into(),
                amount: amount.into(),
                email: "payer@gmail.com".into(),
                url_confirmation: self.hook.url("/webhook/flow"),
                url_return: "http://127.0.0.1:9/return".into(),
                timeout_secs: None,
                optional: None,
                payment_method: None,
            })
            .await
            .unwrap();
        if let Some(outcome) = outcome {
            self.sb
                .sandbox
                .settle(&created.token, outcome)
                .await
                .unwrap();
        }
        (commerce_order.to_string(), created.flow_order)
    }

    fn request(&self, order: &(String, i64), refund_id: &str, clp: i64) -> RefundRequest {
        RefundRequest {
            refund_id: refund_id.into(),
            idempotency_key: format!("{refund_id}-key"),
            payment_gateway_ref: order.1.to_string(),
            payment_token: None,
            payment_reference: order.0.clone(),
            amount: Money::from_minor(clp, Currency::CLP),
            receiver_email: "payer@gmail.com".into(),
            notify_url: self.hook.url("/webhook/flow/refund"),
        }
    }

    async fn refund(
        &self,
        order: &(String, i64),
        refund_id: &str,
        clp: i64,
    ) -> Result<RefundSnapshot, GatewayError> {
        self.flow
            .create_refund(&self.request(order, refund_id, clp))
            .await
    }

    /// `POST /sandbox/refunds/{token}/{action}` over HTTP.
    async fn settle(&self, token: &str, action: &str) -> (u16, Value) {
        let url = format!("{}/sandbox/refunds/{token}/{action}", self.sb.base_url);
        let resp = self.http.post(url).send().await.unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap())
    }

    async fn status(&self, token: &str) -> Option<RefundSnapshot> {
        self.flow
            .refund_status(RefundLookup::Token(token))
            .await
            .unwrap()
    }
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

fn clp(n: i64) -> Option<Money> {
    Some(Money::from_minor(n, Currency::CLP))
}

#[tokio::test]
async fn a_paid_order_is_refunded_in_part_then_in_full() {
    let env = Env::start().await;
    let order = env.order("ORD-RF-1", "5000", Some(Outcome::Paid)).await;

    let part = env.refund(&order, "rf_part", 2000).await.unwrap();
    assert_eq!(part.state, RefundState::Created);
    assert_eq!(part.amount, clp(2000));
    let token = part.token.clone().expect("Flow refunds carry a token");
    assert_eq!(token.len(), 40);
    assert!(!part.gateway_refund_ref.is_empty());

    // Flow got Flow's parameter names, the payment named by its flowOrder.
    let sent = env.sb.sandbox.requests();
    let create = sent
        .iter()
        .rfind(|r| r.endpoint == "refund/create")
        .unwrap();
    let param = |name: &str| {
        create
            .params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(param("refundCommerceOrder"), Some("rf_part"));
    assert_eq!(param("flowTrxId"), Some(order.1.to_string().as_str()));
    assert_eq!(param("amount"), Some("2000"));
    assert_eq!(param("receiverEmail"), Some("payer@gmail.com"));
    assert_eq!(
        param("urlCallBack"),
        Some(env.hook.url("/webhook/flow/refund").as_str())
    );
    assert_eq!(param("commerceTrxId"), None);

    let rest = env.refund(&order, "rf_rest", 3000).await.unwrap();
    assert_eq!(rest.amount, clp(3000));
    assert_ne!(rest.token, part.token);
    assert_ne!(rest.gateway_refund_ref, part.gateway_refund_ref);

    let (reason, code, message) = rejected(env.refund(&order, "rf_more", 1).await);
    assert_eq!(reason, Refusal::NotRefundable);
    assert_eq!(code.as_deref(), Some("1801"));
    assert!(message.contains("fully refunded"), "{message}");

    // A payment named only by our commerceOrder is found too.
    let other = env.order("ORD-RF-1B", "1000", Some(Outcome::Paid)).await;
    let mut by_reference = env.request(&other, "rf_by_ref", 1000);
    by_reference.payment_gateway_ref = String::new();
    let done = env.flow.create_refund(&by_reference).await.unwrap();
    assert_eq!(done.amount, clp(1000));
}

#[tokio::test]
async fn a_refund_above_what_remains_is_refused_with_a_clear_neutral_error() {
    let env = Env::start().await;
    let order = env.order("ORD-RF-2", "5000", Some(Outcome::Paid)).await;
    let (reason, code, message) = rejected(env.refund(&order, "rf_big", 5001).await);
    assert_eq!(reason, Refusal::RefundExceedsAvailable);
    assert_eq!(code.as_deref(), Some("1802"));
    assert!(message.contains("5000 CLP"), "{message}");

    env.refund(&order, "rf_4000", 4000).await.unwrap();
    let (reason, _, message) = rejected(env.refund(&order, "rf_1001", 1001).await);
    assert_eq!(reason, Refusal::RefundExceedsAvailable);
    assert!(
        message.contains("1000 CLP"),
        "what remains is named: {message}"
    );
    assert!(env.refund(&order, "rf_1000", 1000).await.is_ok());
}

#[tokio::test]
async fn unpaid_and_unknown_orders_cannot_be_refunded() {
    let env = Env::start().await;
    let pending = env.order("ORD-RF-3", "5000", None).await;
    let (reason, _, message) = rejected(env.refund(&pending, "rf_unpaid", 1000).await);
    assert_eq!(reason, Refusal::NotRefundable);
    assert!(message.contains("not been paid"), "{message}");
    let rejected_order = env
        .order("ORD-RF-3B", "5000", Some(Outcome::Rejected))
        .await;
    let (reason, _, _) = rejected(env.refund(&rejected_order, "rf_rejected", 1000).await);
    assert_eq!(reason, Refusal::NotRefundable);

    let nowhere = ("ORD-NOWHERE".to_string(), 1);
    assert_eq!(
        env.refund(&nowhere, "rf_nowhere", 1000).await.unwrap_err(),
        GatewayError::NotFound
    );
}

#[tokio::test]
async fn retrying_a_refund_with_the_same_refund_id_returns_the_same_refund() {
    let env = Env::start().await;
    let order = env.order("ORD-RF-4", "5000", Some(Outcome::Paid)).await;
    let first = env.refund(&order, "rf_retry", 2000).await.unwrap();
    let again = env.refund(&order, "rf_retry", 2000).await.unwrap();
    assert_eq!(again, first, "the same refund, not a second one");
    // Only one 2000 is held: 3000 remain.
    assert!(env.refund(&order, "rf_remaining", 3000).await.is_ok());
    // The same refund id for another amount is refused, not a second refund.
    let (reason, code, _) = rejected(env.refund(&order, "rf_retry", 100).await);
    assert_eq!((reason, code.as_deref()), (Refusal::Other, Some("1803")));
}

#[tokio::test]
async fn the_callback_brings_the_token_and_a_signed_read_gives_the_new_state() {
    let env = Env::start().await;
    let order = env.order("ORD-RF-5", "5000", Some(Outcome::Paid)).await;
    let created = env.refund(&order, "rf_cb", 2500).await.unwrap();
    let token = created.token.unwrap();
    let read = env.status(&token).await.unwrap();
    assert_eq!(read.state, RefundState::Created);
    assert_eq!(read.gateway_refund_ref, created.gateway_refund_ref);
    assert_eq!(read.amount, None, "Flow's RefundStatus names no currency");
    assert!(
        env.hook
            .hits()
            .iter()
            .all(|h| h.path != "/webhook/flow/refund")
    );

    for (action, state, nth) in [
        ("accept", RefundState::Accepted, 1),
        ("refund", RefundState::Refunded, 2),
    ] {
        let (status, report) = env.settle(&token, action).await;
        assert_eq!(status, 200, "{report}");
        assert_eq!(report["refund"]["status"], state.as_str());
        assert_eq!(report["callback"]["http_status"], 200);
        let hit = env
            .hook
            .wait_for("the refund callback", |h| h.path == "/webhook/flow/refund")
            .await;
        let callbacks: Vec<_> = env
            .hook
            .hits()
            .into_iter()
            .filter(|h| h.path == "/webhook/flow/refund")
            .collect();
        assert_eq!(callbacks.len(), nth);
        // The body is a form with only the token, read as any Flow notification is.
        assert_eq!(callbacks[nth - 1].text(), format!("token={token}"));
        assert_eq!(
            hit.headers.get("content-type").unwrap(),
            "application/x-www-form-urlencoded"
        );
        let hint = GatewayKind::Flow
            .read_notification(&callbacks[nth - 1].body)
            .unwrap();
        assert_eq!(hint.token, token);
        let now = env.status(&hint.token).await.unwrap();
        assert_eq!(now.state, state);
    }
    assert_eq!(env.sb.sandbox.refund_callbacks().len(), 2);

    // Refunded is final.
    let (status, body) = env.settle(&token, "cancel").await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(env.settle("NO-SUCH-TOKEN", "accept").await.0, 404);
    assert_eq!(env.settle(&token, "explode").await.0, 400);

    // Unknown tokens read as none; Flow cannot read a refund by its flowRefundOrder.
    assert_eq!(
        env.status("0123456789ABCDEF0123456789ABCDEF0123456Z").await,
        None
    );
    assert!(matches!(
        env.flow
            .refund_status(RefundLookup::GatewayRef(&created.gateway_refund_ref))
            .await,
        Err(GatewayError::Misconfigured { .. })
    ));
}

#[tokio::test]
async fn a_created_refund_is_canceled_or_rejected_and_frees_its_amount() {
    let env = Env::start().await;
    let order = env.order("ORD-RF-6", "5000", Some(Outcome::Paid)).await;
    let first = env.refund(&order, "rf_cancel", 5000).await.unwrap();
    let token = first.token.unwrap();
    let canceled = env.flow.refund_cancel(&token).await.unwrap();
    assert_eq!(canceled.status, "canceled");
    env.hook
        .wait_for("the cancel's callback", |h| {
            h.path == "/webhook/flow/refund"
        })
        .await;
    assert_eq!(
        env.status(&token).await.unwrap().state,
        RefundState::Canceled
    );
    let again = env.flow.refund_cancel(&token).await.unwrap_err();
    assert_eq!(again.code(), Some(1804));

    let second = env.refund(&order, "rf_reject", 5000).await.unwrap();
    let token = second.token.unwrap();
    assert_eq!(env.settle(&token, "reject").await.0, 200);
    assert_eq!(
        env.status(&token).await.unwrap().state,
        RefundState::Rejected
    );
    // Neither holds any of the payment: all of it can still be refunded.
    assert!(env.refund(&order, "rf_after", 5000).await.is_ok());
}

#[tokio::test]
async fn unsigned_forged_and_foreign_refund_reads_are_refused() {
    let env = Env::start().await;
    let order = env.order("ORD-RF-7", "5000", Some(Outcome::Paid)).await;
    let token = env
        .refund(&order, "rf_sig", 1000)
        .await
        .unwrap()
        .token
        .unwrap();
    let url = format!("{}/refund/getStatus", env.sb.api_url);
    let get = |params: Vec<(&str, String)>| {
        let req = env.http.get(&url).query(&params);
        async move {
            let resp = req.send().await.unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };
    let key = DEFAULT_API_KEY.to_string();

    let (status, body) = get(vec![("apiKey", key.clone()), ("token", token.clone())]).await;
    assert_eq!(
        (status, body["code"].as_i64()),
        (400, Some(100)),
        "unsigned: {body}"
    );

    let forged = sign(
        [("apiKey", key.as_str()), ("token", token.as_str())],
        b"not-the-secret",
    );
    let (status, body) = get(vec![
        ("apiKey", key.clone()),
        ("token", token.clone()),
        ("s", forged),
    ])
    .await;
    assert_eq!(
        (status, body["code"].as_i64()),
        (401, Some(108)),
        "forged: {body}"
    );

    let signed = sign(
        [("apiKey", key.as_str()), ("token", token.as_str())],
        DEFAULT_SECRET_KEY.as_bytes(),
    );
    let (status, body) = get(vec![
        ("apiKey", key),
        ("token", token.clone()),
        ("s", signed),
    ])
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "created");
    assert_eq!(body["amount"], "1000.00");

    // The client with a wrong secret is told its credentials are wrong.
    let wrong = client(&env.sb, DEFAULT_API_KEY, "wrong-secret");
    assert!(matches!(
        wrong.refund_status(RefundLookup::Token(&token)).await,
        Err(GatewayError::Misconfigured { .. })
    ));
    // Another merchant, correctly signed, does not see this refund.
    let other = client(&env.sb, OTHER_KEY, OTHER_SECRET);
    assert_eq!(
        other
            .refund_status(RefundLookup::Token(&token))
            .await
            .unwrap(),
        None
    );
}
