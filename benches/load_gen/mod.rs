//! The load generators of `benches/load.rs`, run in a second process (the bench binary
//! re-executed with `PAYLINK_LOAD_ROLE` set), plus the raw HTTP/1.1 exchange both sides use.
//!
//! - `storm`: opens `STORM_CONNECTIONS` TCP connections to the side listener and holds them
//!   all open at once, then every connection POSTs `STORM_REQUESTS` confirmations (tokens
//!   from `STORM_TOKENS`, so almost all are duplicates), one after another on the same
//!   keep-alive connection, stopping at `STORM_MAX_SECS`.
//! - `sessions`: `SESSIONS` rmcp streamable-HTTP clients at once, each doing initialize,
//!   tools/list and a getStatus of `PAYMENT_ID`. They share one reqwest client (one
//!   connection pool), as one agent host would: building a native-TLS client per session
//!   costs tens of milliseconds of CPU in the generator, which is not what is measured.
//!
//! - `slow`: from 127.0.0.2, opens `SLOW_CONNECTIONS` connections to each of `SLOW_ADDRS`
//!   that send half a request head and stall (slowloris), holds them `SLOW_HOLD_SECS`, and
//!   counts how the server treated them: refused at once (503), closed by its header
//!   timeout, or still open.
//!
//! Each prints summary lines on stdout; `phases: <connected> <done>` gives the storm's
//! phase boundaries in seconds since the generator started, for the orchestrator.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const ROLE_ENV: &str = "PAYLINK_LOAD_ROLE";

fn env<T: std::str::FromStr>(name: &str) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} is not set or not valid"))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// p50, p99 and max, in milliseconds.
pub fn percentiles(mut v: Vec<Duration>) -> String {
    if v.is_empty() {
        return "no samples".into();
    }
    v.sort();
    let at = |q: f64| v[((v.len() as f64 * q) as usize).min(v.len() - 1)];
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    format!(
        "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (n={})",
        ms(at(0.50)),
        ms(at(0.99)),
        ms(v[v.len() - 1]),
        v.len()
    )
}

/// Sends one request on `stream` and reads one response; returns its status. The response
/// must carry Content-Length (axum's do for these routes).
pub async fn exchange(stream: &mut TcpStream, request: &[u8]) -> std::io::Result<u16> {
    stream.write_all(request).await?;
    let mut got = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    let head_end = loop {
        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        got.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&got[..head_end]).to_ascii_lowercase();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while got.len() < head_end + length {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        got.extend_from_slice(&buf[..n]);
    }
    Ok(status)
}

/// GET `path` on a fresh connection; the status and how long connect + answer took.
pub async fn probe(addr: &str, path: &str) -> (Option<u16>, Duration) {
    let started = Instant::now();
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    let attempt = async {
        let mut s = TcpStream::connect(addr).await?;
        exchange(&mut s, request.as_bytes()).await
    };
    let status = tokio::time::timeout(Duration::from_secs(5), attempt).await;
    (status.ok().and_then(Result::ok), started.elapsed())
}

fn confirmation(token: &str) -> Vec<u8> {
    let body = format!("token={token}");
    format!(
        "POST /webhook/flow HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

pub fn storm() {
    let addr: String = env("STORM_ADDR");
    let tokens: Vec<String> = env::<String>("STORM_TOKENS")
        .split(',')
        .map(str::to_string)
        .collect();
    let (connections, per_connection): (usize, usize) =
        (env("STORM_CONNECTIONS"), env("STORM_REQUESTS"));
    let max = Duration::from_secs(env("STORM_MAX_SECS"));
    runtime().block_on(async move {
        // Open every connection first (in batches, so the accept queue never overflows).
        let mut open = Vec::with_capacity(connections);
        let (mut refused, mut connect_lat) = (0, Vec::with_capacity(connections));
        let begun = Instant::now();
        for batch in (0..connections).collect::<Vec<_>>().chunks(200) {
            let attempts = batch.iter().map(|_| async {
                let t = Instant::now();
                TcpStream::connect(&addr).await.map(|s| (s, t.elapsed()))
            });
            for r in futures::future::join_all(attempts).await {
                match r {
                    Ok((s, took)) => {
                        open.push(s);
                        connect_lat.push(took);
                    }
                    Err(_) => refused += 1,
                }
            }
        }
        let connected = begun.elapsed();
        println!(
            "storm: {} of {connections} connections open at once ({refused} failed) after {:.2} s; connect {}",
            open.len(),
            connected.as_secs_f64(),
            percentiles(connect_lat)
        );
        let requests: Arc<Vec<Vec<u8>>> = Arc::new(tokens.iter().map(String::as_str).map(confirmation).collect());
        let started = Instant::now();
        let workers = open.into_iter().enumerate().map(|(i, mut s)| {
            let requests = requests.clone();
            tokio::spawn(async move {
                let (mut lat, mut statuses, mut errors) = (Vec::new(), [0usize; 6], 0usize);
                for n in 0..per_connection {
                    if started.elapsed() > max {
                        break;
                    }
                    let t = Instant::now();
                    match exchange(&mut s, &requests[(i + n) % requests.len()]).await {
                        Ok(code) => {
                            lat.push(t.elapsed());
                            statuses[usize::from(code / 100).min(5)] += 1;
                        }
                        Err(_) => {
                            errors += 1;
                            break;
                        }
                    }
                }
                (lat, statuses, errors)
            })
        });
        let (mut lat, mut statuses, mut errors) = (Vec::new(), [0usize; 6], 0usize);
        for w in futures::future::join_all(workers).await {
            let (l, s, e) = w.unwrap();
            lat.extend(l);
            (0..6).for_each(|i| statuses[i] += s[i]);
            errors += e;
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "phases: {:.3} {:.3}",
            connected.as_secs_f64(),
            begun.elapsed().as_secs_f64()
        );
        println!(
            "storm: {} confirmations in {secs:.2} s = {:.0}/s; 2xx {}, 4xx {}, 5xx {}, broken connections {errors}; acknowledgement {}",
            lat.len(),
            lat.len() as f64 / secs,
            statuses[2],
            statuses[4],
            statuses[5],
            percentiles(lat)
        );
    });
}

pub fn slow() {
    let addrs: Vec<String> = env::<String>("SLOW_ADDRS")
        .split(',')
        .map(str::to_string)
        .collect();
    let per_addr: usize = env("SLOW_CONNECTIONS");
    let hold = Duration::from_secs(env("SLOW_HOLD_SECS"));
    runtime().block_on(async move {
        let mut held = Vec::new();
        let mut failed = 0;
        for addr in &addrs {
            let to: std::net::SocketAddr = addr.parse().unwrap();
            for _ in 0..per_addr {
                let socket = tokio::net::TcpSocket::new_v4().unwrap();
                if socket.bind("127.0.0.2:0".parse().unwrap()).is_err() {
                    failed += 1;
                    continue;
                }
                match socket.connect(to).await {
                    Ok(mut s) => {
                        let _ = s
                            .write_all(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                            .await;
                        held.push(s);
                    }
                    Err(_) => failed += 1,
                }
            }
        }
        println!(
            "slow: {} half-open connections from 127.0.0.2 ({failed} could not connect), held {} s",
            held.len(),
            hold.as_secs()
        );
        let began = Instant::now();
        let outcomes = held.into_iter().map(|mut s| async move {
            let mut buf = Vec::new();
            match tokio::time::timeout(hold, s.read_to_end(&mut buf)).await {
                Ok(_) if buf.starts_with(b"HTTP/1.1 503") => ("refused", began.elapsed()),
                Ok(_) => ("closed", began.elapsed()),
                Err(_) => ("open", hold),
            }
        });
        let results = futures::future::join_all(outcomes).await;
        let count = |what: &str| results.iter().filter(|(k, _)| *k == what).count();
        let closed: Vec<Duration> = results
            .iter()
            .filter(|(k, _)| *k == "closed")
            .map(|(_, t)| *t)
            .collect();
        println!(
            "slow: refused at once with 503: {}; closed by the server's header timeout: {} (after {}); still open at the end: {}",
            count("refused"),
            closed.len(),
            percentiles(closed),
            count("open")
        );
    });
}

pub fn sessions() {
    let url: String = env("MCP_URL");
    let n: usize = env("SESSIONS");
    let id: String = env("PAYMENT_ID");
    runtime().block_on(async move {
        let started = Instant::now();
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let one = |url: String, id: String, http: reqwest::Client| async move {
            let t0 = Instant::now();
            let config = StreamableHttpClientTransportConfig::with_uri(url);
            let transport = StreamableHttpClientTransport::with_client(http, config);
            let client = ().serve(transport).await.ok()?;
            let t1 = Instant::now();
            let tools = client.list_all_tools().await.ok()?;
            let t2 = Instant::now();
            let args = json!({"entityId": id}).as_object().unwrap().clone();
            let req = CallToolRequestParams::new("payment.getStatus").with_arguments(args);
            let r = client.call_tool(req).await.ok()?;
            let t3 = Instant::now();
            let _ = client.cancel().await;
            (tools.len() == 2 && r.is_error != Some(true)).then_some([
                t1 - t0,
                t2 - t1,
                t3 - t2,
                t3 - t0,
            ])
        };
        let all = (0..n).map(|_| tokio::spawn(one(url.clone(), id.clone(), http.clone())));
        let done: Vec<[Duration; 4]> = futures::future::join_all(all)
            .await
            .into_iter()
            .filter_map(|r| r.ok().flatten())
            .collect();
        println!(
            "sessions: {} of {n} concurrent sessions succeeded in {:.2} s",
            done.len(),
            started.elapsed().as_secs_f64()
        );
        for (i, phase) in ["initialize", "tools/list", "getStatus", "whole session"]
            .iter()
            .enumerate()
        {
            let lat = done.iter().map(|d| d[i]).collect();
            println!("sessions: {phase:<13} {}", percentiles(lat));
        }
    });
}
