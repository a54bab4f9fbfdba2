//! The daily cap of the spending policy, kept by the ledger on both backends: concurrent
//! creates never together pass it, a refusal writes nothing, and a retry counts once.

use std::sync::Arc;

use paylink::domain::policy::utc_day;
use paylink::domain::{
    Currency, Environment, Money, Payment, PaymentStatus, Source, Timestamp, new_payment_id,
};
use paylink::store::{DraftOutcome, Store};

use crate::support::contract;

/// 2026-03-01T12:00:00Z.
const NOON: i64 = 1_772_366_400_000;

fn draft(key: &str, clp: i64, at: i64) -> Payment {
    Payment {
        id: new_payment_id(),
        organization: "acme".into(),
        environment: Environment::Development,
        amount: Money::from_minor(clp, Currency::CLP),
        description: "Clase".into(),
        status: PaymentStatus::Draft,
        gateway: paylink::gateway::GatewayKind::Flow,
        gateway_ref: None,
        reference: format!("PL-{key}"),
        payment_link_url: None,
        gateway_token: None,
        customer_email: "a@b.cl".into(),
        entity_id: None,
        paid_at: None,
        failure_reason: None,
        created_at: Timestamp(at),
        updated_at: Timestamp(at),
        idempotency_key: key.into(),
        expires_at: None,
        next_check_at: None,
        check_attempts: 0,
        create_attempt: 1,
        version: 1,
    }
}

fn clp(minor: i64) -> Money {
    Money::from_minor(minor, Currency::CLP)
}

contract!(
    fifty_concurrent_creates_against_a_daily_cap_store_exactly_what_fits,
    a_refused_create_writes_nothing_and_another_day_starts_at_zero,
);

async fn fifty_concurrent_creates_against_a_daily_cap_store_exactly_what_fits(store: Store) {
    let store = Arc::new(store);
    let cap = Some(clp(200_000));
    let mut tasks = Vec::new();
    for i in 0..50 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let d = draft(&format!("k{i}"), 10_000, NOON + i);
            store
                .create_draft_capped(&d, "fp", None, Source::Tool, cap)
                .await
                .unwrap()
        }));
    }
    let (mut created, mut refused) = (Vec::new(), 0);
    for t in tasks {
        match t.await.unwrap() {
            DraftOutcome::Created(p) => created.push(p),
            DraftOutcome::OverDailyLimit { limit, spent } => {
                assert_eq!(limit, clp(200_000));
                assert!(spent.minor > 190_000 && spent.minor <= 200_000, "{spent}");
                refused += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((created.len(), refused), (20, 30));
    let day = utc_day(Timestamp(NOON));
    assert_eq!(
        store.spent_on("acme", &day, Currency::CLP).await.unwrap(),
        clp(200_000)
    );
    assert_eq!(store.len().await.unwrap(), 20);

    // A retry of a created one (same key and fingerprint) is Existing and adds nothing,
    // even though the day is full.
    let first = &created[0];
    let mut retry = draft(&first.idempotency_key, 10_000, NOON + 100);
    retry.reference = "PL-retry".into();
    match store
        .create_draft_capped(&retry, "fp", None, Source::Tool, cap)
        .await
        .unwrap()
    {
        DraftOutcome::Existing(p) => assert_eq!(p.id, first.id),
        other => panic!("expected Existing, got {other:?}"),
    }
    assert_eq!(
        store.spent_on("acme", &day, Currency::CLP).await.unwrap(),
        clp(200_000)
    );
    assert!(store.check_consistency().await.unwrap().is_empty());
}

async fn a_refused_create_writes_nothing_and_another_day_starts_at_zero(store: Store) {
    let cap = Some(clp(15_000));
    let ok = draft("a", 10_000, NOON);
    assert!(matches!(
        store
            .create_draft_capped(&ok, "fp", None, Source::Tool, cap)
            .await
            .unwrap(),
        DraftOutcome::Created(_)
    ));
    let over = draft("b", 10_000, NOON + 1);
    assert_eq!(
        store
            .create_draft_capped(&over, "fp", None, Source::Tool, cap)
            .await
            .unwrap(),
        DraftOutcome::OverDailyLimit {
            limit: clp(15_000),
            spent: clp(10_000)
        }
    );
    assert_eq!(store.get(&over.id).await.unwrap(), None);
    // Its key was not claimed: the same key goes through once it fits.
    let fits = draft("b", 5_000, NOON + 2);
    assert!(matches!(
        store
            .create_draft_capped(&fits, "fp2", None, Source::Tool, cap)
            .await
            .unwrap(),
        DraftOutcome::Created(_)
    ));
    // A single payment above the whole cap, on an empty day, is refused too.
    let tomorrow = NOON + 86_400_000;
    let huge = draft("c", 20_000, tomorrow);
    assert_eq!(
        store
            .create_draft_capped(&huge, "fp", None, Source::Tool, cap)
            .await
            .unwrap(),
        DraftOutcome::OverDailyLimit {
            limit: clp(15_000),
            spent: clp(0)
        }
    );
    let next = draft("d", 15_000, tomorrow);
    assert!(matches!(
        store
            .create_draft_capped(&next, "fp", None, Source::Tool, cap)
            .await
            .unwrap(),
        DraftOutcome::Created(_)
    ));
    let today = utc_day(Timestamp(NOON));
    let day2 = utc_day(Timestamp(tomorrow));
    assert_eq!(
        store.spent_on("acme", &today, Currency::CLP).await.unwrap(),
        clp(15_000)
    );
    assert_eq!(
        store.spent_on("acme", &day2, Currency::CLP).await.unwrap(),
        clp(15_000)
    );
    // Creates without a cap still count, so a cap set later sees the whole day.
    let uncapped = draft("e", 1_000, NOON + 3);
    store
        .create_draft(&uncapped, "fp", None, Source::Tool)
        .await
        .unwrap();
    assert_eq!(
        store.spent_on("acme", &today, Currency::CLP).await.unwrap(),
        clp(16_000)
    );
}
