//! The payment card (MCP Apps, `io.modelcontextprotocol/ui`) through the real binary over
//! stdio against the offline sandbox: what a host that negotiated the extension gets, that
//! every other client sees nothing new, and the card itself in headless Chromium inside a
//! minimal host page (`support::app_host`), turning paid when the sandbox settles the
//! payment.

use std::process::Stdio;
use std::sync::Arc;

use rmcp::model::{ReadResourceRequestParams, ResourceContents, Tool};
use serde_json::{Value, json};

use crate::support::app_host::{self, AppHost, MIME_TYPE, ui_meta};
use crate::support::browser::{Browser, Scope, chromium_path};
use crate::support::{World, call, structured, token_of};

const CARD: &str = "ui://paylink/payment-card";

fn create_args() -> Value {
    json!({"amount": 5000, "currency": "CLP", "description": "Clase de matemáticas", "customerEmail": "ana@gmail.com"})
}

/// The card's HTML, read as a host reads it; checks the MIME type on the way.
async fn read_card<H: rmcp::ClientHandler>(
    client: &rmcp::service::RunningService<rmcp::service::RoleClient, H>,
    uri: &str,
) -> String {
    let read = client
        .read_resource(ReadResourceRequestParams::new(uri))
        .await
        .unwrap();
    let [
        ResourceContents::TextResourceContents {
            uri: got,
            mime_type,
            text,
            meta,
        },
    ] = read.contents.as_slice()
    else {
        panic!("one text content: {read:?}");
    };
    assert_eq!(got, uri);
    assert_eq!(mime_type.as_deref(), Some(MIME_TYPE));
    assert_eq!(meta.as_ref().unwrap()["ui"]["prefersBorder"], true);
    text.clone()
}

/// Every `src=`/`href=` value in `html` that points off the page.
fn remote_references(html: &str) -> Vec<String> {
    let lower = html.to_lowercase();
    let mut found = Vec::new();
    for attr in ["src=", "href="] {
        for (i, _) in lower.match_indices(attr) {
            let value = lower[i + attr.len()..].trim_start_matches(['"', '\'', ' ']);
            if value.starts_with("http:") || value.starts_with("https:") || value.starts_with("//")
            {
                found.push(value.chars().take(60).collect());
            }
        }
    }
    found
}

fn uri_of(tools: &[Tool], name: &str) -> String {
    let ui = ui_meta(tools, name).unwrap_or_else(|| panic!("{name} has _meta.ui"));
    let tool = tools.iter().find(|t| t.name == name).unwrap();
    // The deprecated flat key, for hosts that still read it, names the same card.
    assert_eq!(
        tool.meta.as_ref().unwrap()["ui/resourceUri"],
        ui["resourceUri"]
    );
    ui["resourceUri"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_host_that_negotiated_mcp_apps_gets_the_card_and_other_clients_see_nothing_new() {
    let w = World::new().await;
    // A host named like Claude's clients: snake names, so the card must call getStatus so.
    let host = w
        .stdio_serving(
            app_host::client_config("claude-ai"),
            &[],
            &[],
            Stdio::null(),
        )
        .await;
    let caps = &host.peer_info().unwrap().capabilities;
    assert_eq!(
        caps.extensions.as_ref().unwrap()[app_host::EXTENSION]["mimeTypes"],
        json!([MIME_TYPE])
    );

    let tools = host.list_all_tools().await.unwrap();
    assert_eq!(uri_of(&tools, "payment_create"), CARD);
    assert_eq!(uri_of(&tools, "payment_get_status"), CARD);
    // The card calls getStatus; nothing calls create from inside a view.
    assert_eq!(
        ui_meta(&tools, "payment_get_status").unwrap()["visibility"],
        json!(["model", "app"])
    );
    assert_eq!(
        ui_meta(&tools, "payment_create").unwrap()["visibility"],
        json!(["model"])
    );
    assert!(ui_meta(&tools, "payment_list").is_none());

    let listed = host.list_all_resources().await.unwrap();
    let card = listed
        .iter()
        .find(|r| r.uri == CARD)
        .expect("the card is listed");
    assert_eq!(card.mime_type.as_deref(), Some(MIME_TYPE));
    let html = read_card(&host, CARD).await;
    assert!(html.to_lowercase().starts_with("<!doctype html>"));
    assert_eq!(remote_references(&html), Vec::<String>::new());

    let created = call(&host, "payment_create", create_args()).await;
    let data = &created.meta.as_ref().expect("card data in _meta")["paylink/card"];
    assert_eq!(data["statusTool"], "payment_get_status");
    assert_eq!(data["amount"], "CLP 5.000");
    assert_eq!(data["description"], "Clase de matemáticas");
    let svg = data["qrSvg"].as_str().expect("a QR code while payable");
    assert!(
        svg.contains("<svg") && svg.len() < 24 * 1024,
        "{} bytes",
        svg.len()
    );
    let id = structured(&created)["paymentId"].clone();
    let status = call(&host, "payment_get_status", json!({"entityId": id})).await;
    assert_eq!(
        status.meta.as_ref().unwrap()["paylink/card"]["statusTool"],
        "payment_get_status"
    );

    // A client without the extension: no capability, no _meta, no card listed, and the
    // same result keys as the host got.
    let (plain, _) = w.stdio(&[]).await;
    assert!(plain.peer_info().unwrap().capabilities.extensions.is_none());
    let tools = plain.list_all_tools().await.unwrap();
    assert!(tools.iter().all(|t| t.meta.is_none()), "{tools:?}");
    let listed = plain.list_all_resources().await.unwrap();
    assert!(listed.iter().all(|r| !r.uri.starts_with("ui://")));
    let mut args = create_args();
    args["description"] = json!("Clase de física");
    let theirs = call(&plain, "payment.create", args).await;
    assert!(theirs.meta.is_none());
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&structured(&theirs)), keys(&structured(&created)));
    // Reading the card is harmless, and hosts may prefetch it: anyone may.
    assert_eq!(read_card(&plain, CARD).await, html);
    plain.cancel().await.unwrap();
    host.cancel().await.unwrap();
}

/// What the card shows, read from its DOM.
const CARD_STATE: &str = r#"(() => {
  const text = (id) => document.getElementById(id).textContent;
  const qr = document.getElementById('qr');
  return {
    description: text('description'),
    amount: text('amount'),
    status: document.getElementById('status').hidden ? null : text('status'),
    qr: !qr.hidden && qr.complete && qr.naturalWidth > 0 && qr.src.startsWith('data:image/svg+xml'),
    openButton: !document.getElementById('open').hidden,
    overflows: document.documentElement.scrollWidth > document.documentElement.clientWidth,
    width: document.documentElement.clientWidth,
  };
})()"#;

#[tokio::test]
async fn in_a_host_page_the_card_shows_the_payment_and_turns_paid_when_it_is_paid() {
    if chromium_path().is_none() {
        return;
    }
    let w = World::new().await;
    let client = Arc::new(
        w.stdio_serving(
            app_host::client_config("paylink-test-host"),
            &[],
            &[],
            Stdio::null(),
        )
        .await,
    );
    let tools = client.list_all_tools().await.unwrap();
    let html = read_card(&client, &uri_of(&tools, "payment.create")).await;
    let input = create_args();
    let created = call(&client, "payment.create", input.clone()).await;
    let payment = structured(&created);
    let host = AppHost::start(client.clone(), tools, &html, &input, &created).await;

    // The view must stay in the page's process for DevTools to read its DOM through the
    // page's session; it is still a sandboxed frame of an opaque origin.
    let mut browser = Browser::launch_with(&[
        "--disable-site-isolation-trials",
        "--disable-features=IsolateSandboxedIframes",
    ])
    .await;
    browser
        .send("Page.navigate", json!({"url": host.url}))
        .await
        .unwrap();
    let shown = browser
        .wait_until_in(
            Scope::Frame,
            "the card to show the pending payment with its QR code",
            CARD_STATE,
            20,
            |v| v["status"] == "pending" && v["qr"] == true,
        )
        .await;
    assert_eq!(shown["description"], "Clase de matemáticas", "{shown}");
    assert!(
        shown["amount"].as_str().unwrap().contains("5.000"),
        "{shown}"
    );
    assert_eq!(shown["openButton"], true, "{shown}");
    assert_eq!(shown["width"], 390, "{shown}");
    assert_eq!(shown["overflows"], false, "{shown}");

    // The payer pays: the sandbox's control API settles the order.
    let settled = reqwest::Client::new()
        .post(format!("{}/sandbox/settle", w.sandbox.base_url))
        .json(&json!({"token": token_of(&payment), "outcome": "paid"}))
        .send()
        .await
        .unwrap();
    assert!(settled.status().is_success(), "{}", settled.status());
    let paid = browser
        .wait_until_in(
            Scope::Frame,
            "the card's live status to turn paid",
            CARD_STATE,
            30,
            |v| v["status"] == "paid",
        )
        .await;
    assert_eq!(paid["qr"], false, "nothing left to scan: {paid}");
    assert_eq!(paid["openButton"], false, "{paid}");

    // The card asked for the status through the host, by the name this host lists.
    let calls = host.calls();
    assert!(!calls.is_empty());
    for c in &calls {
        assert_eq!(
            c,
            &json!({"name": "payment.getStatus", "arguments": {"entityId": payment["paymentId"]}})
        );
    }
    let seen = browser.eval("window.hostSeen").await.unwrap();
    assert_eq!(seen[0], "ui/initialize", "{seen}");
    assert_eq!(seen[1], "ui/notifications/initialized", "{seen}");
    browser.close().await;
}
