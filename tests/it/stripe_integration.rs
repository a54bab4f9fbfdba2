#![allow(deprecated)] // resources/subscribe is the 2025-11-25 wire rmcp still speaks.
//! Stripe integrations stored in the ledger (`paylink integration stripe`), against the
//! offline Stripe sandbox over loopback: the key is tried before it is stored, listings
//! never show a secret, `doctor` names a refused stored key, and `serve` takes Stripe
//! payments through a stored integration alone (no `STRIPE_*` variables).

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use paylink::sandbox::stripe::{
    DEFAULT_STRIPE_TEST_KEY, DEFAULT_WEBHOOK_SECRET, RunningStripeSandbox, StripeSandbox,
    StripeSandboxConfig, WebhookEndpointConfig,
};
use serde_json::{Value, json};

use crate::support::*;

/// The binary with `args`, no gateway variables but `env`, in a home of its own; async, so
/// the in-process sandbox keeps answering while it runs.
async fn paylink(args: &[&str], env: &[(&str, &str)]) -> Output {
    let home = TempHome::new();
    tokio::process::Command::new(BIN)
        .args(args)
        .envs(home.env())
        .env_remove("FLOW_API_KEY")
        .env_remove("FLOW_SECRET_KEY")
        .env_remove("FLOW_BASE_URL")
        .env_remove("STRIPE_SECRET_KEY")
        .env_remove("STRIPE_WEBHOOK_SECRET")
        .env_remove("STRIPE_API_BASE")
        .env_remove("PAYLINK_ALLOW_LIVE")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn write(dir: &Path, name: &str, content: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, format!("{content}\n")).unwrap();
    p.display().to_string()
}

/// `paylink integration stripe` for `org` with `key` at the sandbox, plus `extra`.
async fn integration_stripe(
    env: &[(&str, &str)],
    dir: &Path,
    org: &str,
    api_base: &str,
    key: &str,
    extra: &[&str],
) -> Output {
    let key_file = write(dir, &format!("{org}.key"), key);
    let mut args = vec![
        "integration",
        "stripe",
        "--organization",
        org,
        "--api-base",
        api_base,
        "--secret-key-file",
        &key_file,
        "--currency",
        "USD",
    ];
    args.extend_from_slice(extra);
    paylink(&args, env).await
}

async fn stored_stripe(env: &[(&str, &str)]) -> Vec<Value> {
    let out = paylink(&["integration", "show", "--json"], env).await;
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice::<Vec<Value>>(&out.stdout)
        .unwrap()
        .into_iter()
        .filter(|i| i["gateway"] == "stripe")
        .collect()
}

struct Dir {
    _tmp: tempfile::TempDir,
    path: std::path::PathBuf,
    data: String,
}

fn dir() -> Dir {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().to_path_buf();
    let data = path.join("data").display().to_string();
    Dir {
        _tmp: tmp,
        path,
        data,
    }
}

#[tokio::test]
async fn a_key_is_stored_only_once_stripe_accepts_it_and_is_listed_masked() {
    let stripe = StripeSandbox::start(StripeSandboxConfig::default())
        .await
        .unwrap();
    let d = dir();
    let env = [
        ("PAYLINK_DATA_DIR", d.data.as_str()),
        ("PAYLINK_LISTEN", "127.0.0.1:0"),
        ("PAYLINK_PUBLIC_URL", "https://pay.example.com"),
        ("RUST_LOG", "off"),
    ];
    let base = stripe.api_base.as_str();

    // A key the sandbox refuses is not stored.
    let out = integration_stripe(&env, &d.path, "acme", base, "sk_test_wrong", &[]).await;
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("nothing was stored"), "{}", text(&out));
    assert!(!text(&out).contains("sk_test_wrong"), "{}", text(&out));
    assert!(stored_stripe(&env).await.is_empty());

    // A live key needs --allow-live (refused before anything is asked of Stripe).
    let out =
        integration_stripe(&env, &d.path, "acme", base, "sk_live_0123456789abcdef", &[]).await;
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("--allow-live"), "{}", text(&out));
    assert!(!text(&out).contains("0123456789abcdef"), "{}", text(&out));
    assert!(stored_stripe(&env).await.is_empty());

    // The sandbox's key is accepted and stored with its webhook secret.
    let webhook = write(&d.path, "whsec", DEFAULT_WEBHOOK_SECRET);
    let out = integration_stripe(
        &env,
        &d.path,
        "acme",
        base,
        DEFAULT_STRIPE_TEST_KEY,
        &["--webhook-secret-file", &webhook],
    )
    .await;
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(
        all.contains("https://pay.example.com/webhook/stripe/acme/development"),
        "{all}"
    );
    assert!(!all.contains(DEFAULT_STRIPE_TEST_KEY), "{all}");
    assert!(!all.contains(DEFAULT_WEBHOOK_SECRET), "{all}");

    // --no-verify stores a key the sandbox would refuse.
    let out = integration_stripe(
        &env,
        &d.path,
        "globex",
        base,
        "sk_test_wrong_but_untried",
        &["--no-verify"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));

    let listed = stored_stripe(&env).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[0]["organization"], "acme");
    assert_eq!(listed[0]["environment"], "development");
    assert_eq!(listed[0]["secretKey"], "sk_test_…dbox");
    assert_eq!(listed[0]["webhookSecrets"].as_array().unwrap().len(), 1);
    assert_eq!(listed[1]["organization"], "globex");
    assert_eq!(listed[1]["secretKey"], "sk_test_…ried");
    assert_eq!(listed[1]["webhookSecrets"], json!([]));

    for args in [
        &["integration", "show"][..],
        &["integration", "show", "--json"],
    ] {
        let out = paylink(args, &env).await;
        let all = text(&out);
        assert!(out.status.success(), "{all}");
        assert!(all.contains("sk_test_…dbox"), "{all}");
        for secret in [
            DEFAULT_STRIPE_TEST_KEY,
            DEFAULT_WEBHOOK_SECRET,
            "sk_test_wrong_but_untried",
        ] {
            assert!(!all.contains(secret), "{secret} shown: {all}");
        }
    }
    // Nor in the ledger's files in the clear.
    for f in walk(Path::new(&d.data)) {
        let bytes = std::fs::read(&f).unwrap_or_default();
        let hay = String::from_utf8_lossy(&bytes);
        assert!(!hay.contains(DEFAULT_STRIPE_TEST_KEY), "{}", f.display());
        assert!(!hay.contains(DEFAULT_WEBHOOK_SECRET), "{}", f.display());
    }

    // Rotating the webhook secret keeps both accepted for the grace period.
    let newer = write(&d.path, "whsec2", "whsec_the_next_one_0123456789");
    let out = paylink(
        &[
            "integration",
            "stripe",
            "rotate-webhook-secret",
            "--organization",
            "acme",
            "--webhook-secret-file",
            &newer,
            "--grace-hours",
            "2",
        ],
        &env,
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let secrets = stored_stripe(&env).await[0]["webhookSecrets"].clone();
    let secrets = secrets.as_array().unwrap();
    assert_eq!(secrets.len(), 2, "{secrets:?}");
    assert!(secrets[0]["expiresAt"].is_string(), "{secrets:?}");
    assert!(secrets[1]["expiresAt"].is_null(), "{secrets:?}");

    // Rotating the key: a refused one changes nothing; the right one replaces it.
    let bad = write(&d.path, "bad.key", "sk_test_not_this_one");
    let rotate = |file: String| async move {
        paylink(
            &[
                "integration",
                "stripe",
                "rotate-key",
                "--organization",
                "globex",
                "--secret-key-file",
                &file,
            ],
            &env,
        )
        .await
    };
    let out = rotate(bad).await;
    assert!(!out.status.success(), "{}", text(&out));
    let good = write(&d.path, "good.key", DEFAULT_STRIPE_TEST_KEY);
    let out = rotate(good).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(stored_stripe(&env).await[1]["secretKey"], "sk_test_…dbox");

    // Disable, then remove.
    let out = paylink(
        &[
            "integration",
            "disable",
            "--gateway",
            "stripe",
            "--organization",
            "globex",
        ],
        &env,
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(stored_stripe(&env).await[1]["active"], false);
    let out = paylink(
        &[
            "integration",
            "remove",
            "--gateway",
            "stripe",
            "--organization",
            "globex",
        ],
        &env,
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let left = stored_stripe(&env).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["organization"], "acme");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                files.extend(walk(&p));
            } else {
                files.push(p);
            }
        }
    }
    files
}

#[tokio::test]
async fn doctor_names_the_stored_stripe_integration_whose_key_is_refused() {
    let stripe = StripeSandbox::start(StripeSandboxConfig::default())
        .await
        .unwrap();
    let d = dir();
    let env = [
        ("PAYLINK_DATA_DIR", d.data.as_str()),
        ("PAYLINK_LISTEN", "127.0.0.1:0"),
        ("RUST_LOG", "off"),
    ];
    let base = stripe.api_base.as_str();
    let webhook = write(&d.path, "whsec", DEFAULT_WEBHOOK_SECRET);
    let out = integration_stripe(
        &env,
        &d.path,
        "globex",
        base,
        DEFAULT_STRIPE_TEST_KEY,
        &["--webhook-secret-file", &webhook],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let doctor = paylink(&["doctor"], &env).await;
    let report = String::from_utf8_lossy(&doctor.stdout).to_string();
    assert!(doctor.status.success(), "{report}");
    assert!(
        report.contains("ok    stripe integration globex (development)"),
        "{report}"
    );

    let out = integration_stripe(
        &env,
        &d.path,
        "acme",
        base,
        "sk_test_wrong",
        &["--no-verify"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let doctor = paylink(&["doctor"], &env).await;
    let report = String::from_utf8_lossy(&doctor.stdout).to_string();
    assert!(!doctor.status.success(), "{report}");
    let acme: Vec<&str> = report
        .lines()
        .filter(|l| l.contains("stripe integration acme (development)"))
        .collect();
    assert!(
        acme.iter()
            .any(|l| l.trim_start().starts_with("FAIL") && l.contains("refused the key")),
        "{report}"
    );
    assert!(
        acme.iter()
            .any(|l| l.trim_start().starts_with("FAIL") && l.contains("no webhook secret")),
        "{report}"
    );
    assert!(
        report.contains("ok    stripe integration globex (development)"),
        "{report}"
    );
    assert!(report.contains("Verdict: NOT READY"), "{report}");
    assert!(!report.contains("sk_test_wrong"), "{report}");
}

async fn sandbox_for(side: &str) -> RunningStripeSandbox {
    StripeSandbox::start(StripeSandboxConfig {
        webhook_endpoints: vec![WebhookEndpointConfig::new(format!(
            "{side}/webhook/stripe/default/development"
        ))],
        ..StripeSandboxConfig::default()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn serve_takes_a_stripe_payment_through_a_stored_integration() {
    let world = World::new().await;
    let port = free_port();
    let side = format!("http://127.0.0.1:{port}");
    let listen = format!("127.0.0.1:{port}");
    let stripe = sandbox_for(&side).await;
    let data = world.data_dir.path().display().to_string();
    let keys = tempfile::tempdir().unwrap();
    let env = [
        ("PAYLINK_DATA_DIR", data.as_str()),
        ("PAYLINK_LISTEN", listen.as_str()),
        ("RUST_LOG", "off"),
    ];
    let webhook = write(keys.path(), "whsec", DEFAULT_WEBHOOK_SECRET);
    let out = integration_stripe(
        &env,
        keys.path(),
        "default",
        &stripe.api_base,
        DEFAULT_STRIPE_TEST_KEY,
        &["--webhook-secret-file", &webhook],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));

    // FLOW_* (the world's Flow sandbox) stays the default gateway; no STRIPE_* is set.
    let (client, mut updates) = world
        .stdio_with(&[], &[("PAYLINK_LISTEN", listen.as_str())], Stdio::null())
        .await;
    let created = structured(
        &call(
            &client,
            "payment.create",
            json!({"amount": 12.5, "currency": "USD", "description": "Clase de matemáticas",
                   "customerEmail": "ana@gmail.com", "gateway": "stripe",
                   "idempotencyKey": "stored-stripe-1"}),
        )
        .await,
    );
    assert_eq!(created["status"], "pending", "{created}");
    let link = created["paymentLinkUrl"].as_str().unwrap().to_string();
    assert!(
        link.starts_with(&format!("{}/c/pay/cs_test_", stripe.api_base)),
        "{link}"
    );
    let id = created["paymentId"].as_str().unwrap().to_string();
    client
        .subscribe(rmcp::model::SubscribeRequestParams::new(
            created["resourceUri"].as_str().unwrap(),
        ))
        .await
        .unwrap();
    let paid = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(&link)
        .form(&[("card", "4242424242424242")])
        .send()
        .await
        .unwrap();
    assert!(paid.status().is_redirection() || paid.status().is_success());
    // The event, signed with the stored webhook secret, is accepted and the payment paid.
    hears_update(&mut updates, created["resourceUri"].as_str().unwrap()).await;
    wait_for("the payment to be paid", Duration::from_secs(10), || {
        let (client, id) = (&client, id.clone());
        async move {
            let status =
                structured(&call(client, "payment.getStatus", json!({"entityId": id})).await);
            status["status"] == "paid"
        }
    })
    .await;
    client.cancel().await.unwrap();
}
