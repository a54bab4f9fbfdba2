//! `paylink demo` runs the whole cycle offline and says so.

use std::process::Command;

use crate::support::{BIN, TempHome, everything_under};

#[test]
fn the_demo_transcript_ends_with_the_payment_paid() {
    let home = TempHome::new();
    let out = Command::new(BIN)
        .arg("demo")
        .env_remove("FLOW_API_KEY")
        .env_remove("FLOW_SECRET_KEY")
        .env_remove("PAYLINK_DATA_DIR")
        .envs(home.env())
        .output()
        .expect("paylink demo runs");
    // Its ledger is a throw-away one: the user's data directory is left alone.
    assert_eq!(
        everything_under(home.path()),
        Vec::<std::path::PathBuf>::new()
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    assert!(
        last.starts_with("Result: payment ent_")
            && last.contains("(Flow) and payment ent_")
            && last.ends_with("(Stripe) are PAID."),
        "{last}"
    );
    assert!(
        stdout.contains("/webhook/stripe/default/development (checkout.session.completed, signed)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("notifications/resources/updated"),
        "{stdout}"
    );
    assert!(stdout.contains("return page, which says: paid"), "{stdout}");
}

#[tokio::test]
async fn the_demo_kept_open_stays_up_settles_by_trigger_and_stops_on_sigterm() {
    use tokio::io::{AsyncBufReadExt, BufReader};

    let home = TempHome::new();
    let mut child = tokio::process::Command::new(BIN)
        .args(["demo", "--keep-open"])
        .env_remove("FLOW_API_KEY")
        .env_remove("FLOW_SECRET_KEY")
        .env_remove("PAYLINK_DATA_DIR")
        .envs(home.env())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut transcript = String::new();
    tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            transcript.push_str(&line);
            transcript.push('\n');
            if line == "Press Ctrl-C to stop." {
                return;
            }
        }
        panic!("the demo ended without staying open:\n{transcript}");
    })
    .await
    .unwrap_or_else(|_| panic!("the demo did not say it stays open:\n{transcript}"));
    let after = |label: &str| -> String {
        let line = transcript
            .lines()
            .find(|l| l.trim_start().starts_with(label))
            .unwrap_or_else(|| panic!("no {label:?} line in:\n{transcript}"));
        line.trim_start()[label.len()..].trim().to_string()
    };
    assert!(transcript.contains("(Stripe) are PAID."), "{transcript}");
    assert!(after("MCP server").ends_with("/mcp"), "{transcript}");
    assert!(after("Flow sandbox control").ends_with("/sandbox/"));
    let listener = after("side listener");
    let listener = listener.split_whitespace().next().unwrap();

    // After its transcript the server still answers.
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let health = http
        .get(format!("{listener}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);

    // The printed trigger line settles the pending payment through the demo's socket.
    let trigger = after("PAYLINK_DATA_DIR=");
    let (data_dir, rest) = trigger.split_once(' ').unwrap();
    let id = rest.rsplit(' ').next().unwrap();
    assert!(rest.starts_with("paylink trigger paid ent_"), "{trigger}");
    let out = tokio::process::Command::new(BIN)
        .args(["trigger", "paid", id])
        .env("PAYLINK_DATA_DIR", data_dir)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let pid = child.id().unwrap().to_string();
    let term = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(term.success());
    let status = tokio::time::timeout(std::time::Duration::from_secs(20), child.wait())
        .await
        .expect("the demo exits on SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");
    // Its throw-away ledger goes with it.
    assert!(!std::path::Path::new(data_dir).exists());
}
