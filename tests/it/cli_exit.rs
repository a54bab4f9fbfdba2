//! What the operator's commands tell scripts and people when things go wrong, through the
//! real binary: exit statuses that mean something (`payments reconcile` that could not
//! check exits 4), errors on one line without Debug output, logs only with `-v`, and a
//! `doctor` that waits one deadline however many gateways are silent.

use std::path::Path;

use paylink::store::Store;

use crate::cli_ux::{DEC_2, draft, ledger_with, paylink, text, when_free};
use crate::support::{TempHome, free_port};

#[tokio::test]
async fn reconcile_that_cannot_reach_the_gateway_exits_4_with_one_clear_line() {
    let home = TempHome::new();
    let dir = tempfile::tempdir().unwrap();
    let data = ledger_with(dir.path(), &[draft("Clase", 5000, DEC_2)]).await;
    // A loopback port nobody listens on: every call is refused at once.
    let api = format!("http://127.0.0.1:{}/api", free_port());
    let env = [
        ("PAYLINK_DATA_DIR", data.as_str()),
        ("FLOW_API_KEY", "K"),
        ("FLOW_SECRET_KEY", "S"),
        ("FLOW_BASE_URL", api.as_str()),
        ("PAYLINK_FLOW_TIMEOUT_SECS", "1"),
    ];
    let out = when_free(|| paylink(&home, &["payments", "reconcile"], &env));
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(4), "{stdout}{stderr}");
    assert!(stdout.contains("errors 1"), "{stdout}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(
        lines[0].starts_with("paylink: 1 of 1 check(s) failed"),
        "{stderr}"
    );
    // --json keeps the report on stdout and the same exit status.
    let out = when_free(|| paylink(&home, &["payments", "reconcile", "--json"], &env));
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["errors"], 1, "{report}");
}

fn no_debug_output(stderr: &str) {
    for debug in ["Os {", "Caused by", "Error {", "kind:", "backtrace"] {
        assert!(!stderr.contains(debug), "Debug output ({debug}): {stderr}");
    }
}

#[test]
fn config_and_lock_errors_are_one_line_without_debug_output() {
    let home = TempHome::new();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("paylink.toml");
    std::fs::write(&bad, "listen = = 1\n").unwrap();
    let bad = bad.display().to_string();
    let out = paylink(&home, &["payments", "list", "--config", &bad], &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(
        lines[0].starts_with("paylink: ") && lines[0].contains("paylink.toml"),
        "{stderr}"
    );
    no_debug_output(&stderr);

    // A data directory that is a file: the ledger cannot be opened.
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let file = file.display().to_string();
    let out = paylink(&home, &["payments", "reconcile", "--data-dir", &file], &[]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(
        stderr.lines().filter(|l| !l.trim().is_empty()).count(),
        1,
        "{stderr}"
    );
    no_debug_output(&stderr);
}

#[tokio::test]
async fn a_ledger_in_use_is_one_line_without_debug_output() {
    let home = TempHome::new();
    let dir = tempfile::tempdir().unwrap();
    let data = ledger_with(dir.path(), &[draft("Clase", 5000, DEC_2)]).await;
    let held = loop {
        match Store::open(Path::new(&data)) {
            Ok(s) => break s,
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
        }
    };
    let out = paylink(&home, &["payments", "list"], &[("PAYLINK_DATA_DIR", &data)]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(
        lines[0].contains("in use by another paylink process"),
        "{stderr}"
    );
    no_debug_output(&stderr);
    drop(held);
}

#[test]
fn logs_are_quiet_by_default_and_v_adds_them() {
    let home = TempHome::new();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data").display().to_string();
    let env = [("PAYLINK_DATA_DIR", data.as_str())];
    // reconcile builds the application (logging as it starts) on the built-in sandbox.
    let quiet = paylink(&home, &["payments", "reconcile"], &env);
    assert!(quiet.status.success(), "{}", text(&quiet.stderr));
    assert_eq!(text(&quiet.stderr), "", "no log lines by default");
    let info = paylink(&home, &["payments", "reconcile", "-v"], &env);
    assert!(info.status.success(), "{}", text(&info.stderr));
    assert!(
        text(&info.stderr).contains(" INFO "),
        "{}",
        text(&info.stderr)
    );
    assert!(
        !text(&info.stderr).contains(" DEBUG "),
        "{}",
        text(&info.stderr)
    );
    let debug = paylink(&home, &["-vv", "payments", "reconcile"], &env);
    assert!(
        text(&debug.stderr).contains(" DEBUG "),
        "{}",
        text(&debug.stderr)
    );
}

#[test]
fn doctor_waits_one_deadline_however_many_accounts_do_not_answer() {
    // Loopback ports that accept connections (the kernel completes them) but never answer.
    let silent: Vec<std::net::TcpListener> = (0..3)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let api = |i: usize| format!("http://{}/api", silent[i].local_addr().unwrap());
    let home = TempHome::new();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data").display().to_string();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "s3cret\n").unwrap();
    let secret = secret.display().to_string();
    let env = [
        ("PAYLINK_DATA_DIR", data.as_str()),
        ("PAYLINK_FLOW_TIMEOUT_SECS", "2"),
    ];
    for (i, org) in ["acme", "globex"].into_iter().enumerate() {
        let api = api(i);
        let out = paylink(
            &home,
            &[
                "integration",
                "flow",
                "--test",
                "--no-verify",
                "--organization",
                org,
                "--api-url",
                &api,
                "--api-key",
                "K",
                "--secret-key-file",
                &secret,
            ],
            &env,
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let flow = api(2);
    let env = [
        ("PAYLINK_DATA_DIR", data.as_str()),
        ("PAYLINK_FLOW_TIMEOUT_SECS", "2"),
        ("FLOW_API_KEY", "K"),
        ("FLOW_SECRET_KEY", "S"),
        ("FLOW_BASE_URL", flow.as_str()),
    ];
    let started = std::time::Instant::now();
    let out = paylink(&home, &["doctor"], &env);
    let took = started.elapsed();
    let report = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert_eq!(report.matches("could not be used").count(), 3, "{report}");
    // One after another they would take 6 s.
    assert!(
        took < std::time::Duration::from_millis(4500),
        "doctor took {took:?} for three 2 s checks"
    );
    // In the plan's order, whatever order they finished in.
    let acme = report.find("integration acme").unwrap();
    let globex = report.find("integration globex").unwrap();
    assert!(acme < globex, "{report}");
}
