//! The real binary over stdio, driven by rmcp's client, against the offline sandbox.
#![allow(deprecated)] // resources/subscribe is the 2025-11-25 wire rmcp still speaks.

use std::time::Duration;

use paylink::sandbox::Outcome;
use rmcp::model::SubscribeRequestParams;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn dotted_names_are_listed_to_an_unknown_client_and_snake_names_on_request() {
    let w = World::new().await;
    let (client, _) = w.stdio(&[]).await;
    assert_eq!(
        tool_names(&client).await,
        [
            "payment.create",
            "payment.getStatus",
            "payment.list",
            "payment.refund"
        ]
    );
    let tools = client.list_all_tools().await.unwrap();
    let create = &tools[0];
    let a = create.annotations.as_ref().unwrap();
    assert_eq!(
        (
            a.read_only_hint,
            a.destructive_hint,
            a.idempotent_hint,
            a.open_world_hint
        ),
        (Some(false), Some(false), Some(true), Some(true))
    );
    assert!(create.output_schema.is_some());
    assert!(
        create
            .description
            .as_deref()
            .unwrap()
            .contains("5000 with CLP means CLP 5.000")
    );
    let get = tools[1].annotations.as_ref().unwrap();
    assert_eq!(
        (get.read_only_hint, get.idempotent_hint),
        (Some(true), Some(true))
    );
    client.cancel().await.unwrap();

    let (client, _) = w.stdio(&["--tool-names", "snake"]).await;
    assert_eq!(
        tool_names(&client).await,
        [
            "payment_create",
            "payment_get_status",
            "payment_list",
            "payment_refund"
        ]
    );
    // The dotted spelling still works in snake mode.
    let r = call(
        &client,
        "payment.create",
        json!({"amount": 5000, "description": "x", "customerEmail": "a@gmail.com"}),
    )
    .await;
    let id = structured(&r)["paymentId"].as_str().unwrap().to_string();
    let r = call(&client, "payment_get_status", json!({"entityId": id})).await;
    assert_eq!(structured(&r)["status"], "pending");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_payment_created_over_stdio_turns_paid_and_subscribers_hear_of_it() {
    let w = World::new().await;
    let (client, mut updates) = w.stdio(&[]).await;
    let r = call(
        &client,
        "payment.create",
        json!({"amount": 5000, "description": "Clase de matemáticas", "customerEmail": "ana@gmail.com", "entityId": "session-42"}),
    )
    .await;
    let created = structured(&r);
    assert_eq!(created["status"], "pending");
    assert_eq!(created["amount"], 5000);
    assert_eq!(created["currency"], "CLP");
    assert_eq!(created["environment"], "sandbox");
    assert_eq!(created["reused"], false);
    let link = created["paymentLinkUrl"].as_str().unwrap();
    assert!(
        link.starts_with(&w.sandbox.base_url) && link.contains("/app/web/pay.php?token="),
        "{link}"
    );
    // The result carries a sentence and the same JSON as text, and a resource link.
    let text = r
        .content
        .iter()
        .find_map(|c| c.as_text().map(|t| t.text.clone()))
        .unwrap();
    let (sentence, json) = text.split_once("\n\n").unwrap();
    assert!(
        sentence.starts_with("Payment link for CLP 5.000 created: "),
        "{sentence}"
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(json).unwrap(),
        created
    );
    let uri = created["resourceUri"].as_str().unwrap().to_string();
    assert!(
        r.content
            .iter()
            .any(|c| c.as_resource_link().is_some_and(|l| l.uri == uri))
    );

    client
        .subscribe(SubscribeRequestParams::new(uri.clone()))
        .await
        .unwrap();
    let token = token_of(&created);
    // Drop Flow's confirmation so that the live check of getStatus is what learns of it.
    w.sandbox.sandbox.drop_next_confirmations(1);
    w.sandbox
        .sandbox
        .settle(&token, Outcome::Paid)
        .await
        .unwrap();

    let id = created["paymentId"].as_str().unwrap();
    let r = call(&client, "payment.getStatus", json!({"entityId": id})).await;
    let s = structured(&r);
    assert_eq!(s["status"], "paid");
    assert_eq!(s["flowStatus"], 2);
    assert_eq!(s["checkedLive"], true);
    assert!(s["paidAt"].is_string());
    assert_eq!(s["paymentFor"], "session-42");

    hears_update(&mut updates, &uri).await;

    // A paid payment is answered from the ledger, without asking Flow.
    let before = w.sandbox.sandbox.requests().len();
    let r = call(&client, "payment.getStatus", json!({"paymentId": id})).await;
    assert_eq!(structured(&r)["checkedLive"], false);
    assert_eq!(w.sandbox.sandbox.requests().len(), before);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_blind_retry_returns_the_same_payment_and_one_flow_order() {
    let w = World::new().await;
    let (client, _) = w.stdio(&[]).await;
    let a = json!({"amount": 7000, "description": "Retry me", "customerEmail": "ana@gmail.com", "idempotencyKey": "booking-7"});
    let first = structured(&call(&client, "payment.create", a.clone()).await);
    let second = structured(&call(&client, "payment.create", a.clone()).await);
    assert_eq!(first["paymentId"], second["paymentId"]);
    assert_eq!(second["reused"], true);
    // Without a key, identical arguments within the window are also one payment.
    let b = json!({"amount": 8000, "description": "No key", "customerEmail": "ana@gmail.com"});
    let x = structured(&call(&client, "payment.create", b.clone()).await);
    let y = structured(&call(&client, "payment.create", b).await);
    assert_eq!(x["paymentId"], y["paymentId"]);
    let creates = w
        .sandbox
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.endpoint == "payment/create")
        .count();
    assert_eq!(creates, 2);
    // The same key with other arguments is a clear error.
    let mut changed = a;
    changed["amount"] = json!(9000);
    assert_eq!(
        error_code(&call(&client, "payment.create", changed).await),
        "idempotency_conflict"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn bad_arguments_are_refused_with_their_code_and_flow_sees_no_create() {
    let w = World::new().await;
    let (client, _) = w.stdio(&[]).await;
    // An entity that is already paid.
    let paid = structured(
        &call(&client, "payment.create", json!({"amount": 5000, "description": "d", "customerEmail": "a@gmail.com", "entityId": "booking-1"})).await,
    );
    let token = token_of(&paid);
    w.sandbox
        .sandbox
        .settle(&token, Outcome::Paid)
        .await
        .unwrap();
    let r = call(
        &client,
        "payment.getStatus",
        json!({"entityId": paid["paymentId"]}),
    )
    .await;
    assert_eq!(structured(&r)["status"], "paid");
    let creates_before = w
        .sandbox
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.endpoint == "payment/create")
        .count();

    let ok = json!({"amount": 5000, "description": "Clase", "customerEmail": "ana@gmail.com"});
    let with = |k: &str, v: serde_json::Value| {
        let mut a = ok.clone();
        a[k] = v;
        a
    };
    let without = |k: &str| {
        let mut a = ok.clone();
        a.as_object_mut().unwrap().remove(k);
        a
    };
    let table: Vec<(&str, serde_json::Value, &str)> = vec![
        (
            "negative amount",
            with("amount", json!(-5)),
            "invalid_amount",
        ),
        ("zero amount", with("amount", json!(0)), "invalid_amount"),
        (
            "CLP with decimals",
            with("amount", json!(10.5)),
            "invalid_amount",
        ),
        (
            "below Flow's minimum",
            with("amount", json!(100)),
            "amount_below_minimum",
        ),
        (
            "amount as a string",
            with("amount", json!("5000")),
            "invalid_amount",
        ),
        ("NaN", with("amount", json!("NaN")), "invalid_amount"),
        (
            "missing description",
            without("description"),
            "invalid_description",
        ),
        (
            "bad e-mail",
            with("customerEmail", json!("ana-at-gmail")),
            "invalid_email",
        ),
        (
            "unknown currency",
            with("currency", json!("XYZ")),
            "unsupported_currency",
        ),
        (
            "already-paid entity",
            with("entityId", json!("booking-1")),
            "entity_already_paid",
        ),
        (
            "description longer than Flow accepts",
            with("description", json!("x".repeat(300))),
            "invalid_description",
        ),
    ];
    for (what, a, code) in table {
        let r = call(&client, "payment.create", a).await;
        assert_eq!(error_code(&r), code, "{what}");
        let err = &r.structured_content.as_ref().unwrap()["error"];
        assert!(
            err["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}"
        );
        assert!(
            err["nextStep"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}"
        );
        assert_eq!(err["retryable"], false, "{what}");
    }
    let creates_after = w
        .sandbox
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.endpoint == "payment/create")
        .count();
    assert_eq!(creates_after, creates_before, "no bad request reached Flow");

    let r = call(
        &client,
        "payment.getStatus",
        json!({"entityId": "ent_doesnotexist000000"}),
    )
    .await;
    assert_eq!(error_code(&r), "not_found");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn flow_being_down_is_a_retryable_error_and_the_retry_finishes_the_same_payment() {
    let w = World::new().await;
    // A 500 leaves the attempt's outcome unknown: paylink sends nothing again before the
    // settle window (1 s here) has passed and a lookup found no order.
    let (client, _) = w
        .stdio_with(
            &[],
            &[("PAYLINK_CREATE_SETTLE_SECS", "1")],
            std::process::Stdio::null(),
        )
        .await;
    use paylink::sandbox::{Fault, FaultKind, FaultTarget};
    w.sandbox.sandbox.add_fault(Fault {
        target: FaultTarget::Create,
        kind: FaultKind::Http500,
        times: None,
    });
    let a = json!({"amount": 5000, "description": "Down", "customerEmail": "ana@gmail.com", "idempotencyKey": "down-1"});
    let r = call(&client, "payment.create", a.clone()).await;
    assert_eq!(error_code(&r), "gateway_unavailable");
    let err = r.structured_content.as_ref().unwrap()["error"].clone();
    assert_eq!(err["retryable"], true);
    assert!(
        err["nextStep"]
            .as_str()
            .unwrap()
            .contains("SAME idempotencyKey")
    );
    w.sandbox.sandbox.clear_faults();
    // The agent retries as told until the payment is finished.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let ok = loop {
        let r = call(&client, "payment.create", a.clone()).await;
        if r.is_error != Some(true) {
            break structured(&r);
        }
        assert_eq!(
            error_code(&r),
            "gateway_unavailable",
            "{:?}",
            r.structured_content
        );
        assert!(
            std::time::Instant::now() < deadline,
            "the retry never went through"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(ok["status"], "pending");
    assert_eq!(ok["paymentId"], err["paymentId"]);
    let created = w
        .sandbox
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.endpoint == "payment/create" && r.http_status == 200)
        .count();
    assert_eq!(created, 1, "one idempotency key, one Flow order");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn trace_logging_never_shows_a_payers_email() {
    let w = World::new().await;
    let log_dir = tempfile::tempdir().unwrap();
    let log_path = log_dir.path().join("stderr.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let (client, _) = w
        .stdio_with(&[], &[("RUST_LOG", "trace")], log.into())
        .await;
    let email = "zoe.quintana+pay@gmail.com";
    let created = structured(
        &call(
            &client,
            "payment.create",
            json!({"amount": 5000, "description": "Clase", "customerEmail": email}),
        )
        .await,
    );
    let id = created["paymentId"].as_str().unwrap().to_string();
    structured(&call(&client, "payment.getStatus", json!({ "entityId": id })).await);
    let read = client
        .read_resource(rmcp::model::ReadResourceRequestParams::new(format!(
            "payment://{id}"
        )))
        .await
        .unwrap();
    assert!(
        format!("{read:?}").contains(email),
        "the owner still sees it"
    );
    // rmcp logs each response at debug; wait until the resource read's is written.
    let read_log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    wait_for(
        "paylink to log the resources/read response",
        Duration::from_secs(10),
        || async {
            read_log().contains(&format!("payment://{id}")) && read_log().matches(&id).count() >= 3
        },
    )
    .await;
    client.cancel().await.unwrap();
    let text = read_log();
    assert!(
        !text.contains("zoe.quintana"),
        "an e-mail reached the log:\n{text}"
    );
    assert!(
        text.contains("z***@gmail.com"),
        "the requests were logged, redacted:\n{text}"
    );
}

#[tokio::test]
async fn a_gateway_or_currency_the_organization_cannot_use_is_refused_naming_the_fix() {
    let w = World::new().await;
    let (client, _) = w.stdio(&[]).await;
    let base = json!({"amount": 50, "description": "Clase", "customerEmail": "ana@gmail.com"});
    let with = |extra: serde_json::Value| {
        let mut a = base.clone();
        a.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        a
    };
    // Flow takes no euros.
    let r = call(&client, "payment.create", with(json!({"currency": "EUR"}))).await;
    assert_eq!(error_code(&r), "unsupported_currency");
    let e = error_of(&r);
    assert_eq!(e["field"], "currency");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("Flow does not take EUR"),
        "{e}"
    );
    assert!(e.get("paymentId").is_none(), "nothing was stored: {e}");
    // A gateway name paylink does not know.
    let r = call(
        &client,
        "payment.create",
        with(json!({"gateway": "paypal"})),
    )
    .await;
    assert_eq!(error_code(&r), "invalid_arguments");
    assert_eq!(error_of(&r)["field"], "gateway");
    // A gateway this organization has no account with.
    let r = call(
        &client,
        "payment.create",
        with(json!({"gateway": "stripe", "amount": 5000})),
    )
    .await;
    assert_eq!(error_code(&r), "gateway_misconfigured");
    assert_eq!(error_of(&r)["field"], "gateway");
    // Named explicitly, its own gateway works.
    let r = call(
        &client,
        "payment.create",
        with(json!({"gateway": "flow", "amount": 5000})),
    )
    .await;
    assert_eq!(structured(&r)["status"], "pending", "{r:?}");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_payment_resource_has_the_shape_of_get_status() {
    let w = World::new().await;
    let (client, _) = w.stdio(&[]).await;
    let created = structured(
        &call(
            &client,
            "payment.create",
            json!({"amount": 15990, "description": "Clase", "customerEmail": "ana@gmail.com"}),
        )
        .await,
    );
    let id = created["paymentId"].as_str().unwrap();
    let status = structured(&call(&client, "payment.getStatus", json!({"entityId": id})).await);
    let read = client
        .read_resource(rmcp::model::ReadResourceRequestParams::new(format!(
            "payment://{id}"
        )))
        .await
        .unwrap();
    let text = match &read.contents[0] {
        rmcp::model::ResourceContents::TextResourceContents { text, .. } => text.clone(),
        other => panic!("{other:?}"),
    };
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
    let p = &body["payment"];
    for key in [
        "entityId",
        "status",
        "amount",
        "amountMinor",
        "currency",
        "description",
        "paymentLinkUrl",
        "updatedAt",
    ] {
        assert_eq!(p[key], status[key], "{key}: {p}");
    }
    assert_eq!(p["amount"], 15990, "ordinary units, not {{minor}}: {p}");
    assert_eq!(p["environment"], created["environment"], "{p}");
    assert_eq!(p["environment"], "sandbox");
    assert_eq!(p["paymentId"], id);
    for t in [&p["createdAt"], &p["updatedAt"], &body["events"][0]["at"]] {
        let t = t
            .as_str()
            .unwrap_or_else(|| panic!("an RFC 3339 time, not epoch ms: {body}"));
        assert!(t.ends_with('Z') && t.contains('T'), "{t}");
    }
    client.cancel().await.unwrap();
}
