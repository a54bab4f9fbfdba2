//! Unit tests of the store's edge cases (refused input, event sequences, listing) and a
//! property test: the store applies transitions exactly as `Payment::apply` folds them.
//! The scenario tests (idempotency races, reopening, crashes) are in `tests/store_*.rs`.

use super::{ApplyOutcome, DraftOutcome, SledStore, StoreError};
use crate::domain::{
    Applied, EventKind, FailureReason, Payment, PaymentStatus, Source, Timestamp, Transition,
    new_payment_id,
};

fn draft(commerce_order: &str, key: &str) -> Payment {
    let mut p = crate::domain::payment::tests::draft();
    p.id = new_payment_id();
    p.reference = commerce_order.into();
    p.idempotency_key = key.into();
    p
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

async fn created(store: &SledStore, p: &Payment) -> Payment {
    match store
        .create_draft(p, "fp", None, Source::Tool)
        .await
        .unwrap()
    {
        DraftOutcome::Created(p) => p,
        other => panic!("expected Created, got {other:?}"),
    }
}

async fn changed(store: &SledStore, id: &str, t: Transition, now: i64) -> Payment {
    match store
        .apply(id, &t, Source::Webhook, Timestamp(now))
        .await
        .unwrap()
    {
        ApplyOutcome::Changed { payment, .. } => payment,
        other => panic!("expected Changed, got {other:?}"),
    }
}

#[tokio::test]
async fn keys_with_nul_and_drafts_that_are_not_new_are_refused() {
    let store = SledStore::open_temporary().unwrap();
    let mut bad = draft("PL\0x", "k1");
    assert!(matches!(
        store.create_draft(&bad, "fp", None, Source::Tool).await,
        Err(StoreError::InvalidInput(_))
    ));
    bad = draft("PL-1", "k1");
    bad.version = 2;
    assert!(matches!(
        store.create_draft(&bad, "fp", None, Source::Tool).await,
        Err(StoreError::InvalidInput(_))
    ));
    let p = created(&store, &draft("PL-1", "k1")).await;
    let r = store
        .apply(&p.id, &pending("tok\0", "1"), Source::Tool, Timestamp(2))
        .await;
    assert!(matches!(r, Err(StoreError::InvalidInput(_))));
    let r = store
        .apply(
            "ent_missing",
            &pending("tok", "1"),
            Source::Tool,
            Timestamp(2),
        )
        .await;
    assert!(matches!(r, Err(StoreError::NotFound(_))));
    assert!(store.put_config("org\0", "development", b"x").is_err());
    assert_eq!(store.len(), 1);
}

#[tokio::test]
async fn events_run_from_one_to_the_version_without_gaps() {
    let store = SledStore::open_temporary().unwrap();
    let p = created(&store, &draft("PL-1", "k1")).await;
    changed(&store, &p.id, pending("tok_1", "1"), 1_100).await;
    changed(
        &store,
        &p.id,
        Transition::Failed {
            reason: FailureReason::Expired,
        },
        1_200,
    )
    .await;
    let refused = store
        .apply(
            &p.id,
            &pending("tok_2", "2"),
            Source::Tool,
            Timestamp(1_250),
        )
        .await
        .unwrap();
    assert!(
        matches!(refused, ApplyOutcome::Refused { .. }),
        "{refused:?}"
    );
    let unchanged = store.apply(
        &p.id,
        &Transition::Failed {
            reason: FailureReason::Rejected,
        },
        Source::Tool,
        Timestamp(1_260),
    );
    assert!(matches!(
        unchanged.await.unwrap(),
        ApplyOutcome::Unchanged(_)
    ));
    let paid = changed(
        &store,
        &p.id,
        Transition::Paid {
            paid_at: Timestamp(1_290),
        },
        1_300,
    )
    .await;
    let events = store.events(&p.id).unwrap();
    let kinds: Vec<_> = events.iter().map(|e| (e.seq, e.kind)).collect();
    use EventKind::*;
    assert_eq!(
        kinds,
        vec![(1, Created), (2, Pending), (3, Failed), (4, Corrected)]
    );
    assert_eq!(paid.version, 4);
    assert_eq!(store.by_token("tok_2").unwrap(), None);
}

#[tokio::test]
async fn list_is_newest_first_and_filters_by_organization_and_status() {
    let store = SledStore::open_temporary().unwrap();
    let mut ids = Vec::new();
    for i in 0..5 {
        let mut d = draft(&format!("PL-{i}"), &format!("k{i}"));
        d.created_at = Timestamp(1_000 + i);
        if i % 2 == 1 {
            d.organization = "acme".into();
        }
        ids.push(created(&store, &d).await.id);
    }
    changed(&store, &ids[4], pending("t", "1"), 2_000).await;
    let listed = |org, status, limit| -> Vec<String> {
        store
            .list(org, status, limit)
            .unwrap()
            .into_iter()
            .map(|p| p.id)
            .collect()
    };
    assert_eq!(
        listed(None, None, 3),
        vec![ids[4].clone(), ids[3].clone(), ids[2].clone()]
    );
    assert_eq!(
        listed(Some("acme"), None, 10),
        vec![ids[3].clone(), ids[1].clone()]
    );
    assert_eq!(
        listed(Some("default"), Some(PaymentStatus::Draft), 10),
        vec![ids[2].clone(), ids[0].clone()]
    );
    assert_eq!(
        listed(None, Some(PaymentStatus::Pending), 10),
        vec![ids[4].clone()]
    );
}

mod property {
    use super::*;
    use proptest::prelude::*;

    fn transition() -> impl Strategy<Value = Transition> {
        prop_oneof![
            ("[a-z0-9]{1,8}", 1u32..1000)
                .prop_map(|(tok, order)| pending(&tok, &order.to_string())),
            (0i64..10_000).prop_map(|t| Transition::Paid {
                paid_at: Timestamp(t)
            }),
            prop::sample::select(vec![
                FailureReason::Rejected,
                FailureReason::Cancelled,
                FailureReason::Expired
            ])
            .prop_map(|reason| Transition::Failed { reason }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// The store is `Payment::apply` folded over the sequence, with one event per change.
        #[test]
        fn applying_any_sequence_equals_folding_payment_apply(seq in prop::collection::vec(transition(), 0..12)) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let store = SledStore::open_temporary().unwrap();
                let mut model = created(&store, &draft("PL-1", "k1")).await;
                let mut model_events = vec![model.created_event(Source::Tool)];
                for (i, t) in seq.iter().enumerate() {
                    let now = Timestamp(2_000 + i as i64);
                    let got = store.apply(&model.id, t, Source::Reconciler, now).await.unwrap();
                    match (model.apply(t, Source::Reconciler, now), got) {
                        (Ok(Applied::Changed { payment, event }), ApplyOutcome::Changed { payment: p, event: e }) => {
                            prop_assert_eq!(&*payment, &p);
                            prop_assert_eq!(&event, &e);
                            model = *payment;
                            model_events.push(event);
                        }
                        (Ok(Applied::Unchanged), ApplyOutcome::Unchanged(p)) => prop_assert_eq!(&p, &model),
                        (Err(want), ApplyOutcome::Refused { payment, error }) => {
                            prop_assert_eq!(want, error);
                            prop_assert_eq!(&payment, &model);
                        }
                        (want, got) => prop_assert!(false, "model {want:?}, store {got:?}"),
                    }
                }
                prop_assert_eq!(store.get(&model.id).unwrap(), Some(model.clone()));
                prop_assert_eq!(store.events(&model.id).unwrap(), model_events);
                prop_assert!(store.check_consistency().unwrap().is_empty());
                Ok(())
            })?;
        }
    }
}
