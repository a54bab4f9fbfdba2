//! Replicas on one PostgreSQL ledger, beside one process on sled: whole `paylink serve
//! --http` processes, the offline Flow sandbox in this process, a throwaway PostgreSQL
//! cluster (the tests' own, `tests/it/support/postgres.rs`).
//!
//! For sled, then 1, 2 and 3 replicas on one fresh database:
//! 1. **creates/s**: `CREATES` `payment.create` calls (each its own key, a signed Flow
//!    `payment/create` each) from 24 MCP clients over HTTP, spread round-robin over the
//!    replicas.
//! 2. **verified confirmations/s**: the payments are settled paid at the sandbox with the
//!    confirmations dropped, then this process POSTs one confirmation per payment over 32
//!    connections, round-robin over the replicas' side listeners; timed until the ledger
//!    holds every payment paid (each a signed `getStatus` and a durable write).
//!
//! PostgreSQL runs with its durable defaults (fsync on), as sled flushes every write.
//! Every process shares this machine's cores: more replicas add no CPU, so the figures
//! show what coordination through the database costs, not scale-out.
//!
//! Run: `cargo bench --bench replicas` (about two minutes; needs PostgreSQL binaries, as
//! the tests do). Under `cargo test` it runs a small smoke version.

#[path = "../tests/it/support/postgres.rs"]
mod postgres;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use paylink::domain::PaymentStatus;
use paylink::sandbox::{DEFAULT_API_KEY, DEFAULT_SECRET_KEY, Outcome, Sandbox, SandboxConfig};
use paylink::store::Store;
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use tokio::io::{AsyncBufReadExt, BufReader};

const CLIENTS: usize = 24;
const CONNECTIONS: usize = 32;

struct Replica {
    _child: tokio::process::Child,
    mcp: String,
    side: String,
}

async fn spawn(sandbox_url: &str, data_dir: &std::path::Path, db: Option<&str>) -> Replica {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_paylink"));
    cmd.args(["serve", "--http", "127.0.0.1:0"])
        .env("PAYLINK_DATA_DIR", data_dir)
        .env("PAYLINK_LISTEN", "127.0.0.1:0")
        .env("FLOW_API_KEY", DEFAULT_API_KEY)
        .env("FLOW_SECRET_KEY", DEFAULT_SECRET_KEY)
        .env("FLOW_BASE_URL", sandbox_url)
        .env("RUST_LOG", "error")
        .env_remove("PAYLINK_DATABASE_URL")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    if let Some(db) = db {
        cmd.env("PAYLINK_DATABASE_URL", db);
    }
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let (mut side, mut mcp) = (String::new(), String::new());
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(rest) =
            line.strip_prefix("paylink: side listener (Flow confirmations, /healthz) at ")
        {
            side = rest.to_string();
        }
        if let Some(url) = line.strip_prefix("paylink: MCP over streamable HTTP at ") {
            mcp = url.to_string();
            break;
        }
    }
    assert!(!mcp.is_empty(), "paylink serve --http did not start");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Replica {
        _child: child,
        mcp,
        side,
    }
}

async fn paid(store: &Store) -> u64 {
    store
        .status_counts()
        .await
        .unwrap()
        .iter()
        .find(|(s, _)| *s == PaymentStatus::Paid)
        .map_or(0, |(_, n)| *n)
}

async fn round(label: &str, db: Option<&str>, n: usize, creates: usize) {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut replicas = Vec::new();
    for i in 0..n {
        // sled: one process only. PostgreSQL: each replica its own data dir (unused).
        let d = dir.path().join(format!("r{i}"));
        replicas.push(spawn(&sandbox.api_url, &d, db).await);
    }
    let mut clients = Vec::new();
    for i in 0..CLIENTS {
        let url = replicas[i % n].mcp.clone();
        clients.push(Arc::new(
            ().serve(StreamableHttpClientTransport::from_uri(url))
                .await
                .unwrap(),
        ));
    }
    let started = Instant::now();
    let tokens: Vec<String> = futures::stream::iter(0..creates)
        .map(|i| {
            let client = clients[i % CLIENTS].clone();
            async move {
                let args = serde_json::json!({"amount": 5000, "description": format!("bench {i}"), "customerEmail": "bench@gmail.com", "idempotencyKey": format!("bench-{i}")});
                let r = client
                    .call_tool(CallToolRequestParams::new("payment.create").with_arguments(args.as_object().unwrap().clone()))
                    .await
                    .unwrap();
                let s = r.structured_content.expect("a created payment");
                let url = s["paymentLinkUrl"].as_str().unwrap_or_default().to_string();
                url.rsplit("token=").next().unwrap_or_default().to_string()
            }
        })
        .buffer_unordered(CLIENTS)
        .collect()
        .await;
    let create_secs = started.elapsed().as_secs_f64();

    sandbox
        .sandbox
        .drop_next_confirmations(u32::try_from(creates).unwrap());
    for t in &tokens {
        sandbox.sandbox.settle(t, Outcome::Paid).await.unwrap();
    }
    // sled is held by its one process: counted through its /metrics instead.
    let ledger = match db {
        Some(db) => Some(Store::connect(db).await.unwrap()),
        None => None,
    };
    let http = reqwest::Client::new();
    let sides: Vec<String> = replicas
        .iter()
        .map(|r| format!("{}/webhook/flow", r.side))
        .collect();
    let metrics_url = format!("{}/metrics", replicas[0].side);
    let started = Instant::now();
    futures::stream::iter(tokens.iter().enumerate())
        .for_each_concurrent(CONNECTIONS, |(i, t)| {
            let (http, url) = (http.clone(), sides[i % n].clone());
            async move {
                let r = http
                    .post(url)
                    .form(&[("token", t.as_str())])
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success());
            }
        })
        .await;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let done = if let Some(ledger) = &ledger {
            paid(ledger).await
        } else {
            let text = http
                .get(&metrics_url)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            text.lines()
                .find(|l| l.starts_with("paylink_payments{status=\"paid\"}"))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        if done >= creates as u64 || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let confirm_secs = started.elapsed().as_secs_f64();
    println!(
        "| {label} | {creates} | {:.0} | {:.0} |",
        creates as f64 / create_secs,
        creates as f64 / confirm_secs
    );
    for c in clients {
        let _ = Arc::try_unwrap(c).map(|c| c.cancel());
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let creates = if full { 2_000 } else { 60 };
    // PostgreSQL as in production: fsync on every commit, like sled's flush.
    postgres::DURABLE.store(true, std::sync::atomic::Ordering::Relaxed);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        println!("| ledger | payments | creates/s | verified confirmations/s |");
        println!("|---|---|---|---|");
        round("sled, 1 process", None, 1, creates).await;
        for n in 1..=3 {
            let Some(db) = postgres::database().await else {
                println!("(PostgreSQL rounds skipped: no PostgreSQL binaries)");
                return;
            };
            round(
                &format!("PostgreSQL, {n} replica{}", if n > 1 { "s" } else { "" }),
                Some(&db),
                n,
                creates,
            )
            .await;
        }
    });
}
