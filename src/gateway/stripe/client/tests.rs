use super::*;
use crate::domain::{Currency, Money};

const NOW: i64 = 1_700_000_000;

fn request() -> CheckoutRequest {
    CheckoutRequest {
        reference: "ref-1".into(),
        payment_id: "pay_1".into(),
        entity_id: None,
        idempotency_key: "paylink-ref-1-1".into(),
        subject: "Clase de matemáticas".into(),
        amount: Money::parse_major("12.50", Currency::from_code("USD").unwrap()).unwrap(),
        payer_email: "payer@example.com".into(),
        notify_url: "https://paylink.example/webhook/stripe".into(),
        return_url: "https://shop.example/return".into(),
        expires_in_secs: Some(3600),
    }
}

fn config(key: &str) -> StripeConfig {
    StripeConfig::new(SecretString::from(key.to_string()))
}

#[test]
fn key_modes_by_prefix() {
    let table = [
        ("sk_test_abc", Ok(KeyMode::Test)),
        ("rk_test_abc", Ok(KeyMode::Test)),
        ("sk_live_abc", Ok(KeyMode::Live)),
        ("rk_live_abc", Ok(KeyMode::Live)),
        ("  sk_test_abc\n", Ok(KeyMode::Test)),
    ];
    for (key, want) in table {
        assert_eq!(StripeClient::key_mode(key), want, "{key:?}");
    }
    for key in [
        "pk_test_secretish123",
        "whsec_secretish123",
        "sk_test_",
        "sk_secretish123",
        "",
    ] {
        let e = StripeClient::key_mode(key).unwrap_err();
        assert!(e.contains("sk_test_") && e.contains("rk_live_"), "{e}");
        assert!(!e.contains("secretish"), "the refusal quotes the key: {e}");
    }
    assert!(
        StripeClient::key_mode("pk_live_x")
            .unwrap_err()
            .contains("publishable")
    );
}

#[test]
fn secrets_never_show_in_debug() {
    let mut cfg = config("sk_test_supersecret");
    cfg.webhook_secrets = vec![SecretString::from("whsec_alsosecret".to_string())];
    let client = StripeClient::new(cfg).unwrap();
    let debug = format!("{client:?}");
    assert!(
        !debug.contains("supersecret") && !debug.contains("alsosecret"),
        "{debug}"
    );
}

#[test]
fn unusable_configurations_are_refused_without_quoting_the_key() {
    let mut cfg = config("sk_test_abc");
    cfg.api_base = "api.stripe.com".into();
    assert!(matches!(
        StripeClient::new(cfg),
        Err(StripeError::Config(_))
    ));
    for key in ["", "sk_test_with space", "sk_test_new\nline"] {
        let e = StripeClient::new(config(key)).unwrap_err();
        assert!(!e.to_string().contains("with space"), "{e}");
        assert!(matches!(e, StripeError::Config(_)), "{e:?}");
    }
    let mut cfg = config("sk_test_abc");
    cfg.api_base = "http://127.0.0.1:1234/".into();
    assert_eq!(
        StripeClient::new(cfg).unwrap().config().api_base,
        "http://127.0.0.1:1234"
    );
}

#[tokio::test]
async fn amounts_stripe_cannot_take_are_refused_before_any_call() {
    // Nothing listens on this port: a request would fail as a connect error instead.
    let mut cfg = config("sk_test_abc");
    cfg.api_base = "http://127.0.0.1:9".into();
    cfg.read_retry = RetryPolicy::NONE;
    let client = StripeClient::new(cfg).unwrap();
    let mut req = request();
    req.amount = Money::from_minor(49, Currency::from_code("USD").unwrap());
    let e = client.create_checkout(&req).await.unwrap_err();
    assert!(
        matches!(
            e,
            GatewayError::Rejected {
                reason: crate::gateway::Refusal::BelowMinimum,
                ..
            }
        ),
        "{e:?}"
    );
    req.amount = Money::from_minor(5125, Currency::from_code("KWD").unwrap());
    let e = client.create_checkout(&req).await.unwrap_err();
    assert!(e.to_string().contains("5.125"), "{e}");
    req.amount = Money::from_minor(15_000, Currency::from_code("UF").unwrap());
    let e = client.create_checkout(&req).await.unwrap_err();
    assert!(matches!(e, GatewayError::Rejected { .. }), "{e:?}");
    req.amount = Money::from_minor(5000, Currency::CLP);
    req.idempotency_key = "k".repeat(256);
    let e = client.create_checkout(&req).await.unwrap_err();
    assert!(matches!(e, GatewayError::Misconfigured { .. }), "{e:?}");
}

#[test]
fn notifications_are_verified_with_the_accounts_secrets() {
    let body = serde_json::to_vec(&serde_json::json!({
        "id": "evt_1", "type": "checkout.session.completed",
        "data": {"object": {"id": "cs_test_1", "metadata": {"paymentId": "pay_1"}}}
    }))
    .unwrap();
    let header = signature::header_value(&[b"whsec_k"], NOW, &body);
    let mut headers = http::HeaderMap::new();
    headers.insert("Stripe-Signature", header.parse().unwrap());

    let unconfigured = StripeClient::new(config("sk_test_abc")).unwrap();
    assert_eq!(
        unconfigured.verify_notification(&headers, &body, NOW),
        Err(NotificationError::NotConfigured)
    );

    let mut cfg = config("sk_test_abc");
    cfg.webhook_secrets = vec![SecretString::from("whsec_k".to_string())];
    let client = StripeClient::new(cfg).unwrap();
    let n = client
        .verify_notification(&headers, &body, NOW)
        .unwrap()
        .unwrap();
    assert_eq!(n.token.as_deref(), Some("cs_test_1"));
    assert_eq!(n.payment_id.as_deref(), Some("pay_1"));
    assert_eq!(
        client.verify_notification(&headers, &body, NOW + 301),
        Err(NotificationError::BadSignature)
    );
    assert_eq!(
        client.verify_notification(&http::HeaderMap::new(), &body, NOW),
        Err(NotificationError::BadSignature)
    );
    // A signed body that is not an event is malformed, not forged.
    let junk = b"not json";
    let mut h = http::HeaderMap::new();
    h.insert(
        "stripe-signature",
        signature::header_value(&[b"whsec_k"], NOW, junk)
            .parse()
            .unwrap(),
    );
    assert!(matches!(
        client.verify_notification(&h, junk, NOW),
        Err(NotificationError::Malformed(_))
    ));
}

#[test]
fn a_rotated_out_webhook_secret_is_accepted_until_its_grace_period_ends() {
    use crate::gateway::Gateway;
    let mut cfg = config("sk_test_abc");
    cfg.webhook_secrets = vec![SecretString::from("whsec_new".to_string())];
    cfg.retiring_webhook_secrets = vec![(SecretString::from("whsec_old".to_string()), 1_000)];
    let client = StripeClient::new(cfg).unwrap();
    let body = br#"{"id":"evt_1","object":"event","type":"customer.created","created":1,"data":{"object":{}}}"#;
    let signed = |secret: &str, t: i64| {
        let mut h = http::HeaderMap::new();
        h.insert(
            signature::HEADER,
            signature::header_value(&[secret.as_bytes()], t, body)
                .parse()
                .unwrap(),
        );
        h
    };
    // Before the old secret's end, both are accepted.
    assert!(
        client
            .verify_notification(&signed("whsec_old", 900), body, 900)
            .is_ok()
    );
    assert!(
        client
            .verify_notification(&signed("whsec_new", 900), body, 900)
            .is_ok()
    );
    // After it, only the new one, with no restart.
    assert_eq!(
        client.verify_notification(&signed("whsec_old", 1_100), body, 1_100),
        Err(NotificationError::BadSignature)
    );
    assert!(
        client
            .verify_notification(&signed("whsec_new", 1_100), body, 1_100)
            .is_ok()
    );
}
