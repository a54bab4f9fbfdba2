//! A full disk: the real binary, its ledger on a 2 MiB tmpfs. Writes fail with
//! `storage_unavailable`, `/healthz` says 503, and once space is freed paylink takes writes
//! again by itself, with every acknowledged payment intact.
//!
//! Mounting needs root. Elsewhere the test says loudly that it did not run, and fails
//! under `CI=true` so CI can never skip it silently.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::transport::StreamableHttpClientTransport;
use serde_json::{Value, json};

use crate::support::{World, call, structured, wait_for};

/// Unmounts the tmpfs when the test ends, however it ends.
struct Mounted(PathBuf);

impl Mounted {
    fn tmpfs(dir: &Path, size: &str) -> Result<Mounted, String> {
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        Ok(Mounted(dir.to_owned()))
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        // The killed server may take a moment to close its files.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let out = Command::new("umount").arg(&self.0).output();
            if out.is_ok_and(|o| o.status.success()) {
                return;
            }
            if std::time::Instant::now() > deadline {
                let _ = Command::new("umount").arg("-l").arg(&self.0).status();
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Says loudly that the test could not run; under `CI=true` that is a failure.
fn not_run(why: &str) {
    let line = format!("full_disk: NOT RUN: {why}");
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{line} (CI=true requires it to run)");
    }
    eprintln!("\n!!!!!!!!!!\n{line}\n!!!!!!!!!!\n");
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Writes zeros into `path` until the file system says it is full.
fn fill(path: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    let block = vec![0u8; 4096];
    loop {
        match f.write_all(&block).and_then(|()| f.sync_all()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(28) => return, // ENOSPC
            Err(e) => panic!("filling the disk failed otherwise: {e}"),
        }
    }
}

fn create_args(key: &str) -> Value {
    json!({"amount": 5000, "description": "Clase", "customerEmail": "ana@gmail.com",
           "idempotencyKey": key})
}

async fn get(http: &reqwest::Client, url: &str) -> (u16, String) {
    let r = http.get(url).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_clearly_and_recovers_when_space_returns() {
    if !is_root() {
        return not_run("mounting a tmpfs needs root");
    }
    let w = World::new().await;
    let _mounted = match Mounted::tmpfs(w.data_dir.path(), "2m") {
        Ok(m) => m,
        Err(e) => return not_run(&format!("the sandbox refused to mount a tmpfs: {e}")),
    };
    let (_child, url, side) = w.http_with_listener(&[], &[]).await;
    let client = ().serve(StreamableHttpClientTransport::from_uri(url.clone())).await.unwrap();
    let http = reqwest::Client::new();
    let healthz = format!("{side}/healthz");
    assert_eq!(get(&http, &healthz).await.0, 200);

    // Some payments acknowledged while there is room.
    let mut acknowledged = Vec::new();
    for i in 0..3 {
        let r = call(
            &client,
            "payment.create",
            create_args(&format!("before-{i}")),
        )
        .await;
        acknowledged.push(structured(&r)["paymentId"].as_str().unwrap().to_string());
    }

    // Fill the disk, then create until the ledger runs out of the pages it still holds.
    let filler = w.data_dir.path().join("filler");
    fill(&filler);
    let mut refused = None;
    for i in 0..500 {
        let key = format!("full-{i}");
        let r = call(&client, "payment.create", create_args(&key)).await;
        if r.is_error == Some(true) {
            refused = Some((key, r));
            break;
        }
        acknowledged.push(structured(&r)["paymentId"].as_str().unwrap().to_string());
    }
    let (refused_key, r) = refused.expect("a create fails once the disk is full");
    let error = r.structured_content.clone().unwrap()["error"].clone();
    assert_eq!(error["code"], "storage_unavailable", "{error}");
    assert_eq!(error["retryable"], true, "{error}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("free disk space"),
        "{error}"
    );
    assert!(
        error["nextStep"]
            .as_str()
            .unwrap()
            .contains("SAME idempotencyKey"),
        "{error}"
    );

    // Further writes are refused the same way; health and metrics say why.
    let again = call(&client, "payment.create", create_args("full-again")).await;
    assert_eq!(
        again.structured_content.unwrap()["error"]["code"],
        "storage_unavailable"
    );
    let (status, body) = get(&http, &healthz).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("ledger cannot write"), "{body}");
    let (_, metrics) = get(&http, &format!("{side}/metrics")).await;
    assert!(metrics.contains("paylink_ledger_writable 0"), "{metrics}");
    let failures: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("paylink_ledger_write_failures_total "))
        .expect("the failures counter is exported")
        .parse()
        .unwrap();
    assert!(failures >= 2, "{failures} failures counted");

    // Space returns: paylink takes writes again without a restart.
    std::fs::remove_file(&filler).unwrap();
    wait_for(
        "/healthz to answer 200 after space returned",
        Duration::from_secs(30),
        || async { get(&http, &healthz).await.0 == 200 },
    )
    .await;
    // The refused create's retry is answered from what the ledger holds: done, or (when
    // Flow had made the order but its link could not be recorded) `payment_link_lost`.
    let retried = call(&client, "payment.create", create_args(&refused_key)).await;
    if retried.is_error == Some(true) {
        let e = retried.structured_content.unwrap()["error"].clone();
        assert_eq!(e["code"], "payment_link_lost", "{e}");
    } else {
        acknowledged.push(
            structured(&retried)["paymentId"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let fresh = call(&client, "payment.create", create_args("after")).await;
    acknowledged.push(
        structured(&fresh)["paymentId"]
            .as_str()
            .unwrap()
            .to_string(),
    );
    let (_, metrics) = get(&http, &format!("{side}/metrics")).await;
    assert!(metrics.contains("paylink_ledger_writable 1"), "{metrics}");

    // Every acknowledged payment is in the ledger, as it was acknowledged.
    for id in &acknowledged {
        let r = call(&client, "payment.getStatus", json!({"entityId": id})).await;
        let s = structured(&r);
        assert_eq!(s["entityId"], id.as_str());
        assert_eq!(s["amountMinor"], 5000, "{s}");
        assert_eq!(s["status"], "pending", "{s}");
    }
    let _ = client.cancel().await;
}
