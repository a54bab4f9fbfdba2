//! A ledger written by an older paylink (schema 1, `tests/fixtures/ledger-v1`) opens with
//! today's: every payment, event, index, idempotency claim and confirmation is still there,
//! in today's format, and the server keeps its promises about them.

use std::path::{Path, PathBuf};

use paylink::domain::{EventKind, PaymentStatus};
use paylink::gateway::GatewayKind;
use paylink::store::{SCHEMA_VERSION, Store, layout};
use serde_json::{Value, json};

use crate::support::*;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ledger-v1")
}

fn read_json(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(fixture().join(name)).unwrap()).unwrap()
}

/// Copies the fixture's ledger into `to` (sled rewrites a ledger it opens: never in place).
fn copy_ledger(to: &Path) {
    let from = fixture().join("ledger");
    let mut stack = vec![(from.clone(), to.to_path_buf())];
    while let Some((src, dst)) = stack.pop() {
        std::fs::create_dir_all(&dst).unwrap();
        for entry in std::fs::read_dir(&src).unwrap() {
            let entry = entry.unwrap();
            let target = dst.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                stack.push((entry.path(), target));
            } else {
                std::fs::copy(entry.path(), &target).unwrap();
            }
        }
    }
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} in {v}"))
}

#[tokio::test]
async fn a_schema_1_ledger_opens_with_every_payment_event_index_and_confirmation() {
    let dir = tempfile::tempdir().unwrap();
    copy_ledger(dir.path());
    let old_payments = read_json("payments.json");
    let old_events = read_json("events.json");
    let old_confirmations = read_json("confirmations.json");
    let old_payments = old_payments.as_array().unwrap();
    assert_eq!(old_payments.len(), 3);

    for round in 0..2 {
        // Round 0 upgrades on open; round 1 opens the upgraded ledger as it is.
        let store = Store::open(dir.path()).expect("the old ledger opens");
        assert_eq!(store.expect_sled().len(), 3, "round {round}");
        for old in old_payments {
            let id = s(old, "id");
            let p = store
                .get(id)
                .await
                .unwrap()
                .expect("the payment is still there");
            assert_eq!(p.gateway, GatewayKind::Flow);
            assert_eq!(p.reference, s(old, "commerceOrder"));
            assert_eq!(p.gateway_ref.as_deref(), Some(s(old, "providerReference")));
            assert_eq!(p.gateway_token.as_deref(), Some(s(old, "flowToken")));
            assert_eq!(p.status.as_str(), s(old, "status"));
            assert_eq!(p.amount.minor, old["amount"]["minor"].as_i64().unwrap());
            assert_eq!(p.idempotency_key, s(old, "idempotencyKey"));
            assert_eq!(p.customer_email, s(old, "customerEmail"));
            assert_eq!(p.version, old["version"].as_u64().unwrap());
            // Every index still finds it.
            let token = p.gateway_token.clone().unwrap();
            assert_eq!(store.by_token(&token).await.unwrap().unwrap().id, id);
            assert_eq!(
                store.by_reference(&p.reference).await.unwrap().unwrap().id,
                id
            );
            let gateway_ref = p.gateway_ref.clone().unwrap();
            assert_eq!(
                store
                    .by_gateway_ref(&gateway_ref)
                    .await
                    .unwrap()
                    .unwrap()
                    .id,
                id
            );
            if let Some(entity) = old["entityId"].as_str() {
                let by_entity = store.by_entity("default", entity).await.unwrap();
                assert_eq!(by_entity.len(), 1);
                assert_eq!(by_entity[0].id, id);
            }
            // Every event, in order.
            let events = store.events(id).await.unwrap();
            let old = old_events[id]["events"].as_array().unwrap();
            assert_eq!(events.len(), old.len(), "events of {id}");
            for (e, o) in events.iter().zip(old) {
                assert_eq!(e.seq, o["seq"].as_u64().unwrap());
                assert_eq!(e.to.as_str(), s(o, "to"));
                assert_eq!(e.at.0, o["at"].as_i64().unwrap());
            }
            assert_eq!(events[0].kind, EventKind::Created);
        }
        assert_eq!(
            store.confirmation_count().await.unwrap(),
            old_confirmations.as_array().unwrap().len() as u64
        );
        assert_eq!(
            store.check_consistency().await.unwrap(),
            Vec::<String>::new()
        );
        let paid = store
            .status_counts()
            .await
            .unwrap()
            .iter()
            .find(|(s, _)| *s == PaymentStatus::Paid)
            .map(|(_, n)| *n);
        assert_eq!(paid, Some(1));
        // Written back in today's format, with today's schema version.
        let db = store.db();
        for item in db.open_tree(layout::PAYMENTS).unwrap().iter() {
            let raw = String::from_utf8(item.unwrap().1.to_vec()).unwrap();
            assert!(
                raw.contains("\"gatewayToken\"") && !raw.contains("\"flowToken\""),
                "{raw}"
            );
        }
        let version = db
            .open_tree(layout::META)
            .unwrap()
            .get(layout::SCHEMA_VERSION_KEY)
            .unwrap()
            .unwrap();
        assert_eq!(&version[..], SCHEMA_VERSION.to_string().as_bytes());
    }
}

#[tokio::test]
async fn the_server_on_an_upgraded_ledger_keeps_its_idempotency_claims_and_entities() {
    let w = World::new().await;
    copy_ledger(w.data_dir.path());
    let created = read_json("created.json");
    let (client, _) = w.stdio(&[]).await;

    // The same key and arguments as the original rejected payment: the same payment back.
    let again = call(
        &client,
        "payment.create",
        json!({"amount": 5000, "description": "Invoice 1002", "customerEmail": "bruno@gmail.com",
               "entityId": "inv-1002", "idempotencyKey": "fixture-key-rejected"}),
    )
    .await;
    let again = structured(&again);
    assert_eq!(
        again["paymentId"], created["rejected"]["paymentId"],
        "{again}"
    );
    assert_eq!(again["reused"], true);

    // The paid entity is still known as paid: no second payment for it.
    let paid_again = call(
        &client,
        "payment.create",
        json!({"amount": 15990, "description": "Invoice 1001", "customerEmail": "ana@gmail.com",
               "entityId": "inv-1001", "idempotencyKey": "fixture-key-paid"}),
    )
    .await;
    assert_eq!(error_code(&paid_again), "entity_already_paid");
    let err = error_of(&paid_again);
    assert_eq!(err["paymentId"], created["paid"]["paymentId"], "{err}");

    let status = call(
        &client,
        "payment.getStatus",
        json!({"entityId": created["paid"]["paymentId"]}),
    )
    .await;
    let status = structured(&status);
    assert_eq!(status["status"], "paid", "{status}");
    assert_eq!(status["paymentFor"], "inv-1001");
    client.cancel().await.unwrap();
}
