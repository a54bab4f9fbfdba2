//! Where the ledger lives when nothing names it (the per-user data directory), and that
//! the commands that only read never create one: they say where they looked and stop.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use paylink::cli::EXIT_NO_LEDGER;
use paylink::store::ledger_exists;

use crate::support::{BIN, TempHome, everything_under};

/// The commands that only read the ledger.
const READ_ONLY: &[&[&str]] = &[
    &["payments", "list"],
    &["payments", "list", "--json"],
    &["payments", "show", "ent_nothing"],
    &["confirmations", "list"],
    &["integration", "show"],
    &["integration", "show", "--json"],
    &["ledger", "verify"],
    &["ledger", "export"],
];

/// `paylink <args>` run from `cwd` with no data directory named: no PAYLINK_DATA_DIR, no
/// paylink.toml, no gateway account, and `home` as the user's home.
fn paylink(home: &TempHome, cwd: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(cwd)
        .envs(home.env())
        .env("PAYLINK_LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "off")
        .stdin(Stdio::null());
    for var in paylink::config::Settings::variables()
        .chain(["FLOW_API_KEY", "FLOW_SECRET_KEY", "FLOW_BASE_URL"])
        .chain([
            "STRIPE_SECRET_KEY",
            "STRIPE_WEBHOOK_SECRET",
            "STRIPE_API_BASE",
        ])
        .filter(|v| *v != "PAYLINK_LISTEN")
    {
        cmd.env_remove(var);
    }
    cmd.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The command stopped with the no-ledger status and one line naming `dir` and the ways
/// to choose another directory.
fn says_no_ledger_in(out: &Output, dir: &Path, args: &[&str]) {
    let err = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(i32::from(EXIT_NO_LEDGER)),
        "{args:?}: {err}"
    );
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{args:?}: one line, got: {err}");
    let line = lines[0];
    assert!(
        line.contains(&format!("no ledger yet in {}", dir.display())),
        "{args:?}: {line}"
    );
    assert!(
        line.contains("PAYLINK_DATA_DIR") && line.contains("--data-dir"),
        "{args:?}: {line}"
    );
}

fn nothing_in(dir: &Path) {
    assert_eq!(
        everything_under(dir),
        Vec::<PathBuf>::new(),
        "{}",
        dir.display()
    );
}

#[test]
fn read_only_commands_without_a_ledger_name_the_per_user_dir_and_create_nothing() {
    let home = TempHome::new();
    let cwd = tempfile::tempdir().unwrap();
    for args in READ_ONLY {
        let out = paylink(&home, cwd.path(), args);
        says_no_ledger_in(&out, &home.data_dir(), args);
        assert!(out.stdout.is_empty(), "{args:?}: {}", text(&out.stdout));
    }
    // doctor reports it as a finding: serve makes the ledger on its first start.
    let doctor = paylink(&home, cwd.path(), &["doctor"]);
    let report = text(&doctor.stdout);
    assert!(doctor.status.success(), "{report}{}", text(&doctor.stderr));
    assert!(
        report.contains(&format!(
            "note  ledger: no ledger yet in {}",
            home.data_dir().display()
        )),
        "{report}"
    );
    assert!(report.contains("Verdict: READY"), "{report}");
    // No directory, no file: not in the home, not where the commands ran.
    nothing_in(home.path());
    nothing_in(cwd.path());
}

#[test]
fn without_xdg_data_home_the_default_is_under_home_local_share() {
    let home = TempHome::new();
    let cwd = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["payments", "list"])
        .current_dir(cwd.path())
        .env("HOME", home.path())
        .env_remove("XDG_DATA_HOME")
        .env_remove("PAYLINK_DATA_DIR")
        .env_remove("PAYLINK_CONFIG")
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    says_no_ledger_in(
        &out,
        &home.path().join(".local/share/paylink"),
        &["payments", "list"],
    );
    nothing_in(home.path());
    nothing_in(cwd.path());
}

#[test]
fn a_writing_command_creates_the_ledger_in_the_per_user_dir_where_readers_then_find_it() {
    let home = TempHome::new();
    let cwd = tempfile::tempdir().unwrap();
    let out = paylink(&home, cwd.path(), &["payments", "reconcile"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        ledger_exists(&home.data_dir()),
        "{:?}",
        everything_under(home.path())
    );
    nothing_in(cwd.path());

    let list = paylink(&home, cwd.path(), &["payments", "list"]);
    assert!(list.status.success(), "{}", text(&list.stderr));
    assert!(
        text(&list.stdout).contains("0 shown"),
        "{}",
        text(&list.stdout)
    );
    let verify = paylink(&home, cwd.path(), &["ledger", "verify"]);
    assert!(verify.status.success(), "{}", text(&verify.stderr));
    assert!(
        text(&verify.stdout).contains(&format!("ledger    {}", home.data_dir().display())),
        "{}",
        text(&verify.stdout)
    );
    let doctor = paylink(&home, cwd.path(), &["doctor"]);
    assert!(
        text(&doctor.stdout).contains(&format!("ok    ledger: {}", home.data_dir().display())),
        "{}",
        text(&doctor.stdout)
    );
}

#[test]
fn a_ledger_in_the_former_default_dir_is_pointed_at_not_replaced() {
    let home = TempHome::new();
    let cwd = tempfile::tempdir().unwrap();
    // What an earlier paylink left where it was started: ./paylink-data.
    let made = Command::new(BIN)
        .args(["payments", "reconcile"])
        .current_dir(cwd.path())
        .envs(home.env())
        .env("PAYLINK_DATA_DIR", "paylink-data")
        .env("PAYLINK_LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "off")
        .env_remove("PAYLINK_CONFIG")
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", text(&made.stderr));
    assert!(ledger_exists(&cwd.path().join("paylink-data")));

    let out = paylink(&home, cwd.path(), &["payments", "list"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(i32::from(EXIT_NO_LEDGER)), "{err}");
    assert!(
        err.contains(&home.data_dir().display().to_string())
            && err.contains("./paylink-data")
            && err.contains("--data-dir paylink-data"),
        "{err}"
    );
    // serve would start on a new, empty ledger beside it: doctor says NOT READY.
    let doctor = paylink(&home, cwd.path(), &["doctor"]);
    let report = text(&doctor.stdout);
    assert!(!doctor.status.success(), "{report}");
    assert!(report.contains("FAIL  ledger: no ledger in"), "{report}");
    nothing_in(home.path());
}
