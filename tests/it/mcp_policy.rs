//! The spending policy through the real binary: the settings' policy over stdio, and a
//! policy stored with `paylink integration policy` for an organization of MCP over HTTP.

use std::process::Stdio;

use rmcp::ServiceExt;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::json;

use crate::support::*;

const ACME: &str = "acme-token-0123456789abcdef";

fn gateway_creates(w: &World) -> usize {
    w.sandbox
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.endpoint == "payment/create")
        .count()
}

#[tokio::test]
async fn payments_above_the_limit_or_in_another_currency_are_refused_before_the_gateway() {
    let w = World::new().await;
    let (client, _) = w
        .stdio_with(
            &[],
            &[
                ("PAYLINK_POLICY_MAX_PER_PAYMENT", "CLP 500000"),
                ("PAYLINK_POLICY_CURRENCIES", "CLP"),
            ],
            Stdio::null(),
        )
        .await;
    let r = call(
        &client,
        "payment.create",
        json!({"amount": 500001, "description": "Moto", "customerEmail": "ana@gmail.com"}),
    )
    .await;
    let e = error_of(&r);
    assert_eq!(e["code"], "policy_limit", "{e}");
    let message = e["message"].as_str().unwrap();
    assert!(message.contains("max per payment"), "{message}");
    assert!(message.contains("CLP 500000"), "{message}");
    assert_eq!(e["retryable"], false);
    let next = e["nextStep"].as_str().unwrap();
    assert!(next.contains("Do NOT retry"), "{next}");
    assert!(next.contains("paylink integration policy"), "{next}");

    let r = call(
        &client,
        "payment.create",
        json!({"amount": 10, "currency": "USD", "description": "Moto", "customerEmail": "ana@gmail.com"}),
    )
    .await;
    let e = error_of(&r);
    assert_eq!(e["code"], "policy_limit", "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("only in CLP; USD is not allowed"),
        "{e}"
    );
    assert_eq!(gateway_creates(&w), 0, "nothing reached the gateway");

    // At the limit is allowed.
    let ok = structured(
        &call(
            &client,
            "payment.create",
            json!({"amount": 500000, "description": "Moto", "customerEmail": "ana@gmail.com"}),
        )
        .await,
    );
    assert_eq!(ok["status"], "pending");
    assert_eq!(gateway_creates(&w), 1);
    client.cancel().await.unwrap();
}

async fn paylink(w: &World, args: &[&str]) -> (bool, String) {
    let out = tokio::process::Command::new(BIN)
        .args(args)
        .envs(w.env())
        .output()
        .await
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn a_stored_policy_limits_its_organization_per_day_until_it_is_cleared() {
    let w = World::new().await;
    let tokens = format!("{ACME}=acme");
    let (_child, url) = w.http(&[("PAYLINK_HTTP_TOKENS", &tokens)], &[]).await;
    let mut cfg = StreamableHttpClientTransportConfig::with_uri(url.clone());
    cfg = cfg.auth_header(ACME.to_string());
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let acme = Recorder(tx)
        .serve(StreamableHttpClientTransport::from_config(cfg))
        .await
        .unwrap();

    let (ok, out) = paylink(
        &w,
        &[
            "integration",
            "policy",
            "--organization",
            "acme",
            "--max-per-day",
            "CLP 10000",
            "--currencies",
            "CLP",
        ],
    )
    .await;
    assert!(ok, "{out}");
    let (ok, out) = paylink(
        &w,
        &["integration", "policy", "--organization", "acme", "--show"],
    )
    .await;
    assert!(ok, "{out}");
    assert!(out.contains("stored in the ledger"), "{out}");
    assert!(out.contains("max per day:     CLP 10000"), "{out}");
    // The stored policy is no integration: listing them still works.
    let (ok, out) = paylink(&w, &["integration", "show"]).await;
    assert!(ok, "{out}");

    let create = |key: &str| json!({"amount": 6000, "description": "Clase", "customerEmail": "a@gmail.com", "idempotencyKey": key});
    let first = structured(&call(&acme, "payment.create", create("k1")).await);
    assert_eq!(first["status"], "pending");
    let e = error_of(&call(&acme, "payment.create", create("k2")).await);
    assert_eq!(e["code"], "policy_limit", "{e}");
    let message = e["message"].as_str().unwrap();
    assert!(message.contains("max per day"), "{message}");
    assert!(message.contains("CLP 10000"), "{message}");
    assert!(
        message.contains("CLP 6000 is already spent today"),
        "{message}"
    );
    // A retry of the first is the same payment, not a new spend.
    let again = structured(&call(&acme, "payment.create", create("k1")).await);
    assert_eq!(again["paymentId"], first["paymentId"]);
    assert_eq!(gateway_creates(&w), 1);

    let (ok, out) = paylink(
        &w,
        &["integration", "policy", "--organization", "acme", "--clear"],
    )
    .await;
    assert!(ok, "{out}");
    let second = structured(&call(&acme, "payment.create", create("k2")).await);
    assert_eq!(second["status"], "pending");
    let (ok, out) = paylink(
        &w,
        &["integration", "policy", "--organization", "acme", "--show"],
    )
    .await;
    assert!(ok && out.contains("none set"), "{out}");

    let (ok, out) = paylink(
        &w,
        &[
            "integration",
            "policy",
            "--organization",
            "acme",
            "--max-per-day",
            "CLP 1.5",
        ],
    )
    .await;
    assert!(!ok && out.contains("--max-per-day"), "{out}");
    acme.cancel().await.unwrap();
}
