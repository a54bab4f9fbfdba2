//! The operator's commands against a real sled directory: what `payments list|show` print
//! when the ledger holds hostile text.

use paylink::config::Settings;
use paylink::domain::{
    Currency, Environment, Money, Payment, PaymentStatus, Source, Timestamp, new_payment_id,
};
use paylink::store::{DraftOutcome, Store};

fn payment(description: &str) -> Payment {
    Payment {
        id: new_payment_id(),
        organization: "default".into(),
        environment: Environment::Development,
        amount: Money::from_minor(5000, Currency::CLP),
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
        created_at: Timestamp(1_000),
        updated_at: Timestamp(1_000),
        idempotency_key: new_payment_id(),
        expires_at: None,
        next_check_at: None,
        check_attempts: 0,
        create_attempt: 1,
        version: 1,
    }
}

/// Writes `payments` into a ledger at `dir` and closes it, as an older paylink (or a
/// hand edit) could have left it.
async fn ledger_with(dir: &std::path::Path, payments: &[Payment]) {
    let store = Store::open(dir).unwrap();
    for p in payments {
        let outcome = store.create_draft(p, "fp", None, Source::Tool).await;
        assert!(
            matches!(outcome, Ok(DraftOutcome::Created(_))),
            "{outcome:?}"
        );
    }
}

/// Opens the ledger in `dir` once the previous holder's lock is gone: sled may release it
/// a moment after the last handle is dropped.
fn reopen(dir: &std::path::Path) -> Store {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match Store::open(dir) {
            Ok(store) => return store,
            Err(paylink::store::StoreError::Locked { .. })
                if std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            Err(e) => panic!("cannot reopen the ledger: {e}"),
        }
    }
}

fn settings(dir: &std::path::Path) -> Settings {
    Settings {
        data_dir: dir.to_path_buf(),
        cache_mb: 16,
        ..Settings::default()
    }
}

const HOSTILE: &str = "Clase\nent_forged  paid  CLP 999\x1b[31m red\u{202E}gnp.exe\u{E0041}";

#[tokio::test]
async fn stored_control_characters_are_escaped_and_keep_each_payment_on_one_row() {
    let dir = tempfile::tempdir().unwrap();
    let p = payment(HOSTILE);
    ledger_with(dir.path(), std::slice::from_ref(&p)).await;

    let mut out = Vec::new();
    when_free(|| {
        futures::executor::block_on(paylink::cli::payments::list(
            &settings(dir.path()),
            None,
            50,
            false,
            &mut out,
        ))
    })
    .unwrap();
    let text = String::from_utf8(out).unwrap();
    let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("ent_")).collect();
    assert_eq!(rows.len(), 1, "one payment, one row:\n{text}");
    assert!(rows[0].starts_with(&p.id), "{text}");
    assert!(rows[0].contains(r"Clase\u{a}ent_forged"), "{text}");
    assert!(rows[0].contains(r"\u{1b}[31m"), "{text}");
    for c in ['\n', '\x1b', '\u{202E}', '\u{E0041}'] {
        assert!(!rows[0].contains(c), "{c:?} reached the row: {text:?}");
    }
    assert!(
        !text.contains('\x1b') && !text.contains('\u{202E}'),
        "{text:?}"
    );

    let mut out = Vec::new();
    when_free(|| {
        futures::executor::block_on(paylink::cli::payments::show(
            &settings(dir.path()),
            &p.id,
            false,
            &mut out,
        ))
    })
    .unwrap();
    let text = String::from_utf8(out).unwrap();
    let line = text.lines().find(|l| l.starts_with("description")).unwrap();
    assert!(
        line.ends_with(
            r"Clase\u{a}ent_forged  paid  CLP 999\u{1b}[31m red\u{202e}gnp.exe\u{e0041}"
        ),
        "{text}"
    );
    assert!(
        !text.contains('\x1b') && !text.contains('\u{202E}'),
        "{text:?}"
    );
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
#[tokio::test]
async fn a_new_ledger_is_readable_by_its_owner_only() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("paylink-data");
    ledger_with(&dir, &[payment("Clase")]).await;
    assert_eq!(mode(&dir), 0o700, "the data directory");
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            seen.push(entry.file_name().to_string_lossy().into_owned());
            assert_eq!(mode(&entry.path()), 0o600, "{}", entry.path().display());
        }
    }
    assert!(
        seen.iter().any(|n| n == "db") && seen.iter().any(|n| n == "conf"),
        "{seen:?}"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn an_old_ledger_with_readable_files_is_tightened_on_open() {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("paylink-data");
    ledger_with(&dir, &[payment("Clase")]).await;
    // What paylink used to leave behind: 0755 directory, 0644 files.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    for name in ["db", "conf"] {
        std::fs::set_permissions(dir.join(name), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    drop(reopen(&dir));
    for name in ["db", "conf"] {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
    // The operator's own directory keeps its mode (paylink only warns about it).
    assert_eq!(mode(&dir), 0o755);
}

/// `paylink <args>` on the ledger in `dir`, the real binary, with no configuration around it.
fn paylink(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_paylink"))
        .args(args)
        .env("PAYLINK_DATA_DIR", dir)
        .env_remove("PAYLINK_CONFIG")
        .env("RUST_LOG", "error")
        .output()
        .unwrap()
}

/// [`paylink`], once no other holder's lock is in the way (sled may release a dropped
/// ledger's lock a moment late).
fn paylink_when_free(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let out = paylink(dir, args);
        if !text(&out.stderr).contains("in use by another paylink process")
            || std::time::Instant::now() > deadline
        {
            return out;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Runs an operator command in this process once no other holder's lock is in the way.
fn when_free<T>(mut f: impl FnMut() -> anyhow::Result<T>) -> anyhow::Result<T> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match f() {
            Err(e)
                if format!("{e:#}").contains("in use by another paylink process")
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            other => return other,
        }
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test]
async fn a_damaged_ledger_is_refused_as_damaged_every_time_not_as_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let ps: Vec<Payment> = (0..3).map(|i| payment(&format!("Clase {i}"))).collect();
    ledger_with(dir.path(), &ps).await;
    // Damage the start of sled's log. sled 0.34 reads a damaged record as the torn end of
    // the log and drops it and all that follows, so without a check the ledger would
    // open empty and be initialised afresh over the rest.
    let db = dir.path().join("db");
    let mut bytes = std::fs::read(&db).unwrap();
    assert!(bytes.len() > 1024, "the ledger's log holds the payments");
    for b in bytes.iter_mut().take(8) {
        *b ^= 0x40;
    }
    std::fs::write(&db, &bytes).unwrap();

    let e = when_free(|| {
        futures::executor::block_on(paylink::cli::payments::list(
            &settings(dir.path()),
            None,
            50,
            false,
            &mut Vec::new(),
        ))
    })
    .unwrap_err();
    let msg = format!("{e:#}");
    assert!(msg.contains("is damaged"), "{msg}");
    assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
    assert!(
        msg.contains("paylink ledger verify") && msg.contains("paylink payments reconcile"),
        "{msg}"
    );
    assert!(!msg.contains("in use") && !msg.contains("running"), "{msg}");
    // sled has no read-only mode and its recovery rewrites the start of a damaged log as
    // it opens (which is why README.md says to copy the directory aside first); what
    // paylink must not do is take the remains for a new ledger and initialise it: the
    // ledger is refused as damaged every time, by every command.
    let out = paylink_when_free(dir.path(), &["ledger", "verify"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("is damaged"),
        "{}",
        text(&out.stderr)
    );
    let out = paylink_when_free(dir.path(), &["payments", "list"]);
    assert!(
        text(&out.stderr).contains("is damaged"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn a_first_open_cut_short_is_still_a_new_ledger_not_a_damaged_one() {
    // sled's files exist (sled opened the directory) but paylink never finished
    // creating its ledger there, as after a crash during the very first start.
    let dir = tempfile::tempdir().unwrap();
    drop(sled::open(dir.path()).unwrap());
    let store = reopen(dir.path());
    assert!(store.is_empty().await.unwrap());
    drop(store);
    assert!(std::fs::metadata(dir.path().join("db")).unwrap().len() > 0);
    // From now on the directory is known to hold a ledger.
    assert!(dir.path().join("paylink-ledger").exists());
    reopen(dir.path());
}

#[tokio::test]
async fn a_ledger_held_by_another_process_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    ledger_with(dir.path(), &[payment("Clase")]).await;
    let held = reopen(dir.path());
    let out = paylink(dir.path(), &["payments", "list"]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("in use by another paylink process"),
        "{stderr}"
    );
    assert!(!stderr.contains("damaged"), "{stderr}");
    drop(held);
    let out = paylink_when_free(dir.path(), &["payments", "list"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[tokio::test]
async fn ledger_verify_passes_a_sound_ledger_and_lists_what_does_not_decode() {
    let dir = tempfile::tempdir().unwrap();
    let ps: Vec<Payment> = (0..3).map(|i| payment(&format!("Clase {i}"))).collect();
    ledger_with(dir.path(), &ps).await;
    let out = paylink_when_free(dir.path(), &["ledger", "verify"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("payments  3 (3 draft"), "{stdout}");
    assert!(stdout.contains("events    3"), "{stdout}");
    assert!(stdout.contains("Verdict: OK"), "{stdout}");

    // A payment record whose status reads but whose body does not decode.
    {
        let store = reopen(dir.path());
        let tree = store
            .db()
            .open_tree(paylink::store::layout::PAYMENTS)
            .unwrap();
        tree.insert("ent_broken", &br#"{"status":"pending"}"#[..])
            .unwrap();
        store.db().flush().unwrap();
    }
    let out = paylink_when_free(dir.path(), &["ledger", "verify"]);
    let stdout = text(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("ent_broken"), "{stdout}");
    assert!(stdout.contains("Verdict: DAMAGED"), "{stdout}");
}
