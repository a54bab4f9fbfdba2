//! Flow's confirmations through the real side listener: settling in the offline sandbox
//! POSTs the token to `/webhook/flow`, and the payment follows Flow's signed answer, once,
//! however often it is confirmed, even while Flow's API is down. Also health, metrics and
//! the return page.

use std::time::Duration;

use paylink::domain::{EventKind, FailureReason, PaymentStatus, Timestamp};
use paylink::reconcile::reconcile_once;
use paylink::sandbox::{Fault, FaultKind, FaultTarget, Outcome};

use crate::support::webhook::*;

async fn settle_and_wait(
    h: &Harness,
    outcome: Outcome,
    want: PaymentStatus,
) -> paylink::domain::Payment {
    let p = h.create(5000).await;
    let report = h
        .sandbox
        .sandbox
        .settle(&Harness::token(&p), outcome)
        .await
        .unwrap();
    let sent = report.confirmation.expect("a confirmation was sent");
    assert_eq!(sent.http_status, Some(200), "{sent:?}");
    assert!(!sent.alert, "{sent:?}");
    h.wait_for(&p.id, "the confirmation is applied", |q| q.status == want)
        .await
}

#[tokio::test]
async fn settling_paid_confirms_the_payment_paid_with_exactly_one_paid_event() {
    let h = Harness::start().await;
    let mut changes = h.payments.subscribe();
    let paid = settle_and_wait(&h, Outcome::Paid, PaymentStatus::Paid).await;
    assert!(paid.paid_at.is_some());
    h.idle().await;
    let events = h.store.events(&paid.id).await.unwrap();
    assert_eq!(
        events.iter().filter(|e| e.kind == EventKind::Paid).count(),
        1,
        "{events:?}"
    );
    let mut broadcast_paid = 0;
    while let Ok(c) = changes.try_recv() {
        if c.payment.id == paid.id && c.event.to == PaymentStatus::Paid {
            broadcast_paid += 1;
        }
    }
    assert_eq!(broadcast_paid, 1);
    let log = h.confirmations_for(&Harness::token(&paid));
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0].outcome, "paid");
    assert_eq!(log[0].payment_id.as_deref(), Some(paid.id.as_str()));
}

#[tokio::test]
async fn settling_rejected_or_cancelled_fails_the_payment_with_that_reason() {
    let h = Harness::start().await;
    let rejected = settle_and_wait(&h, Outcome::Rejected, PaymentStatus::Failed).await;
    assert_eq!(rejected.failure_reason, Some(FailureReason::Rejected));
    let cancelled = settle_and_wait(&h, Outcome::Cancelled, PaymentStatus::Failed).await;
    assert_eq!(cancelled.failure_reason, Some(FailureReason::Cancelled));
    h.idle().await;
    assert_eq!(
        h.confirmations_for(&Harness::token(&rejected))[0].outcome,
        "failed:rejected"
    );
    assert_eq!(
        h.confirmations_for(&Harness::token(&cancelled))[0].outcome,
        "failed:cancelled"
    );
}

#[tokio::test]
async fn ten_duplicate_confirmations_give_one_transition_and_one_event() {
    let h = Harness::start().await;
    let p = h.create(5000).await;
    let token = Harness::token(&p);
    let mut changes = h.payments.subscribe();
    h.sandbox.sandbox.drop_next_confirmations(1);
    h.sandbox
        .sandbox
        .settle(&token, Outcome::Paid)
        .await
        .unwrap();
    let posts = (0..10).map(|_| h.confirm(&token));
    let answers = futures::future::join_all(posts).await;
    assert!(answers.iter().all(|(s, _)| *s == 200));
    h.wait_for(&p.id, "paid", |q| q.status == PaymentStatus::Paid)
        .await;
    h.idle().await;
    assert_eq!(h.event_count(&p.id), 3);
    let mut events = 0;
    while let Ok(c) = changes.try_recv() {
        events += usize::from(c.payment.id == p.id);
    }
    assert_eq!(events, 1);
    let log = h.confirmations_for(&token);
    assert_eq!(
        log.iter().filter(|c| c.outcome == "paid").count(),
        1,
        "{log:?}"
    );
    assert!(log.len() >= 10, "every confirmation is recorded: {log:?}");
}

#[tokio::test]
async fn with_flow_down_the_listener_still_answers_at_once_and_reconciliation_resolves_it_later() {
    let h = Harness::start().await;
    let p = h.create(5000).await;
    let token = Harness::token(&p);
    for kind in [FaultKind::Http500, FaultKind::CloseConnection] {
        h.sandbox.sandbox.add_fault(Fault {
            target: FaultTarget::GetStatus,
            kind,
            times: None,
        });
    }
    let report = h
        .sandbox
        .sandbox
        .settle(&token, Outcome::Paid)
        .await
        .unwrap();
    let sent = report.confirmation.unwrap();
    assert_eq!(sent.http_status, Some(200));
    assert!(sent.latency_ms < 1000, "Flow waited {} ms", sent.latency_ms);
    let (status, took) = h.confirm(&token).await;
    assert_eq!(status, 200);
    assert!(took < Duration::from_secs(1), "answered in {took:?}");
    h.idle().await;
    assert_eq!(h.get(&p.id).status, PaymentStatus::Pending);
    let log = h.confirmations_for(&token);
    assert!(
        log.iter().any(|c| c.outcome.starts_with("gateway_error")),
        "{log:?}"
    );
    assert!(
        !log.iter()
            .any(|c| c.outcome.contains(paylink::sandbox::DEFAULT_SECRET_KEY))
    );

    h.sandbox.sandbox.clear_faults();
    let report = reconcile_once(&h.reconciler(), hours_from_now(2)).await;
    assert_eq!(
        (report.checked, report.changed, report.errors),
        (1, 1, 0),
        "{report:?}"
    );
    assert_eq!(h.get(&p.id).status, PaymentStatus::Paid);
}

#[tokio::test]
async fn health_and_metrics_answer_with_the_counters() {
    let h = Harness::start().await;
    let p = h.create(5000).await;
    h.sandbox
        .sandbox
        .settle(&Harness::token(&p), Outcome::Paid)
        .await
        .unwrap();
    h.wait_for(&p.id, "paid", |q| q.status == PaymentStatus::Paid)
        .await;
    h.idle().await;
    reconcile_once(&h.reconciler(), Timestamp::now()).await;
    let health = h
        .http
        .get(format!("{}/healthz", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "ok");
    let text = h
        .http
        .get(format!("{}/metrics", h.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        "paylink_payments{status=\"paid\"} 1",
        "paylink_payments{status=\"pending\"} 0",
        "paylink_confirmations_received_total 1",
        "paylink_confirmations_verified_total 1",
        "paylink_confirmations_ignored_total 0",
        "paylink_confirmations_queue_full_total 0",
        "paylink_reconciler_runs_total 1",
        "paylink_reconciler_checked_total 0",
        "paylink_reconciler_changed_total 0",
        "paylink_gateway_request_duration_seconds_count{gateway=\"flow\",call=\"status_by_token\",outcome=\"ok\"} 1",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

#[tokio::test]
async fn the_return_page_shows_a_paid_payment_as_received() {
    let h = Harness::start().await;
    let p = h.create(5000).await;
    let token = Harness::token(&p);
    // The confirmation is lost: the page's own live check must find the payment paid.
    h.sandbox.sandbox.drop_next_confirmations(1);
    h.sandbox
        .sandbox
        .settle(&token, Outcome::Paid)
        .await
        .unwrap();
    let r = h
        .http
        .post(format!("{}/payment/return", h.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "text/html")
        .body(format!("token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("utf-8")
    );
    let html = r.text().await.unwrap();
    assert!(html.contains("data-state=\"paid\""), "{html}");
    assert!(
        html.contains("<html lang=\"es\">"),
        "Spanish by default: {html}"
    );
    assert!(html.contains("Pago recibido"), "{html}");
    assert!(html.contains("$5.000"), "{html}");
    assert!(!html.contains(&p.id), "no internal id on the page: {html}");
    assert!(
        html.contains("Clase de matemáticas &lt;b&gt;"),
        "the description is escaped: {html}"
    );
    assert_eq!(h.get(&p.id).status, PaymentStatus::Paid);

    let pending = h.create(6000).await;
    let url = format!(
        "{}/payment/return?token={}",
        h.base,
        Harness::token(&pending)
    );
    let html = h
        .http
        .get(url)
        .header("accept-language", "en-US,en;q=0.9,es;q=0.5")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("data-state=\"pending\"")
            && html.contains("<html lang=\"en\">")
            && html.contains("Payment pending")
            && html.contains("CLP $6,000"),
        "{html}"
    );
    let missing = h
        .http
        .get(format!("{}/payment/return?token=NOPE", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}
