//! The whole cycle with a real browser: the real binary serves MCP over stdio against an
//! offline sandbox; an MCP client creates a payment and subscribes to it; headless
//! Chromium, driven over the DevTools protocol, opens the link, clicks Pay and lands on
//! paylink's return page, which must say "paid"; the client hears `resources/updated`.
//! The browser harness (and when a missing Chromium fails or skips) is `support::browser`.
#![allow(deprecated)] // resources/subscribe is the 2025-11-25 wire rmcp still speaks.

use std::process::Stdio;

use rmcp::model::SubscribeRequestParams;
use serde_json::{Value, json};

use crate::support::browser::{Browser, chromium_path};
use crate::support::{World, call, free_port, hears_update, structured};

#[tokio::test]
async fn a_payment_link_paid_in_a_real_browser_lands_on_the_return_page_as_paid() {
    if chromium_path().is_none() {
        return;
    }
    let w = World::new().await;
    // A fixed port, so the return page's address is known in advance.
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let (client, mut updates) = w
        .stdio_with(&[], &[("PAYLINK_LISTEN", &listen)], Stdio::inherit())
        .await;

    let args = json!({"amount": 5000, "description": "Clase de matemáticas", "customerEmail": "ana@gmail.com"});
    let created = structured(&call(&client, "payment.create", args).await);
    let link = created["paymentLinkUrl"].as_str().unwrap().to_string();
    let id = created["paymentId"].as_str().unwrap().to_string();
    let uri = created["resourceUri"].as_str().unwrap().to_string();
    client
        .subscribe(SubscribeRequestParams::new(uri.clone()))
        .await
        .unwrap();

    let mut browser = Browser::launch().await;
    browser
        .send("Page.navigate", json!({"url": link}))
        .await
        .unwrap();
    browser
        .wait_until(
            "the pay page",
            "document.getElementById('pay') !== null",
            20,
            |v| v == &json!(true),
        )
        .await;
    browser
        .eval("document.getElementById('pay').click(); true")
        .await
        .expect("click Pay");
    let landed = browser
        .wait_until(
            "the return page to say paid",
            "JSON.stringify({href: location.href, status: document.body && document.body.dataset.state || null, title: document.title})",
            30,
            |v| v.as_str().is_some_and(|s| s.contains("\"status\":\"paid\"")),
        )
        .await;
    let landed: Value = serde_json::from_str(landed.as_str().unwrap()).unwrap();
    assert!(
        landed["href"]
            .as_str()
            .unwrap()
            .starts_with(&format!("http://127.0.0.1:{port}/payment/return")),
        "{landed}"
    );
    // Headless Chromium asks for English (en-US) unless told otherwise.
    assert!(
        ["Payment received", "Pago recibido"].contains(&landed["title"].as_str().unwrap()),
        "{landed}"
    );
    browser.close().await;

    let status = structured(&call(&client, "payment.getStatus", json!({"entityId": id})).await);
    assert_eq!(status["status"], "paid", "{status}");
    hears_update(&mut updates, &uri).await;
    let confirmation = w.sandbox.sandbox.confirmations();
    assert_eq!(confirmation.len(), 1);
    assert_eq!(confirmation[0].http_status, Some(200), "{confirmation:?}");
    client.cancel().await.unwrap();
}

/// Opens a Stripe Checkout link of the sandbox in Chromium, types the test card 4242… and
/// pays; returns the browser on its way back to the merchant.
async fn pay_stripe_checkout(link: &str) -> Browser {
    let mut browser = Browser::launch().await;
    browser
        .send("Page.navigate", json!({"url": link}))
        .await
        .unwrap();
    browser
        .wait_until(
            "Stripe's checkout page",
            "document.getElementById('pay') !== null && document.querySelector('input[name=card]') !== null",
            20,
            |v| v == &json!(true),
        )
        .await;
    browser
        .eval("document.querySelector('input[name=card]').value = '4242424242424242'; document.getElementById('pay').click(); true")
        .await
        .expect("type the test card and pay");
    browser
}

#[tokio::test]
async fn a_stripe_checkout_paid_in_a_real_browser_returns_the_payer_to_a_paid_page() {
    if chromium_path().is_none() {
        return;
    }
    let rig = crate::stripe_mcp::Rig::start().await;
    let (client, mut updates) = rig.serve().await;
    let created = structured(
        &call(
            &client,
            "payment.create",
            crate::stripe_mcp::create_args("browser-1"),
        )
        .await,
    );
    let link = created["paymentLinkUrl"].as_str().unwrap().to_string();
    let id = created["paymentId"].as_str().unwrap().to_string();
    let uri = created["resourceUri"].as_str().unwrap().to_string();
    client
        .subscribe(SubscribeRequestParams::new(uri.clone()))
        .await
        .unwrap();

    let mut browser = pay_stripe_checkout(&link).await;
    let landed = browser
        .wait_until(
            "the return page to say paid",
            "JSON.stringify({href: location.href, status: document.body && document.body.dataset.state || null})",
            30,
            |v| v.as_str().is_some_and(|s| s.contains("\"status\":\"paid\"")),
        )
        .await;
    let landed: Value = serde_json::from_str(landed.as_str().unwrap()).unwrap();
    assert!(
        landed["href"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/payment/return?session_id=cs_test_", rig.side)),
        "{landed}"
    );
    browser.close().await;
    hears_update(&mut updates, &uri).await;
    let status = structured(&call(&client, "payment.getStatus", json!({"entityId": id})).await);
    assert_eq!(status["status"], "paid", "{status}");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn over_mcp_http_a_stripe_checkout_paid_in_a_real_browser_is_pushed_paid() {
    use paylink::sandbox::stripe::{DEFAULT_STRIPE_TEST_KEY, DEFAULT_WEBHOOK_SECRET};
    use rmcp::ServiceExt;
    use rmcp::transport::StreamableHttpClientTransport;
    if chromium_path().is_none() {
        return;
    }
    let rig = crate::stripe_mcp::Rig::start().await;
    let (_child, url) = rig
        .world
        .http(
            &[
                ("PAYLINK_LISTEN", &rig.listen),
                ("STRIPE_SECRET_KEY", DEFAULT_STRIPE_TEST_KEY),
                ("STRIPE_WEBHOOK_SECRET", DEFAULT_WEBHOOK_SECRET),
                ("STRIPE_API_BASE", &rig.stripe.api_base),
            ],
            &[],
        )
        .await;
    let (tx, mut updates) = tokio::sync::mpsc::unbounded_channel();
    let client = crate::support::Recorder(tx)
        .serve(StreamableHttpClientTransport::from_uri(url))
        .await
        .unwrap();
    let created = structured(
        &call(
            &client,
            "payment.create",
            crate::stripe_mcp::create_args("browser-http"),
        )
        .await,
    );
    let link = created["paymentLinkUrl"].as_str().unwrap().to_string();
    let id = created["paymentId"].as_str().unwrap().to_string();
    let uri = created["resourceUri"].as_str().unwrap().to_string();
    client
        .subscribe(SubscribeRequestParams::new(uri.clone()))
        .await
        .unwrap();
    let mut browser = pay_stripe_checkout(&link).await;
    browser
        .wait_until(
            "the return page to say paid",
            "document.body && document.body.dataset.state || null",
            30,
            |v| v == &json!("paid"),
        )
        .await;
    browser.close().await;
    hears_update(&mut updates, &uri).await;
    let status = structured(&call(&client, "payment.getStatus", json!({"entityId": id})).await);
    assert_eq!(status["status"], "paid", "{status}");
    client.cancel().await.unwrap();
}
