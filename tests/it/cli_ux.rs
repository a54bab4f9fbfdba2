//! The operator's CLI as a person meets it, through the real binary: help text on every
//! option of every command, options only where they apply, tables and `--json` that read
//! well, and colour only on a terminal. (Exit statuses, errors and logs: `cli_exit`.)

use std::path::Path;
use std::process::{Command, Output, Stdio};

use clap::CommandFactory;
use paylink::domain::{
    Currency, Environment, Money, Payment, PaymentStatus, Source, Timestamp, new_payment_id,
};
use paylink::store::Store;

use crate::support::{BIN, TempHome};

/// `paylink <args>` in a home of its own, with no Flow account, config or log filter from
/// the environment running the tests; `env` on top.
pub(crate) fn paylink(home: &TempHome, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(BIN)
        .args(args)
        .envs(home.env())
        .env_remove("PAYLINK_CONFIG")
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("FLOW_API_KEY")
        .env_remove("FLOW_SECRET_KEY")
        .env_remove("FLOW_BASE_URL")
        .env_remove("PAYLINK_ALLOW_LIVE")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

pub(crate) fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Every command path: `[]`, `["payments"]`, `["payments", "list"]`, ...
fn command_paths() -> Vec<Vec<String>> {
    fn walk(cmd: &clap::Command, path: Vec<String>, all: &mut Vec<Vec<String>>) {
        for sub in cmd.get_subcommands() {
            let mut p = path.clone();
            p.push(sub.get_name().to_string());
            walk(sub, p, all);
        }
        all.push(path);
    }
    let mut all = Vec::new();
    walk(&paylink::cli::Cli::command(), Vec::new(), &mut all);
    all
}

/// The entries of the `Options:` and `Arguments:` sections of a help page, each with the
/// text that describes it (empty when there is none). An entry starts at a line indented
/// by at most six spaces; its description follows the name on that line after two
/// spaces, or on the lines indented more deeply below it.
fn entries(help: &str) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = Vec::new();
    let mut in_section = false;
    for line in help.lines() {
        if line.trim().is_empty() {
            continue;
        }
        if !line.starts_with(' ') {
            in_section = line == "Options:" || line == "Arguments:";
            continue;
        }
        if !in_section {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        if indent <= 6 {
            let body = line.trim_start();
            let (name, rest) = body.split_once("  ").unwrap_or((body, ""));
            found.push((name.to_string(), rest.trim().to_string()));
        } else if let Some(last) = found.last_mut() {
            last.1.push(' ');
            last.1.push_str(line.trim());
        }
    }
    found
}

#[test]
fn every_option_and_argument_of_every_command_has_help_text() {
    let home = TempHome::new();
    let paths = command_paths();
    assert!(paths.len() > 20, "{paths:?}");
    let mut missing = Vec::new();
    for path in &paths {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let out = paylink(&home, &args, &[]);
        let help = text(&out.stdout);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        let found = entries(&help);
        assert!(
            found.iter().any(|(n, _)| n.contains("--help")),
            "{args:?}: no options read from:\n{help}"
        );
        for (name, description) in found {
            if description
                .trim_matches(|c: char| c == '.' || c.is_whitespace())
                .is_empty()
            {
                missing.push(format!("paylink {}: {name}", path.join(" ")));
            }
        }
        // Every subcommand listed has a line of its own.
        let about_missing = help
            .split("Commands:")
            .nth(1)
            .map(|cmds| {
                cmds.lines()
                    .take_while(|l| l.starts_with(' '))
                    .filter(|l| l.trim().split_once("  ").is_none())
                    .map(|l| format!("paylink {} {}", path.join(" "), l.trim()))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        missing.extend(about_missing);
    }
    assert!(missing.is_empty(), "no help text: {missing:#?}");
}

#[test]
fn listener_and_live_money_flags_are_offered_only_where_they_apply() {
    let home = TempHome::new();
    let help = |args: &[&str]| {
        let mut a = args.to_vec();
        a.push("--help");
        text(&paylink(&home, &a, &[]).stdout)
    };
    for flag in ["--listen", "--public-url", "--allow-live"] {
        assert!(help(&["serve"]).contains(flag), "serve offers {flag}");
        assert!(help(&["doctor"]).contains(flag), "doctor offers {flag}");
        assert!(help(&["integration", "flow"]).contains(flag), "{flag}");
        assert!(help(&["integration", "stripe"]).contains(flag), "{flag}");
        for elsewhere in [
            &["payments", "list"][..],
            &["payments", "show"],
            &["confirmations", "list"],
            &["ledger", "verify"],
            &["integration", "show"],
            &["migrate"],
        ] {
            assert!(
                !help(elsewhere).contains(flag),
                "paylink {} offers {flag}",
                elsewhere.join(" ")
            );
        }
    }
    assert!(help(&["payments", "reconcile"]).contains("--allow-live"));
    // Given where it does not apply, it is a usage error (clap's exit 2).
    let out = paylink(&home, &["payments", "list", "--listen", "127.0.0.1:1"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

#[test]
fn allow_live_works_where_the_operator_types_it_after_integration_flow() {
    let home = TempHome::new();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data").display().to_string();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "s3cret\n").unwrap();
    let secret = secret.display().to_string();
    let env = [("PAYLINK_DATA_DIR", data.as_str())];
    let base = [
        "integration",
        "flow",
        "--api-key",
        "K",
        "--secret-key-file",
        &secret,
        "--no-verify",
    ];
    // Without it, a live account is refused, naming the flag.
    let out = paylink(&home, &base, &env);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--allow-live"),
        "{}",
        text(&out.stderr)
    );
    // Right after the subcommand, and at the end.
    for args in [
        [&["integration", "flow", "--allow-live"][..], &base[2..]].concat(),
        [&base[..], &["--allow-live"]].concat(),
    ] {
        let out = paylink(&home, &args, &env);
        assert!(
            out.status.success(),
            "{args:?}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        assert!(
            text(&out.stdout).contains("(production,"),
            "{}",
            text(&out.stdout)
        );
    }
}

pub(crate) fn draft(description: &str, minor: i64, at: i64) -> Payment {
    Payment {
        id: new_payment_id(),
        organization: "default".into(),
        environment: Environment::Development,
        amount: Money::from_minor(minor, Currency::CLP),
        description: description.into(),
        status: PaymentStatus::Draft,
        gateway: paylink::gateway::GatewayKind::Flow,
        gateway_ref: None,
        reference: format!("PL-{}", new_payment_id()),
        payment_link_url: None,
        gateway_token: None,
        customer_email: "ana@gmail.com".into(),
        entity_id: None,
        paid_at: None,
        failure_reason: None,
        created_at: Timestamp(at),
        updated_at: Timestamp(at),
        idempotency_key: new_payment_id(),
        expires_at: None,
        // Due now: `payments reconcile` looks at it.
        next_check_at: Some(Timestamp(at)),
        check_attempts: 0,
        create_attempt: 1,
        version: 1,
    }
}

/// A ledger in `parent`/data holding `payments`, closed again (sled may release its lock a
/// moment after; [`when_free`] waits for that). Returns the data directory, made by
/// paylink (owner-only, so no warning about its mode).
pub(crate) async fn ledger_with(parent: &Path, payments: &[Payment]) -> String {
    let dir = parent.join("data");
    let store = Store::open(&dir).unwrap();
    for p in payments {
        store
            .create_draft(p, "fp", None, Source::Tool)
            .await
            .unwrap();
    }
    dir.display().to_string()
}

/// Runs `f` again while the ledger is still held by the test's own dropped handle.
pub(crate) fn when_free(mut f: impl FnMut() -> Output) -> Output {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let out = f();
        if !text(&out.stderr).contains("in use by another paylink process")
            || std::time::Instant::now() > deadline
        {
            return out;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// 2026-12-02T10:00:00Z
pub(crate) const DEC_2: i64 = 1_796_205_600_000;

#[tokio::test]
async fn tables_align_long_values_with_amounts_and_times_for_people_and_colour_only_when_asked() {
    let home = TempHome::new();
    let dir = tempfile::tempdir().unwrap();
    let long = "Clase de piano, diciembre, cuatro sesiones de una hora con material";
    let ps = [
        draft("Clase", 15990, DEC_2),
        draft(long, 5000, DEC_2 + 60_000),
    ];
    let data = ledger_with(dir.path(), &ps).await;
    let env = [("PAYLINK_DATA_DIR", data.as_str())];

    let out = when_free(|| paylink(&home, &["payments", "list"], &env));
    let table = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!table.contains('\x1b'), "no colour when piped: {table:?}");
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("ID"), "{table}");
    let status_col = lines[0].find("STATUS").unwrap();
    let desc_col = lines[0].find("DESCRIPTION").unwrap();
    for p in &ps {
        let row = lines
            .iter()
            .find(|l| l.starts_with(&p.id))
            .unwrap_or_else(|| panic!("a row for {}: {table}", p.id));
        assert_eq!(row.find("draft"), Some(status_col), "{table}");
        assert_eq!(row.find("Clase"), Some(desc_col), "{table}");
    }
    assert!(table.contains("CLP 15.990"), "{table}");
    assert!(table.contains("CLP 5.000"), "{table}");
    assert!(table.contains("2026-12-02 10:01 UTC"), "{table}");
    assert!(
        table.contains("Clase de piano, diciembre, cuatro sesio…"),
        "{table}"
    );

    let forced = [("PAYLINK_DATA_DIR", data.as_str()), ("CLICOLOR_FORCE", "1")];
    let out = when_free(|| paylink(&home, &["payments", "list"], &forced));
    assert!(
        text(&out.stdout).contains("\x1b["),
        "CLICOLOR_FORCE colours"
    );
    let no_color = [
        ("PAYLINK_DATA_DIR", data.as_str()),
        ("CLICOLOR_FORCE", "1"),
        ("NO_COLOR", "1"),
    ];
    let out = when_free(|| paylink(&home, &["payments", "list"], &no_color));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains('\x1b'), "NO_COLOR wins");

    let out = when_free(|| paylink(&home, &["payments", "show", &ps[0].id], &env));
    let shown = text(&out.stdout);
    assert!(shown.contains("amount         CLP 15.990"), "{shown}");
    assert!(
        shown.contains("created        2026-12-02 10:00 UTC"),
        "{shown}"
    );
}

#[tokio::test]
async fn json_output_has_rfc3339_times_and_no_epoch_milliseconds() {
    let home = TempHome::new();
    let dir = tempfile::tempdir().unwrap();
    let p = draft("Clase", 15990, DEC_2);
    let data = ledger_with(dir.path(), std::slice::from_ref(&p)).await;
    let env = [("PAYLINK_DATA_DIR", data.as_str())];

    let out = when_free(|| paylink(&home, &["payments", "show", &p.id, "--json"], &env));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["payment"]["createdAt"], "2026-12-02T10:00:00Z", "{v}");
    assert_eq!(v["payment"]["updatedAt"], "2026-12-02T10:00:00Z", "{v}");
    assert_eq!(
        v["events"][0]["at"].as_str().map(|s| s.ends_with('Z')),
        Some(true),
        "{v}"
    );

    let out = when_free(|| paylink(&home, &["payments", "list", "--json"], &env));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["createdAt"], "2026-12-02T10:00:00Z", "{v}");
    // No number anywhere that reads as epoch milliseconds.
    let all = text(&out.stdout);
    assert!(!all.contains(&DEC_2.to_string()), "{all}");
}
