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
        provider_reference: None,
        commerce_order: format!("PL-{}", new_payment_id()),
        payment_link_url: None,
        flow_token: None,
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
    paylink::ops::payments_list(&settings(dir.path()), None, 50, false, &mut out).unwrap();
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
    paylink::ops::payments_show(&settings(dir.path()), &p.id, false, &mut out).unwrap();
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
    drop(Store::open(&dir).unwrap());
    for name in ["db", "conf"] {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
    // The operator's own directory keeps its mode (paylink only warns about it).
    assert_eq!(mode(&dir), 0o755);
}
