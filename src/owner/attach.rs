//! A `paylink serve` (stdio) that found the ledger held by another: it bridges its client's
//! MCP session to the owner's socket, and takes over as owner when the owner exits,
//! without dropping its client.
//!
//! The bridge copies newline-delimited JSON-RPC messages both ways, byte for byte, and
//! remembers what a new server needs to resume the session ([`Session`]): the client's
//! `initialize` request, its `notifications/initialized`, its live `resources/subscribe`
//! requests, and the requests still waiting for an answer.
//!
//! When the owner's connection ends, this process opens the ledger itself
//! ([`Application::build`] with the same settings: it binds the side listener, runs the
//! reconciler and listens on the socket, as the owner did), retrying for
//! [`TAKEOVER_WINDOW`] while the dead owner's lock is released, or attaches to whichever
//! process won that race. It then replays the remembered messages to the new server,
//! swallowing their answers, and bridges on. Requests that were in flight get a JSON-RPC
//! error saying to repeat them: the dead owner may or may not have run them, and the
//! tools are idempotent (a `payment.create` repeated with the same `idempotencyKey`
//! returns the same payment, never a second one).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use paylink_tools::NameStyle;
use rmcp::ServiceExt;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, Lines};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{Protocol, connect, is_locked, socket_path};
use crate::app::Application;
use crate::config::Settings;
use crate::mcp::PaylinkServer;

/// How long a takeover (or a first attach) keeps trying to open the ledger or reach its
/// new owner before giving up.
pub const TAKEOVER_WINDOW: Duration = Duration::from_secs(15);

/// The JSON-RPC error code of a request the dead owner may not have answered.
pub const RESTARTED: i64 = -32001;

/// The id prefix of replayed requests, whose answers the client never sees.
const REPLAY: &str = "paylink-replay-";

/// Runs this process's stdio session through the owner; `locked` is the error that
/// opening the ledger gave, returned if no owner answers within [`TAKEOVER_WINDOW`].
pub async fn run(
    settings: Settings,
    style: NameStyle,
    shutdown: CancellationToken,
    locked: anyhow::Error,
) -> anyhow::Result<()> {
    let mut up = acquire(&settings, style, &shutdown, Some(locked)).await?;
    if up.owned.is_none() {
        eprintln!(
            "paylink: another paylink serve holds the ledger; this session runs through it ({})",
            socket_path(&settings.data_dir).display()
        );
    }
    let mut session = Session::default();
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let mut stdout = tokio::io::stdout();
    loop {
        tokio::select! {
            line = stdin.next_line() => {
                let Ok(Some(line)) = line else { break };
                session.from_client(&line);
                if up.send(&line).await.is_err() {
                    // The owner was gone before this line reached it (its end of the socket
                    // was closed): sent again, not failed, once the session has resumed.
                    let resend = session.unsent(&line);
                    up = takeover(&settings, style, &shutdown, &mut session, &mut stdout, up).await?;
                    if resend {
                        session.from_client(&line);
                        up.send(&line).await.context("the new owner of the ledger closed the session")?;
                    }
                }
            }
            line = up.read.next_line() => match line {
                Ok(Some(line)) => {
                    if session.from_server(&line) {
                        stdout.write_all(line.as_bytes()).await?;
                        stdout.write_all(b"\n").await?;
                        stdout.flush().await?;
                    }
                }
                _ if up.owned.is_some() => break,
                _ => up = takeover(&settings, style, &shutdown, &mut session, &mut stdout, up).await?,
            },
            _ = shutdown.cancelled() => break,
        }
    }
    shutdown.cancel();
    if let Some(owned) = up.owned {
        crate::app::drain(owned.tasks).await;
        drop(owned.app);
    }
    Ok(())
}

/// Where this process's session goes: the owner's socket, or its own in-process server.
struct Upstream {
    read: Lines<BufReader<Box<dyn AsyncRead + Send + Unpin>>>,
    write: Box<dyn AsyncWrite + Send + Unpin>,
    owned: Option<Owned>,
}

/// What this process runs once it owns the ledger.
struct Owned {
    /// Kept alive: it holds the built-in sandbox, when one serves.
    app: Application,
    tasks: JoinSet<anyhow::Result<()>>,
}

impl Upstream {
    async fn send(&mut self, line: &str) -> std::io::Result<()> {
        self.write.write_all(line.as_bytes()).await?;
        self.write.write_all(b"\n").await?;
        self.write.flush().await
    }
}

/// The owner's connection ended: answer what was in flight, find or become the new owner,
/// and replay the session to it.
async fn takeover(
    settings: &Settings,
    style: NameStyle,
    shutdown: &CancellationToken,
    session: &mut Session,
    stdout: &mut tokio::io::Stdout,
    old: Upstream,
) -> anyhow::Result<Upstream> {
    drop(old);
    tracing::warn!("the paylink serve that held the ledger has gone; taking over");
    let (failed, resend) = session.settle_in_flight();
    for line in failed {
        stdout.write_all(line.as_bytes()).await?;
        stdout.write_all(b"\n").await?;
    }
    stdout.flush().await?;
    let mut up = acquire(settings, style, shutdown, None).await?;
    for line in session.replay().into_iter().chain(resend) {
        up.send(&line)
            .await
            .context("the new owner of the ledger closed the session while it was resumed")?;
    }
    Ok(up)
}

/// Attaches to the owner, or opens the ledger and becomes it; retries while the ledger is
/// locked and nobody answers on the socket (an owner starting or dying), for
/// [`TAKEOVER_WINDOW`].
async fn acquire(
    settings: &Settings,
    style: NameStyle,
    shutdown: &CancellationToken,
    locked: Option<anyhow::Error>,
) -> anyhow::Result<Upstream> {
    let deadline = Instant::now() + TAKEOVER_WINDOW;
    // The caller has just found the ledger locked: try the socket first.
    let mut open = locked.is_none();
    let mut last = locked;
    loop {
        if let Ok(stream) = connect(&settings.data_dir, Protocol::Mcp).await {
            let (read, write) = stream.into_split();
            return Ok(Upstream {
                read: BufReader::new(Box::new(read) as Box<dyn AsyncRead + Send + Unpin>).lines(),
                write: Box::new(write),
                owned: None,
            });
        }
        if open {
            match Application::build(settings.clone(), style, shutdown.clone()).await {
                Ok(app) => return Ok(become_owner(app)),
                Err(e) if is_locked(&e) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        open = true;
        if Instant::now() >= deadline {
            let e = last.unwrap_or_else(|| anyhow::anyhow!("the ledger stayed locked"));
            return Err(e.context(format!(
                "no paylink serve answered on {} within {} s",
                socket_path(&settings.data_dir).display(),
                TAKEOVER_WINDOW.as_secs()
            )));
        }
        if shutdown.is_cancelled() {
            anyhow::bail!("stopped while waiting for the ledger");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Starts what an owner runs (side listener, reconciler, the socket) and an MCP server on
/// an in-memory pipe, which becomes this session's upstream.
fn become_owner(mut app: Application) -> Upstream {
    let mut tasks = JoinSet::new();
    app.spawn_background(&mut tasks);
    app.announce();
    eprintln!(
        "paylink: this process now holds the ledger; side listener at http://{}",
        app.listener_addr
    );
    let (ours, theirs) = tokio::io::duplex(1 << 20);
    let (mcp, token) = (app.mcp.clone(), app.shutdown_token());
    tasks.spawn(async move {
        let (read, write) = tokio::io::split(theirs);
        let running = PaylinkServer::new(mcp)
            .serve((crate::mcp::duplicates::MarkDuplicates::new(read), write))
            .await
            .context("MCP handshake after the takeover failed")?;
        let cancel = running.cancellation_token();
        tokio::select! {
            r = running.waiting() => { r.context("the MCP session failed")?; }
            _ = token.cancelled() => cancel.cancel(),
        }
        Ok(())
    });
    let (read, write) = tokio::io::split(ours);
    Upstream {
        read: BufReader::new(Box::new(read) as Box<dyn AsyncRead + Send + Unpin>).lines(),
        write: Box::new(write),
        owned: Some(Owned { app, tasks }),
    }
}

/// What a new server needs to resume a client's session, learnt from the messages going
/// by.
#[derive(Debug, Default)]
pub struct Session {
    initialize: Option<Value>,
    initialize_answered: bool,
    initialized: Option<String>,
    /// Live subscriptions: (uri, the subscribe request).
    subscriptions: Vec<(String, Value)>,
    /// Requests not answered yet: id (as JSON text) to (id, method, the request line).
    in_flight: HashMap<String, (Value, String, String)>,
}

fn key(id: &Value) -> String {
    id.to_string()
}

impl Session {
    /// Notes a message from the client.
    pub fn from_client(&mut self, line: &str) {
        let Ok(msg) = serde_json::from_str::<Value>(line) else {
            return;
        };
        let method = msg.get("method").and_then(Value::as_str);
        let uri = || {
            msg.pointer("/params/uri")
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        match (method, msg.get("id")) {
            (Some(method), Some(id)) => {
                match method {
                    "initialize" => {
                        self.initialize = Some(msg.clone());
                        self.initialize_answered = false;
                    }
                    "resources/subscribe" => {
                        if let Some(uri) = uri() {
                            self.subscriptions.retain(|(u, _)| *u != uri);
                            self.subscriptions.push((uri, msg.clone()));
                        }
                    }
                    "resources/unsubscribe" => {
                        if let Some(uri) = uri() {
                            self.subscriptions.retain(|(u, _)| *u != uri);
                        }
                    }
                    _ => {}
                }
                self.in_flight
                    .insert(key(id), (id.clone(), method.to_owned(), line.to_owned()));
            }
            (Some("notifications/initialized"), None) => self.initialized = Some(line.to_owned()),
            (Some("notifications/cancelled"), None) => {
                if let Some(id) = msg.pointer("/params/requestId") {
                    self.in_flight.remove(&key(id));
                }
            }
            _ => {}
        }
    }

    /// Notes that `line` never reached the old server (its end of the socket was closed);
    /// whether it must be sent to the new one after the replay (not when the replay
    /// carries it already: the handshake and subscriptions).
    pub fn unsent(&mut self, line: &str) -> bool {
        let Ok(msg) = serde_json::from_str::<Value>(line) else {
            return true;
        };
        let method = msg
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if matches!(
            method,
            "initialize" | "resources/subscribe" | "notifications/initialized"
        ) {
            return false;
        }
        if let Some(id) = msg.get("id") {
            self.in_flight.remove(&key(id));
        }
        true
    }

    /// Notes a message from the server; whether the client should see it.
    pub fn from_server(&mut self, line: &str) -> bool {
        let Ok(msg) = serde_json::from_str::<Value>(line) else {
            return true;
        };
        if msg.get("method").is_some() {
            return true;
        }
        let Some(id) = msg.get("id") else {
            return true;
        };
        if id.as_str().is_some_and(|s| s.starts_with(REPLAY)) {
            return false;
        }
        if let Some((_, method, _)) = self.in_flight.remove(&key(id))
            && method == "initialize"
        {
            self.initialize_answered = true;
        }
        true
    }

    /// What becomes of the requests the old server did not answer: the replay sends an
    /// unanswered `initialize` or subscribe again under its own id; a request that is safe
    /// to run twice ([`safe_to_resend`]) is returned in `resend`, to go to the new server
    /// after the replay, so the client gets its answer as if nothing happened; any other
    /// gets an error line saying to repeat it.
    pub fn settle_in_flight(&mut self) -> (Vec<String>, Vec<String>) {
        let replayed = |m: &str| m == "initialize" || m == "resources/subscribe";
        let mut lines = Vec::new();
        let mut resend = Vec::new();
        self.in_flight.retain(|_, (id, method, request)| {
            if replayed(method) {
                return true;
            }
            if safe_to_resend(request) {
                resend.push(request.clone());
                return true;
            }
            lines.push(
                json!({
                    "jsonrpc": "2.0",
                    "id": id,
                    "error": {
                        "code": RESTARTED,
                        "message": format!(
                            "paylink's server restarted while this {method} request was in \
                             flight, so it may or may not have run; repeat it (a payment.create \
                             repeated with the same idempotencyKey returns the same payment, \
                             never a second one)"
                        ),
                    }
                })
                .to_string(),
            );
            false
        });
        (lines, resend)
    }

    /// [`Session::settle_in_flight`]'s error lines alone (the resends are dropped).
    #[cfg(test)]
    pub fn fail_in_flight(&mut self) -> Vec<String> {
        self.settle_in_flight().0
    }

    /// The messages that resume the session on a new server, in order. Requests the old
    /// server had answered go under replay ids (their answers are swallowed); those it had
    /// not keep their ids, so the client gets its answer.
    pub fn replay(&self) -> Vec<String> {
        let mut lines = Vec::new();
        let Some(init) = &self.initialize else {
            return lines;
        };
        let mut n = 0;
        let mut with_id = |msg: &Value| {
            let mut msg = msg.clone();
            let answered = msg
                .get("id")
                .is_none_or(|id| !self.in_flight.contains_key(&key(id)));
            if answered {
                msg["id"] = json!(format!("{REPLAY}{n}"));
                n += 1;
            }
            msg.to_string()
        };
        lines.push(with_id(init));
        if let Some(initialized) = &self.initialized {
            lines.push(initialized.clone());
        }
        for (_, sub) in &self.subscriptions {
            lines.push(with_id(sub));
        }
        lines
    }
}

/// Whether running `request` a second time cannot do anything the first did not: reads
/// (lists, resource reads, `ping`, `payment.getStatus`, `payment.list`) and a
/// `payment.create` that carries an `idempotencyKey` (the ledger returns the payment the
/// first made, if it made one). A create without a key could make a second payment: never.
pub fn safe_to_resend(request: &str) -> bool {
    let Ok(msg) = serde_json::from_str::<Value>(request) else {
        return false;
    };
    match msg
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or_default()
    {
        "ping"
        | "tools/list"
        | "resources/list"
        | "resources/read"
        | "resources/templates/list"
        | "prompts/list"
        | "prompts/get"
        | "completion/complete" => true,
        "tools/call" => {
            let name = msg
                .pointer("/params/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            match name {
                "payment.getStatus" | "payment_get_status" | "payment.list" | "payment_list" => {
                    true
                }
                "payment.create" | "payment_create" => msg
                    .pointer("/params/arguments/idempotencyKey")
                    .and_then(Value::as_str)
                    .is_some_and(|k| !k.trim().is_empty()),
                _ => false,
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_keyed_creates_in_flight_are_sent_again_and_the_rest_fail() {
        let mut s = Session::default();
        s.from_client(r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{}}"#);
        s.from_server(r#"{"jsonrpc":"2.0","id":0,"result":{}}"#);
        let status = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"payment.getStatus","arguments":{"entityId":"ent_1"}}}"#;
        let keyed = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"payment_create","arguments":{"amount":5000,"idempotencyKey":"k1"}}}"#;
        let unkeyed = r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"payment.create","arguments":{"amount":5000}}}"#;
        let list = r#"{"jsonrpc":"2.0","id":4,"method":"tools/list"}"#;
        for l in [status, keyed, unkeyed, list] {
            s.from_client(l);
        }
        let (failed, mut resend) = s.settle_in_flight();
        resend.sort();
        let mut want = vec![status.to_string(), keyed.to_string(), list.to_string()];
        want.sort();
        assert_eq!(resend, want);
        assert_eq!(failed.len(), 1);
        let e: Value = serde_json::from_str(&failed[0]).unwrap();
        assert_eq!(
            e["id"], 3,
            "a create without a key could make a second payment"
        );
        // The new server's answers reach the client under the original ids.
        assert!(s.from_server(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#));
        assert!(!safe_to_resend(
            r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"payment.create","arguments":{"idempotencyKey":"  "}}}"#
        ));
        assert!(!safe_to_resend("not json"));
    }

    #[test]
    fn a_resumed_session_replays_the_handshake_and_live_subscriptions_and_fails_the_rest() {
        let mut s = Session::default();
        s.from_client(r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{}}"#);
        assert!(s.from_server(r#"{"jsonrpc":"2.0","id":0,"result":{}}"#));
        s.from_client(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        s.from_client(
            r#"{"jsonrpc":"2.0","id":1,"method":"resources/subscribe","params":{"uri":"a"}}"#,
        );
        s.from_client(
            r#"{"jsonrpc":"2.0","id":2,"method":"resources/subscribe","params":{"uri":"b"}}"#,
        );
        s.from_server(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#);
        s.from_server(r#"{"jsonrpc":"2.0","id":2,"result":{}}"#);
        s.from_client(
            r#"{"jsonrpc":"2.0","id":3,"method":"resources/unsubscribe","params":{"uri":"b"}}"#,
        );
        s.from_server(r#"{"jsonrpc":"2.0","id":3,"result":{}}"#);
        s.from_client(r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{}}"#);

        let failed = s.fail_in_flight();
        assert_eq!(failed.len(), 1);
        let e: Value = serde_json::from_str(&failed[0]).unwrap();
        assert_eq!(e["id"], 4);
        assert_eq!(e["error"]["code"], RESTARTED);
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .contains("idempotencyKey")
        );

        let replay: Vec<Value> = s
            .replay()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let methods: Vec<&str> = replay
            .iter()
            .map(|m| m["method"].as_str().unwrap())
            .collect();
        assert_eq!(
            methods,
            [
                "initialize",
                "notifications/initialized",
                "resources/subscribe"
            ]
        );
        assert_eq!(replay[2]["params"]["uri"], "a");
        // Their answers never reach the client.
        for m in [&replay[0], &replay[2]] {
            let answer = json!({"jsonrpc":"2.0","id":m["id"],"result":{}}).to_string();
            assert!(!s.from_server(&answer));
        }
    }

    #[test]
    fn an_initialize_still_unanswered_is_replayed_under_its_own_id() {
        let mut s = Session::default();
        s.from_client(r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{}}"#);
        assert!(s.fail_in_flight().is_empty());
        let replay = s.replay();
        assert_eq!(replay.len(), 1);
        let m: Value = serde_json::from_str(&replay[0]).unwrap();
        assert_eq!(m["id"], 0);
        assert!(s.from_server(r#"{"jsonrpc":"2.0","id":0,"result":{}}"#));
    }
}
