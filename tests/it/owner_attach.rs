//! One sled ledger, several processes: the first `paylink serve` owns the ledger, later
//! ones attach through its socket and take over when it dies; operator commands read
//! through it while it runs. Real processes, driven by rmcp's client over stdio.

use std::process::Stdio;
use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::support::*;

/// `paylink serve` over stdio with a client attached, and the child's process id.
async fn serve(w: &World) -> (Client, u32) {
    let cmd = tokio::process::Command::new(BIN).configure(|c| {
        c.arg("serve").envs(w.env()).kill_on_drop(true);
    });
    let (transport, _) = TokioChildProcess::builder(cmd)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = transport.id().expect("the child's pid");
    let (tx, _rx) = mpsc::unbounded_channel();
    let client = Recorder(tx)
        .serve(transport)
        .await
        .expect("MCP handshake over stdio");
    (client, pid)
}

async fn create(client: &Client, key: &str) -> Value {
    let r = call(
        client,
        "payment.create",
        json!({"amount": 5000, "description": "Clase", "customerEmail": "ana@gmail.com", "idempotencyKey": key}),
    )
    .await;
    structured(&r)
}

async fn status_of(client: &Client, id: &str) -> Value {
    structured(&call(client, "payment.getStatus", json!({"paymentId": id})).await)
}

fn id_of(created: &Value) -> String {
    created["paymentId"].as_str().unwrap().to_string()
}

/// Whether the process is gone with all its threads, so its sockets are closed: its
/// main thread is a zombie (or reaped) and no other thread is left in `task/`. (A
/// zombie main thread alone is not enough: the others may still hold the descriptors.)
fn dead(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return true;
    };
    let zombie = stat
        .rsplit(')')
        .next()
        .is_some_and(|rest| rest.trim_start().starts_with('Z'));
    let threads = std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count());
    zombie && threads <= 1
}

async fn paylink(w: &World, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(BIN)
        .args(args)
        .envs(w.env())
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap()
}

#[tokio::test]
async fn two_stdio_clients_on_one_ledger_see_each_others_payments() {
    let w = World::new().await;
    let (first, _) = serve(&w).await;
    let (second, _) = serve(&w).await;
    let socket = w.data_dir.path().join("paylink.sock");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&socket).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "the socket is its user's only");

    let made_by_first = id_of(&create(&first, "first-1").await);
    let made_by_second = id_of(&create(&second, "second-1").await);
    assert_eq!(
        status_of(&second, &made_by_first).await["status"],
        "pending"
    );
    assert_eq!(
        status_of(&first, &made_by_second).await["status"],
        "pending"
    );
    // One key, one payment, whichever process the retry goes through.
    assert_eq!(id_of(&create(&second, "first-1").await), made_by_first);

    second.cancel().await.unwrap();
    first.cancel().await.unwrap();
    wait_for(
        "the owner to remove its socket on a clean exit",
        Duration::from_secs(20),
        || async { !socket.exists() },
    )
    .await;
}

#[tokio::test]
async fn when_the_owner_is_killed_the_attached_client_keeps_serving_and_loses_nothing() {
    let w = World::new().await;
    let (owner, owner_pid) = serve(&w).await;
    let (attached, _) = serve(&w).await;
    let before_owner = id_of(&create(&owner, "before-owner").await);
    let before_attached = id_of(&create(&attached, "before-attached").await);

    let killed = std::process::Command::new("kill")
        .args(["-KILL", &owner_pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    wait_for("the owner to die", Duration::from_secs(10), || async {
        dead(owner_pid)
    })
    .await;

    // The attached process takes over; its client notices nothing but a short wait.
    for id in [&before_owner, &before_attached] {
        assert_eq!(status_of(&attached, id).await["status"], "pending");
    }
    let after = create(&attached, "after").await;
    assert_eq!(after["reused"], false);
    // A retry of a create acknowledged before the kill returns that payment.
    assert_eq!(
        id_of(&create(&attached, "before-owner").await),
        before_owner
    );

    // It is the owner now: operator commands read through it.
    let out = paylink(&w, &["payments", "list"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for id in [&before_owner, &before_attached, &id_of(&after)] {
        assert!(text.contains(id.as_str()), "{id} missing from:\n{text}");
    }
    attached.cancel().await.unwrap();
}

#[tokio::test]
async fn operator_commands_go_through_the_running_serve() {
    let w = World::new().await;
    let (client, _) = serve(&w).await;
    let id = id_of(&create(&client, "listed").await);

    let out = paylink(&w, &["payments", "list"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains(&id), "{text}");
    assert!(text.contains("1 pending"), "{text}");

    let out = paylink(&w, &["payments", "show", &id]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = paylink(&w, &["ledger", "verify"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Reconciliation runs in the serve that holds the ledger, with its gateway account.
    let out = paylink(&w, &["payments", "reconcile", "--id", &id]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains(&format!("{id}: now pending")), "{text}");
    let out = paylink(&w, &["payments", "reconcile"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("checked 1, changed 0"), "{text}");

    // An export while serve runs holds every payment with its claim.
    let out = paylink(&w, &["ledger", "export"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = text
        .lines()
        .find(|l| l.contains(&id))
        .expect("the payment is exported");
    assert!(line.contains("\"claim\":{\"fingerprint\""), "{line}");

    let out = paylink(&w, &["doctor"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ok    ledger"), "{text}");
    assert!(!text.contains("in use by another"), "{text}");
    assert!(text.contains("Verdict: READY"), "{text}");
    assert!(out.status.success(), "{text}");
    client.cancel().await.unwrap();
}
