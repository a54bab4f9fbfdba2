//! `paylink trigger`: a payment made on the built-in offline sandbox of a running
//! `paylink serve` is settled from the shell, through the serve's owner socket and the
//! sandbox's control API; and what it refuses. Real processes, no blind sleeps.

use std::process::Stdio;
use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use serde_json::json;

use crate::support::{BIN, Client, Recorder, call, structured, wait_for};

/// `paylink serve` over stdio on its built-in offline sandbox (no gateway credentials),
/// with a fresh ledger in `data_dir`.
async fn serve_on_built_in_sandbox(data_dir: &std::path::Path) -> Client {
    serve_with(data_dir, &[]).await
}

/// `paylink serve` over stdio with `env` added, with a fresh ledger in `data_dir`.
async fn serve_with(data_dir: &std::path::Path, env: &[(&str, &str)]) -> Client {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let cmd = tokio::process::Command::new(BIN).configure(|c| {
        c.arg("serve")
            .env("PAYLINK_DATA_DIR", data_dir)
            .env("PAYLINK_LISTEN", "127.0.0.1:0")
            .env("RUST_LOG", "warn")
            .env_remove("FLOW_API_KEY")
            .env_remove("FLOW_SECRET_KEY")
            .env_remove("FLOW_BASE_URL")
            .env_remove("STRIPE_SECRET_KEY")
            .envs(env)
            .kill_on_drop(true);
    });
    let (transport, _) = TokioChildProcess::builder(cmd)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    Recorder(tx).serve(transport).await.expect("MCP handshake")
}

/// Runs `paylink trigger <outcome> <id>` on `data_dir`: (success, stdout, stderr).
async fn trigger(data_dir: &std::path::Path, outcome: &str, id: &str) -> (bool, String, String) {
    let out = tokio::process::Command::new(BIN)
        .args(["trigger", outcome, id])
        .env("PAYLINK_DATA_DIR", data_dir)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A ledger directory as paylink makes its own: 0700, so no warning joins the one line.
fn data_dir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

async fn status_of(client: &Client, id: &str) -> String {
    let r = call(client, "payment.getStatus", json!({"entityId": id})).await;
    structured(&r)["status"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn trigger_paid_settles_a_payment_of_a_running_serve_and_refuses_it_once_final() {
    let dir = data_dir();
    let client = serve_on_built_in_sandbox(dir.path()).await;
    let r = call(
        &client,
        "payment.create",
        json!({"amount": 5000, "description": "Clase", "customerEmail": "ana@gmail.com"}),
    )
    .await;
    let id = structured(&r)["paymentId"].as_str().unwrap().to_string();
    assert_eq!(status_of(&client, &id).await, "pending");

    let (ok, stdout, stderr) = trigger(dir.path(), "paid", &id).await;
    assert!(ok, "trigger failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.starts_with(&format!(
            "payment {id} settled paid on the offline Flow sandbox"
        )),
        "{stdout}"
    );
    assert!(stdout.contains("/webhook/flow (HTTP 200)"), "{stdout}");
    wait_for("getStatus to say paid", Duration::from_secs(20), || async {
        status_of(&client, &id).await == "paid"
    })
    .await;

    // An already-final payment and an unknown id are refused in one line, non-zero.
    let (ok, _, stderr) = trigger(dir.path(), "cancelled", &id).await;
    assert!(!ok);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("is already paid"), "{stderr}");
    let (ok, _, stderr) = trigger(dir.path(), "paid", "ent_nosuchpayment0000000").await;
    assert!(!ok);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("no payment \"ent_nosuchpayment0000000\""),
        "{stderr}"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn trigger_rejected_fails_the_payment_and_a_dead_sandbox_is_named() {
    let dir = data_dir();
    let client = serve_on_built_in_sandbox(dir.path()).await;
    let mut ids = Vec::new();
    for n in 0..2 {
        let r = call(
            &client,
            "payment.create",
            json!({"amount": 5000 + n, "description": "Clase", "customerEmail": "ana@gmail.com"}),
        )
        .await;
        ids.push(structured(&r)["paymentId"].as_str().unwrap().to_string());
    }
    let (ok, stdout, stderr) = trigger(dir.path(), "rejected", &ids[0]).await;
    assert!(ok, "trigger failed:\n{stdout}\n{stderr}");
    wait_for(
        "getStatus to say failed",
        Duration::from_secs(20),
        || async { status_of(&client, &ids[0]).await == "failed" },
    )
    .await;

    // With serve gone, its built-in sandbox is gone too: the ledger is opened directly
    // and the pending payment's sandbox is said not to run.
    client.cancel().await.unwrap();
    let socket = dir.path().join("paylink.sock");
    wait_for("serve to exit", Duration::from_secs(20), || async {
        !socket.exists()
    })
    .await;
    let (ok, _, stderr) = trigger(dir.path(), "paid", &ids[1]).await;
    assert!(!ok);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("is not running"), "{stderr}");
}

#[tokio::test]
async fn trigger_pays_a_stripe_checkout_session_on_the_offline_stripe_sandbox() {
    use paylink::sandbox::stripe::{
        DEFAULT_STRIPE_TEST_KEY, DEFAULT_WEBHOOK_SECRET, StripeSandbox, StripeSandboxConfig,
    };
    let stripe = StripeSandbox::start(StripeSandboxConfig::default())
        .await
        .unwrap();
    let dir = data_dir();
    let client = serve_with(
        dir.path(),
        &[
            ("STRIPE_SECRET_KEY", DEFAULT_STRIPE_TEST_KEY),
            ("STRIPE_API_BASE", &stripe.api_base),
            ("STRIPE_WEBHOOK_SECRET", DEFAULT_WEBHOOK_SECRET),
        ],
    )
    .await;
    let r = call(
        &client,
        "payment.create",
        json!({"amount": 12.5, "currency": "USD", "description": "License", "customerEmail": "ana@gmail.com", "gateway": "stripe"}),
    )
    .await;
    let id = structured(&r)["paymentId"].as_str().unwrap().to_string();
    let (ok, stdout, stderr) = trigger(dir.path(), "paid", &id).await;
    assert!(ok, "trigger failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.starts_with(&format!(
            "payment {id} settled paid on the offline Stripe sandbox"
        )),
        "{stdout}"
    );
    // No endpoint was registered for its events: getStatus reads the session back.
    wait_for("getStatus to say paid", Duration::from_secs(20), || async {
        status_of(&client, &id).await == "paid"
    })
    .await;
    client.cancel().await.unwrap();
}
