//! Racing transitions on one payment: sled's serializable transactions must let exactly
//! one writer win each step, with exactly one event per change.
//!
//! Note the status machine: `failed → paid` is a legal correction. So when `paid` and
//! `failed` race, either `paid` wins (one change), or `failed` wins and a later `paid`
//! corrects it (two changes: failed, corrected); never anything else. Racing one target
//! status gives exactly one change.

use std::sync::Arc;

use paylink::domain::{
    Currency, Environment, EventKind, FailureReason, Money, Payment, PaymentStatus, Source,
    Timestamp, Transition, new_payment_id,
};
use paylink::store::{ApplyOutcome, DraftOutcome, Store};

const TASKS: usize = 64;

async fn pending_payment(store: &Store) -> Payment {
    let draft = Payment {
        id: new_payment_id(),
        organization: "default".into(),
        environment: Environment::Development,
        amount: Money::from_minor(5000, Currency::CLP),
        description: "race".into(),
        status: PaymentStatus::Draft,
        gateway: paylink::gateway::GatewayKind::Flow,
        gateway_ref: None,
        reference: "PL-race".into(),
        payment_link_url: None,
        gateway_token: None,
        customer_email: "a@b.cl".into(),
        entity_id: None,
        paid_at: None,
        failure_reason: None,
        created_at: Timestamp(1_000),
        updated_at: Timestamp(1_000),
        idempotency_key: "race".into(),
        expires_at: None,
        next_check_at: Some(Timestamp(2_000)),
        check_attempts: 0,
        create_attempt: 1,
        version: 1,
    };
    let DraftOutcome::Created(p) = store
        .create_draft(&draft, "fp", None, Source::Tool)
        .await
        .unwrap()
    else {
        panic!("not created")
    };
    let pending = Transition::Pending {
        gateway_ref: "1".into(),
        gateway_token: "tok".into(),
        payment_link_url: "https://x".into(),
        expires_at: None,
        next_check_at: Some(Timestamp(3_000)),
    };
    let ApplyOutcome::Changed { payment, .. } = store
        .apply(&p.id, &pending, Source::Tool, Timestamp(1_100))
        .await
        .unwrap()
    else {
        panic!("not changed")
    };
    payment
}

/// Runs every transition at once (released together by a barrier); returns the outcomes.
async fn race(store: &Store, id: &str, transitions: Vec<Transition>) -> Vec<ApplyOutcome> {
    let barrier = Arc::new(tokio::sync::Barrier::new(transitions.len()));
    let tasks: Vec<_> = transitions
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            let (store, barrier, id) = (store.clone(), barrier.clone(), id.to_owned());
            tokio::spawn(async move {
                barrier.wait().await;
                store
                    .apply(&id, &t, Source::Webhook, Timestamp(2_000 + i as i64))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    outcomes
}

fn changes(outcomes: &[ApplyOutcome]) -> Vec<(Payment, paylink::domain::PaymentEvent)> {
    let mut changed: Vec<_> = outcomes
        .iter()
        .filter_map(|o| match o {
            ApplyOutcome::Changed { payment, event } => Some((payment.clone(), event.clone())),
            ApplyOutcome::Unchanged(_) | ApplyOutcome::Refused { .. } => None,
        })
        .collect();
    changed.sort_by_key(|(_, e)| e.seq);
    changed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_racing_paid_and_failed_give_one_winner_and_one_event_per_change() {
    let store = Store::open_temporary().unwrap();
    let p = pending_payment(&store).await;
    let transitions = (0..TASKS)
        .map(|i| match i % 2 {
            0 => Transition::Paid {
                paid_at: Timestamp(1_500 + i as i64),
            },
            _ => Transition::Failed {
                reason: FailureReason::Rejected,
            },
        })
        .collect();
    let outcomes = race(&store, &p.id, transitions).await;
    let changed = changes(&outcomes);
    let kinds: Vec<_> = changed.iter().map(|(_, e)| e.kind).collect();
    assert!(
        kinds == [EventKind::Paid] || kinds == [EventKind::Failed, EventKind::Corrected],
        "changes {kinds:?}"
    );
    let events = store.events(&p.id).await.unwrap();
    assert_eq!(events.len(), 2 + changed.len(), "one new event per change");
    assert_eq!(
        events[2..].to_vec(),
        changed.iter().map(|(_, e)| e.clone()).collect::<Vec<_>>()
    );
    let stored = store.get(&p.id).await.unwrap().unwrap();
    let (last, _) = changed.last().unwrap();
    assert_eq!(&stored, last, "the stored payment is the last winner's");
    assert_eq!(stored.status, PaymentStatus::Paid);
    assert!(store.check_consistency().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_racing_failures_change_the_payment_exactly_once() {
    let store = Store::open_temporary().unwrap();
    let p = pending_payment(&store).await;
    let reasons = [
        FailureReason::Rejected,
        FailureReason::Cancelled,
        FailureReason::Expired,
    ];
    let transitions = (0..TASKS)
        .map(|i| Transition::Failed {
            reason: reasons[i % 3],
        })
        .collect();
    let outcomes = race(&store, &p.id, transitions).await;
    let changed = changes(&outcomes);
    assert_eq!(changed.len(), 1, "exactly one Changed");
    let unchanged = outcomes
        .iter()
        .filter(|o| matches!(o, ApplyOutcome::Unchanged(_)))
        .count();
    assert_eq!(unchanged, TASKS - 1);
    let (winner, event) = &changed[0];
    assert_eq!(store.events(&p.id).await.unwrap().len(), 3);
    assert_eq!(store.get(&p.id).await.unwrap().as_ref(), Some(winner));
    assert_eq!(
        event.detail.as_deref(),
        winner.failure_reason.map(|r| r.as_str())
    );
    assert_eq!(
        store.status_counts().await.unwrap()[3],
        (PaymentStatus::Failed, 1)
    );
    assert_eq!(
        store.status_counts().await.unwrap()[1],
        (PaymentStatus::Pending, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_racing_payments_record_one_paid_at_and_refuse_nothing() {
    let store = Store::open_temporary().unwrap();
    let p = pending_payment(&store).await;
    let transitions = (0..TASKS)
        .map(|i| Transition::Paid {
            paid_at: Timestamp(1_500 + i as i64),
        })
        .collect();
    let outcomes = race(&store, &p.id, transitions).await;
    let changed = changes(&outcomes);
    assert_eq!(changed.len(), 1, "exactly one Changed");
    assert!(
        outcomes
            .iter()
            .all(|o| !matches!(o, ApplyOutcome::Refused { .. }))
    );
    let stored = store.get(&p.id).await.unwrap().unwrap();
    assert_eq!(
        stored.paid_at, changed[0].0.paid_at,
        "the winner's paid_at is the one stored"
    );
    assert_eq!(store.events(&p.id).await.unwrap().len(), 3);
}
