//! The whole server under SIGKILL. The real `paylink serve --http` runs over one sled
//! directory and one in-process Flow sandbox that outlive it, under mixed load: rmcp
//! streamable-HTTP clients creating payments (and checking them), and the sandbox settling
//! acknowledged payments, which POSTs Flow confirmations to the side listener. At a random
//! moment the process is killed with SIGKILL and started again; at least 20 times (more with
//! `PAYLINK_CRASH_ROUNDS`, which `scripts/bench.sh` sets to 100).
//!
//! After each restart (cheap checks, over MCP): every create acknowledged in the round
//! before still answers getStatus, and every create whose answer the kill swallowed is
//! retried with its key and returns the same payment or `payment_link_lost`.
//! After the last kill (in-process, over the ledger): every acknowledged create exists with
//! its link; one idempotency key is one payment and at most one Flow order; nothing is paid
//! twice; `check_consistency` finds nothing; and after one reconciliation pass no draft is
//! left and nothing Flow knows as final is still open, every settle being recorded as Flow
//! settled it.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use paylink::domain::{EventKind, PaymentStatus, Timestamp};
use paylink::reconcile::reconcile_once;
use paylink::sandbox::{Outcome, Sandbox};
use rand::Rng;
use rand::seq::IndexedRandom;
use rmcp::model::CallToolResult;
use serde_json::{Value, json};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::support::crash::*;
use crate::support::token_of;

const DEFAULT_ROUNDS: usize = 20;
/// Concurrent MCP clients creating payments.
const CREATORS: usize = 3;

/// What the clients were told, and what Flow did.
#[derive(Default)]
struct Book {
    /// paymentId → (idempotency key, token) of every acknowledged create.
    acked: HashMap<String, (String, String)>,
    /// Acknowledged since the last restart (checked after the next one).
    fresh: Vec<String>,
    /// Keys whose create was sent but never answered (the kill came first).
    in_flight: BTreeSet<String>,
    /// Payments whose retry ended `payment_link_lost`.
    lost: HashSet<String>,
    /// token → outcome of every settle Flow accepted.
    settled: HashMap<String, Outcome>,
    /// Payments whose retry was told to wait for an earlier, cut-off attempt.
    deferred: HashSet<String>,
    /// Tool errors nobody should see while Flow is up.
    unexpected: Vec<String>,
}

type Shared = Arc<Mutex<Book>>;

fn lock(book: &Shared) -> std::sync::MutexGuard<'_, Book> {
    book.lock().unwrap_or_else(|e| e.into_inner())
}

fn rounds() -> usize {
    std::env::var("PAYLINK_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_ROUNDS)
}

/// The same arguments for every attempt under one key.
fn create_args(key: &str) -> Value {
    let amount = 1_000 + key.bytes().map(u64::from).sum::<u64>() % 9_000;
    json!({"amount": amount, "description": format!("crash {key}"),
           "customerEmail": "crash@gmail.com", "idempotencyKey": key})
}

fn record_create(book: &Shared, key: &str, r: &CallToolResult) {
    let v = r.structured_content.clone().unwrap_or_default();
    let mut b = lock(book);
    b.in_flight.remove(key);
    if r.is_error == Some(true) {
        let e = &v["error"];
        match e["code"].as_str() {
            Some("payment_link_lost") => {
                b.lost
                    .insert(e["paymentId"].as_str().unwrap_or("").to_string());
            }
            // The kill cut a create off mid-flight; until that request has certainly ended
            // at Flow, paylink refuses to send a second one (reconciliation settles it).
            Some("gateway_unavailable") if e["retryable"] == true => {
                b.deferred
                    .insert(e["paymentId"].as_str().unwrap_or("").to_string());
            }
            _ => b.unexpected.push(format!("{key}: {e}")),
        }
        return;
    }
    let id = v["paymentId"].as_str().expect("paymentId").to_string();
    b.acked.insert(id.clone(), (key.to_string(), token_of(&v)));
    b.fresh.push(id);
}

/// Creates payments with fresh keys until the server dies.
async fn creator(client: Client, round: usize, me: usize, book: Shared) {
    for n in 0.. {
        let key = format!("r{round}-c{me}-{n}");
        lock(&book).in_flight.insert(key.clone());
        let Some(r) = call(&client, "payment.create", create_args(&key)).await else {
            return; // The server died mid-call: the key stays in flight.
        };
        record_create(&book, &key, &r);
    }
}

/// Settles acknowledged payments at Flow (paid, rejected or cancelled), which sends Flow's
/// confirmation to the listener, until `stop`.
async fn settler(sandbox: Sandbox, book: Shared, stop: CancellationToken) {
    while !stop.is_cancelled() {
        let pick = {
            let b = lock(&book);
            let open: Vec<&String> = b
                .acked
                .values()
                .map(|(_, t)| t)
                .filter(|t| !b.settled.contains_key(*t))
                .collect();
            open.choose(&mut rand::rng()).map(|t| (*t).clone())
        };
        let Some(token) = pick else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let outcome = match rand::rng().random_range(0..10) {
            0..6 => Outcome::Paid,
            6..8 => Outcome::Rejected,
            _ => Outcome::Cancelled,
        };
        match sandbox.settle(&token, outcome).await {
            Ok(_) => {
                lock(&book).settled.insert(token, outcome);
            }
            Err(e) => lock(&book).unexpected.push(format!("settle {token}: {e}")),
        }
        let pause = rand::rng().random_range(0..20);
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
}

/// Cheap checks right after a restart, over MCP.
async fn check_after_restart(client: &Client, book: &Shared) {
    let (fresh, keys) = {
        let mut b = lock(book);
        (
            std::mem::take(&mut b.fresh),
            std::mem::take(&mut b.in_flight),
        )
    };
    for id in fresh {
        let r = call(client, "payment.getStatus", json!({"entityId": id}))
            .await
            .expect("the restarted server answers");
        let s = r.structured_content.clone().unwrap_or_default();
        assert_ne!(r.is_error, Some(true), "acknowledged {id} is gone: {s}");
        assert!(
            ["pending", "paid", "failed"].contains(&s["status"].as_str().unwrap_or("")),
            "{id}: {s}"
        );
    }
    for key in keys {
        let r = call(client, "payment.create", create_args(&key))
            .await
            .expect("the restarted server answers");
        record_create(book, &key, &r);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_payments_survive_sigkill_of_the_whole_server_under_load() {
    let rig = Rig::new().await;
    let book: Shared = Arc::default();
    let rounds = rounds();
    let started = Instant::now();
    for round in 0..rounds {
        let mut child = rig.start().await;
        let probe = rig.connect().await;
        check_after_restart(&probe, &book).await;
        let mut load = JoinSet::new();
        for me in 0..CREATORS {
            load.spawn(creator(rig.connect().await, round, me, book.clone()));
        }
        let stop = CancellationToken::new();
        let settling = tokio::spawn(settler(
            rig.sandbox.sandbox.clone(),
            book.clone(),
            stop.clone(),
        ));
        // Up to 0.6 s of load, then the kill: a random moment is the point.
        let pause = rand::rng().random_range(20..600);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        kill(&mut child).await;
        load.abort_all();
        while load.join_next().await.is_some() {}
        stop.cancel();
        settling.await.unwrap();
        drop(probe);
    }

    let (payments, store) = rig.payments().await;
    let all = store.list(None, None, usize::MAX).await.unwrap();
    let b = std::mem::take(&mut *lock(&book));
    assert!(b.unexpected.is_empty(), "{:#?}", b.unexpected);
    let by_id: HashMap<&str, _> = all.iter().map(|p| (p.id.as_str(), p)).collect();
    for (id, (key, token)) in &b.acked {
        let p = by_id
            .get(id.as_str())
            .unwrap_or_else(|| panic!("acknowledged {id} ({key}) is not in the ledger"));
        assert_ne!(p.status, PaymentStatus::Draft, "{p:?}");
        assert_eq!(p.gateway_token.as_ref(), Some(token), "{p:?}");
    }
    let orders = rig.orders_by_commerce_order();
    let mut keys = HashSet::new();
    for p in &all {
        assert!(
            keys.insert(&p.idempotency_key),
            "two payments for {}",
            p.idempotency_key
        );
        let n = orders.get(&p.reference).copied().unwrap_or(0);
        assert!(n <= 1, "{n} Flow orders for {p:?}");
        let paid = store
            .events(&p.id)
            .await
            .unwrap()
            .iter()
            .filter(|e| is_paid(e.kind))
            .count();
        assert!(paid <= 1, "paid {paid} times: {p:?}");
    }
    assert_eq!(
        store.check_consistency().await.unwrap(),
        Vec::<String>::new()
    );

    let far = Timestamp::now().plus_secs(100 * 365 * 24 * 3600);
    let report = reconcile_once(&Rig::reconciler(&payments), far).await;
    assert_eq!(report.errors, 0, "{report:?}");
    let drafts_before = all
        .iter()
        .filter(|p| p.status == PaymentStatus::Draft)
        .count();
    for p in store.list(None, None, usize::MAX).await.unwrap() {
        assert_ne!(p.status, PaymentStatus::Draft, "left a draft: {p:?}");
        let flow = p.gateway_token.as_deref().and_then(|t| rig.flow_status(t));
        let want = match flow {
            Some(1) => PaymentStatus::Pending,
            Some(2) => PaymentStatus::Paid,
            Some(_) => PaymentStatus::Failed,
            None => PaymentStatus::Failed, // Never created, or its link was lost.
        };
        assert_eq!(p.status, want, "Flow says {flow:?}: {p:?}");
        let paid = store
            .events(&p.id)
            .await
            .unwrap()
            .iter()
            .filter(|e| is_paid(e.kind))
            .count();
        assert_eq!(paid, usize::from(want == PaymentStatus::Paid), "{p:?}");
        if let Some(outcome) = p.gateway_token.as_ref().and_then(|t| b.settled.get(t)) {
            let settled = if *outcome == Outcome::Paid {
                PaymentStatus::Paid
            } else {
                PaymentStatus::Failed
            };
            assert_eq!(p.status, settled, "settled {outcome:?}: {p:?}");
        }
    }
    assert_eq!(
        store.check_consistency().await.unwrap(),
        Vec::<String>::new()
    );
    println!(
        "{rounds} SIGKILLs in {:.1} s: {} payments, {} acknowledged, {} settled, {} link lost, \
         {} drafts resolved by reconciliation ({report:?})",
        started.elapsed().as_secs_f64(),
        all.len(),
        b.acked.len(),
        b.settled.len(),
        b.lost.len(),
        drafts_before,
    );
}

fn is_paid(kind: EventKind) -> bool {
    matches!(kind, EventKind::Paid | EventKind::Corrected)
}
