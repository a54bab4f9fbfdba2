//! The one test harness of the integration tests. This module holds what every test
//! shares: the binary under test, free loopback ports, waiting on a condition with a
//! deadline, reading tool results, and the [`World`] that runs the real `paylink` binary
//! (over stdio or streamable HTTP) against an in-process offline Flow sandbox and a fresh
//! sled directory. The submodules are the harnesses of particular tests.

pub mod app_host;
pub mod browser;
pub mod crash;
pub mod faults;
pub mod fuzz_inputs;
pub mod hook;
pub mod postgres;
pub mod webhook;

use std::future::Future;
use std::process::Stdio;
use std::time::{Duration, Instant};

use paylink::sandbox::{
    DEFAULT_API_KEY, DEFAULT_SECRET_KEY, RunningSandbox, Sandbox, SandboxConfig,
};
use rmcp::model::{CallToolRequestParams, CallToolResult, ResourceUpdatedNotificationParam};
use rmcp::service::{NotificationContext, RoleClient, RunningService};
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use rmcp::{ClientHandler, ServiceExt};
use serde_json::{Map, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

/// The `paylink` binary cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_paylink");

/// A home directory of its own for a spawned `paylink`: with HOME and XDG_DATA_HOME in a
/// temporary directory, a command given no PAYLINK_DATA_DIR finds (or makes) its per-user
/// default ledger there, never in the home of whoever runs the tests.
pub struct TempHome(tempfile::TempDir);

impl TempHome {
    pub fn new() -> TempHome {
        TempHome(tempfile::tempdir().unwrap())
    }

    pub fn path(&self) -> &std::path::Path {
        self.0.path()
    }

    /// HOME, and XDG_DATA_HOME inside it (set, so one in the tests' own environment does
    /// not leak through).
    pub fn env(&self) -> [(&'static str, std::path::PathBuf); 2] {
        [
            ("HOME", self.path().to_path_buf()),
            ("XDG_DATA_HOME", self.path().join("share")),
        ]
    }

    /// The per-user data directory paylink resolves under [`TempHome::env`].
    pub fn data_dir(&self) -> std::path::PathBuf {
        self.path().join("share").join("paylink")
    }
}

/// Every file and directory under `dir`, recursively (empty: nothing was created there).
pub fn everything_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path.clone());
            }
            found.push(path);
        }
    }
    found
}

/// A loopback port free right now (the OS picks it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `cond` until it holds; fails the test, naming `what`, after `timeout`.
pub async fn wait_for<F, Fut>(what: &str, timeout: Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !cond().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A JSON object literal as tool arguments.
pub fn args(v: Value) -> Map<String, Value> {
    v.as_object().expect("arguments are an object").clone()
}

/// The structured result of a call that must have succeeded.
pub fn structured(r: &CallToolResult) -> Value {
    assert_ne!(
        r.is_error,
        Some(true),
        "tool failed: {:?}",
        r.structured_content
    );
    r.structured_content.clone().expect("structuredContent")
}

/// The `error` object of a call that must have failed.
pub fn error_of(r: &CallToolResult) -> Value {
    assert_eq!(
        r.is_error,
        Some(true),
        "expected a tool error, got {:?}",
        r.structured_content
    );
    r.structured_content.clone().expect("error JSON")["error"].clone()
}

/// The `code` of a call that must have failed.
pub fn error_code(r: &CallToolResult) -> String {
    error_of(r)["code"].as_str().unwrap().to_string()
}

/// Calls a tool; the call must reach the server (the tool itself may fail).
pub async fn call<H: ClientHandler>(
    client: &RunningService<RoleClient, H>,
    name: &str,
    a: Value,
) -> CallToolResult {
    client
        .call_tool(CallToolRequestParams::new(name.to_string()).with_arguments(args(a)))
        .await
        .expect("tools/call is routed")
}

/// The names of the tools the server lists, in its order.
pub async fn tool_names<H: ClientHandler>(client: &RunningService<RoleClient, H>) -> Vec<String> {
    client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect()
}

/// The Flow token in a create result's `paymentLinkUrl` (`...?token=<token>`).
pub fn token_of(created: &Value) -> String {
    created["paymentLinkUrl"]
        .as_str()
        .and_then(|link| link.split("token=").nth(1))
        .expect("a payment link with a token")
        .to_string()
}

/// A client handler that records resources/updated notifications.
#[derive(Clone)]
pub struct Recorder(pub mpsc::UnboundedSender<String>);

impl ClientHandler for Recorder {
    async fn on_resource_updated(
        &self,
        p: ResourceUpdatedNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        let _ = self.0.send(p.uri);
    }
}

pub type Client = RunningService<RoleClient, Recorder>;

/// Waits (ten seconds at most) until a [`Recorder`] hears `resources/updated` for `uri`.
pub async fn hears_update(updates: &mut mpsc::UnboundedReceiver<String>, uri: &str) {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match updates.recv().await {
                Some(u) if u == uri => return,
                Some(_) => continue,
                None => panic!("the MCP client closed"),
            }
        }
    })
    .await
    .expect("resources/updated for the subscribed payment");
}

/// A sandbox, a ledger directory, and the environment that points the binary at them.
pub struct World {
    pub sandbox: RunningSandbox,
    pub data_dir: tempfile::TempDir,
}

impl World {
    pub async fn new() -> World {
        World {
            sandbox: Sandbox::start(SandboxConfig::default()).await.unwrap(),
            data_dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            (
                "PAYLINK_DATA_DIR".into(),
                self.data_dir.path().display().to_string(),
            ),
            // Port 0: the OS picks a free port when paylink binds, so no other process can
            // take it first (the side listener's URL is derived from the bound address).
            ("PAYLINK_LISTEN".into(), "127.0.0.1:0".into()),
            ("FLOW_API_KEY".into(), DEFAULT_API_KEY.into()),
            ("FLOW_SECRET_KEY".into(), DEFAULT_SECRET_KEY.into()),
            ("FLOW_BASE_URL".into(), self.sandbox.api_url.clone()),
            ("RUST_LOG".into(), "warn".into()),
        ]
    }

    /// `paylink serve` over stdio, with an rmcp client attached.
    pub async fn stdio(&self, extra_args: &[&str]) -> (Client, mpsc::UnboundedReceiver<String>) {
        self.stdio_with(extra_args, &[], Stdio::null()).await
    }

    /// Like [`World::stdio`], with extra environment and paylink's stderr sent to `stderr`.
    pub async fn stdio_with(
        &self,
        extra_args: &[&str],
        extra_env: &[(&str, &str)],
        stderr: Stdio,
    ) -> (Client, mpsc::UnboundedReceiver<String>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let client = self
            .stdio_serving(Recorder(tx), extra_args, extra_env, stderr)
            .await;
        (client, rx)
    }

    /// `paylink serve` over stdio with `handler` as the client (its capabilities and name
    /// are what paylink sees at initialize).
    pub async fn stdio_serving<H: ClientHandler>(
        &self,
        handler: H,
        extra_args: &[&str],
        extra_env: &[(&str, &str)],
        stderr: Stdio,
    ) -> RunningService<RoleClient, H> {
        let mut env = self.env();
        env.extend(
            extra_env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let args: Vec<String> = extra_args.iter().map(|s| s.to_string()).collect();
        let cmd = tokio::process::Command::new(BIN).configure(|c| {
            c.arg("serve").args(&args).envs(env).kill_on_drop(true);
        });
        // The builder's stderr, not the command's: rmcp sets the child's stderr itself
        // (inherited unless told otherwise), overriding one set on the command.
        let (transport, _) = TokioChildProcess::builder(cmd)
            .stderr(stderr)
            .spawn()
            .unwrap();
        handler
            .serve(transport)
            .await
            .expect("MCP handshake over stdio")
    }

    /// `paylink serve --http` on a port the OS picks; returns the child and the /mcp URL
    /// (read from the line paylink prints once it is bound) once /health answers. If
    /// paylink exits first, the test fails with what it printed.
    pub async fn http(
        &self,
        extra_env: &[(&str, &str)],
        extra_args: &[&str],
    ) -> (tokio::process::Child, String) {
        let (child, url, _) = self.http_with_listener(extra_env, extra_args).await;
        (child, url)
    }

    /// Like [`World::http`], also returning the side listener's base URL.
    pub async fn http_with_listener(
        &self,
        extra_env: &[(&str, &str)],
        extra_args: &[&str],
    ) -> (tokio::process::Child, String, String) {
        let mut cmd = tokio::process::Command::new(BIN);
        cmd.args(["serve", "--http", "127.0.0.1:0"])
            .args(extra_args);
        cmd.envs(self.env()).envs(
            extra_env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut printed = Vec::new();
        let mut side = String::new();
        let announced = tokio::time::timeout(Duration::from_secs(20), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(rest) =
                    line.strip_prefix("paylink: side listener (Flow confirmations, /healthz) at ")
                {
                    side = rest.to_string();
                }
                if let Some(url) = line.strip_prefix("paylink: MCP over streamable HTTP at ") {
                    return Some(url.to_string());
                }
                printed.push(line);
            }
            None
        })
        .await;
        let url = match announced {
            Ok(Some(url)) => url,
            Ok(None) => panic!(
                "paylink serve --http exited before listening:\n{}",
                printed.join("\n")
            ),
            Err(_) => panic!(
                "paylink serve --http printed no address within 20 s:\n{}",
                printed.join("\n")
            ),
        };
        // Keep reading what it prints so a full pipe never blocks it.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let health = url.replace("/mcp", "/health");
        let http = reqwest::Client::new();
        wait_for(
            "paylink serve --http to answer /health",
            Duration::from_secs(20),
            || async { matches!(http.get(&health).send().await, Ok(r) if r.status().is_success()) },
        )
        .await;
        (child, url, side)
    }
}

/// The store's contract: each test below runs against sled and against PostgreSQL (a
/// fresh database on the throwaway cluster of `support::postgres`).
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod on_sled {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(paylink::store::Store::open_temporary().unwrap()).await
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let Some(url) = crate::support::postgres::database().await else {
                        return;
                    };
                    super::$name(paylink::store::Store::connect(&url).await.unwrap()).await
                }
            )*
        }
    };
}
pub(crate) use contract;
