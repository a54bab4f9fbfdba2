//! The ledger's contract against real sled and PostgreSQL databases, then sled's own: idempotent creates and their races, indexes,
//! the due scan, reopening, the schema check and the consistency check. The property test
//! (store == folding `Payment::apply`) and edge cases are unit tests in `src/store/tests.rs`.

use paylink::domain::{
    Currency, Environment, Money, Payment, PaymentStatus, Source, Timestamp, Transition,
    new_payment_id,
};
use paylink::store::{ApplyOutcome, DraftOutcome, SCHEMA_VERSION, Store, StoreError, layout};

fn draft(commerce_order: &str, key: &str) -> Payment {
    Payment {
        id: new_payment_id(),
        organization: "default".into(),
        environment: Environment::Development,
        amount: Money::from_minor(5000, Currency::CLP),
        description: "Clase de matemáticas".into(),
        status: PaymentStatus::Draft,
        gateway: paylink::gateway::GatewayKind::Flow,
        gateway_ref: None,
        reference: commerce_order.into(),
        payment_link_url: None,
        gateway_token: None,
        customer_email: "a+b@gmail.com".into(),
        entity_id: Some("session_1".into()),
        paid_at: None,
        failure_reason: None,
        created_at: Timestamp(1_000),
        updated_at: Timestamp(1_000),
        idempotency_key: key.into(),
        expires_at: None,
        next_check_at: Some(Timestamp(2_000)),
        check_attempts: 0,
        create_attempt: 1,
        version: 1,
    }
}

fn pending(token: &str, flow_order: &str) -> Transition {
    Transition::Pending {
        gateway_ref: flow_order.into(),
        gateway_token: token.into(),
        payment_link_url: format!("https://sandbox.flow.cl/app/web/pay.php?token={token}"),
        expires_at: Some(Timestamp(60_000)),
        next_check_at: Some(Timestamp(50_000)),
    }
}

async fn created(store: &Store, p: &Payment) -> Payment {
    match store
        .create_draft(p, "fp", None, Source::Tool)
        .await
        .unwrap()
    {
        DraftOutcome::Created(p) => p,
        other => panic!("expected Created, got {other:?}"),
    }
}

async fn changed(store: &Store, id: &str, t: Transition, now: i64) -> Payment {
    match store
        .apply(id, &t, Source::Webhook, Timestamp(now))
        .await
        .unwrap()
    {
        ApplyOutcome::Changed { payment, .. } => payment,
        other => panic!("expected Changed, got {other:?}"),
    }
}

use crate::support::contract;

contract!(
    a_created_draft_is_found_by_id_and_by_commerce_order,
    repeating_a_create_with_the_same_key_and_fingerprint_returns_the_existing_payment,
    the_same_key_with_another_fingerprint_is_a_conflict,
    an_expired_claim_is_replaced_by_the_new_draft,
    thirty_two_concurrent_creates_with_one_key_store_exactly_one_payment,
    going_pending_indexes_the_token_and_the_flow_order_and_moves_the_due_entry,
    due_returns_only_due_payments_earliest_first_and_drops_a_final_one,
    an_entity_prefix_never_matches_a_longer_entity,
    a_query_pages_newest_first_without_overlap_and_filters,
    of_sixteen_concurrent_swaps_of_one_record_exactly_one_wins,
);

/// Records (approvals, refunds) change by compare-and-swap: a decision is taken once.
async fn of_sixteen_concurrent_swaps_of_one_record_exactly_one_wins(store: Store) {
    assert!(
        store
            .record_swap("approval", "a1", None, b"pending")
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_swap("approval", "a1", None, b"other")
            .await
            .unwrap(),
        "insert only when absent"
    );
    let mut tasks = Vec::new();
    for i in 0..16 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            s.record_swap(
                "approval",
                "a1",
                Some(b"pending"),
                format!("decided-{i}").as_bytes(),
            )
            .await
            .unwrap()
        }));
    }
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await.unwrap());
    }
    assert_eq!(wins, 1);
    let now = store.record_get("approval", "a1").await.unwrap().unwrap();
    assert!(now.starts_with(b"decided-"));
    assert!(
        store
            .record_get("approval", "nope")
            .await
            .unwrap()
            .is_none()
    );
    store
        .record_swap("approval", "a0", None, b"x")
        .await
        .unwrap();
    store.record_swap("refund", "r1", None, b"y").await.unwrap();
    let keys: Vec<String> = store
        .record_scan("approval")
        .await
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, ["a0", "a1"]);
    assert!(
        store
            .record_swap("approval", "bad\0key", None, b"z")
            .await
            .is_err()
    );
}

async fn a_query_pages_newest_first_without_overlap_and_filters(store: Store) {
    use paylink::store::ListQuery;
    let mut made = Vec::new();
    for i in 0..7i64 {
        let mut d = draft(&format!("PL-{i}"), &format!("k{i}"));
        // Two share a created_at: the id orders them.
        d.created_at = Timestamp(10_000 + i.min(5) * 1_000);
        d.customer_email = if i % 2 == 0 {
            "ana@gmail.com"
        } else {
            "Beto@gmail.com"
        }
        .into();
        d.entity_id = Some(format!("e{}", i % 2));
        if i == 6 {
            d.organization = "acme".into();
        }
        made.push(created(&store, &d).await);
    }
    let mine: Vec<&Payment> = made
        .iter()
        .filter(|p| p.organization == "default")
        .collect();
    let mut newest_first: Vec<&Payment> = mine.clone();
    newest_first
        .sort_by(|a, b| (b.created_at, b.id.as_bytes()).cmp(&(a.created_at, a.id.as_bytes())));
    let want: Vec<String> = newest_first.iter().map(|p| p.id.clone()).collect();
    let base = ListQuery {
        organization: Some("default".into()),
        limit: 2,
        ..ListQuery::default()
    };
    let mut seen = Vec::new();
    let mut q = base.clone();
    loop {
        let page = store.query(&q).await.unwrap();
        seen.extend(page.iter().map(|p| p.id.clone()));
        let Some(last) = page.last() else { break };
        q.after = Some((last.created_at, last.id.clone()));
    }
    assert_eq!(seen, want);
    let beto = store
        .query(&ListQuery {
            customer_email: Some("beto@GMAIL.com".into()),
            limit: 100,
            ..base.clone()
        })
        .await
        .unwrap();
    assert_eq!(beto.len(), 3);
    let e0 = store
        .query(&ListQuery {
            entity_id: Some("e0".into()),
            limit: 100,
            ..base.clone()
        })
        .await
        .unwrap();
    assert_eq!(e0.len(), 3, "the acme payment for e0 is not listed");
    let window = store
        .query(&ListQuery {
            created_from: Some(Timestamp(11_000)),
            created_to: Some(Timestamp(13_000)),
            limit: 100,
            ..base.clone()
        })
        .await
        .unwrap();
    assert_eq!(
        window.iter().map(|p| p.created_at.0).collect::<Vec<_>>(),
        [12_000, 11_000]
    );
    let acme = store
        .query(&ListQuery {
            organization: Some("acme".into()),
            limit: 100,
            ..ListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(acme.len(), 1);
}

async fn due_ids(store: &Store, now: i64, limit: usize) -> Vec<String> {
    store
        .due(Timestamp(now), limit)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect()
}

async fn a_created_draft_is_found_by_id_and_by_commerce_order(store: Store) {
    let p = created(&store, &draft("PL-1", "k1")).await;
    assert_eq!(store.get(&p.id).await.unwrap(), Some(p.clone()));
    assert_eq!(store.by_reference("PL-1").await.unwrap(), Some(p.clone()));
    assert_eq!(store.by_reference("PL-2").await.unwrap(), None);
    assert_eq!(
        store.events(&p.id).await.unwrap(),
        vec![p.created_event(Source::Tool)]
    );
    assert_eq!(store.len().await.unwrap(), 1);
    assert_eq!(
        store.status_counts().await.unwrap()[0],
        (PaymentStatus::Draft, 1)
    );
}

async fn repeating_a_create_with_the_same_key_and_fingerprint_returns_the_existing_payment(
    store: Store,
) {
    let first = created(&store, &draft("PL-1", "k1")).await;
    let retry = draft("PL-1", "k1"); // a retry builds a new draft with a new id
    let outcome = store
        .create_draft(&retry, "fp", None, Source::Tool)
        .await
        .unwrap();
    assert_eq!(outcome, DraftOutcome::Existing(first.clone()));
    assert_eq!(store.len().await.unwrap(), 1);
    assert_eq!(store.get(&retry.id).await.unwrap(), None);
    assert_eq!(store.events(&first.id).await.unwrap().len(), 1);
}

async fn the_same_key_with_another_fingerprint_is_a_conflict(store: Store) {
    let first = created(&store, &draft("PL-1", "k1")).await;
    let outcome = store
        .create_draft(&draft("PL-2", "k1"), "other", None, Source::Tool)
        .await
        .unwrap();
    assert_eq!(outcome, DraftOutcome::Conflict { existing: first });
    assert_eq!(store.len().await.unwrap(), 1);
    // Another organization may use the same key freely.
    let mut elsewhere = draft("PL-3", "k1");
    elsewhere.organization = "acme".into();
    created(&store, &elsewhere).await;
    assert_eq!(store.len().await.unwrap(), 2);
}

async fn an_expired_claim_is_replaced_by_the_new_draft(store: Store) {
    let old = store
        .create_draft(
            &draft("PL-1", "k1"),
            "fp",
            Some(Timestamp(5_000)),
            Source::Tool,
        )
        .await
        .unwrap();
    let DraftOutcome::Created(old) = old else {
        panic!("{old:?}")
    };
    let mut before_expiry = draft("PL-2", "k1");
    before_expiry.created_at = Timestamp(4_999);
    let outcome = store
        .create_draft(&before_expiry, "fp", None, Source::Tool)
        .await
        .unwrap();
    assert_eq!(outcome, DraftOutcome::Existing(old.clone()));

    let mut after_expiry = draft("PL-2", "k1");
    after_expiry.created_at = Timestamp(5_000);
    let outcome = store
        .create_draft(&after_expiry, "other", None, Source::Tool)
        .await
        .unwrap();
    assert_eq!(outcome, DraftOutcome::Created(after_expiry.clone()));
    assert_eq!(store.len().await.unwrap(), 2);
    // The claim now names the new payment, and never expires.
    let mut later = draft("PL-3", "k1");
    later.created_at = Timestamp(i64::MAX);
    let outcome = store
        .create_draft(&later, "other", None, Source::Tool)
        .await
        .unwrap();
    assert_eq!(outcome, DraftOutcome::Existing(after_expiry));
    assert!(store.check_consistency().await.unwrap().is_empty());
}

async fn thirty_two_concurrent_creates_with_one_key_store_exactly_one_payment(store: Store) {
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(32));
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let (store, barrier) = (store.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store
                    .create_draft(&draft("PL-1", "k1"), "fp", None, Source::Tool)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut winners = Vec::new();
    let mut existing = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            DraftOutcome::Created(p) => winners.push(p),
            DraftOutcome::Existing(p) => existing.push(p),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1);
    assert!(existing.iter().all(|p| *p == winners[0]));
    assert_eq!(store.len().await.unwrap(), 1);
    assert_eq!(store.list(None, None, 100).await.unwrap(), winners);
    assert!(store.check_consistency().await.unwrap().is_empty());
}

async fn going_pending_indexes_the_token_and_the_flow_order_and_moves_the_due_entry(store: Store) {
    let p = created(&store, &draft("PL-1", "k1")).await;
    assert_eq!(store.by_token("tok_1").await.unwrap(), None);
    assert_eq!(
        store.due(Timestamp(2_000), 10).await.unwrap(),
        vec![p.clone()]
    );
    let p = changed(&store, &p.id, pending("tok_1", "9001"), 1_500).await;
    assert_eq!(store.by_token("tok_1").await.unwrap(), Some(p.clone()));
    assert_eq!(store.by_gateway_ref("9001").await.unwrap(), Some(p.clone()));
    assert_eq!(store.by_gateway_ref("900").await.unwrap(), None);
    // Pending reschedules the first check (2_000 -> 50_000): the due entry moved.
    assert!(store.due(Timestamp(49_999), 10).await.unwrap().is_empty());
    assert_eq!(
        store.due(Timestamp(50_000), 10).await.unwrap(),
        vec![p.clone()]
    );
    assert_eq!(
        store.status_counts().await.unwrap()[1],
        (PaymentStatus::Pending, 1)
    );
    assert_eq!(
        store.status_counts().await.unwrap()[0],
        (PaymentStatus::Draft, 0)
    );
}

async fn due_returns_only_due_payments_earliest_first_and_drops_a_final_one(store: Store) {
    let mut ids = Vec::new();
    for (i, at) in [3_000, 1_000, 2_000, 9_000].into_iter().enumerate() {
        let mut d = draft(&format!("PL-{i}"), &format!("k{i}"));
        d.next_check_at = Some(Timestamp(at));
        ids.push(created(&store, &d).await.id);
    }
    assert_eq!(
        due_ids(&store, 3_000, 10).await,
        vec![ids[1].clone(), ids[2].clone(), ids[0].clone()]
    );
    assert_eq!(
        due_ids(&store, 2_999, 10).await,
        vec![ids[1].clone(), ids[2].clone()]
    );
    assert_eq!(due_ids(&store, 3_000, 1).await, vec![ids[1].clone()]);
    assert!(due_ids(&store, 999, 10).await.is_empty());

    changed(
        &store,
        &ids[1],
        Transition::Paid {
            paid_at: Timestamp(1_100),
        },
        1_200,
    )
    .await;
    assert_eq!(
        due_ids(&store, 3_000, 10).await,
        vec![ids[2].clone(), ids[0].clone()]
    );

    store
        .reschedule(&ids[2], Some(Timestamp(10_000)), 3)
        .await
        .unwrap();
    store.reschedule(&ids[0], None, 1).await.unwrap();
    assert!(due_ids(&store, 9_999, 10).await == vec![ids[3].clone()]);
    assert_eq!(
        due_ids(&store, i64::MAX, 10).await,
        vec![ids[3].clone(), ids[2].clone()]
    );
    let p = store.get(&ids[2]).await.unwrap().unwrap();
    assert_eq!(
        (p.next_check_at, p.check_attempts, p.version),
        (Some(Timestamp(10_000)), 3, 1)
    );
    assert_eq!(store.events(&ids[2]).await.unwrap().len(), 1);
    assert!(matches!(
        store.reschedule("ent_missing", None, 0).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(store.check_consistency().await.unwrap().is_empty());
}

async fn an_entity_prefix_never_matches_a_longer_entity(store: Store) {
    let mut a = draft("PL-1", "k1");
    a.entity_id = Some("a".into());
    let mut ab = draft("PL-2", "k2");
    ab.entity_id = Some("ab".into());
    let mut a_elsewhere = draft("PL-3", "k3");
    a_elsewhere.entity_id = Some("a".into());
    a_elsewhere.organization = "defaultx".into();
    for p in [&a, &ab, &a_elsewhere] {
        created(&store, p).await;
    }
    assert_eq!(store.by_entity("default", "a").await.unwrap(), vec![a]);
    assert_eq!(store.by_entity("default", "ab").await.unwrap(), vec![ab]);
    assert_eq!(
        store.by_entity("defaultx", "a").await.unwrap(),
        vec![a_elsewhere]
    );
    assert!(store.by_entity("default", "").await.unwrap().is_empty());
    assert!(matches!(
        store.by_entity("default", "a\0b").await,
        Err(StoreError::InvalidInput(_))
    ));
}

#[tokio::test]
async fn a_reopened_directory_shows_every_payment_index_event_config_and_confirmation() {
    let dir = tempfile::tempdir().unwrap();
    let (p, q) = {
        let store = Store::open(dir.path()).unwrap();
        let p = created(&store, &draft("PL-1", "k1")).await;
        let p = changed(&store, &p.id, pending("tok_1", "77"), 1_100).await;
        let q = created(&store, &draft("PL-2", "k2")).await;
        store
            .reschedule(&q.id, Some(Timestamp(1_500)), 2)
            .await
            .unwrap();
        store
            .put_config("default", "development", b"sealed-1")
            .await
            .unwrap();
        store
            .put_config("acme", "production", b"sealed-2")
            .await
            .unwrap();
        store
            .record_confirmation(br#"{"token":"a"}"#)
            .await
            .unwrap();
        store
            .record_confirmation(br#"{"token":"b"}"#)
            .await
            .unwrap();
        store.flush().await.unwrap();
        (p, store.get(&q.id).await.unwrap().unwrap())
    };
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.get(&p.id).await.unwrap(), Some(p.clone()));
    assert_eq!(store.by_token("tok_1").await.unwrap(), Some(p.clone()));
    assert_eq!(store.by_gateway_ref("77").await.unwrap(), Some(p.clone()));
    assert_eq!(store.events(&p.id).await.unwrap().len(), 2);
    assert_eq!(store.due(Timestamp(1_600), 10).await.unwrap(), vec![q]);
    assert_eq!(store.len().await.unwrap(), 2);
    assert_eq!(
        store.status_counts().await.unwrap()[..2],
        [(PaymentStatus::Draft, 1), (PaymentStatus::Pending, 1)]
    );
    assert_eq!(
        store.get_config("acme", "production").await.unwrap(),
        Some(b"sealed-2".to_vec())
    );
    assert_eq!(store.get_config("acme", "development").await.unwrap(), None);
    let configs = store.list_configs().await.unwrap();
    assert_eq!(
        configs[0],
        ("acme".into(), "production".into(), b"sealed-2".to_vec())
    );
    assert_eq!(configs.len(), 2);
    assert_eq!(
        store.confirmations(1).await.unwrap(),
        vec![br#"{"token":"b"}"#.to_vec()]
    );
    assert_eq!(store.confirmations(10).await.unwrap().len(), 2);
    assert!(store.check_consistency().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_ledger_of_a_newer_schema_version_is_refused_with_advice() {
    let dir = tempfile::tempdir().unwrap();
    let newer = SCHEMA_VERSION + 1;
    {
        let store = Store::open(dir.path()).unwrap();
        let meta = store.db().open_tree(layout::META).unwrap();
        meta.insert(layout::SCHEMA_VERSION_KEY, newer.to_string().as_bytes())
            .unwrap();
        store.flush().await.unwrap();
    }
    match Store::open(dir.path()) {
        Err(
            e @ StoreError::SchemaMismatch {
                found,
                expected: SCHEMA_VERSION,
            },
        ) if found == newer => {
            let message = e.to_string();
            assert!(message.contains("do not delete"), "{message}");
        }
        other => panic!("expected SchemaMismatch, got {other:?}"),
    }
}

#[tokio::test]
async fn the_consistency_check_is_clean_on_a_healthy_ledger_and_names_a_broken_index() {
    let store = Store::open_temporary().unwrap();
    let p = created(&store, &draft("PL-1", "k1")).await;
    changed(&store, &p.id, pending("tok_1", "1"), 1_100).await;
    created(&store, &draft("PL-2", "k2")).await;
    assert_eq!(
        store.check_consistency().await.unwrap(),
        Vec::<String>::new()
    );

    let db = store.db();
    let commerce = db.open_tree(layout::REFERENCE_INDEX).unwrap();
    let (first, _) = commerce.first().unwrap().unwrap();
    commerce.remove(first).unwrap();
    let problems = store.check_consistency().await.unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("no entry"), "{problems:?}");

    let mut dangling = 0i64.to_be_bytes().to_vec();
    dangling.extend_from_slice(b"ent_nobody");
    db.open_tree(layout::DUE_INDEX)
        .unwrap()
        .insert(dangling, b"".as_slice())
        .unwrap();
    let token = db.open_tree(layout::TOKEN_INDEX).unwrap();
    token
        .insert(format!("tok_2\0{}", p.id).as_bytes(), b"".as_slice())
        .unwrap();
    let problems = store.check_consistency().await.unwrap();
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(
        problems
            .iter()
            .any(|m| m.contains("missing payment ent_nobody")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|m| m.contains("does not match")),
        "{problems:?}"
    );
}
