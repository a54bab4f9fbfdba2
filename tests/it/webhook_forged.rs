//! Confirmations that must change nothing they should not: malformed bodies, random
//! tokens (and floods of them), another merchant's token, a token of an order that is none
//! of our payments, and a real token replayed.

use paylink::domain::PaymentStatus;
use paylink::gateway::flow::client::CreateParams;
use paylink::sandbox::Outcome;

use crate::support::webhook::*;

#[tokio::test]
async fn malformed_confirmations_get_400_and_are_not_recorded() {
    let h = Harness::start().await;
    let long = format!("token={}", "A".repeat(129));
    for body in [
        "",
        "token=",
        "other=1",
        "token=abc%20def",
        "token=%00",
        "token=<script>",
        long.as_str(),
    ] {
        let (status, _) = h.post_confirmation(body).await;
        assert_eq!(status, 400, "body {body:?}");
    }
    assert!(h.confirmations().is_empty());
}

#[tokio::test]
async fn a_random_token_changes_nothing_and_is_recorded_as_unknown() {
    let h = Harness::start().await;
    let p = h.create(5000).await;
    let forged = "0123456789ABCDEF0123456789ABCDEF0123456Z";
    let (status, _) = h.confirm(forged).await;
    assert_eq!(status, 200);
    h.idle().await;
    let log = h.confirmations_for(forged);
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].outcome, "unknown_token");
    assert_eq!(log[0].payment_id, None);
    assert_eq!(h.get(&p.id), p, "the only payment is untouched");
}

#[tokio::test]
async fn another_merchants_paid_token_changes_nothing_here() {
    let h = Harness::start().await;
    let ours = h.create(5000).await;
    // Another merchant's order, confirmed (by Flow) at our URL, with our commerceOrder even.
    let other = flow_client(&h.sandbox, OTHER_API_KEY, OTHER_SECRET_KEY);
    let created = other
        .create(&CreateParams {
            commerce_order: ours.reference.clone(),
            subject: "not yours".into(),
            currency: "CLP".into(),
            amount: "5000".into(),
            email: "x@gmail.com".into(),
            url_confirmation: format!("{}/webhook/flow", h.base),
            url_return: format!("{}/payment/return", h.base),
            timeout_secs: None,
            optional: None,
            payment_method: None,
        })
        .await
        .unwrap();
    let report = h
        .sandbox
        .sandbox
        .settle(&created.token, Outcome::Paid)
        .await
        .unwrap();
    assert_eq!(report.confirmation.unwrap().http_status, Some(200));
    h.idle().await;
    let log = h.confirmations_for(&created.token);
    assert_eq!(log.len(), 1);
    assert_eq!(
        log[0].outcome, "unknown_token",
        "our account does not know their token"
    );
    assert_eq!(h.get(&ours.id), ours);
}

#[tokio::test]
async fn a_real_token_replayed_changes_only_its_own_payment() {
    let h = Harness::start().await;
    let a = h.create(5000).await;
    let b = h.create(7000).await;
    let a_token = Harness::token(&a);
    h.sandbox
        .sandbox
        .settle(&a_token, Outcome::Paid)
        .await
        .unwrap();
    h.wait_for(&a.id, "A is paid", |p| p.status == PaymentStatus::Paid)
        .await;
    h.idle().await;
    for _ in 0..3 {
        assert_eq!(h.confirm(&a_token).await.0, 200);
        h.idle().await;
    }
    assert_eq!(h.get(&b.id), b, "B is untouched");
    assert_eq!(
        h.event_count(&a.id),
        3,
        "created, pending, paid: replays add nothing"
    );
    let log = h.confirmations_for(&a_token);
    assert_eq!(log.len(), 4);
    assert!(
        log.iter()
            .all(|c| c.payment_id.as_deref() == Some(a.id.as_str())),
        "{log:?}"
    );
    assert_eq!(
        log.iter().filter(|c| c.outcome == "unchanged").count(),
        3,
        "{log:?}"
    );
}

#[tokio::test]
async fn a_token_flow_knows_for_an_order_that_is_none_of_our_payments_changes_nothing() {
    let h = Harness::start().await;
    let ours = h.create(5000).await;
    // Our own Flow account, an order made outside paylink (no payment has its commerceOrder).
    let flow = flow_client(
        &h.sandbox,
        paylink::sandbox::DEFAULT_API_KEY,
        paylink::sandbox::DEFAULT_SECRET_KEY,
    );
    let created = flow
        .create(&CreateParams {
            commerce_order: "MADE-ELSEWHERE-1".into(),
            subject: "elsewhere".into(),
            currency: "CLP".into(),
            amount: "5000".into(),
            email: "x@gmail.com".into(),
            url_confirmation: format!("{}/webhook/flow", h.base),
            url_return: format!("{}/payment/return", h.base),
            timeout_secs: None,
            optional: None,
            payment_method: None,
        })
        .await
        .unwrap();
    h.sandbox
        .sandbox
        .settle(&created.token, Outcome::Paid)
        .await
        .unwrap();
    h.idle().await;
    let log = h.confirmations_for(&created.token);
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].outcome, "foreign_token");
    assert_eq!(h.get(&ours.id), ours);
}

#[tokio::test]
async fn a_flood_of_random_tokens_is_answered_but_asks_flow_at_a_bounded_rate() {
    let h = Harness::start().await;
    let before = h.sandbox.sandbox.requests().len();
    let tokens: Vec<String> = (0..40).map(|i| format!("FORGED{i:034}")).collect();
    let answers = futures::future::join_all(tokens.iter().map(|t| h.confirm(t))).await;
    assert!(answers.iter().all(|(s, _)| *s == 200));
    h.idle().await;
    let asked = h.sandbox.sandbox.requests().len() - before;
    assert!(
        (10..=20).contains(&asked),
        "Flow was asked {asked} times for 40 random tokens"
    );
    let log = h.confirmations();
    let limited = log.iter().filter(|c| c.outcome == "rate_limited").count();
    let unknown = log.iter().filter(|c| c.outcome == "unknown_token").count();
    assert_eq!(limited + unknown, 40, "{log:?}");
    assert_eq!(unknown, asked);
}

#[tokio::test]
async fn signed_event_endpoints_exist_only_for_an_account_that_takes_signed_events() {
    let h = Harness::start().await;
    let post = |path: &str| {
        h.http
            .post(format!("{}{path}", h.base))
            .header("stripe-signature", "t=1,v1=00")
            .body("{}")
            .send()
    };
    // No such gateway, organization or environment: nothing to sign for.
    for path in [
        "/webhook/bogus/default/development",
        "/webhook/flow/nobody/development",
        "/webhook/flow/default/staging",
        "/webhook/flow/default/production",
    ] {
        let r = post(path).await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    // Flow's account exists, but Flow signs nothing: its events come to /webhook/flow.
    let r = post("/webhook/flow/default/development").await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("no webhook secret"));
    assert!(h.confirmations().is_empty());
}
