//! The merchant an organization's payers see on the return page: set with `paylink
//! integration merchant` (the real binary on a real sled directory), stored in the ledger,
//! winning over the `PAYLINK_MERCHANT_*` settings, and absent (a neutral page) otherwise.

use paylink::payer::Merchant;
use paylink::payments::merchant;

use crate::support::webhook::Harness;

fn paylink(dir: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_paylink"))
        .args(args)
        .env("PAYLINK_DATA_DIR", dir)
        .env_remove("PAYLINK_CONFIG")
        .env_remove("PAYLINK_MERCHANT_NAME")
        .env_remove("PAYLINK_MERCHANT_URL")
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn an_operator_sets_shows_and_clears_an_organizations_merchant() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (ok, out) = paylink(
        d,
        &[
            "integration",
            "merchant",
            "--organization",
            "acme",
            "--url",
            "javascript:alert(1)",
        ],
    );
    assert!(
        !ok && out.contains("--url") && out.contains("https://"),
        "{out}"
    );
    assert_eq!(out.trim().lines().count(), 1, "one line: {out}");
    let (ok, out) = paylink(
        d,
        &[
            "integration",
            "merchant",
            "--organization",
            "acme",
            "--name",
            "Academia Sol",
            "--url",
            "https://academiasol.example/",
        ],
    );
    assert!(ok, "{out}");
    let (ok, out) = paylink(
        d,
        &[
            "integration",
            "merchant",
            "--organization",
            "acme",
            "--show",
        ],
    );
    assert!(ok, "{out}");
    assert!(
        out.contains("stored in the ledger")
            && out.contains("Academia Sol")
            && out.contains("https://academiasol.example"),
        "{out}"
    );
    // Integration listings are not confused by the stored merchant.
    let (ok, out) = paylink(d, &["integration", "show"]);
    assert!(ok, "{out}");
    let (ok, out) = paylink(
        d,
        &[
            "integration",
            "merchant",
            "--organization",
            "acme",
            "--clear",
        ],
    );
    assert!(ok && out.contains("Removed"), "{out}");
    let (ok, out) = paylink(
        d,
        &[
            "integration",
            "merchant",
            "--organization",
            "acme",
            "--show",
        ],
    );
    assert!(ok && out.contains("neutral"), "{out}");
}

#[tokio::test]
async fn a_stored_merchant_wins_over_the_settings_and_other_organizations_see_a_neutral_page() {
    let h = Harness::start_with_options(
        |_| {},
        |o| {
            o.merchant_organization = "default".into();
            o.merchant = Merchant {
                name: Some("From Settings".into()),
                url: None,
            };
        },
    )
    .await;
    let p = h.create(15990).await;
    let url = format!("{}/payment/return?token={}", h.base, Harness::token(&p));
    let page = || async { h.http.get(&url).send().await.unwrap().text().await.unwrap() };
    let html = page().await;
    assert!(
        html.contains(">From Settings<") && !html.contains("id=\"back\""),
        "{html}"
    );

    let stored = Merchant {
        name: Some("Academia Sol".into()),
        url: Some("https://academiasol.example".into()),
    };
    merchant::store(&h.store, "default", &stored).await.unwrap();
    let html = page().await;
    assert!(html.contains(">Academia Sol<"), "{html}");
    assert!(
        html.contains("href=\"https://academiasol.example\"")
            && html.contains(">Volver a Academia Sol</a>"),
        "{html}"
    );

    // Another organization with nothing stored gets the neutral page, never the default's.
    let other = merchant::effective(&h.store, "globex", "default", &stored)
        .await
        .unwrap();
    assert_eq!(other, Merchant::default());
}
