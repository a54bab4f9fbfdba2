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
