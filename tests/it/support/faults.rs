//! The harness of the `faults` tests: the real `paylink` binary over stdio, pointed at an
//! in-process Flow sandbox whose HTTP server can be stopped and started again on the same
//! port (so "nothing listening" is a real refused connection and the sandbox keeps its
//! orders), a real sled directory, and a one-second Flow timeout set through `paylink.toml`
//! (`flow_timeout_secs`, the file layer `PAYLINK_CONFIG` points at).
//!
//! After a scenario the server is stopped, `paylink payments reconcile --json` runs over the
//! same ledger, and the ledger is opened in-process to check what was left behind. Waiting
//! is always on a condition with a deadline.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use paylink::sandbox::{
    DEFAULT_API_KEY, DEFAULT_SECRET_KEY, Fault, FaultKind, FaultTarget, Sandbox, SandboxConfig,
};
use paylink::store::Store;
use rmcp::ServiceExt;
use rmcp::model::CallToolResult;
use rmcp::service::{RoleClient, RunningService};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{BIN, free_port};

/// The Flow timeout every scenario runs with (`flow_timeout_secs` in paylink.toml).
pub const FLOW_TIMEOUT: Duration = Duration::from_secs(1);

/// How long after a create with an unknown outcome paylink waits before it may send it
/// again (`create_settle_secs` in paylink.toml).
pub const CREATE_SETTLE: Duration = Duration::from_secs(3);

/// The offline sandbox, served on a fixed loopback port that can go dark and come back.
pub struct Flow {
    pub sandbox: Sandbox,
    pub addr: SocketAddr,
    serving: Option<(CancellationToken, JoinHandle<std::io::Result<()>>)>,
}

impl Flow {
    pub async fn start() -> Flow {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let mut flow = Flow {
            sandbox: Sandbox::new(SandboxConfig::default()),
            addr: listener.local_addr().unwrap(),
            serving: None,
        };
        flow.serve_on(listener);
        flow
    }

    fn serve_on(&mut self, listener: TcpListener) {
        let stop = CancellationToken::new();
        let task = tokio::spawn(self.sandbox.clone().serve(listener, stop.clone()));
        self.serving = Some((stop, task));
    }

    pub fn api_url(&self) -> String {
        format!("http://{}/api", self.addr)
    }

    /// Stops the HTTP server: connections to the port are refused until [`Flow::come_back`].
    pub async fn go_dark(&mut self) {
        if let Some((stop, task)) = self.serving.take() {
            stop.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }

    /// Serves the same sandbox (same orders) on the same port again.
    pub async fn come_back(&mut self) {
        if self.serving.is_some() {
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                // The old socket may linger for a moment after the server stopped.
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("cannot serve the sandbox on {} again: {e}", self.addr),
            }
        };
        self.serve_on(listener);
    }

    pub fn fault(&self, target: FaultTarget, kind: FaultKind, times: Option<u32>) {
        self.sandbox.add_fault(Fault {
            target,
            kind,
            times,
        });
    }

    /// `payment/create` requests Flow answered with an order, for this commerceOrder.
    pub fn orders_for(&self, commerce_order: &str) -> usize {
        self.sandbox
            .requests()
            .iter()
            .filter(|r| r.endpoint == "payment/create" && r.outcome == "ok")
            .filter(|r| {
                r.params
                    .iter()
                    .any(|(k, v)| k == "commerceOrder" && v == commerce_order)
            })
            .count()
    }
}

/// A sandbox, a ledger directory, a side-listener port and a paylink.toml.
pub struct World {
    pub flow: Flow,
    pub dir: tempfile::TempDir,
    pub listen_port: u16,
}

impl World {
    pub async fn new() -> World {
        World::with_settle(CREATE_SETTLE).await
    }

    /// A world whose paylink waits `settle` after a create with an unknown outcome.
    pub async fn with_settle(settle: Duration) -> World {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("paylink.toml"),
            format!(
                "flow_timeout_secs = {}\ncreate_settle_secs = {}\n",
                FLOW_TIMEOUT.as_secs(),
                settle.as_secs()
            ),
        )
        .unwrap();
        World {
            flow: Flow::start().await,
            dir,
            listen_port: free_port(),
        }
    }

    pub fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("ledger")
    }

    pub fn env(&self) -> Vec<(String, String)> {
        let pairs = [
            ("PAYLINK_DATA_DIR", self.data_dir().display().to_string()),
            (
                "PAYLINK_CONFIG",
                self.dir.path().join("paylink.toml").display().to_string(),
            ),
            ("PAYLINK_LISTEN", format!("127.0.0.1:{}", self.listen_port)),
            ("FLOW_API_KEY", DEFAULT_API_KEY.into()),
            ("FLOW_SECRET_KEY", DEFAULT_SECRET_KEY.into()),
            ("FLOW_BASE_URL", self.flow.api_url()),
            ("RUST_LOG", "warn".into()),
        ];
        pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    fn command(&self) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(BIN);
        cmd.envs(self.env())
            .current_dir(self.dir.path())
            .kill_on_drop(true)
            .stderr(if std::env::var_os("PAYLINK_TEST_STDERR").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            });
        cmd
    }

    /// `paylink serve` over stdio with an rmcp client on its pipes.
    pub async fn serve(&self) -> Server {
        let mut child = self
            .command()
            .arg("serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("paylink starts");
        let io = (child.stdout.take().unwrap(), child.stdin.take().unwrap());
        let client = ().serve(io).await.expect("MCP handshake over stdio");
        Server { child, client }
    }

    /// `paylink payments reconcile --json` over the ledger (the server must be stopped).
    pub async fn reconcile(&self) -> Value {
        let out = tokio::time::timeout(
            Duration::from_secs(60),
            self.command()
                .args(["payments", "reconcile", "--json"])
                .stdin(Stdio::null())
                .stderr(Stdio::piped())
                .output(),
        )
        .await
        .expect("paylink payments reconcile finishes within 60 s")
        .unwrap();
        assert!(
            out.status.success(),
            "paylink payments reconcile failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let json = &text[text.find('{').expect("a JSON report")..];
        serde_json::from_str(json).expect("the report is JSON")
    }

    /// Opens the ledger in this process (the server must be stopped).
    pub fn ledger(&self) -> Store {
        Store::open(&self.data_dir()).expect("the ledger opens")
    }

    /// A counter from the side listener's /metrics (0 when absent).
    pub async fn metric(&self, name: &str) -> u64 {
        let url = format!("http://127.0.0.1:{}/metrics", self.listen_port);
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let Ok(r) = http.get(&url).send().await else {
            return 0;
        };
        let text = r.text().await.unwrap_or_default();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }
}

/// A running `paylink serve` and its MCP client.
pub struct Server {
    child: tokio::process::Child,
    pub client: RunningService<RoleClient, ()>,
}

impl Server {
    pub async fn call(&self, name: &str, args: Value) -> CallToolResult {
        super::call(&self.client, name, args).await
    }

    /// Closes the client (stdin) and waits for the process to exit, killing it after 15 s.
    pub async fn stop(mut self) {
        let _ = self.client.cancel().await;
        if tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}
