//! The real binary's HTTP listeners as clients we did not write see them: a plain HTTP/1.1
//! keep-alive client speaking JSON-RPC by hand, and hostile clients (half-open connections,
//! trickled bodies, another organization's token, too many sessions).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rmcp::ServiceExt;
use rmcp::transport::StreamableHttpClientTransport;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};

use crate::support::*;

const ACME: &str = "acme-token-0123456789abcdef";
const GLOBEX: &str = "globex-token-0123456789abcdef";

/// One HTTP response as read off the wire.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: HashMap<String, String>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {:?}", self.body))
    }
}

/// A plain HTTP/1.1 client on one keep-alive connection: it writes requests by hand and
/// reads each response whole (by Content-Length, or chunked to its last chunk).
struct Plain {
    conn: BufReader<TcpStream>,
    host: String,
    path: String,
    token: Option<String>,
    session: Option<String>,
    next_id: u64,
}

impl Plain {
    async fn connect(url: &str, token: Option<&str>) -> Plain {
        let rest = url.strip_prefix("http://").unwrap();
        let (host, path) = rest.split_once('/').unwrap();
        let stream = TcpStream::connect(host).await.unwrap();
        stream.set_nodelay(true).unwrap();
        Plain {
            conn: BufReader::new(stream),
            host: host.to_string(),
            path: format!("/{path}"),
            token: token.map(str::to_string),
            session: None,
            next_id: 1,
        }
    }

    async fn send(&mut self, method: &str, body: Option<&str>) -> Reply {
        let mut head = format!(
            "{method} {} HTTP/1.1\r\nHost: {}\r\nAccept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2025-11-25\r\n",
            self.path, self.host
        );
        if let Some(t) = &self.token {
            head.push_str(&format!("Authorization: bearer {t}\r\n"));
        }
        if let Some(s) = &self.session {
            head.push_str(&format!("Mcp-Session-Id: {s}\r\n"));
        }
        let body = body.unwrap_or("");
        if method == "POST" {
            head.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        head.push_str("\r\n");
        head.push_str(body);
        self.conn
            .get_mut()
            .write_all(head.as_bytes())
            .await
            .unwrap();
        self.read_reply().await
    }

    async fn read_reply(&mut self) -> Reply {
        let mut line = String::new();
        self.conn.read_line(&mut line).await.unwrap();
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .unwrap_or_else(|| panic!("no status line: {line:?}"))
            .parse()
            .unwrap();
        let mut headers = HashMap::new();
        loop {
            line.clear();
            self.conn.read_line(&mut line).await.unwrap();
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (k, v) = l.split_once(':').unwrap();
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
        let mut body = Vec::new();
        if let Some(len) = headers.get("content-length") {
            body.resize(len.parse().unwrap(), 0);
            self.conn.read_exact(&mut body).await.unwrap();
        } else if headers.get("transfer-encoding").map(String::as_str) == Some("chunked") {
            loop {
                line.clear();
                self.conn.read_line(&mut line).await.unwrap();
                let size = usize::from_str_radix(line.trim(), 16).unwrap();
                let mut chunk = vec![0; size + 2];
                self.conn.read_exact(&mut chunk).await.unwrap();
                body.extend_from_slice(&chunk[..size]);
                if size == 0 {
                    break;
                }
            }
        }
        Reply {
            status,
            headers,
            body: String::from_utf8(body).unwrap(),
        }
    }

    async fn rpc(&mut self, method: &str, params: Value) -> Reply {
        let id = self.next_id;
        self.next_id += 1;
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.send("POST", Some(&body.to_string())).await
    }

    /// initialize + notifications/initialized; keeps the session id.
    async fn initialize(&mut self) -> Reply {
        let r = self
            .rpc(
                "initialize",
                json!({"protocolVersion": "2025-11-25", "capabilities": {},
                       "clientInfo": {"name": "plain-http", "version": "1"}}),
            )
            .await;
        if r.status == 200 {
            self.session = r.header("mcp-session-id").map(str::to_string);
            let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
            let ack = self.send("POST", Some(&note.to_string())).await;
            assert_eq!(ack.status, 202, "{ack:?}");
        }
        r
    }
}

/// A JSON-RPC reply that is one complete `application/json` body, not an event stream.
fn assert_plain_json(r: &Reply) {
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("content-type"), Some("application/json"), "{r:?}");
    assert!(
        r.header("content-length").is_some(),
        "a complete body with its length, not a chunked stream: {r:?}"
    );
}

#[tokio::test]
async fn a_plain_keep_alive_client_gets_one_complete_json_reply_per_call() {
    let w = World::new().await;
    let (_child, url) = w.http(&[], &[]).await;
    let mut c = Plain::connect(&url, None).await;
    let init = c.initialize().await;
    assert_plain_json(&init);
    assert!(c.session.is_some(), "initialize opens a session");
    assert_eq!(init.json()["result"]["serverInfo"]["name"], "paylink");

    let created = c
        .rpc(
            "tools/call",
            json!({"name": "payment.create", "arguments": {"amount": 5000, "description": "Clase", "customerEmail": "ana@gmail.com"}}),
        )
        .await;
    assert_plain_json(&created);
    let id = created.json()["result"]["structuredContent"]["paymentId"]
        .as_str()
        .unwrap()
        .to_string();
    // The same connection carries call after call, each answered whole.
    for _ in 0..20 {
        let r = c
            .rpc(
                "tools/call",
                json!({"name": "payment.getStatus", "arguments": {"entityId": id}}),
            )
            .await;
        assert_plain_json(&r);
        assert_eq!(r.json()["result"]["structuredContent"]["status"], "pending");
        assert_plain_json(&c.rpc("ping", json!({})).await);
    }
    // A tool error is a plain JSON reply too.
    let missing = c
        .rpc(
            "tools/call",
            json!({"name": "payment.getStatus", "arguments": {"entityId": "ent_nope"}}),
        )
        .await;
    assert_plain_json(&missing);
    assert_eq!(missing.json()["result"]["isError"], true);

    let closed = c.send("DELETE", None).await;
    assert!(
        closed.status == 200 || closed.status == 204,
        "ending a session answers 200 or 204: {closed:?}"
    );
    assert_eq!(
        c.rpc("ping", json!({})).await.status,
        404,
        "the session is gone"
    );
}

#[tokio::test]
async fn a_session_answers_only_to_the_organization_that_opened_it() {
    let w = World::new().await;
    let tokens = format!("{ACME}=acme,{GLOBEX}=globex");
    let (_child, url) = w.http(&[("PAYLINK_HTTP_TOKENS", &tokens)], &[]).await;
    // `bearer` in lower case is the same scheme (RFC 9110).
    let mut acme = Plain::connect(&url, Some(ACME)).await;
    assert_plain_json(&acme.initialize().await);
    let stolen = acme.session.clone().unwrap();

    let mut globex = Plain::connect(&url, Some(GLOBEX)).await;
    globex.session = Some(stolen.clone());
    assert_eq!(globex.rpc("ping", json!({})).await.status, 404);
    let sub = globex
        .rpc("resources/unsubscribe", json!({"uri": "payment://x"}))
        .await;
    assert_eq!(sub.status, 404, "{sub:?}");
    assert_eq!(globex.send("GET", None).await.status, 404, "no stream");
    assert_eq!(globex.send("DELETE", None).await.status, 404, "no kill");

    // acme's session is untouched.
    assert_plain_json(&acme.rpc("ping", json!({})).await);
}

#[tokio::test]
async fn sessions_per_organization_are_capped() {
    let w = World::new().await;
    let (_child, url) = w
        .http(&[("PAYLINK_HTTP_MAX_SESSIONS_PER_ORG", "2")], &[])
        .await;
    let mut first = Plain::connect(&url, None).await;
    assert_plain_json(&first.initialize().await);
    let mut second = Plain::connect(&url, None).await;
    assert_plain_json(&second.initialize().await);
    let mut third = Plain::connect(&url, None).await;
    let refused = third.initialize().await;
    assert_eq!(refused.status, 429, "{refused:?}");
    assert!(refused.body.contains("open MCP sessions"), "{refused:?}");
    // Open sessions keep working; ending one makes room.
    assert_plain_json(&first.rpc("ping", json!({})).await);
    assert_eq!(first.send("DELETE", None).await.status, 204);
    assert_plain_json(&third.initialize().await);
}

/// Opens `n` connections from `from` that send part of a request head and stall.
async fn half_open(from: &str, to: &str, n: usize) -> Vec<TcpStream> {
    let to: std::net::SocketAddr = to.parse().unwrap();
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
        let Ok(mut s) = socket.connect(to).await else {
            continue;
        };
        let _ = s
            .write_all(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            .await;
        held.push(s);
    }
    held
}

/// Reads until the server closes (or resets) `s`; what it said, or `None` if it is still
/// open after `limit`.
async fn read_until_closed(s: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(limit, s.read_to_end(&mut buf))
        .await
        .ok()?;
    Some(String::from_utf8_lossy(&buf).into_owned())
}

#[tokio::test]
async fn half_open_connections_cannot_take_the_server_down() {
    let w = World::new().await;
    let (_child, url, side) = w
        .http_with_listener(
            &[
                ("PAYLINK_HEADER_TIMEOUT_SECS", "2"),
                ("PAYLINK_BODY_TIMEOUT_SECS", "2"),
                ("PAYLINK_MAX_CONNECTIONS_PER_IP", "200"),
            ],
            &[],
        )
        .await;
    let mcp_addr = url
        .trim_start_matches("http://")
        .trim_end_matches("/mcp")
        .to_string();
    let side_addr = side.trim_start_matches("http://").to_string();

    // An attacker on another address holds 1,500 half-sent requests on each listener.
    let mut attack = half_open("127.0.0.2", &side_addr, 1500).await;
    attack.extend(half_open("127.0.0.2", &mcp_addr, 1500).await);
    assert!(attack.len() > 2000, "the attack opened its connections");

    // Everyone else is still served: health, a Flow confirmation, an MCP call.
    let http = reqwest::Client::new();
    let health = http.get(format!("{side}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let confirm = http
        .post(format!("{side}/webhook/flow"))
        .form(&[("token", "UNKNOWNTOKEN123")])
        .send()
        .await
        .unwrap();
    assert_eq!(confirm.status(), 200);
    let client = ().serve(StreamableHttpClientTransport::from_uri(url.clone())).await.unwrap();
    assert_eq!(client.list_all_tools().await.unwrap().len(), 4);
    client.cancel().await.unwrap();

    // Past its per-address cap the attacker was answered 503 (or at least cut off) at once...
    let (mut refused, mut cut) = (0, 0);
    for s in attack.iter_mut().rev().take(50) {
        match read_until_closed(s, Duration::from_secs(1)).await {
            Some(text) if text.starts_with("HTTP/1.1 503") => refused += 1,
            Some(_) => cut += 1,
            None => {}
        }
    }
    assert!(
        refused > 0 && refused + cut == 50,
        "connections over the cap are refused at once: {refused} answered 503, {cut} cut off, of 50"
    );
    // ...and what it holds is closed once the header timeout passes.
    let started = Instant::now();
    let first = &mut attack[0];
    assert!(
        read_until_closed(first, Duration::from_secs(10))
            .await
            .is_some(),
        "a half-sent request head is dropped"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_trickled_body_is_cut_off() {
    let w = World::new().await;
    let (_child, _url, side) = w
        .http_with_listener(&[("PAYLINK_BODY_TIMEOUT_SECS", "1")], &[])
        .await;
    let mut s = TcpStream::connect(side.trim_start_matches("http://"))
        .await
        .unwrap();
    s.write_all(
        b"POST /webhook/flow HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ntoken=",
    )
    .await
    .unwrap();
    let answer = read_until_closed(&mut s, Duration::from_secs(10))
        .await
        .expect("the server answers and closes");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

#[tokio::test]
async fn a_repeated_argument_key_is_refused_over_http_and_stdio() {
    const CALL: &str = r#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"payment.create","arguments":{"amount":5000,"description":"Clase","customerEmail":"ana@gmail.com","amount":777777}}}"#;
    let check = |reply: &Value| {
        let result = &reply["result"];
        assert_eq!(result["isError"], true, "{reply}");
        let e = &result["structuredContent"]["error"];
        assert_eq!(e["code"], "invalid_arguments", "{e}");
        assert!(e["message"].as_str().unwrap().contains("amount"), "{e}");
    };

    let w = World::new().await;
    let (_child, url) = w.http(&[], &[]).await;
    let mut c = Plain::connect(&url, None).await;
    c.initialize().await;
    let r = c.send("POST", Some(CALL)).await;
    assert_plain_json(&r);
    check(&r.json());

    // stdio: the same bytes on the pipe (a ledger of its own: one process per ledger).
    let w2 = World::new().await;
    let mut child = tokio::process::Command::new(BIN)
        .arg("serve")
        .envs(w2.env())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"plain-stdio","version":"1"}}});
    let note = json!({"jsonrpc":"2.0","method":"notifications/initialized"});
    let lines = format!("{init}\n{note}\n{CALL}\n");
    stdin.write_all(lines.as_bytes()).await.unwrap();
    let mut answers = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), async {
        while answers.len() < 2 {
            let mut line = String::new();
            if stdout.read_line(&mut line).await.unwrap() == 0 {
                break;
            }
            answers.push(serde_json::from_str::<Value>(&line).unwrap());
        }
    })
    .await
    .expect("two answers over stdio");
    check(&answers[1]);
    for world in [&w, &w2] {
        assert_eq!(
            world.sandbox.sandbox.requests().len(),
            0,
            "Flow saw no create"
        );
    }
}

#[tokio::test]
async fn idle_sessions_close_but_one_holding_a_stream_stays() {
    let w = World::new().await;
    let (_child, url) = w
        .http(&[("PAYLINK_HTTP_SESSION_IDLE_SECS", "1")], &[])
        .await;
    let mut idle = Plain::connect(&url, None).await;
    assert_plain_json(&idle.initialize().await);
    let mut listening = Plain::connect(&url, None).await;
    assert_plain_json(&listening.initialize().await);

    // The listening client holds its GET stream open on a connection of its own.
    let rest = url.strip_prefix("http://").unwrap();
    let (host, _) = rest.split_once('/').unwrap();
    let mut stream = TcpStream::connect(host).await.unwrap();
    let get = format!(
        "GET /mcp HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\nMCP-Protocol-Version: 2025-11-25\r\nMcp-Session-Id: {}\r\n\r\n",
        listening.session.as_deref().unwrap()
    );
    stream.write_all(get.as_bytes()).await.unwrap();
    let mut head = BufReader::new(&mut stream);
    let mut status = String::new();
    head.read_line(&mut status).await.unwrap();
    assert!(status.contains(" 200 "), "{status}");

    // A probe is itself a request that keeps the session in use, so look only every 2 s
    // (twice the idle limit), until a deadline.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let mut probe = Plain::connect(&url, None).await;
        probe.session = idle.session.clone();
        if probe.rpc("ping", json!({})).await.status == 404 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the idle session was never closed"
        );
    }
    assert_plain_json(&listening.rpc("ping", json!({})).await);
    drop(idle);
}

#[tokio::test]
async fn allowed_hosts_and_origins_are_settings() {
    let w = World::new().await;
    let (_child, url) = w
        .http(
            &[
                ("PAYLINK_HTTP_ALLOWED_HOSTS", "pay.example.com"),
                ("PAYLINK_HTTP_ALLOWED_ORIGINS", "https://app.example.com"),
            ],
            &[],
        )
        .await;
    let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"proxy","version":"1"}}}).to_string();
    let post = |host: &'static str, origin: Option<&'static str>| {
        let (url, init) = (url.clone(), init.clone());
        async move {
            let mut r = reqwest::Client::new()
                .post(&url)
                .header("Host", host)
                .header("Content-Type", "application/json")
                .header("Accept", "application/json, text/event-stream");
            if let Some(o) = origin {
                r = r.header("Origin", o);
            }
            r.body(init).send().await.unwrap().status().as_u16()
        }
    };
    // Behind a reverse proxy the public name is accepted; others still are not.
    assert_eq!(post("pay.example.com", None).await, 200);
    assert_eq!(post("evil.example", None).await, 403);
    // A browser's Origin must be the configured one.
    assert_eq!(
        post("pay.example.com", Some("https://app.example.com")).await,
        200
    );
    assert_eq!(
        post("pay.example.com", Some("https://evil.example")).await,
        403
    );
}
