//! Headless Chromium driven over the DevTools protocol (a WebSocket), for the tests that
//! need a real browser: `e2e_browser` (pay pages) and `payment_card` (the MCP Apps card in
//! a host page).
//!
//! Needs Chromium at `/usr/bin/chromium` (or `$CHROMIUM`). Under CI (`CI=true`), which
//! installs it, a missing browser FAILS the test. On a developer's fresh machine the test
//! says loudly that it did not run and how to install Chromium, so `cargo test` works
//! there before `apt-get install chromium`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_tungstenite::tungstenite::Message;

pub fn chromium_path() -> Option<PathBuf> {
    let path = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    if !path.exists() && !in_ci {
        eprintln!(
            "NOT RUN: the browser test needs Chromium at {}; install it with `apt-get install -y chromium` \
             (CI=true makes its absence a failure)",
            path.display()
        );
        return None;
    }
    assert!(
        path.exists(),
        "Chromium is required for this test but {} does not exist. Install it with \
         `apt-get update && apt-get install -y chromium` (CI does), or set CHROMIUM to its path.",
        path.display()
    );
    Some(path)
}

/// A DevTools-protocol connection to one page (flattened session over the browser socket).
pub struct Browser {
    child: tokio::process::Child,
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    next_id: u64,
    session: Option<String>,
    _profile: tempfile::TempDir,
}

/// Where an expression runs: the page, or the page's first child frame (an isolated world
/// of it: the frame's DOM, none of its scripts' variables; it works for a cross-origin or
/// sandboxed frame too, as long as the frame shares the page's process).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Page,
    Frame,
}

impl Browser {
    pub async fn launch() -> Browser {
        Browser::launch_with(&[]).await
    }

    /// Like [`Browser::launch`], with more command-line switches.
    pub async fn launch_with(extra_args: &[&str]) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let mut child = tokio::process::Command::new(
            chromium_path().expect("checked at the start of the test"),
        )
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--remote-debugging-port=0",
        ])
        .args(extra_args)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("about:blank")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("Chromium starts");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let ws_url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(url) = line.split("DevTools listening on ").nth(1) {
                    return url.trim().to_string();
                }
            }
            panic!("Chromium exited without a DevTools endpoint");
        })
        .await
        .expect("Chromium announces its DevTools endpoint within 30 s");
        // Keep draining stderr so Chromium never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let (ws, _) = tokio_tungstenite::connect_async(ws_url.as_str())
            .await
            .expect("DevTools WebSocket");
        let mut b = Browser {
            child,
            ws,
            next_id: 0,
            session: None,
            _profile: profile,
        };
        let target = b
            .send("Target.createTarget", json!({"url": "about:blank"}))
            .await
            .unwrap();
        let attached = b
            .send(
                "Target.attachToTarget",
                json!({"targetId": target["targetId"], "flatten": true}),
            )
            .await
            .unwrap();
        b.session = Some(attached["sessionId"].as_str().unwrap().to_string());
        b
    }

    /// Sends a command (to the page session once attached) and returns its result.
    pub async fn send(&mut self, method: &str, params: Value) -> Result<Value, String> {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = &self.session {
            msg["sessionId"] = json!(s);
        }
        self.ws
            .send(Message::text(msg.to_string()))
            .await
            .map_err(|e| e.to_string())?;
        let wait = async {
            while let Some(frame) = self.ws.next().await {
                let Ok(Message::Text(text)) = frame else {
                    continue;
                };
                let v: Value = serde_json::from_str(text.as_str()).map_err(|e| e.to_string())?;
                if v["id"] == json!(id) {
                    return match v.get("error") {
                        Some(e) => Err(e.to_string()),
                        None => Ok(v["result"].clone()),
                    };
                }
            }
            Err("the DevTools socket closed".to_string())
        };
        tokio::time::timeout(Duration::from_secs(15), wait)
            .await
            .map_err(|_| format!("{method} timed out"))?
    }

    /// Evaluates `expression` in the page; `None` while the page is between documents.
    pub async fn eval(&mut self, expression: &str) -> Option<Value> {
        self.eval_in(Scope::Page, expression).await
    }

    /// Evaluates `expression` in `scope`; `None` while there is no such document yet.
    pub async fn eval_in(&mut self, scope: Scope, expression: &str) -> Option<Value> {
        let mut params = json!({"expression": expression, "returnByValue": true});
        if scope == Scope::Frame {
            let tree = self.send("Page.getFrameTree", json!({})).await.ok()?;
            let frame = tree["frameTree"]["childFrames"][0]["frame"]["id"].clone();
            if !frame.is_string() {
                return None;
            }
            let world = self
                .send(
                    "Page.createIsolatedWorld",
                    json!({"frameId": frame, "worldName": "paylink-tests"}),
                )
                .await
                .ok()?;
            params["contextId"] = world["executionContextId"].clone();
        }
        let r = self.send("Runtime.evaluate", params).await.ok()?;
        if r.get("exceptionDetails").is_some() {
            return None;
        }
        Some(r["result"]["value"].clone())
    }

    /// Evaluates until `done` accepts the value, failing after `secs` seconds.
    pub async fn wait_until(
        &mut self,
        what: &str,
        expression: &str,
        secs: u64,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        self.wait_until_in(Scope::Page, what, expression, secs, done)
            .await
    }

    /// Like [`Browser::wait_until`], evaluating in `scope`.
    pub async fn wait_until_in(
        &mut self,
        scope: Scope,
        what: &str,
        expression: &str,
        secs: u64,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut last = Value::Null;
        loop {
            if let Some(v) = self.eval_in(scope, expression).await {
                if done(&v) {
                    return v;
                }
                last = v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; last saw {last}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn close(mut self) {
        self.session = None;
        let _ = self.send("Browser.close", json!({})).await;
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}
