//! Shared harness for tests that run the real `paylink` binary: an offline Flow sandbox
//! in-process, a fresh sled directory, free loopback ports, and rmcp clients.
#![allow(dead_code)]

use std::process::Stdio;
use std::time::Duration;

use paylink::sandbox::{
    DEFAULT_API_KEY, DEFAULT_SECRET_KEY, RunningSandbox, Sandbox, SandboxConfig,
};
use rmcp::model::{CallToolRequestParams, CallToolResult, ResourceUpdatedNotificationParam};
use rmcp::service::{NotificationContext, RoleClient, RunningService};
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use rmcp::{ClientHandler, ServiceExt};
use tokio::sync::mpsc;

#[path = "../support/mod.rs"]
mod support;
#[allow(unused_imports)] // each test binary uses its own part
pub use support::{BIN, args, free_port, structured, wait_for};

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

/// A sandbox, a ledger directory, and the environment that points the binary at them.
pub struct World {
    pub sandbox: RunningSandbox,
    pub data_dir: tempfile::TempDir,
    pub listen_port: u16,
}

impl World {
    pub async fn new() -> World {
        World {
            sandbox: Sandbox::start(SandboxConfig::default()).await.unwrap(),
            data_dir: tempfile::tempdir().unwrap(),
            listen_port: free_port(),
        }
    }

    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            (
                "PAYLINK_DATA_DIR".into(),
                self.data_dir.path().display().to_string(),
            ),
            (
                "PAYLINK_LISTEN".into(),
                format!("127.0.0.1:{}", self.listen_port),
            ),
            ("FLOW_API_KEY".into(), DEFAULT_API_KEY.into()),
            ("FLOW_SECRET_KEY".into(), DEFAULT_SECRET_KEY.into()),
            ("FLOW_BASE_URL".into(), self.sandbox.api_url.clone()),
            ("RUST_LOG".into(), "warn".into()),
        ]
    }

    /// `paylink serve` over stdio, with an rmcp client attached.
    pub async fn stdio(&self, extra_args: &[&str]) -> (Client, mpsc::UnboundedReceiver<String>) {
        let env = self.env();
        let args: Vec<String> = extra_args.iter().map(|s| s.to_string()).collect();
        let cmd = tokio::process::Command::new(BIN).configure(|c| {
            c.arg("serve")
                .args(&args)
                .envs(env)
                .stderr(Stdio::null())
                .kill_on_drop(true);
        });
        let transport = TokioChildProcess::new(cmd).unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        let client = Recorder(tx)
            .serve(transport)
            .await
            .expect("MCP handshake over stdio");
        (client, rx)
    }

    /// `paylink serve --http` on a free port; returns the child and the /mcp URL once /health answers.
    pub async fn http(
        &self,
        extra_env: &[(&str, &str)],
        extra_args: &[&str],
    ) -> (tokio::process::Child, String) {
        let port = free_port();
        let mut cmd = tokio::process::Command::new(BIN);
        cmd.arg("serve")
            .arg("--http")
            .arg(format!("127.0.0.1:{port}"))
            .args(extra_args);
        cmd.envs(self.env()).envs(
            extra_env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let child = cmd.spawn().unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let (http, health) = (reqwest::Client::new(), format!("{base}/health"));
        wait_for(
            "paylink serve --http to come up",
            Duration::from_secs(20),
            || async { matches!(http.get(&health).send().await, Ok(r) if r.status().is_success()) },
        )
        .await;
        (child, format!("{base}/mcp"))
    }
}

pub async fn call(client: &Client, name: &str, a: serde_json::Value) -> CallToolResult {
    client
        .call_tool(CallToolRequestParams::new(name.to_string()).with_arguments(args(a)))
        .await
        .expect("tools/call is routed")
}

pub fn error_code(r: &CallToolResult) -> String {
    support::error_of(r)["code"].as_str().unwrap().to_string()
}
