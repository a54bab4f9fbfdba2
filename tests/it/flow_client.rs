//! The Flow client against the offline sandbox, over real loopback HTTP.

use std::time::Duration;

use paylink::gateway::flow::client::{CreateParams, FlowStatus};
use paylink::gateway::flow::{FlowClient, FlowClientConfig, FlowError};
use paylink::gateway::retry::RetryPolicy;
use paylink::sandbox::{
    DEFAULT_API_KEY, DEFAULT_SECRET_KEY, Fault, FaultKind, FaultTarget, Outcome, RunningSandbox,
    Sandbox, SandboxConfig,
};
use secrecy::SecretString;

fn fast_retries(mut cfg: FlowClientConfig) -> FlowClientConfig {
    let quick = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    };
    cfg.read_retry = quick;
    cfg.create_retry = RetryPolicy {
        max_attempts: 2,
        ..quick
    };
    cfg
}

async fn sandbox() -> RunningSandbox {
    Sandbox::start(SandboxConfig::default())
        .await
        .expect("sandbox starts")
}

fn client(sb: &RunningSandbox) -> FlowClient {
    client_with(sb, DEFAULT_API_KEY, DEFAULT_SECRET_KEY)
}

fn client_with(sb: &RunningSandbox, api_key: &str, secret: &str) -> FlowClient {
    let cfg = FlowClientConfig::new(
        sb.api_url.clone(),
        api_key,
        SecretString::from(secret.to_string()),
    );
    FlowClient::new(fast_retries(cfg)).unwrap()
}

fn order(commerce_order: &str, amount: &str) -> CreateParams {
    CreateParams {
        commerce_order: commerce_order.to_string(),
        subject: "Clase de matemáticas".to_string(),
        currency: "CLP".to_string(),
        amount: amount.to_string(),
        email: "payer@gmail.com".to_string(),
        // Nobody listens here: the sandbox records the failed confirmation as an alert.
        url_confirmation: "http://127.0.0.1:9/webhook/flow".to_string(),
        url_return: "http://127.0.0.1:9/payment/return".to_string(),
        timeout_secs: None,
        optional: None,
        payment_method: None,
    }
}

fn api_code(e: FlowError) -> Option<i64> {
    match e {
        FlowError::Api { code, .. } => code,
        other => panic!("expected Flow's typed refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn created_order_settled_as_paid_reports_status_2_with_payment_data() {
    let sb = sandbox().await;
    let flow = client(&sb);
    let created = flow.create(&order("ORD-PAID", "5000")).await.unwrap();
    assert!(created.url.ends_with("/app/web/pay.php"), "{}", created.url);
    assert_eq!(created.token.len(), 40);
    assert!(
        created.token[..39]
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_lowercase())
    );
    assert!(matches!(created.token.as_bytes()[39], b'G'..=b'Z'));

    let before = flow.get_status(&created.token).await.unwrap();
    assert_eq!(before.status, FlowStatus::Pending as i64);
    assert!(
        before
            .payment_data
            .as_ref()
            .is_none_or(|d| d.date.is_none())
    );

    sb.sandbox
        .settle(&created.token, Outcome::Paid)
        .await
        .unwrap();
    let after = flow.get_status(&created.token).await.unwrap();
    assert_eq!(after.status, 2);
    assert_eq!(after.flow_order, created.flow_order);
    assert_eq!(after.commerce_order, "ORD-PAID");
    assert_eq!(after.amount, "5000");
    let data = after.payment_data.expect("paymentData once paid");
    assert!(data.date.is_some());
    assert_eq!(data.media.as_deref(), Some("webpay"));
    assert_eq!(data.amount.as_deref(), Some("5000"));
    let fee: i64 = data.fee.unwrap().parse().unwrap();
    let balance: i64 = data.balance.unwrap().parse().unwrap();
    assert_eq!(fee + balance, 5000);

    let by_order = flow
        .get_status_by_flow_order(created.flow_order)
        .await
        .unwrap();
    assert_eq!(by_order.status, 2);
    let by_commerce = flow.get_status_by_commerce_id("ORD-PAID").await.unwrap();
    assert_eq!(by_commerce.flow_order, created.flow_order);
}

#[tokio::test]
async fn rejected_and_cancelled_orders_report_3_and_4() {
    let sb = sandbox().await;
    let flow = client(&sb);
    let a = flow.create(&order("ORD-REJ", "1000")).await.unwrap();
    let b = flow.create(&order("ORD-CAN", "1000")).await.unwrap();
    assert!(b.flow_order > a.flow_order, "flowOrder increases");
    sb.sandbox
        .settle(&a.token, Outcome::Rejected)
        .await
        .unwrap();
    sb.sandbox
        .settle(&b.token, Outcome::Cancelled)
        .await
        .unwrap();
    assert_eq!(flow.get_status(&a.token).await.unwrap().status, 3);
    assert_eq!(flow.get_status(&b.token).await.unwrap().status, 4);
}

#[tokio::test]
async fn an_order_past_its_timeout_reports_4_and_cannot_be_paid() {
    let sb = sandbox().await;
    let flow = client(&sb);
    let mut p = order("ORD-EXP", "2000");
    p.timeout_secs = Some(600);
    let created = flow.create(&p).await.unwrap();
    assert_eq!(flow.get_status(&created.token).await.unwrap().status, 1);
    sb.sandbox.advance_clock(601);
    assert_eq!(flow.get_status(&created.token).await.unwrap().status, 4);
    assert!(
        sb.sandbox
            .settle(&created.token, Outcome::Paid)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn flow_refusals_come_back_typed_with_flows_code() {
    let sb = sandbox().await;
    let flow = client(&sb);

    let wrong_secret = client_with(&sb, DEFAULT_API_KEY, "not-the-secret");
    let e = wrong_secret
        .create(&order("ORD-SIG", "5000"))
        .await
        .unwrap_err();
    assert!(e.is_auth() && !e.retryable(), "{e:?}");
    assert_eq!(api_code(e), Some(108));

    let unknown_key = client_with(&sb, "NO-SUCH-KEY", DEFAULT_SECRET_KEY);
    let e = unknown_key.get_status("ABC").await.unwrap_err();
    assert!(e.is_auth(), "{e:?}");
    assert_eq!(api_code(e), Some(108));

    let mut missing = order("ORD-MISS", "5000");
    missing.subject = String::new(); // the client never sends empty parameters
    let e = flow.create(&missing).await.unwrap_err();
    assert!(e.to_string().contains("missing params"), "{e}");

    assert_eq!(
        api_code(flow.create(&order("ORD-MIN", "100")).await.unwrap_err()),
        Some(1901)
    );

    let mut bad_email = order("ORD-MAIL", "5000");
    bad_email.email = "laboratorio@example.com".to_string();
    assert_eq!(
        api_code(flow.create(&bad_email).await.unwrap_err()),
        Some(1620)
    );

    let mut eur = order("ORD-EUR", "5000");
    eur.currency = "EUR".to_string();
    let e = flow.create(&eur).await.unwrap_err();
    assert_eq!(api_code(e), Some(1990));

    let e = flow
        .get_status_by_commerce_id("NO-SUCH-ORDER")
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "{e:?}");
    assert_eq!(
        flow.find_by_commerce_order("NO-SUCH-ORDER").await.unwrap(),
        None
    );
    // None of these created an order.
    assert!(
        sb.sandbox
            .requests()
            .iter()
            .filter(|r| r.endpoint == "payment/create")
            .all(|r| r.http_status != 200)
    );
}

#[tokio::test]
async fn awkward_characters_survive_signing_and_encoding() {
    let sb = sandbox().await;
    let flow = client(&sb);
    let mut p = order("ORD-ÑAND&+ \"q\"", "5000");
    p.subject = "Pago de prueba ñ & co + \"comillas\" 'simples' 100% ok?".to_string();
    p.email = "o'brien+pay&co@gmail.com".to_string();
    p.url_return = "https://m.example/return?x=1&y=2".to_string();
    p.optional = Some(r#"{"rut":"9999999-9","nota":"ñ & +"}"#.to_string());
    let created = flow.create(&p).await.unwrap();
    let s = flow.get_status(&created.token).await.unwrap();
    assert_eq!(s.subject.as_deref(), Some(p.subject.as_str()));
    assert_eq!(s.payer.as_deref(), Some(p.email.as_str()));
    assert_eq!(s.commerce_order, p.commerce_order);
    assert_eq!(s.optional.unwrap()["nota"], "ñ & +");
    let by_commerce = flow
        .get_status_by_commerce_id(&p.commerce_order)
        .await
        .unwrap();
    assert_eq!(by_commerce.flow_order, created.flow_order);
}

#[tokio::test]
async fn reads_are_retried_through_transient_server_errors() {
    let sb = sandbox().await;
    let flow = client(&sb);
    let created = flow.create(&order("ORD-RETRY", "5000")).await.unwrap();
    sb.sandbox.add_fault(Fault {
        target: FaultTarget::GetStatus,
        kind: FaultKind::Http500,
        times: Some(2),
    });
    let s = flow.get_status(&created.token).await.unwrap();
    assert_eq!(s.status, 1);
    let statuses: Vec<u16> = sb
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.endpoint == "payment/getStatus")
        .map(|r| r.http_status)
        .collect();
    assert_eq!(statuses, vec![500, 500, 200]);
}

#[tokio::test]
async fn reads_give_up_with_a_retryable_error_when_flow_stays_down() {
    let sb = sandbox().await;
    let flow = client(&sb);
    sb.sandbox.add_fault(Fault {
        target: FaultTarget::GetStatus,
        kind: FaultKind::MalformedBody,
        times: None,
    });
    let e = flow.get_status("ABC").await.unwrap_err();
    assert!(
        matches!(e, FlowError::Malformed(_)) && e.retryable(),
        "{e:?}"
    );
    assert_eq!(sb.sandbox.requests().len(), 3, "three attempts in all");
}

#[tokio::test]
async fn a_create_answered_5xx_is_returned_not_resent() {
    // A 5xx may come from a proxy that still delivers the request to Flow later: the
    // outcome is unknown, so the client must not send it again on its own (the payment
    // layer waits out a settle window and looks the order up first).
    let sb = sandbox().await;
    let flow = client(&sb);
    sb.sandbox.add_fault(Fault {
        target: FaultTarget::Create,
        kind: FaultKind::Http500,
        times: Some(1),
    });
    let e = flow.create(&order("ORD-5XX", "5000")).await.unwrap_err();
    assert!(e.outcome_unknown(), "{e:?}");
    let endpoints: Vec<(String, u16)> = sb
        .sandbox
        .requests()
        .iter()
        .map(|r| (r.endpoint.clone(), r.http_status))
        .collect();
    assert_eq!(endpoints, vec![("payment/create".to_string(), 500)]);
}

#[tokio::test]
async fn a_slow_create_times_out_without_being_resent() {
    let sb = sandbox().await;
    let mut cfg = fast_retries(FlowClientConfig::new(
        sb.api_url.clone(),
        DEFAULT_API_KEY,
        SecretString::from(DEFAULT_SECRET_KEY.to_string()),
    ));
    cfg.timeout = Duration::from_millis(300);
    let flow = FlowClient::new(cfg).unwrap();
    sb.sandbox.add_fault(Fault {
        target: FaultTarget::Create,
        kind: FaultKind::Delay { ms: 1500 },
        times: Some(1),
    });
    let e = flow.create(&order("ORD-SLOW", "5000")).await.unwrap_err();
    assert!(matches!(e, FlowError::Timeout(_)) && e.retryable(), "{e:?}");
    // Only the one create went out; the sandbox finishes it late, so Flow holds the order.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let found = loop {
        if let Some(found) = flow.find_by_commerce_order("ORD-SLOW").await.unwrap() {
            break found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the delayed create never landed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(found.status, 1);
    assert_eq!(
        sb.sandbox
            .requests()
            .iter()
            .filter(|r| r.endpoint == "payment/create")
            .count(),
        1
    );
}

#[tokio::test]
async fn a_refused_connection_is_a_retryable_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let cfg = FlowClientConfig::new(
        format!("http://127.0.0.1:{port}/api"),
        "K",
        SecretString::from("s".to_string()),
    );
    let flow = FlowClient::new(fast_retries(cfg)).unwrap();
    let e = flow.get_status("T").await.unwrap_err();
    assert!(
        matches!(e, FlowError::Connect(_)) && e.retryable() && e.never_sent(),
        "{e:?}"
    );
    let e = flow.create(&order("ORD-DOWN", "5000")).await.unwrap_err();
    assert!(matches!(e, FlowError::Connect(_)), "{e:?}");
    assert!(
        !e.to_string().contains("apiKey") && !e.to_string().contains("s="),
        "{e}"
    );
}

#[tokio::test]
async fn a_base_url_without_a_scheme_is_refused_at_construction() {
    let cfg = FlowClientConfig::new("www.flow.cl/api", "K", SecretString::from("s".to_string()));
    assert!(matches!(FlowClient::new(cfg), Err(FlowError::Config(_))));
}
