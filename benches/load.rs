//! Load on the real binary (`paylink serve --http`, a release build under `cargo bench`),
//! sent from a second process over loopback and bounded in count and time. The Flow
//! sandbox runs in this process; the load comes from this bench binary re-executed as a
//! generator (`load_gen`), so server, load and measurement are three processes.
//!
//! (a) **Webhook storm.** 2,000 connections to the side listener held open at once, each
//!     POSTing 25 confirmations for 50 paid payments whose first confirmation Flow dropped
//!     (plus a few unknown tokens): 50,000 confirmations, almost all duplicates; run four
//!     times (200,000 logged, twice the confirmation log's cap), then once more with
//!     malformed tokens (400s, which are not logged) as a control.
//!     Meanwhile this process GETs `/healthz` on a fresh connection every 10 ms (p50/p99/max
//!     while the 2,000 connections open and while they storm; the target is every answer
//!     within 100 ms) and samples the server's VmRSS (before, peak of each storm, after) and
//!     the ledger's size on disk.
//! (b) **MCP sessions.** 256 rmcp streamable-HTTP clients at once, each doing initialize,
//!     tools/list and a getStatus; success count and latency per phase.
//! (c) **Slow clients.** From 127.0.0.2, thousands of connections to both listeners that
//!     send half a request head and stall. Meanwhile `/healthz` is probed as in (a), and
//!     a confirmation and an MCP call from 127.0.0.1 must succeed; the generator reports
//!     how many were refused at once (per-address cap) and closed by the header timeout.
//!
//! Open files: 2,000 connections need about 2,100 descriptors on each side. When the soft
//! limit is lower, the server and the generator are started through `sh -c 'ulimit -n …'`
//! (up to the hard limit); no libc call is needed.
//!
//! Run: `cargo bench --bench load` (about 30 s); `LOAD_STORMS=12 cargo bench --bench load`
//! runs 12 well-formed storms instead of 4 (a longer soak of the memory bound). Without
//! `--bench` (e.g. `cargo test --benches`) it runs a small smoke version.

mod load_gen;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use load_gen::{ROLE_ENV, percentiles, probe};
use paylink::sandbox::{DEFAULT_API_KEY, DEFAULT_SECRET_KEY, Outcome, Sandbox, SandboxConfig};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use serde_json::json;
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_paylink");

struct Size {
    connections: usize,
    per_connection: usize,
    max_secs: u64,
    sessions: usize,
    payments: usize,
}

fn main() {
    match std::env::var(ROLE_ENV).as_deref() {
        Ok("storm") => return load_gen::storm(),
        Ok("sessions") => return load_gen::sessions(),
        Ok("slow") => return load_gen::slow(),
        _ => {}
    }
    let size = if std::env::args().any(|a| a == "--bench") {
        Size {
            connections: 2_000,
            per_connection: 25,
            max_secs: 30,
            sessions: 256,
            payments: 50,
        }
    } else {
        Size {
            connections: 100,
            per_connection: 5,
            max_secs: 10,
            sessions: 16,
            payments: 5,
        }
    };
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(run(size));
}

/// The (soft, hard) limit on open files, from /proc/self/limits.
fn nofile() -> (u64, u64) {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let line = limits.lines().find(|l| l.starts_with("Max open files"));
    let mut values = line
        .map(|l| {
            l["Max open files".len()..]
                .split_whitespace()
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .into_iter()
        .map(|v| v.parse().unwrap_or(u64::MAX));
    (
        values.next().unwrap_or(1024),
        values.next().unwrap_or(u64::MAX),
    )
}

/// `program`, started with at least `need` open files allowed when the hard limit permits.
fn with_fds(program: &Path, need: u64) -> Command {
    let (soft, hard) = nofile();
    if soft >= need {
        return Command::new(program);
    }
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(format!(
            "ulimit -n {} && exec \"$0\" \"$@\"",
            need.min(hard)
        ))
        .arg(program);
    c
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// One counter or gauge from the listener's /metrics.
async fn metric(listener: &str, name: &str) -> u64 {
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let text = match http.get(format!("http://{listener}/metrics")).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// One /healthz probe: when it started (since `watch` began), how long it took, answered.
type Probe = (Duration, Duration, bool);

/// Probes /healthz every 10 ms on a fresh connection and samples the server's RSS until
/// `done` finishes; returns the probes and the peak RSS.
async fn watch(
    listener: &str,
    pid: u32,
    done: &mut tokio::task::JoinHandle<std::process::Output>,
) -> (Vec<Probe>, u64) {
    let (began, mut probes, mut peak) = (Instant::now(), Vec::new(), 0);
    while !done.is_finished() {
        let at = began.elapsed();
        let (status, took) = probe(listener, "/healthz").await;
        probes.push((at, took, status == Some(200)));
        peak = peak.max(rss_kib(pid));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (probes, peak)
}

/// The healthz figures of the probes that started between `from` and `to` seconds.
fn healthz(probes: &[Probe], from: f64, to: f64) -> String {
    let within: Vec<&Probe> = probes
        .iter()
        .filter(|(at, _, _)| (from..to).contains(&at.as_secs_f64()))
        .collect();
    let failed = within.iter().filter(|p| !p.2).count();
    let over = within
        .iter()
        .filter(|p| p.1 > Duration::from_millis(100))
        .count();
    let lat = within.iter().map(|p| p.1).collect();
    format!("{}; {failed} failed, {over} over 100 ms", percentiles(lat))
}

/// One storm from a second process; prints its figures; returns the server's peak RSS.
async fn storm(round: usize, listener: &str, pid: u32, need: u64, vars: &[(&str, String)]) -> u64 {
    let child = generator("storm", need, vars).spawn().unwrap();
    let mut done = tokio::spawn(async move { child.wait_with_output().await.unwrap() });
    let (probes, peak) = watch(listener, pid, &mut done).await;
    let out = done.await.unwrap();
    let mut phases = (0.0, f64::MAX);
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        match line.strip_prefix("phases: ") {
            Some(p) => {
                let v: Vec<f64> = p.split(' ').filter_map(|x| x.parse().ok()).collect();
                phases = (v[0], v[1]);
            }
            None => println!("(a) storm {round}: {line}"),
        }
    }
    let (connected, done_at) = phases;
    println!(
        "(a) storm {round}: /healthz while connecting:       {}",
        healthz(&probes, 0.0, connected)
    );
    println!(
        "(a) storm {round}: /healthz while storming:         {}",
        healthz(&probes, connected, done_at + 0.05)
    );
    peak
}

fn generator(role: &str, need: u64, vars: &[(&str, String)]) -> Command {
    let mut c = with_fds(&std::env::current_exe().unwrap(), need);
    c.env(ROLE_ENV, role)
        .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true);
    c
}

async fn run(size: Size) {
    let sb = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (mcp, listener) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let need = size.connections as u64 + 512;
    let mut server = with_fds(Path::new(BIN), need)
        .args(["serve", "--http", &mcp])
        .env("PAYLINK_DATA_DIR", dir.path().join("ledger"))
        .env("PAYLINK_LISTEN", &listener)
        .env("FLOW_API_KEY", DEFAULT_API_KEY)
        .env("FLOW_SECRET_KEY", DEFAULT_SECRET_KEY)
        .env("FLOW_BASE_URL", &sb.api_url)
        .env("RUST_LOG", "error")
        // The storm comes from one address (loopback): lift the per-address cap above it,
        // and the session cap above (b)'s sessions. (c) shows the caps at work from another.
        .env(
            "PAYLINK_MAX_CONNECTIONS",
            (size.connections + 2_048).to_string(),
        )
        .env(
            "PAYLINK_MAX_CONNECTIONS_PER_IP",
            (size.connections + 1_024).to_string(),
        )
        .env(
            "PAYLINK_HTTP_MAX_SESSIONS_PER_ORG",
            (size.sessions * 2).to_string(),
        )
        .env("PAYLINK_HEADER_TIMEOUT_SECS", "5")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = server.id().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while probe(&mcp, "/health").await.0 != Some(200) {
        assert!(Instant::now() < deadline, "paylink did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Paid payments whose confirmations Flow dropped: the storm's duplicates carry news.
    let mcp_url = format!("http://{mcp}/mcp");
    let client = ().serve(StreamableHttpClientTransport::from_uri(mcp_url.clone())).await.unwrap();
    sb.sandbox.drop_next_confirmations(size.payments as u32);
    let mut tokens = Vec::new();
    let mut paid_id = String::new();
    for i in 0..size.payments {
        let args =
            json!({"amount": 5000 + i, "description": "load", "customerEmail": "load@gmail.com"});
        let req = CallToolRequestParams::new("payment.create")
            .with_arguments(args.as_object().unwrap().clone());
        let created = client
            .call_tool(req)
            .await
            .unwrap()
            .structured_content
            .unwrap();
        let link = created["paymentLinkUrl"].as_str().unwrap();
        let token = link.split("token=").nth(1).unwrap().to_string();
        sb.sandbox.settle(&token, Outcome::Paid).await.unwrap();
        paid_id = created["paymentId"].as_str().unwrap().to_string();
        tokens.push(token);
    }
    client.cancel().await.unwrap();
    tokens.extend((0..5).map(|i| format!("UNKNOWNTOKEN{i}")));

    let (soft, hard) = nofile();
    println!(
        "== paylink load ({} cores, open files soft {soft} / hard {hard}; server pid {pid})",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let idle_started = Instant::now();
    let mut idle = Vec::new();
    while idle_started.elapsed() < Duration::from_secs(1) {
        idle.push(probe(&listener, "/healthz").await.1);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    println!("(a) /healthz idle:        {}", percentiles(idle));

    let rss_before = rss_kib(pid);
    let disk_before = dir_size(dir.path());
    // Four times (LOAD_STORMS) with duplicates of real tokens (at full size 200,000
    // confirmations, twice the log's cap, so the last two storms run with the log trimming
    // itself), then once
    // with malformed tokens (400, never logged) as a control: memory and disk should level
    // off once the log is full, and not grow at all in the control.
    let bad: Vec<String> = (0..5).map(|i| format!("bad-token-{i}!")).collect();
    let well_formed: usize = std::env::var("LOAD_STORMS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(4);
    let rounds: Vec<&Vec<String>> = std::iter::repeat_n(&tokens, well_formed)
        .chain([&bad])
        .collect();
    let mut peaks = Vec::new();
    for (round, tokens) in (1..).zip(rounds) {
        let vars = [
            ("STORM_ADDR", listener.clone()),
            ("STORM_TOKENS", tokens.join(",")),
            ("STORM_CONNECTIONS", size.connections.to_string()),
            ("STORM_REQUESTS", size.per_connection.to_string()),
            ("STORM_MAX_SECS", size.max_secs.to_string()),
        ];
        peaks.push(storm(round, &listener, pid, need, &vars).await);
        println!(
            "(a) storm {round}: server RSS after {}; ledger on disk {:.1} MiB",
            mib(rss_kib(pid)),
            dir_size(dir.path()) as f64 / 1048576.0
        );
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while metric(&listener, "paylink_payments{status=\"paid\"}").await < size.payments as u64 {
        assert!(
            Instant::now() < deadline,
            "the storm's payments never all turned paid"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut counts = Vec::new();
    for name in [
        "received",
        "rejected",
        "coalesced",
        "verified",
        "ignored",
        "queue_full",
        "errors",
    ] {
        let n = metric(&listener, &format!("paylink_confirmations_{name}_total")).await;
        counts.push(format!("{name} {n}"));
    }
    println!("(a) listener counters: {}", counts.join(", "));
    let disk_after = dir_size(dir.path());
    let confirmations = well_formed * size.connections * size.per_connection;
    println!(
        "(a) server RSS: before {}, peaks in storms 1 to {}: {}; after {}",
        mib(rss_before),
        peaks.len(),
        peaks.iter().map(|p| mib(*p)).collect::<Vec<_>>().join(", "),
        mib(rss_kib(pid))
    );
    println!(
        "(a) ledger on disk: {:.1} MiB -> {:.1} MiB after {confirmations} well-formed confirmations (the confirmation log keeps the newest 100,000, so disk and memory level off once it is full)",
        disk_before as f64 / 1048576.0,
        disk_after as f64 / 1048576.0,
    );

    let rss_before = rss_kib(pid);
    let vars = [
        ("MCP_URL", mcp_url.clone()),
        ("SESSIONS", size.sessions.to_string()),
        ("PAYMENT_ID", paid_id),
    ];
    let sessions = generator("sessions", need, &vars).spawn().unwrap();
    let mut sessions = tokio::spawn(async move { sessions.wait_with_output().await.unwrap() });
    let (_, peak) = watch(&listener, pid, &mut sessions).await;
    let out = sessions.await.unwrap();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        println!("(b) {line}");
    }
    println!(
        "(b) server RSS: before {}, peak {}, after {}",
        mib(rss_before),
        mib(peak),
        mib(rss_kib(pid))
    );

    // (c) Slow clients from another address, past its per-address cap on both listeners.
    let per_addr = size.connections + 1_500;
    let vars = [
        ("SLOW_ADDRS", format!("{listener},{mcp}")),
        ("SLOW_CONNECTIONS", per_addr.to_string()),
        ("SLOW_HOLD_SECS", "8".to_string()),
    ];
    let slow = generator("slow", 2 * per_addr as u64 + 512, &vars)
        .spawn()
        .unwrap();
    let mut slow = tokio::spawn(async move { slow.wait_with_output().await.unwrap() });
    let lis = listener.clone();
    let url = mcp_url.clone();
    let bystander = tokio::spawn(async move {
        // Give the attack a moment to open its connections, then act as Flow and an agent.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let t = Instant::now();
        let confirmation = reqwest::Client::new()
            .post(format!("http://{lis}/webhook/flow"))
            .form(&[("token", "UNKNOWNTOKEN0")])
            .send()
            .await
            .map(|r| r.status().as_u16());
        let confirmed_in = t.elapsed();
        let t = Instant::now();
        let agent = match ().serve(StreamableHttpClientTransport::from_uri(url)).await {
            Ok(c) => {
                let ok = c.list_all_tools().await.is_ok();
                let _ = c.cancel().await;
                ok
            }
            Err(_) => false,
        };
        (confirmation, confirmed_in, agent, t.elapsed())
    });
    let (probes, peak) = watch(&listener, pid, &mut slow).await;
    let out = slow.await.unwrap();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        println!("(c) {line}");
    }
    let (confirmation, confirmed_in, agent, agent_in) = bystander.await.unwrap();
    println!(
        "(c) meanwhile from 127.0.0.1: a confirmation answered {confirmation:?} in {:.1} ms; an MCP session (initialize + tools/list) {} in {:.1} ms",
        confirmed_in.as_secs_f64() * 1e3,
        if agent { "succeeded" } else { "FAILED" },
        agent_in.as_secs_f64() * 1e3
    );
    println!(
        "(c) /healthz during the slow-client storm: {}",
        healthz(&probes, 0.0, f64::MAX)
    );
    println!("(c) server RSS peak {}", mib(peak));
    let _ = server.kill().await;
}
