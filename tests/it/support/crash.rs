//! The harness of the `crash_server` tests: one in-process Flow sandbox and one sled
//! directory that live across every restart, the real `paylink serve --http` binary on fixed
//! loopback ports (so Flow's confirmation URL stays valid after a restart), rmcp
//! streamable-HTTP clients, SIGKILL, and the payment use cases rebuilt in-process over the
//! ledger once the last process is dead (as `src/app.rs` builds them).

use std::process::Stdio;
use std::time::{Duration, Instant};

use paylink::accounts::{Account, Connection, gateway_entry};
use paylink::domain::Environment;
use paylink::gateway::flow::client::DEFAULT_TIMEOUT;
use paylink::payments::{Gateways, PaymentSettings, Payments};
use paylink::reconcile::Reconciler;
use paylink::sandbox::{
    DEFAULT_API_KEY, DEFAULT_SECRET_KEY, RunningSandbox, Sandbox, SandboxConfig,
};
use paylink::store::Store;

use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use secrecy::SecretString;
use serde_json::Value;
use tokio::process::Child;

use super::{BIN, args, free_port};

pub type Client = RunningService<RoleClient, ()>;

pub struct Rig {
    pub sandbox: RunningSandbox,
    pub dir: tempfile::TempDir,
    pub mcp_port: u16,
    pub listen_port: u16,
}

impl Rig {
    pub async fn new() -> Rig {
        Rig {
            sandbox: Sandbox::start(SandboxConfig::default()).await.unwrap(),
            dir: tempfile::tempdir().unwrap(),
            mcp_port: free_port(),
            listen_port: free_port(),
        }
    }

    pub fn ledger_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("ledger")
    }

    pub fn listener_base(&self) -> String {
        format!("http://127.0.0.1:{}", self.listen_port)
    }

    pub fn mcp_url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.mcp_port)
    }

    /// Starts `paylink serve --http` and waits until `/health` answers. A start that fails
    /// (a port still held for a moment after a kill) is retried until the deadline.
    pub async fn start(&self) -> Child {
        let deadline = Instant::now() + Duration::from_secs(30);
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let health = format!("http://127.0.0.1:{}/health", self.mcp_port);
        'spawn: loop {
            let mut child = tokio::process::Command::new(BIN)
                .args(["serve", "--http", &format!("127.0.0.1:{}", self.mcp_port)])
                .env("PAYLINK_DATA_DIR", self.ledger_dir())
                .env("PAYLINK_LISTEN", format!("127.0.0.1:{}", self.listen_port))
                .env("FLOW_API_KEY", DEFAULT_API_KEY)
                .env("FLOW_SECRET_KEY", DEFAULT_SECRET_KEY)
                .env("FLOW_BASE_URL", &self.sandbox.api_url)
                .env("RUST_LOG", "error")
                .current_dir(self.dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("paylink starts");
            loop {
                assert!(
                    Instant::now() < deadline,
                    "paylink serve --http did not come up"
                );
                if let Ok(Some(_)) = child.try_wait() {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue 'spawn;
                }
                if let Ok(r) = http.get(&health).send().await
                    && r.status().is_success()
                {
                    return child;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }

    /// An rmcp client over streamable HTTP (initialize included).
    pub async fn connect(&self) -> Client {
        let transport = StreamableHttpClientTransport::from_uri(self.mcp_url());
        tokio::time::timeout(Duration::from_secs(15), ().serve(transport))
            .await
            .expect("initialize within 15 s")
            .expect("MCP initialize over HTTP")
    }

    /// The payment use cases over the ledger, built as `src/app.rs` builds them from
    /// `FLOW_*` settings. Only once no paylink process holds the ledger.
    pub async fn payments(&self) -> (Payments, Store) {
        let dir = self.ledger_dir();
        let store = tokio::task::spawn_blocking(move || Store::open(&dir))
            .await
            .unwrap()
            .expect("the ledger opens after the last kill");
        let account = Account::new(
            &self.sandbox.api_url,
            DEFAULT_API_KEY,
            SecretString::from(DEFAULT_SECRET_KEY),
            Environment::Development,
        )
        .expect("a loopback Flow URL");
        let conn = Connection::new(DEFAULT_TIMEOUT).expect("an HTTP client");
        let gateways = Gateways::new();
        gateways.insert(
            "default",
            gateway_entry(&account, &conn).expect("a gateway entry"),
        );
        let settings = PaymentSettings::with_public_base(&self.listener_base());
        (Payments::new(store.clone(), gateways, settings), store)
    }

    /// The reconciler the server runs, with one pass covering every open payment.
    pub fn reconciler(payments: &Payments) -> Reconciler {
        let mut r = Reconciler::new(payments.clone());
        r.batch_limit = 1_000_000;
        r
    }

    /// How many orders Flow made per commerceOrder (successful `payment/create` requests).
    pub fn orders_by_commerce_order(&self) -> std::collections::HashMap<String, usize> {
        let mut orders = std::collections::HashMap::new();
        for r in self.sandbox.sandbox.requests() {
            if r.endpoint != "payment/create" || r.outcome != "ok" {
                continue;
            }
            if let Some((_, co)) = r.params.into_iter().find(|(k, _)| k == "commerceOrder") {
                *orders.entry(co).or_default() += 1;
            }
        }
        orders
    }

    /// Flow's status code (1..4) of the order with this token.
    pub fn flow_status(&self, token: &str) -> Option<i64> {
        self.sandbox.sandbox.order(token)?["status"].as_i64()
    }
}

/// SIGKILL, then reap.
pub async fn kill(child: &mut Child) {
    let _ = child.start_kill();
    let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
}

/// A tool call with a deadline; `None` when the transport failed (the server died).
pub async fn call(client: &Client, name: &str, a: Value) -> Option<CallToolResult> {
    let req = CallToolRequestParams::new(name.to_string()).with_arguments(args(a));
    match tokio::time::timeout(Duration::from_secs(15), client.call_tool(req)).await {
        Ok(Ok(r)) => Some(r),
        _ => None,
    }
}
