//! The Stripe client over real loopback HTTP, against a small server written here that
//! plays Stripe's Checkout Sessions API: idempotency keys replayed, keys checked, list
//! paging, and faults on demand (429 with Retry-After, 500, a slow answer).

mod fake;

use std::net::SocketAddr;
use std::time::Duration;

use paylink::domain::{Currency, Money, Timestamp};
use paylink::gateway::retry::RetryPolicy;
use paylink::gateway::stripe::{API_VERSION, StripeClient, StripeConfig};
use paylink::gateway::{CheckoutRequest, Gateway, GatewayError, Lookup, Refusal, Verdict};
use secrecy::SecretString;
use serde_json::json;

use fake::{EPOCH, Fault, KEY, LIMITED_KEY, Recorded, Target, fake_stripe, stripe_error};

fn client_at(base: String, key: &str, timeout: Duration) -> StripeClient {
    let mut cfg = StripeConfig::new(SecretString::from(key.to_string()));
    cfg.api_base = base;
    cfg.timeout = timeout;
    cfg.read_retry = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
    };
    StripeClient::new(cfg).unwrap()
}

fn client(addr: SocketAddr) -> StripeClient {
    client_at(format!("http://{addr}"), KEY, Duration::from_secs(5))
}

fn request(reference: &str, amount: &str, currency: &str) -> CheckoutRequest {
    CheckoutRequest {
        reference: reference.into(),
        payment_id: format!("pay_{reference}"),
        entity_id: None,
        idempotency_key: format!("paylink-{reference}-1"),
        subject: "Clase de matemáticas & co".into(),
        amount: Money::parse_major(amount, Currency::from_code(currency).unwrap()).unwrap(),
        payer_email: "payer+1@example.com".into(),
        notify_url: "https://paylink.example/webhook/stripe/acme/development".into(),
        return_url: "https://shop.example/return?from=paylink".into(),
        expires_in_secs: Some(3600),
    }
}

fn form_value<'a>(r: &'a Recorded, key: &str) -> Option<&'a str> {
    r.form
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn header<'a>(r: &'a Recorded, name: &str) -> Option<&'a str> {
    r.headers.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn a_created_session_carries_every_parameter_and_header() {
    let (fake, addr) = fake_stripe().await;
    let stripe = client(addr);
    let checkout = stripe
        .create_checkout(&request("ref-new", "12.50", "USD"))
        .await
        .unwrap();
    assert_eq!(checkout.gateway_ref, "cs_test_0000");
    assert_eq!(checkout.token, checkout.gateway_ref);
    assert_eq!(
        checkout.url,
        "https://checkout.stripe.test/c/pay/cs_test_0000"
    );

    let sent = fake.requests(Target::Create);
    assert_eq!(sent.len(), 1);
    let r = &sent[0];
    assert_eq!(
        header(r, "authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(header(r, "idempotency-key"), Some("paylink-ref-new-1"));
    assert_eq!(header(r, "stripe-version"), Some(API_VERSION));
    assert_eq!(
        header(r, "content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let want = [
        ("mode", "payment"),
        ("line_items[0][price_data][currency]", "usd"),
        ("line_items[0][price_data][unit_amount]", "1250"),
        (
            "line_items[0][price_data][product_data][name]",
            "Clase de matemáticas & co",
        ),
        ("line_items[0][quantity]", "1"),
        ("client_reference_id", "ref-new"),
        ("customer_email", "payer+1@example.com"),
        ("metadata[paymentId]", "pay_ref-new"),
        ("metadata[reference]", "ref-new"),
        ("payment_intent_data[metadata][paymentId]", "pay_ref-new"),
        (
            "success_url",
            "https://shop.example/return?from=paylink&session_id={CHECKOUT_SESSION_ID}",
        ),
        ("cancel_url", "https://shop.example/return?from=paylink"),
    ];
    for (k, v) in want {
        assert_eq!(form_value(r, k), Some(v), "{k}");
    }
    let expires: i64 = form_value(r, "expires_at").unwrap().parse().unwrap();
    let now = Timestamp::now().0 / 1000;
    assert!(
        (expires - now - 3600).abs() <= 5,
        "expires_at {expires}, now {now}"
    );
}

#[tokio::test]
async fn a_retried_create_with_the_same_key_is_replayed_not_duplicated() {
    let (fake, addr) = fake_stripe().await;
    let stripe = client(addr);
    let req = request("ref-twice", "20", "EUR");
    let first = stripe.create_checkout(&req).await.unwrap();
    let again = stripe.create_checkout(&req).await.unwrap();
    assert_eq!(first, again);
    assert_eq!(
        fake.sessions.lock().unwrap().len(),
        1,
        "one session for one key"
    );
    let keys: Vec<_> = fake
        .requests(Target::Create)
        .iter()
        .map(|r| header(r, "idempotency-key").unwrap().to_string())
        .collect();
    assert_eq!(keys, ["paylink-ref-twice-1", "paylink-ref-twice-1"]);

    // The same key with other parameters is paylink's bug, not a payment to retry.
    let mut changed = req.clone();
    changed.subject = "Something else".into();
    let e = stripe.create_checkout(&changed).await.unwrap_err();
    assert!(matches!(e, GatewayError::Misconfigured { .. }), "{e:?}");
    assert!(!e.retryable());
    assert_eq!(fake.sessions.lock().unwrap().len(), 1);

    // A new attempt gets a new key and a new session.
    let mut next = req.clone();
    next.idempotency_key = "paylink-ref-twice-2".into();
    let second = stripe.create_checkout(&next).await.unwrap();
    assert_ne!(second.gateway_ref, first.gateway_ref);
}

#[tokio::test]
async fn a_rate_limited_create_reports_retry_after_and_is_not_resent() {
    let (fake, addr) = fake_stripe().await;
    let stripe = client(addr);
    let (_, body) = stripe_error(
        429,
        "invalid_request_error",
        Some("rate_limit"),
        "Too many requests",
    );
    fake.fault(
        Target::Create,
        Fault::Status {
            code: 429,
            body,
            retry_after: Some(7),
        },
        1,
    );
    let e = stripe
        .create_checkout(&request("ref-429", "5", "USD"))
        .await
        .unwrap_err();
    assert_eq!(
        e,
        GatewayError::Unavailable {
            detail: e.to_string(),
            retry_after: Some(Duration::from_secs(7)),
            outcome_unknown: true,
        }
    );
    assert!(e.retryable());
    assert_eq!(fake.requests(Target::Create).len(), 1, "never re-sent");
}

#[tokio::test]
async fn a_create_answered_500_is_returned_not_resent() {
    let (fake, addr) = fake_stripe().await;
    let stripe = client(addr);
    let (_, body) = stripe_error(
        500,
        "api_error",
        None,
        "Something went wrong on Stripe's end.",
    );
    fake.fault(
        Target::Create,
        Fault::Status {
            code: 500,
            body,
            retry_after: None,
        },
        1,
    );
    let e = stripe
        .create_checkout(&request("ref-500", "5", "USD"))
        .await
        .unwrap_err();
    assert!(e.outcome_unknown() && e.retryable(), "{e:?}");
    assert_eq!(fake.requests(Target::Create).len(), 1);
    assert!(fake.sessions.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_slow_create_times_out_without_being_resent() {
    let (fake, addr) = fake_stripe().await;
    let stripe = client_at(format!("http://{addr}"), KEY, Duration::from_millis(300));
    fake.fault(Target::Create, Fault::Delay(Duration::from_millis(1500)), 1);
    let e = stripe
        .create_checkout(&request("ref-slow", "5", "USD"))
        .await
        .unwrap_err();
    assert!(e.outcome_unknown(), "{e:?}");
    assert!(e.to_string().contains("did not answer"), "{e}");
    assert_eq!(fake.requests(Target::Create).len(), 1);
    // The fake finishes the create late: Stripe holds a session for the reference, and
    // a read by reference finds it with its link (how a lost create is finished).
    let mut found = None;
    for _ in 0..100 {
        found = stripe
            .status(Lookup::Reference {
                reference: "ref-slow",
                created_after: Timestamp(EPOCH * 1000),
            })
            .await
            .unwrap();
        if found.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let found = found.expect("the late create landed");
    assert_eq!(found.verdict, Verdict::Pending);
    assert!(found.checkout.is_some());
}

#[tokio::test]
async fn a_create_that_cannot_connect_never_left() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let stripe = client_at(
        format!("http://127.0.0.1:{port}"),
        KEY,
        Duration::from_secs(2),
    );
    let e = stripe
        .create_checkout(&request("ref-down", "5", "USD"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            GatewayError::Unavailable {
                outcome_unknown: false,
                ..
            }
        ),
        "{e:?}"
    );
}

#[tokio::test]
async fn bad_keys_are_misconfigured_and_never_quoted() {
    let (_fake, addr) = fake_stripe().await;
    for (key, status) in [("sk_test_wrongKEY0123456789", "401"), (LIMITED_KEY, "403")] {
        let stripe = client_at(format!("http://{addr}"), key, Duration::from_secs(5));
        for e in [
            stripe
                .create_checkout(&request("ref-key", "5", "USD"))
                .await
                .unwrap_err(),
            stripe
                .status(Lookup::Token("cs_test_0000"))
                .await
                .unwrap_err(),
        ] {
            let GatewayError::Misconfigured { detail } = &e else {
                panic!("{key}: expected misconfigured, got {e:?}");
            };
            assert!(detail.contains(status), "{detail}");
            assert!(
                !detail.contains("KEY0123") && !detail.contains("6789"),
                "{detail}"
            );
        }
    }
}

#[tokio::test]
async fn an_amount_under_stripes_minimum_is_refused_as_below_minimum() {
    let (fake, addr) = fake_stripe().await;
    let stripe = client(addr);
    // CLP has no fixed minimum in paylink's table: Stripe's answer decides.
    let e = stripe
        .create_checkout(&request("ref-small", "100", "CLP"))
        .await
        .unwrap_err();
    let GatewayError::Rejected {
        reason,
        code,
        message,
    } = &e
    else {
        panic!("{e:?}");
    };
    assert_eq!(*reason, Refusal::BelowMinimum);
    assert_eq!(code.as_deref(), Some("amount_too_small"));
    assert!(message.contains("at least"), "{message}");
    let r = &fake.requests(Target::Create)[0];
    assert_eq!(
        form_value(r, "line_items[0][price_data][currency]"),
        Some("clp")
    );
    assert_eq!(
        form_value(r, "line_items[0][price_data][unit_amount]"),
        Some("100")
    );

    // Under the table's USD minimum: refused before any call.
    let e = stripe
        .create_checkout(&request("ref-cents", "0.49", "USD"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            GatewayError::Rejected {
                reason: Refusal::BelowMinimum,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(fake.requests(Target::Create).len(), 1);
}

#[tokio::test]
async fn status_reads_map_every_session_state() {
    let (fake, addr) = fake_stripe().await;
    let stripe = client(addr);
    let created = stripe
        .create_checkout(&request("ref-life", "12.50", "USD"))
        .await
        .unwrap();
    let id = created.token.as_str();

    let open = stripe.status(Lookup::Token(id)).await.unwrap().unwrap();
    assert_eq!(open.verdict, Verdict::Pending);
    assert_eq!(open.reference, "ref-life");
    assert_eq!(open.checkout, Some(created.clone()));
    assert_eq!(
        open.amount,
        Some(Money::parse_major("12.50", Currency::from_code("USD").unwrap()).unwrap())
    );
    let r = fake.requests(Target::Retrieve).pop().unwrap();
    assert_eq!(r.path, format!("/v1/checkout/sessions/{id}"));
    assert_eq!(r.query, "expand[]=payment_intent");
    assert_eq!(header(&r, "stripe-version"), Some(API_VERSION));

    // A delayed method: complete but unpaid, the intent still processing.
    fake.update(
        id,
        json!({"status": "complete", "payment_status": "unpaid", "url": null,
            "payment_intent": {"id": "pi_1", "object": "payment_intent", "status": "processing"}}),
    );
    let s = stripe
        .status(Lookup::GatewayRef(id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.verdict, Verdict::Pending);
    assert_eq!(s.checkout, None);

    // It failed: the intent wants another payment method; found by reference too (the
    // list does not expand intents, so the session is read again).
    fake.update(
        id,
        json!({"payment_intent": {"id": "pi_1", "object": "payment_intent", "status": "requires_payment_method"}}),
    );
    assert_eq!(
        stripe
            .status(Lookup::Token(id))
            .await
            .unwrap()
            .unwrap()
            .verdict,
        Verdict::Rejected
    );
    let before = fake.requests(Target::Retrieve).len();
    let by_ref = stripe
        .status(Lookup::Reference {
            reference: "ref-life",
            created_after: Timestamp(EPOCH * 1000),
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_ref.verdict, Verdict::Rejected);
    assert_eq!(fake.requests(Target::Retrieve).len(), before + 1);

    fake.update(
        id,
        json!({"payment_status": "paid", "payment_intent": {"id": "pi_1", "status": "succeeded"}}),
    );
    assert_eq!(
        stripe
            .status(Lookup::Token(id))
            .await
            .unwrap()
            .unwrap()
            .verdict,
        Verdict::Paid { paid_at: None }
    );

    fake.update(
        id,
        json!({"status": "expired", "payment_status": "unpaid", "payment_intent": null}),
    );
    assert_eq!(
        stripe
            .status(Lookup::Token(id))
            .await
            .unwrap()
            .unwrap()
            .verdict,
        Verdict::Cancelled
    );

    assert_eq!(
        stripe.status(Lookup::Token("cs_test_none")).await.unwrap(),
        None
    );
    // Not a session id at all: nothing is asked.
    let asked = fake.requests(Target::Retrieve).len();
    assert_eq!(
        stripe
            .status(Lookup::Token("../../v1/charges"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(fake.requests(Target::Retrieve).len(), asked);
}

#[tokio::test]
async fn sessions_are_found_by_reference_across_pages() {
    let (fake, addr) = fake_stripe().await;
    let stripe = client(addr);
    let target = fake.add_session("ref-deep");
    for i in 0..250 {
        fake.add_session(&format!("ref-other-{i}"));
    }
    let found = stripe
        .status(Lookup::Reference {
            reference: "ref-deep",
            created_after: Timestamp(EPOCH * 1000),
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.gateway_ref, target);
    let pages = fake.requests(Target::List);
    assert_eq!(
        pages.len(),
        3,
        "251 sessions newest first: the target is on page 3"
    );
    assert_eq!(pages[0].query, format!("created[gte]={EPOCH}&limit=100"));
    assert!(
        pages[1].query.ends_with("&starting_after=cs_test_0151"),
        "{}",
        pages[1].query
    );

    // The newest of two sessions for one reference wins.
    let newer = fake.add_session("ref-deep");
    let found = stripe
        .status(Lookup::Reference {
            reference: "ref-deep",
            created_after: Timestamp(EPOCH * 1000),
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.gateway_ref, newer);

    // Only sessions since `created_after` are listed.
    let since = stripe
        .status(Lookup::Reference {
            reference: "ref-other-0",
            created_after: Timestamp((EPOCH + 100) * 1000),
        })
        .await
        .unwrap();
    assert_eq!(since, None);
}

#[tokio::test]
async fn a_search_by_reference_reads_at_most_ten_pages() {
    let (fake, addr) = fake_stripe().await;
    let stripe = client(addr);
    fake.add_session("ref-ancient");
    for i in 0..1_100 {
        fake.add_session(&format!("ref-busy-{i}"));
    }
    let found = stripe
        .status(Lookup::Reference {
            reference: "ref-ancient",
            created_after: Timestamp(EPOCH * 1000),
        })
        .await
        .unwrap();
    assert_eq!(found, None);
    assert_eq!(fake.requests(Target::List).len(), 10);
}

#[tokio::test]
async fn reads_are_retried_through_transient_errors() {
    let (fake, addr) = fake_stripe().await;
    let stripe = client(addr);
    let id = fake.add_session("ref-flaky");
    let (_, body) = stripe_error(500, "api_error", None, "Something went wrong");
    fake.fault(
        Target::Retrieve,
        Fault::Status {
            code: 500,
            body,
            retry_after: None,
        },
        2,
    );
    let s = stripe.status(Lookup::Token(&id)).await.unwrap().unwrap();
    assert_eq!(s.verdict, Verdict::Pending);
    assert_eq!(fake.requests(Target::Retrieve).len(), 3);

    // Stripe asks for a longer wait than a read may take: the error says so at once.
    let (_, body) = stripe_error(
        429,
        "invalid_request_error",
        Some("rate_limit"),
        "Too many requests",
    );
    fake.fault(
        Target::Retrieve,
        Fault::Status {
            code: 429,
            body,
            retry_after: Some(60),
        },
        1,
    );
    let e = stripe.status(Lookup::Token(&id)).await.unwrap_err();
    assert!(
        matches!(
            e,
            GatewayError::Unavailable {
                retry_after: Some(d),
                ..
            } if d == Duration::from_secs(60)
        ),
        "{e:?}"
    );
    assert_eq!(fake.requests(Target::Retrieve).len(), 4);
}
