//! MCP tool-call latency and throughput of the real binary, over stdio and streamable HTTP,
//! measured from this (separate) process with rmcp's client.
//!
//! - `getStatus` of a stored paid payment: no gateway call, so this is paylink's own
//!   overhead plus the transport;
//! - `create` against the offline sandbox (signing, a loopback Flow round trip, two durable
//!   ledger writes).
//!
//! Run: `cargo bench --bench mcp` (about a minute).

use std::time::{Duration, Instant};

use paylink::sandbox::{DEFAULT_API_KEY, DEFAULT_SECRET_KEY, Outcome, Sandbox, SandboxConfig};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::{ConfigureCommandExt, StreamableHttpClientTransport, TokioChildProcess};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_paylink");
type Client = RunningService<RoleClient, ()>;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn args(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    v.as_object().unwrap().clone()
}

struct Stats {
    p50: Duration,
    p99: Duration,
    per_sec: f64,
}

fn stats(mut lat: Vec<Duration>, wall: Duration) -> Stats {
    lat.sort();
    let at = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
    Stats {
        p50: at(0.50),
        p99: at(0.99),
        per_sec: lat.len() as f64 / wall.as_secs_f64(),
    }
}

async fn measure(
    client: &Client,
    name: &str,
    n: usize,
    mut make: impl FnMut(usize) -> serde_json::Value,
) -> Stats {
    let mut lat = Vec::with_capacity(n);
    let start = Instant::now();
    for i in 0..n {
        let req = CallToolRequestParams::new(name.to_string()).with_arguments(args(make(i)));
        let t = Instant::now();
        let r = client.call_tool(req).await.expect("call");
        lat.push(t.elapsed());
        assert_ne!(r.is_error, Some(true), "{:?}", r.content);
    }
    stats(lat, start.elapsed())
}

async fn run(transport: &str, client: Client, sb: &paylink::sandbox::RunningSandbox) {
    let created = client
        .call_tool(CallToolRequestParams::new("payment.create").with_arguments(args(
            json!({"amount": 5000, "description": "bench", "customerEmail": "bench@gmail.com", "idempotencyKey": format!("bench-paid-{transport}")}),
        )))
        .await
        .unwrap()
        .structured_content
        .unwrap();
    let token = created["paymentLinkUrl"]
        .as_str()
        .unwrap()
        .split("token=")
        .nth(1)
        .unwrap()
        .to_string();
    sb.sandbox.settle(&token, Outcome::Paid).await.unwrap();
    let id = created["paymentId"].as_str().unwrap().to_string();
    // Warm-up: connections, caches, allocator.
    measure(
        &client,
        "payment.getStatus",
        200,
        |_| json!({"entityId": id}),
    )
    .await;
    let s = measure(
        &client,
        "payment.getStatus",
        5000,
        |_| json!({"entityId": id}),
    )
    .await;
    println!(
        "mcp/{transport}/getStatus_paid      n=5000  p50 {:>7.3} ms  p99 {:>7.3} ms  {:>8.0} calls/s",
        s.p50.as_secs_f64() * 1e3,
        s.p99.as_secs_f64() * 1e3,
        s.per_sec
    );
    let c = measure(&client, "payment.create", 1000, |i| {
        json!({"amount": 5000 + i, "description": "bench create", "customerEmail": "bench@gmail.com", "idempotencyKey": format!("bench-{transport}-{i}")})
    })
    .await;
    println!(
        "mcp/{transport}/create_sandbox      n=1000  p50 {:>7.3} ms  p99 {:>7.3} ms  {:>8.0} calls/s",
        c.p50.as_secs_f64() * 1e3,
        c.p99.as_secs_f64() * 1e3,
        c.per_sec
    );
    client.cancel().await.unwrap();
}

fn main() {
    // `cargo bench` passes --bench; nothing else to parse.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let sb = Sandbox::start(SandboxConfig::default()).await.unwrap();
        let env = |dir: &std::path::Path| {
            vec![
                ("PAYLINK_DATA_DIR".to_string(), dir.display().to_string()),
                (
                    "PAYLINK_LISTEN".to_string(),
                    format!("127.0.0.1:{}", free_port()),
                ),
                ("FLOW_API_KEY".to_string(), DEFAULT_API_KEY.to_string()),
                (
                    "FLOW_SECRET_KEY".to_string(),
                    DEFAULT_SECRET_KEY.to_string(),
                ),
                ("FLOW_BASE_URL".to_string(), sb.api_url.clone()),
                ("RUST_LOG".to_string(), "error".to_string()),
            ]
        };
        println!(
            "paylink MCP benchmark ({} cores)",
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(0)
        );

        let dir = tempfile::tempdir().unwrap();
        let e = env(dir.path());
        let cmd = tokio::process::Command::new(BIN).configure(|c| {
            c.arg("serve").envs(e).kill_on_drop(true);
        });
        let client = ().serve(TokioChildProcess::new(cmd).unwrap()).await.unwrap();
        run("stdio", client, &sb).await;

        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut child = tokio::process::Command::new(BIN)
            .args(["serve", "--http", &format!("127.0.0.1:{port}")])
            .envs(env(dir.path()))
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while reqwest::get(format!("http://127.0.0.1:{port}/health"))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "server did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let client = ()
            .serve(StreamableHttpClientTransport::from_uri(format!(
                "http://127.0.0.1:{port}/mcp"
            )))
            .await
            .unwrap();
        run("http", client, &sb).await;
        let _ = child.kill().await;
    });
}
