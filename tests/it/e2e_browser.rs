//! The whole cycle with a real browser: the real binary serves MCP over stdio against an
//! offline sandbox; an MCP client creates a payment and subscribes to it; headless
//! Chromium, driven over the DevTools protocol, opens the link, clicks Pay and lands on
//! paylink's return page, which must say "paid"; the client hears `resources/updated`.
//!
//! Needs Chromium at `/usr/bin/chromium` (or `$CHROMIUM`). Under CI (`CI=true`), which
//! installs it, a missing browser FAILS the test. On a developer's fresh machine the test
//! says loudly that it did not run and how to install Chromium, so `cargo test` works
//! there before `apt-get install chromium`.
#![allow(deprecated)] // resources/subscribe is the 2025-11-25 wire rmcp still speaks.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use rmcp::model::SubscribeRequestParams;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_tungstenite::tungstenite::Message;

use crate::support::{World, call, free_port, hears_update, structured};

fn chromium_path() -> Option<PathBuf> {
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
struct Browser {
    child: tokio::process::Child,
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    next_id: u64,
    session: Option<String>,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn launch() -> Browser {
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
    async fn send(&mut self, method: &str, params: Value) -> Result<Value, String> {
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
    async fn eval(&mut self, expression: &str) -> Option<Value> {
        let r = self
            .send(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true}),
            )
            .await
            .ok()?;
        if r.get("exceptionDetails").is_some() {
            return None;
        }
        Some(r["result"]["value"].clone())
    }

    /// Evaluates until `done` accepts the value, failing after `secs` seconds.
    async fn wait_until(
        &mut self,
        what: &str,
        expression: &str,
        secs: u64,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut last = Value::Null;
        loop {
            if let Some(v) = self.eval(expression).await {
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

    async fn close(mut self) {
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

#[tokio::test]
async fn a_payment_link_paid_in_a_real_browser_lands_on_the_return_page_as_paid() {
    if chromium_path().is_none() {
        return;
    }
    let w = World::new().await;
    // A fixed port, so the return page's address is known in advance.
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let (client, mut updates) = w
        .stdio_with(&[], &[("PAYLINK_LISTEN", &listen)], Stdio::inherit())
        .await;

    let args = json!({"amount": 5000, "description": "Clase de matemáticas", "customerEmail": "ana@gmail.com"});
    let created = structured(&call(&client, "payment.create", args).await);
    let link = created["paymentLinkUrl"].as_str().unwrap().to_string();
    let id = created["paymentId"].as_str().unwrap().to_string();
    let uri = created["resourceUri"].as_str().unwrap().to_string();
    client
        .subscribe(SubscribeRequestParams::new(uri.clone()))
        .await
        .unwrap();

    let mut browser = Browser::launch().await;
    browser
        .send("Page.navigate", json!({"url": link}))
        .await
        .unwrap();
    browser
        .wait_until(
            "the pay page",
            "document.getElementById('pay') !== null",
            20,
            |v| v == &json!(true),
        )
        .await;
    browser
        .eval("document.getElementById('pay').click(); true")
        .await
        .expect("click Pay");
    let landed = browser
        .wait_until(
            "the return page to say paid",
            "JSON.stringify({href: location.href, status: (document.getElementById('status') || {}).textContent || null, title: document.title})",
            30,
            |v| v.as_str().is_some_and(|s| s.contains("\"status\":\"paid\"")),
        )
        .await;
    let landed: Value = serde_json::from_str(landed.as_str().unwrap()).unwrap();
    assert!(
        landed["href"]
            .as_str()
            .unwrap()
            .starts_with(&format!("http://127.0.0.1:{port}/payment/return")),
        "{landed}"
    );
    assert_eq!(landed["title"], "Payment received");
    browser.close().await;

    let status = structured(&call(&client, "payment.getStatus", json!({"entityId": id})).await);
    assert_eq!(status["status"], "paid", "{status}");
    hears_update(&mut updates, &uri).await;
    let confirmation = w.sandbox.sandbox.confirmations();
    assert_eq!(confirmation.len(), 1);
    assert_eq!(confirmation[0].http_status, Some(200), "{confirmation:?}");
    client.cancel().await.unwrap();
}

/// Opens a Stripe Checkout link of the sandbox in Chromium, types the test card 4242… and
/// pays; returns the browser on its way back to the merchant.
async fn pay_stripe_checkout(link: &str) -> Browser {
    let mut browser = Browser::launch().await;
    browser
        .send("Page.navigate", json!({"url": link}))
        .await
        .unwrap();
    browser
        .wait_until(
            "Stripe's checkout page",
            "document.getElementById('pay') !== null && document.querySelector('input[name=card]') !== null",
            20,
            |v| v == &json!(true),
        )
        .await;
    browser
        .eval("document.querySelector('input[name=card]').value = '4242424242424242'; document.getElementById('pay').click(); true")
        .await
        .expect("type the test card and pay");
    browser
}

#[tokio::test]
async fn a_stripe_checkout_paid_in_a_real_browser_returns_the_payer_to_a_paid_page() {
    if chromium_path().is_none() {
        return;
    }
    let rig = crate::stripe_mcp::Rig::start().await;
    let (client, mut updates) = rig.serve().await;
    let created = structured(
        &call(
            &client,
            "payment.create",
            crate::stripe_mcp::create_args("browser-1"),
        )
        .await,
    );
    let link = created["paymentLinkUrl"].as_str().unwrap().to_string();
    let id = created["paymentId"].as_str().unwrap().to_string();
    let uri = created["resourceUri"].as_str().unwrap().to_string();
    client
        .subscribe(SubscribeRequestParams::new(uri.clone()))
        .await
        .unwrap();

    let mut browser = pay_stripe_checkout(&link).await;
    let landed = browser
        .wait_until(
            "the return page to say paid",
            "JSON.stringify({href: location.href, status: (document.getElementById('status') || {}).textContent || null})",
            30,
            |v| v.as_str().is_some_and(|s| s.contains("\"status\":\"paid\"")),
        )
        .await;
    let landed: Value = serde_json::from_str(landed.as_str().unwrap()).unwrap();
    assert!(
        landed["href"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/payment/return?session_id=cs_test_", rig.side)),
        "{landed}"
    );
    browser.close().await;
    hears_update(&mut updates, &uri).await;
    let status = structured(&call(&client, "payment.getStatus", json!({"entityId": id})).await);
    assert_eq!(status["status"], "paid", "{status}");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn over_mcp_http_a_stripe_checkout_paid_in_a_real_browser_is_pushed_paid() {
    use paylink::sandbox::stripe::{DEFAULT_STRIPE_TEST_KEY, DEFAULT_WEBHOOK_SECRET};
    use rmcp::ServiceExt;
    use rmcp::transport::StreamableHttpClientTransport;
    if chromium_path().is_none() {
        return;
    }
    let rig = crate::stripe_mcp::Rig::start().await;
    let (_child, url) = rig
        .world
        .http(
            &[
                ("PAYLINK_LISTEN", &rig.listen),
                ("STRIPE_SECRET_KEY", DEFAULT_STRIPE_TEST_KEY),
                ("STRIPE_WEBHOOK_SECRET", DEFAULT_WEBHOOK_SECRET),
                ("STRIPE_API_BASE", &rig.stripe.api_base),
            ],
            &[],
        )
        .await;
    let (tx, mut updates) = tokio::sync::mpsc::unbounded_channel();
    let client = crate::support::Recorder(tx)
        .serve(StreamableHttpClientTransport::from_uri(url))
        .await
        .unwrap();
    let created = structured(
        &call(
            &client,
            "payment.create",
            crate::stripe_mcp::create_args("browser-http"),
        )
        .await,
    );
    let link = created["paymentLinkUrl"].as_str().unwrap().to_string();
    let id = created["paymentId"].as_str().unwrap().to_string();
    let uri = created["resourceUri"].as_str().unwrap().to_string();
    client
        .subscribe(SubscribeRequestParams::new(uri.clone()))
        .await
        .unwrap();
    let mut browser = pay_stripe_checkout(&link).await;
    browser
        .wait_until(
            "the return page to say paid",
            "(document.getElementById('status') || {}).textContent || null",
            30,
            |v| v == &json!("paid"),
        )
        .await;
    browser.close().await;
    hears_update(&mut updates, &uri).await;
    let status = structured(&call(&client, "payment.getStatus", json!({"entityId": id})).await);
    assert_eq!(status["status"], "paid", "{status}");
    client.cancel().await.unwrap();
}
