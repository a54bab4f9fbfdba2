//! Stripe under SIGKILL. The real `paylink serve` (stdio) runs over one sled directory and
//! one Stripe sandbox that outlive it. Each round starts it, sends concurrent creates (the
//! sandbox holding each for a random moment, so some are cut off mid-flight), and kills it
//! with SIGKILL at a random moment. At the end, every key is retried: a create that was
//! acknowledged returns the same payment and link; one that the kill cut off is finished
//! (with the session Stripe made, if it made one) or made now; and Stripe holds at most one
//! Checkout Session per payment.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use paylink::sandbox::stripe::{Fault, FaultKind, FaultTarget};
use rand::Rng;
use serde_json::{Value, json};

use crate::stripe_mcp::Rig;
use crate::support::*;

const ROUNDS: usize = 6;
const PER_ROUND: usize = 4;

fn args(key: &str) -> Value {
    json!({"amount": 20, "currency": "USD", "description": format!("Order {key}"),
           "customerEmail": "ana@gmail.com", "gateway": "stripe", "idempotencyKey": key})
}

const ENV: &[(&str, &str)] = &[
    ("PAYLINK_FLOW_TIMEOUT_SECS", "2"),
    ("PAYLINK_CREATE_SETTLE_SECS", "1"),
];

/// SIGKILLs every `paylink` process serving the ledger in `dir` (found by its environment).
fn sigkill_servers_of(dir: &std::path::Path) {
    let needle = format!("PAYLINK_DATA_DIR={}", dir.display());
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        let serving = environ.split(|b| *b == 0).any(|v| v == needle.as_bytes());
        let is_paylink = std::fs::read(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| c.split(|b| *b == 0).nth(1) == Some(b"serve".as_slice()));
        if serving && is_paylink {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            // SIGKILL is delivered asynchronously: wait until the process has died (gone,
            // or a zombie, which holds neither the ledger's lock nor the listener's port).
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
                s.rsplit(')')
                    .next()
                    .and_then(|r| r.split_whitespace().next())
                    != Some("Z")
            }) {
                assert!(
                    std::time::Instant::now() < deadline,
                    "pid {pid} survived SIGKILL"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

#[tokio::test]
async fn killed_mid_create_a_stripe_payment_is_finished_never_duplicated() {
    let rig = Rig::start().await;
    // Every create waits 0-400 ms inside Stripe, after Stripe claimed its key.
    let mut acked: HashMap<String, (String, String)> = HashMap::new();
    let mut sent: Vec<String> = Vec::new();
    for round in 0..ROUNDS {
        rig.stripe.sandbox.clear_faults();
        let ms = rand::rng().random_range(0..400);
        rig.stripe.sandbox.add_fault(Fault {
            target: FaultTarget::Create,
            kind: FaultKind::Delay { ms },
            times: None,
        });
        let (client, _) = rig.serve_with(ENV).await;
        let client = std::sync::Arc::new(client);
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..PER_ROUND {
            let key = format!("crash-{round}-{i}");
            sent.push(key.clone());
            let client = client.clone();
            tasks.spawn(async move {
                let r = client
                    .call_tool(
                        rmcp::model::CallToolRequestParams::new("payment.create")
                            .with_arguments(crate::support::args(args(&key))),
                    )
                    .await
                    .ok()?;
                (r.is_error != Some(true)).then(|| {
                    let v = structured(&r);
                    (
                        key,
                        v["paymentId"].as_str().unwrap().to_string(),
                        v["paymentLinkUrl"].as_str().unwrap().to_string(),
                    )
                })
            });
        }
        // The kill: at a random moment while creates are (likely) in flight.
        let kill_after = rand::rng().random_range(0..300);
        tokio::time::sleep(Duration::from_millis(kill_after)).await;
        sigkill_servers_of(rig.world.data_dir.path());
        while let Some(done) = tasks.join_next().await {
            if let Ok(Some((key, id, link))) = done {
                acked.insert(key, (id, link));
            }
        }
    }
    rig.stripe.sandbox.clear_faults();

    // Every key once more, on a fresh process: the same payment, finished.
    let (client, _) = rig.serve_with(ENV).await;
    let mut ids = HashSet::new();
    for key in &sent {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let v = loop {
            let r = call(&client, "payment.create", args(key)).await;
            if r.is_error != Some(true) {
                break structured(&r);
            }
            let e = error_of(&r);
            assert_eq!(e["retryable"], true, "{key}: {e}");
            assert!(
                std::time::Instant::now() < deadline,
                "{key} never finished: {e}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(v["status"], "pending", "{key}: {v}");
        let id = v["paymentId"].as_str().unwrap().to_string();
        if let Some((acked_id, acked_link)) = acked.get(key) {
            assert_eq!(&id, acked_id, "{key}: an acknowledged payment changed");
            assert_eq!(v["paymentLinkUrl"].as_str().unwrap(), acked_link, "{key}");
        }
        assert!(ids.insert(id), "{key}: two keys, one payment");
    }
    // At most one Checkout Session per payment, however the kills fell.
    let mut per_payment: HashMap<String, usize> = HashMap::new();
    let listed = reqwest::Client::new()
        .get(format!(
            "{}/v1/checkout/sessions?limit=100",
            rig.stripe.api_base
        ))
        .bearer_auth(paylink::sandbox::stripe::DEFAULT_STRIPE_TEST_KEY)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    for s in listed["data"].as_array().unwrap() {
        let pid = s["metadata"]["paymentId"].as_str().unwrap().to_string();
        *per_payment.entry(pid).or_default() += 1;
    }
    for (pid, n) in &per_payment {
        assert_eq!(*n, 1, "payment {pid} has {n} Checkout Sessions");
    }
    assert_eq!(per_payment.len(), sent.len(), "one session per payment");
    eprintln!(
        "stripe crash: {} creates over {ROUNDS} kills, {} acknowledged before the kill",
        sent.len(),
        acked.len()
    );
    client.cancel().await.unwrap();
}
