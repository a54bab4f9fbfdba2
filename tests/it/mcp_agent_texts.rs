//! What an agent sees, through the real binary over stdio: tool names chosen by the
//! client's `clientInfo.name`, getStatus's advertised schema, the plain sentence that opens
//! each result's text, and honest errors for a lost link and a currency the account does
//! not take.

use std::process::Stdio;

use paylink::sandbox::{Outcome, Sandbox, SandboxConfig};
use rmcp::ServiceExt;
use rmcp::model::{ClientCapabilities, ClientConfig, Implementation};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use serde_json::json;

use crate::support::*;

type Named = RunningService<RoleClient, ClientConfig>;

/// `paylink serve` over stdio with `env`, as a client whose `clientInfo.name` is `client`.
async fn serve_as(client: &str, env: Vec<(String, String)>, extra_args: &[&str]) -> Named {
    let args: Vec<String> = extra_args.iter().map(|s| s.to_string()).collect();
    let cmd = tokio::process::Command::new(BIN).configure(|c| {
        c.arg("serve").args(&args);
        for var in [
            "FLOW_API_KEY",
            "FLOW_SECRET_KEY",
            "FLOW_BASE_URL",
            "PAYLINK_DATABASE_URL",
        ] {
            c.env_remove(var);
        }
        c.envs(env).kill_on_drop(true);
    });
    let (transport, _) = TokioChildProcess::builder(cmd)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new(client, "1.0.0"),
    )
    .serve(transport)
    .await
    .expect("MCP handshake over stdio")
}

/// The text block of a result.
fn text_of(r: &rmcp::model::CallToolResult) -> String {
    r.content
        .iter()
        .find_map(|c| c.as_text().map(|t| t.text.clone()))
        .expect("a text block")
}

/// The sentence before the blank line; checks that the JSON after it is the
/// structuredContent, exactly.
fn sentence_of(r: &rmcp::model::CallToolResult) -> String {
    let text = text_of(r);
    let (sentence, json) = text
        .split_once("\n\n")
        .unwrap_or_else(|| panic!("no blank line after the sentence: {text}"));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(json).unwrap(),
        structured(r),
        "the JSON after the sentence is the structuredContent"
    );
    sentence.to_string()
}

#[tokio::test]
async fn clients_that_reject_dots_are_listed_snake_names_and_others_dotted() {
    let w = World::new().await;
    for (client, want) in [
        (
            "claude-code",
            [
                "payment_create",
                "payment_get_status",
                "payment_list",
                "payment_refund",
            ],
        ),
        (
            "Claude Desktop",
            [
                "payment_create",
                "payment_get_status",
                "payment_list",
                "payment_refund",
            ],
        ),
        (
            "my-agent",
            [
                "payment.create",
                "payment.getStatus",
                "payment.list",
                "payment.refund",
            ],
        ),
    ] {
        let c = serve_as(client, w.env(), &[]).await;
        assert_eq!(tool_names(&c).await, want, "{client}");
        let instructions = c
            .peer_info()
            .and_then(|i| i.instructions.clone())
            .unwrap_or_default();
        assert!(
            instructions.contains(&format!("Call {}", want[0])),
            "{client}: {instructions}"
        );
        // Both spellings are callable whatever is listed.
        let created = structured(
            &call(
                &c,
                "payment.create",
                json!({"amount": 5000, "description": "Clase", "customerEmail": "ana@gmail.com"}),
            )
            .await,
        );
        let id = created["paymentId"].clone();
        for name in ["payment.getStatus", "payment_get_status"] {
            let r = call(&c, name, json!({ "entityId": id })).await;
            assert_eq!(structured(&r)["status"], "pending", "{client} {name}");
        }
        c.cancel().await.unwrap();
    }
    // An explicit choice wins over the client's name.
    let c = serve_as("claude-code", w.env(), &["--tool-names", "dotted"]).await;
    assert_eq!(
        tool_names(&c).await,
        [
            "payment.create",
            "payment.getStatus",
            "payment.list",
            "payment.refund"
        ]
    );
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn get_status_advertises_a_required_entity_id_and_still_takes_payment_id() {
    let w = World::new().await;
    let c = serve_as("my-agent", w.env(), &[]).await;
    let tools = c.list_all_tools().await.unwrap();
    let get = tools
        .iter()
        .find(|t| t.name == "payment.getStatus")
        .unwrap();
    let schema = serde_json::Value::Object((*get.input_schema).clone());
    assert_eq!(schema["required"], json!(["entityId"]), "{schema}");
    assert_eq!(schema["properties"]["entityId"]["type"], "string");
    assert!(schema["properties"].get("paymentId").is_none(), "{schema}");

    let created = structured(
        &call(
            &c,
            "payment.create",
            json!({"amount": 5000, "description": "Clase", "customerEmail": "ana@gmail.com"}),
        )
        .await,
    );
    // paymentId, the alias, is accepted though not advertised.
    let r = call(
        &c,
        "payment.getStatus",
        json!({"paymentId": created["paymentId"]}),
    )
    .await;
    assert_eq!(structured(&r)["entityId"], created["paymentId"]);
    // Neither: a clear tool error, not a protocol error.
    let r = call(&c, "payment.getStatus", json!({})).await;
    let e = error_of(&r);
    assert_eq!(e["code"], "invalid_arguments");
    assert_eq!(e["field"], "entityId");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .starts_with("entityId is required"),
        "{e}"
    );
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn each_result_opens_with_one_plain_sentence_for_the_user() {
    let w = World::new().await;
    let c = serve_as("my-agent", w.env(), &[]).await;
    let create = |description: &str| json!({"amount": 5000, "description": description, "customerEmail": "ana@gmail.com"});

    let r = call(&c, "payment.create", create("Clase 1")).await;
    let created = structured(&r);
    let link = created["paymentLinkUrl"].as_str().unwrap();
    // FLOW_BASE_URL points at a sandbox on 127.0.0.1: a local server, not the built-in one.
    assert_eq!(
        sentence_of(&r),
        format!(
            "Payment link for CLP 5.000 created: {link}; not paid yet. This is a local test \
             link (a test server on this machine): do not send it to a real customer."
        )
    );
    let id = created["paymentId"].as_str().unwrap().to_string();
    let r = call(&c, "payment.getStatus", json!({ "entityId": id })).await;
    assert_eq!(
        sentence_of(&r),
        format!("Payment {id} of CLP 5.000 is not paid yet.")
    );

    w.sandbox
        .sandbox
        .settle(&token_of(&created), Outcome::Paid)
        .await
        .unwrap();
    let r = call(&c, "payment.getStatus", json!({ "entityId": id })).await;
    let paid_at = structured(&r)["paidAt"].as_str().unwrap().to_string();
    // RFC 3339 `2026-12-02T10:00:30.123Z` is said as `2026-12-02 10:00 UTC`.
    assert!(paid_at.ends_with('Z'), "{paid_at}");
    let minute = format!("{} {} UTC", &paid_at[..10], &paid_at[11..16]);
    assert_eq!(
        sentence_of(&r),
        format!("Payment {id} of CLP 5.000 is paid ({minute}).")
    );

    let rejected = structured(&call(&c, "payment.create", create("Clase 2")).await);
    w.sandbox
        .sandbox
        .settle(&token_of(&rejected), Outcome::Rejected)
        .await
        .unwrap();
    let rid = rejected["paymentId"].as_str().unwrap().to_string();
    let r = call(&c, "payment.getStatus", json!({ "entityId": rid })).await;
    assert_eq!(structured(&r)["status"], "failed");
    assert_eq!(
        sentence_of(&r),
        format!("Payment {rid} of CLP 5.000 was not paid: the payment was rejected.")
    );

    let r = call(
        &c,
        "payment.create",
        json!({"amount": 12.5, "currency": "USD", "description": "Book", "customerEmail": "ana@gmail.com"}),
    )
    .await;
    assert!(
        sentence_of(&r).starts_with("Payment link for USD 12.50 created: "),
        "{}",
        text_of(&r)
    );
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn a_link_of_the_built_in_offline_sandbox_is_called_a_local_test_link() {
    let data_dir = tempfile::tempdir().unwrap();
    // No FLOW_* account: paylink starts its built-in offline sandbox.
    let env = vec![
        (
            "PAYLINK_DATA_DIR".to_string(),
            data_dir.path().display().to_string(),
        ),
        ("PAYLINK_LISTEN".to_string(), "127.0.0.1:0".to_string()),
        ("RUST_LOG".to_string(), "warn".to_string()),
    ];
    let c = serve_as("claude-code", env, &[]).await;
    let r = call(
        &c,
        "payment_create",
        json!({"amount": 1234567, "description": "Curso", "customerEmail": "ana@gmail.com"}),
    )
    .await;
    let link = structured(&r)["paymentLinkUrl"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        sentence_of(&r),
        format!(
            "Payment link for CLP 1.234.567 created: {link}; not paid yet. This is a local test \
             link (offline sandbox): do not send it to a real customer."
        )
    );
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn a_link_the_gateway_no_longer_knows_is_a_final_error_not_a_reason_to_poll() {
    let mut w = World::new().await;
    let c = serve_as("my-agent", w.env(), &[]).await;
    let created = structured(
        &call(
            &c,
            "payment.create",
            json!({"amount": 5000, "description": "Clase", "customerEmail": "ana@gmail.com"}),
        )
        .await,
    );
    let id = created["paymentId"].as_str().unwrap().to_string();
    c.cancel().await.unwrap();

    // The same ledger against a Flow that has never seen the order: it answers the token
    // with "Transaction not found".
    w.sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let c = serve_as("my-agent", w.env(), &[]).await;
    let r = call(&c, "payment.getStatus", json!({ "entityId": id })).await;
    let e = error_of(&r);
    assert_eq!(e["code"], "payment_link_lost", "{e}");
    assert_eq!(e["retryable"], false);
    assert_eq!(e["paymentId"], id.as_str());
    let next = e["nextStep"].as_str().unwrap();
    assert!(
        next.contains("payment.create") && next.contains("NEW idempotencyKey"),
        "{next}"
    );
    assert!(!next.contains("Check again"), "{next}");
    let asked = w.sandbox.sandbox.requests();
    assert!(
        asked
            .iter()
            .any(|r| r.endpoint == "payment/getStatus" && r.http_status == 400),
        "the sandbox was asked by token and answered not found: {asked:?}"
    );
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn a_currency_the_account_does_not_take_is_named_with_what_to_do() {
    let w = World::new().await;
    let c = serve_as("my-agent", w.env(), &[]).await;
    // Flow can take PEN, but the sandbox merchant enables only CLP and USD (code 1990).
    let r = call(
        &c,
        "payment.create",
        json!({"amount": 50, "currency": "PEN", "description": "Clase", "customerEmail": "ana@gmail.com"}),
    )
    .await;
    let e = error_of(&r);
    assert_eq!(e["code"], "unsupported_currency", "{e}");
    assert_eq!(e["field"], "currency");
    assert_eq!(e["retryable"], false);
    let message = e["message"].as_str().unwrap();
    assert_eq!(
        message,
        "the merchant's Flow account does not take PEN: PEN is not enabled on that account, \
         so no payment link was made"
    );
    let next = e["nextStep"].as_str().unwrap();
    assert!(
        next.contains("leave currency out") && next.contains("enable PEN"),
        "{next}"
    );
    assert!(!format!("{e}").contains("Commerce has not"), "{e}");

    // An empty description is called empty.
    let r = call(
        &c,
        "payment.create",
        json!({"amount": 5000, "description": " ", "customerEmail": "ana@gmail.com"}),
    )
    .await;
    let e = error_of(&r);
    assert_eq!(e["code"], "invalid_description");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .starts_with("description is empty: it must say what the customer pays for"),
        "{e}"
    );
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn over_http_each_session_gets_the_names_its_own_client_can_take() {
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    let w = World::new().await;
    let (_child, url) = w.http(&[], &[]).await;
    let session = |client: &'static str| {
        let url = url.clone();
        async move {
            ClientConfig::new(
                ClientCapabilities::default(),
                Implementation::new(client, "1.0.0"),
            )
            .serve(StreamableHttpClientTransport::from_config(
                StreamableHttpClientTransportConfig::with_uri(url),
            ))
            .await
            .expect("MCP handshake over HTTP")
        }
    };
    // Two sessions open side by side on one server, each listed for its own client.
    let claude = session("claude-code").await;
    let other = session("my-agent").await;
    assert_eq!(
        tool_names(&claude).await,
        [
            "payment_create",
            "payment_get_status",
            "payment_list",
            "payment_refund"
        ]
    );
    assert_eq!(
        tool_names(&other).await,
        [
            "payment.create",
            "payment.getStatus",
            "payment.list",
            "payment.refund"
        ]
    );
    claude.cancel().await.unwrap();
    other.cancel().await.unwrap();
}

#[test]
fn serve_help_names_auto_as_the_default_and_every_client_it_recognizes() {
    let out = std::process::Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("[default: auto]"), "{help}");
    // The help's list is a copy of the catalog's table: keep them the same.
    for fragment in paylink_tools::CLIENTS_REJECTING_DOTS {
        assert!(
            help.contains(&format!("\"{fragment}\"")),
            "{fragment}: {help}"
        );
    }
}
