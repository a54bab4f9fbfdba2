//! Reconciliation against the offline sandbox with a clock the test controls: missed
//! confirmations, expiry, drafts left behind by a crash, and only-what-is-due with backoff.

use paylink::domain::{FailureReason, Payment, PaymentStatus, Source, Timestamp, new_payment_id};
use paylink::gateway::flow::client::CreateParams;
use paylink::reconcile::{Checked, ReconcileReport, reconcile_once, reconcile_one};
use paylink::sandbox::{DEFAULT_API_KEY, DEFAULT_SECRET_KEY, Outcome};
use paylink::store::DraftOutcome;

use crate::support::webhook::*;

fn report(checked: usize, changed: usize, still_pending: usize, errors: usize) -> ReconcileReport {
    ReconcileReport {
        checked,
        changed,
        still_pending,
        errors,
        refunds_changed: 0,
    }
}

fn get_status_calls(h: &Harness) -> usize {
    h.sandbox
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.endpoint.starts_with("payment/getStatus"))
        .count()
}

#[tokio::test]
async fn a_missed_confirmation_is_caught_by_reconciliation() {
    let h = Harness::start().await;
    let p = h.create(5000).await;
    h.sandbox.sandbox.drop_next_confirmations(1);
    let settled = h
        .sandbox
        .sandbox
        .settle(&Harness::token(&p), Outcome::Paid)
        .await
        .unwrap();
    assert!(settled.confirmation.unwrap().dropped);
    assert_eq!(h.get(&p.id).status, PaymentStatus::Pending);

    let mut changes = h.payments.subscribe();
    let r = reconcile_once(&h.reconciler(), hours_from_now(2)).await;
    assert_eq!(r, report(1, 1, 0, 0));
    let paid = h.get(&p.id);
    assert_eq!(paid.status, PaymentStatus::Paid);
    assert_eq!(paid.next_check_at, None, "a final payment is no longer due");
    let change = changes.try_recv().expect("subscribers hear of it");
    assert_eq!(
        (change.payment.id.as_str(), change.event.source),
        (p.id.as_str(), Source::Reconciler)
    );
    assert_eq!(
        reconcile_once(&h.reconciler(), hours_from_now(3)).await,
        report(0, 0, 0, 0)
    );
}

#[tokio::test]
async fn an_order_past_its_timeout_is_reconciled_as_expired() {
    let h =
        Harness::start_with(|s| s.order_timeout = Some(std::time::Duration::from_secs(3 * 3600)))
            .await;
    let p = h.create(5000).await;
    let expires_at = p.expires_at.expect("the order has a timeout");
    assert!(expires_at <= hours_from_now(3));
    h.sandbox.sandbox.advance_clock(4 * 3600);
    let r = reconcile_once(&h.reconciler(), hours_from_now(4)).await;
    assert_eq!(r, report(1, 1, 0, 0));
    let failed = h.get(&p.id);
    assert_eq!(
        (failed.status, failed.failure_reason),
        (PaymentStatus::Failed, Some(FailureReason::Expired))
    );
}

#[tokio::test]
async fn a_pending_payment_is_rechecked_no_later_than_just_after_its_expiry() {
    let h =
        Harness::start_with(|s| s.order_timeout = Some(std::time::Duration::from_secs(90 * 60)))
            .await;
    let p = h.create(5000).await;
    let mut rec = h.reconciler();
    rec.backoff.base = std::time::Duration::from_secs(3600);
    let now = hours_from_now(1).plus_secs(60);
    assert_eq!(reconcile_once(&rec, now).await, report(1, 0, 1, 0));
    let after = h.get(&p.id);
    let just_after_expiry = p.expires_at.unwrap().plus_secs(60);
    assert_eq!(
        after.next_check_at,
        Some(just_after_expiry),
        "not an hour later"
    );
}

async fn draft(h: &Harness, commerce_order: &str) -> Payment {
    let mut p = h.create(5000).await;
    // A draft as a crash before Flow's answer leaves it: same shape, no token, new ids.
    p.id = new_payment_id();
    p.reference = commerce_order.to_string();
    p.idempotency_key = format!("draft-{}", p.id);
    p.status = PaymentStatus::Draft;
    p.version = 1;
    p.gateway_token = None;
    p.gateway_ref = None;
    p.payment_link_url = None;
    p.expires_at = None;
    p.created_at = Timestamp::now();
    p.next_check_at = Some(p.created_at.plus_secs(120));
    match h
        .store
        .create_draft(&p, "fp", None, Source::Tool)
        .await
        .unwrap()
    {
        DraftOutcome::Created(d) => d,
        other => panic!("draft not created: {other:?}"),
    }
}

async fn order_at_flow(h: &Harness, commerce_order: &str) -> String {
    let flow = flow_client(&h.sandbox, DEFAULT_API_KEY, DEFAULT_SECRET_KEY);
    let created = flow
        .create(&CreateParams {
            commerce_order: commerce_order.to_string(),
            subject: "crashed create".into(),
            currency: "CLP".into(),
            amount: "5000".into(),
            email: "payer@gmail.com".into(),
            url_confirmation: "http://127.0.0.1:9/webhook/flow".into(),
            url_return: "http://127.0.0.1:9/payment/return".into(),
            timeout_secs: None,
            optional: None,
            payment_method: None,
        })
        .await
        .unwrap();
    created.token
}

#[tokio::test]
async fn drafts_left_behind_are_resolved_by_asking_flow_by_commerce_order() {
    let h = Harness::start().await;
    let unknown = draft(&h, "PL-NEVER-CREATED").await;
    let paid = draft(&h, "PL-CREATED-AND-PAID").await;
    let token = order_at_flow(&h, "PL-CREATED-AND-PAID").await;
    h.sandbox.sandbox.drop_next_confirmations(1);
    h.sandbox
        .sandbox
        .settle(&token, Outcome::Paid)
        .await
        .unwrap();
    let lost = draft(&h, "PL-CREATED-LINK-LOST").await;
    order_at_flow(&h, "PL-CREATED-LINK-LOST").await;

    let r = reconcile_once(&h.reconciler(), Timestamp::now().plus_secs(600)).await;
    assert_eq!(r.changed, 3, "{r:?}");
    assert_eq!(r.errors, 0, "{r:?}");
    let unknown = h.get(&unknown.id);
    assert_eq!(
        (unknown.status, unknown.failure_reason),
        (PaymentStatus::Failed, Some(FailureReason::NotCreated))
    );
    assert_eq!(h.get(&paid.id).status, PaymentStatus::Paid);
    let lost = h.get(&lost.id);
    assert_eq!(
        (lost.status, lost.failure_reason),
        (PaymentStatus::Failed, Some(FailureReason::LinkLost))
    );
}

#[tokio::test]
async fn only_due_payments_are_read_and_backoff_grows_per_payment() {
    let h = Harness::start().await;
    let p = h.create(5000).await;
    let calls = get_status_calls(&h);
    assert_eq!(
        reconcile_once(&h.reconciler(), hours_from_now(0).plus_secs(1800)).await,
        report(0, 0, 0, 0)
    );
    assert_eq!(
        get_status_calls(&h),
        calls,
        "a payment not yet due is not asked about"
    );
    assert_eq!(h.get(&p.id), p, "and not touched");

    let rec = h.reconciler();
    let mut now = hours_from_now(2);
    let mut gaps = Vec::new();
    for attempt in 1..=4u32 {
        assert_eq!(
            reconcile_once(&rec, now).await,
            report(1, 0, 1, 0),
            "pass {attempt}"
        );
        let q = h.get(&p.id);
        assert_eq!(q.check_attempts, attempt);
        let next = q.next_check_at.expect("still scheduled");
        gaps.push(next.0 - now.0);
        // Just before it is due again, nothing is read.
        assert_eq!(
            reconcile_once(&rec, Timestamp(next.0 - 1)).await,
            report(0, 0, 0, 0)
        );
        now = next;
    }
    let base = rec.backoff.base.as_millis() as i64;
    assert_eq!(gaps, [base, 2 * base, 4 * base, 8 * base]);
}

#[tokio::test]
async fn gateway_errors_are_counted_and_rescheduled_without_stopping_the_pass() {
    let h = Harness::start().await;
    let a = h.create(5000).await;
    let b = h.create(6000).await;
    h.sandbox.sandbox.drop_next_confirmations(1);
    h.sandbox
        .sandbox
        .settle(&Harness::token(&b), Outcome::Paid)
        .await
        .unwrap();
    use paylink::sandbox::{Fault, FaultKind, FaultTarget};
    // One failed read (and its retry) for whichever payment is asked first.
    h.sandbox.sandbox.add_fault(Fault {
        target: FaultTarget::GetStatus,
        kind: FaultKind::Http500,
        times: Some(2),
    });
    let mut rec = h.reconciler();
    rec.concurrency = 1;
    let now = hours_from_now(2);
    let r = reconcile_once(&rec, now).await;
    assert_eq!((r.checked, r.errors), (2, 1), "{r:?}");
    let rescheduled: Vec<Payment> = [&a, &b]
        .iter()
        .map(|p| h.get(&p.id))
        .filter(|p| p.check_attempts == 1)
        .collect();
    assert_eq!(
        rescheduled.len(),
        if r.changed == 1 { 1 } else { 2 },
        "{r:?}"
    );
    let later = reconcile_once(&rec, hours_from_now(3)).await;
    assert_eq!(later.errors, 0, "{later:?}");
    assert_eq!(h.get(&b.id).status, PaymentStatus::Paid);
}

#[tokio::test]
async fn reconcile_one_checks_a_payment_on_request_even_when_not_due() {
    let h = Harness::start().await;
    let p = h.create(5000).await;
    h.sandbox.sandbox.drop_next_confirmations(1);
    h.sandbox
        .sandbox
        .settle(&Harness::token(&p), Outcome::Rejected)
        .await
        .unwrap();
    let done = reconcile_one(&h.reconciler(), &p.id, Timestamp::now())
        .await
        .unwrap();
    assert_eq!(done.checked, Checked::Changed);
    assert_eq!(done.payment.failure_reason, Some(FailureReason::Rejected));
    let json = serde_json::to_value(&done).unwrap();
    assert_eq!(json["outcome"], "changed");
    assert_eq!(json["payment"]["status"], "failed");
    assert!(
        reconcile_one(&h.reconciler(), "ent_missing", Timestamp::now())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_second_order_at_flow_for_one_payment_is_reported_and_its_link_never_shown() {
    let h = Harness::start().await;
    let p = h.create(5000).await;
    let ours = p.payment_link_url.clone().expect("our link");
    // A create that reached Flow twice (a proxy delivered a request it had answered 504 to).
    let second_token = order_at_flow(&h, &p.reference).await;
    assert_ne!(second_token, Harness::token(&p));

    let r = reconcile_once(&h.reconciler(), hours_from_now(2)).await;
    assert_eq!(r, report(1, 0, 1, 0));
    assert_eq!(
        h.metrics.duplicate_orders.get(),
        1,
        "the second order is reported"
    );
    let after = h.get(&p.id);
    assert_eq!(after.payment_link_url.as_deref(), Some(ours.as_str()));
    assert!(
        !after
            .payment_link_url
            .unwrap_or_default()
            .contains(&second_token),
        "the second order's link is never recorded"
    );
}

#[tokio::test]
async fn the_reconciler_follows_a_refund_whose_callbacks_never_came() {
    use paylink::domain::{DecidedVia, RefundStatus};
    use paylink::payments::{PaymentError, RefundInput};
    use paylink::sandbox::RefundAction;

    let h = Harness::start().await;
    let p = h.create(5000).await;
    h.sandbox
        .sandbox
        .settle(&Harness::token(&p), Outcome::Paid)
        .await
        .unwrap();
    h.wait_for(&p.id, "paid", |p| p.status == PaymentStatus::Paid)
        .await;
    let input = RefundInput {
        organization: p.organization.clone(),
        payment_id: p.id.clone(),
        amount_text: Some("2000".into()),
        idempotency_key: Some("reconcile-refund".into()),
    };
    // A person approves it, then it is made.
    let approval = match h.payments.refund(input.clone(), Source::Tool).await {
        Err(PaymentError::NeedsApproval { approval, .. }) => approval,
        other => panic!("a refund waits for a person first: {other:?}"),
    };
    h.payments
        .decide_approval(None, &approval.id, true, DecidedVia::Link)
        .await
        .unwrap()
        .unwrap();
    let made = h.payments.refund(input, Source::Tool).await.unwrap().refund;
    assert_eq!(made.status, RefundStatus::Created);
    let token = made.token.clone().expect("Flow's refund token");

    // Flow pays it out, but both of its callbacks are lost.
    h.sandbox.sandbox.drop_next_confirmations(2);
    h.sandbox
        .sandbox
        .settle_refund(&token, RefundAction::Accept)
        .await
        .unwrap();
    let r = h
        .sandbox
        .sandbox
        .settle_refund(&token, RefundAction::Refund)
        .await
        .unwrap();
    assert!(r.callback.unwrap().dropped);
    assert_eq!(
        h.payments.refunds_of(&p.id).await.unwrap()[0].status,
        RefundStatus::Created
    );

    let report = reconcile_once(&h.reconciler(), hours_from_now(2)).await;
    assert_eq!(report.refunds_changed, 1, "{report:?}");
    let after = &h.payments.refunds_of(&p.id).await.unwrap()[0];
    assert_eq!(after.status, RefundStatus::Refunded);
    assert_eq!(
        after.next_check_at, None,
        "a final refund is no longer followed"
    );
    assert_eq!(
        after.events.iter().map(|e| e.status).collect::<Vec<_>>(),
        [
            RefundStatus::Requested,
            RefundStatus::Created,
            RefundStatus::Refunded
        ]
    );
    assert_eq!(after.events[2].source, Source::Reconciler);
    // Nothing more to do on the next pass.
    let again = reconcile_once(&h.reconciler(), hours_from_now(30)).await;
    assert_eq!(again.refunds_changed, 0);
}
