//! Moving a ledger: `paylink ledger export` from sled and `paylink ledger import` into
//! PostgreSQL (and back into a new sled directory) keep every payment, event, claim and
//! sealed integration, byte for byte as exported.

use paylink::domain::{
    Currency, Environment, Money, Payment, PaymentStatus, Source, Timestamp, Transition,
    new_payment_id,
};
use paylink::store::transfer::{export, import};
use paylink::store::{DraftOutcome, Store};

use crate::support::postgres;

fn draft(reference: &str, key: &str, at: i64) -> Payment {
    Payment {
        id: new_payment_id(),
        organization: "default".into(),
        environment: Environment::Development,
        amount: Money::from_minor(5000, Currency::CLP),
        description: "Clase de matemáticas".into(),
        status: PaymentStatus::Draft,
        gateway: paylink::gateway::GatewayKind::Flow,
        gateway_ref: None,
        reference: reference.into(),
        payment_link_url: None,
        gateway_token: None,
        customer_email: "a+b@gmail.com".into(),
        entity_id: Some(format!("entity-{reference}")),
        paid_at: None,
        failure_reason: None,
        created_at: Timestamp(at),
        updated_at: Timestamp(at),
        idempotency_key: key.into(),
        expires_at: None,
        next_check_at: Some(Timestamp(at + 1_000)),
        check_attempts: 0,
        create_attempt: 1,
        version: 1,
    }
}

/// A sled ledger with payments in every state, an expired claim taken over, and configs.
async fn populated(store: &Store) {
    for i in 0..6i64 {
        let d = draft(&format!("PL-{i}"), &format!("k{i}"), 1_000 + i);
        let DraftOutcome::Created(p) = store
            .create_draft(&d, "fp", None, Source::Tool)
            .await
            .unwrap()
        else {
            panic!()
        };
        if i >= 1 {
            let t = Transition::Pending {
                gateway_ref: format!("900{i}"),
                gateway_token: format!("tok_{i}"),
                payment_link_url: format!("https://sandbox.flow.cl/app/web/pay.php?token=tok_{i}"),
                expires_at: Some(Timestamp(90_000)),
                next_check_at: Some(Timestamp(50_000)),
            };
            store
                .apply(&p.id, &t, Source::Tool, Timestamp(2_000))
                .await
                .unwrap();
        }
        if i == 2 {
            let t = Transition::Paid {
                paid_at: Timestamp(3_000),
            };
            store
                .apply(&p.id, &t, Source::Webhook, Timestamp(3_000))
                .await
                .unwrap();
        }
    }
    // A derived key whose claim expired and was taken by a newer payment.
    let old = draft("PL-old", "auto:abc", 10_000);
    store
        .create_draft(&old, "fp", Some(Timestamp(10_500)), Source::Tool)
        .await
        .unwrap();
    let new = draft("PL-new", "auto:abc", 11_000);
    assert!(matches!(
        store
            .create_draft(&new, "fp", Some(Timestamp(20_000)), Source::Tool)
            .await
            .unwrap(),
        DraftOutcome::Created(_)
    ));
    store
        .put_config("default", "development", b"sealed-flow")
        .await
        .unwrap();
    store
        .put_config("acme", "stripe:production", b"sealed-stripe")
        .await
        .unwrap();
}

async fn exported(store: &Store) -> Vec<String> {
    let mut buf = Vec::new();
    export(store, &mut buf).await.unwrap();
    String::from_utf8(buf)
        .unwrap()
        .lines()
        .skip(1) // the header carries the export's time
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sled_ledger_round_trips_through_postgresql_and_back_unchanged() {
    let Some(db) = postgres::database().await else {
        return;
    };
    let src_dir = tempfile::tempdir().unwrap();
    let sled = Store::open(src_dir.path()).unwrap();
    populated(&sled).await;
    let original = exported(&sled).await;
    assert_eq!(original.len(), 8 + 2, "8 payments and 2 configs");
    let mut file = Vec::new();
    export(&sled, &mut file).await.unwrap();

    let pg = Store::connect(&db).await.unwrap();
    let moved = import(&pg, &mut &file[..]).await.unwrap();
    assert_eq!((moved.payments, moved.configs, moved.skipped), (8, 2, 0));
    assert_eq!(
        moved.claims, 7,
        "the expired claim moved with the payment that holds it now"
    );
    assert_eq!(exported(&pg).await, original);
    assert!(pg.check_consistency().await.unwrap().is_empty());
    // The claims work on the new backend: a retry finds its payment.
    let paid = pg.by_reference("PL-2").await.unwrap().unwrap();
    assert_eq!(paid.status, PaymentStatus::Paid);
    let retry = draft("PL-2", "k2", 99_000);
    assert_eq!(
        pg.create_draft(&retry, "fp", None, Source::Tool)
            .await
            .unwrap(),
        DraftOutcome::Existing(paid)
    );
    assert_eq!(
        pg.by_token("tok_3").await.unwrap().unwrap().reference,
        "PL-3"
    );

    // Importing again changes nothing.
    let again = import(&pg, &mut &file[..]).await.unwrap();
    assert_eq!((again.payments, again.configs, again.skipped), (0, 0, 10));

    // And back from PostgreSQL into a new sled directory.
    let mut from_pg = Vec::new();
    export(&pg, &mut from_pg).await.unwrap();
    let back_dir = tempfile::tempdir().unwrap();
    let back = Store::open(back_dir.path()).unwrap();
    import(&back, &mut &from_pg[..]).await.unwrap();
    assert_eq!(exported(&back).await, original);
    assert!(back.check_consistency().await.unwrap().is_empty());
}

#[tokio::test]
async fn an_import_of_something_else_is_refused_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for (input, says) in [
        ("", "no paylink-ledger header"),
        ("{\"kind\":\"payment\"}\n", "line 1"),
        (
            "{\"kind\":\"paylink-ledger\",\"format\":9,\"exportedAt\":\"x\",\"payments\":0}\n",
            "format 9",
        ),
        ("not json\n", "line 1"),
    ] {
        let e = import(&store, &mut input.as_bytes())
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains(says), "{input:?}: {e}");
    }
    assert!(store.is_empty().await.unwrap());
}

/// The commands as an operator runs them: export from the sled data dir, import with
/// --database-url, list from PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_export_and_import_commands_move_a_ledger_to_postgresql() {
    let Some(db) = postgres::database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    {
        let sled = Store::open(dir.path()).unwrap();
        populated(&sled).await;
    }
    let file = dir.path().join("ledger.jsonl");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_paylink"))
            .args(args)
            .env("PAYLINK_DATA_DIR", dir.path())
            .env_remove("PAYLINK_DATABASE_URL")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    run(&["ledger", "export", "--out", file.to_str().unwrap()]);
    let said = run(&[
        "ledger",
        "import",
        file.to_str().unwrap(),
        "--database-url",
        &db,
    ]);
    assert!(said.contains("Imported 8 payments"), "{said}");
    assert!(
        !said.contains("postgres://"),
        "the URL is never printed: {said}"
    );
    let listed = run(&["payments", "list", "--database-url", &db, "--json"]);
    let list: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 8);
}

/// The database URL carries a password: an unreachable or malformed URL is reported with
/// what to fix, never with the password, and nothing starts.
#[tokio::test]
async fn a_bad_database_url_is_explained_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let free = crate::support::free_port();
    for (url, says) in [
        (
            format!("postgres://paylink:s3cretpw@127.0.0.1:{free}/ledger"),
            format!("cannot connect to PostgreSQL at 127.0.0.1:{free}/ledger"),
        ),
        (
            "mysql://paylink:s3cretpw@db/ledger".to_string(),
            "must start with postgres://".to_string(),
        ),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_paylink"))
            .args(["payments", "list", "--database-url", &url])
            .env("PAYLINK_DATA_DIR", dir.path())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{url}");
        assert!(err.contains(&says), "{url}: {err}");
        assert!(!err.contains("s3cretpw"), "the password leaked: {err}");
        let out = String::from_utf8_lossy(&out.stdout);
        assert!(!out.contains("s3cretpw"), "the password leaked: {out}");
    }
}
