//! `paylink demo`: the whole payment cycle, offline, as a readable transcript.
//!
//! It starts paylink with the built-in Flow sandbox, the offline Stripe sandbox and a
//! throw-away ledger, connects a real MCP client over streamable HTTP, creates a link with
//! `payment.create`, pays it on the sandbox's pay page as a payer's browser would, waits
//! for Flow's confirmation to reach the side listener (the subscribed client is told), and
//! reads `payment.getStatus`; then the same with `gateway: "stripe"`, paid on the Stripe
//! sandbox's checkout page and confirmed by Stripe's signed event.
//!
//! With `--keep-open` it then leaves the server and both sandboxes running, with one more
//! payment left pending, prints how to reach them (and a `paylink trigger` line that
//! settles that payment through the demo's owner socket) and waits for Ctrl-C or SIGTERM.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, bail};
use paylink_tools::NameStyle;
use rmcp::model::{CallToolRequestParams, ResourceUpdatedNotificationParam};
use rmcp::service::{NotificationContext, RoleClient};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientHandler, ServiceExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::app::Application;
use crate::config::{FlowSettings, Settings, StripeSettings};
use crate::domain::{Currency, Environment};
use crate::gateway::flow::endpoint::FlowEndpoint;
use crate::mcp::http::HttpOptions;
use crate::sandbox::stripe::{
    DEFAULT_STRIPE_TEST_KEY, DEFAULT_WEBHOOK_SECRET, StripeSandbox, StripeSandboxConfig,
    WebhookEndpointConfig,
};
use crate::sandbox::{DEFAULT_API_KEY, DEFAULT_SECRET_KEY, Sandbox, SandboxConfig};

#[derive(Clone)]
struct Updates(mpsc::UnboundedSender<String>);

impl ClientHandler for Updates {
    async fn on_resource_updated(
        &self,
        p: ResourceUpdatedNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        let _ = self.0.send(p.uri);
    }
}

fn temp_dir() -> std::path::PathBuf {
    let nonce: u64 = rand::random();
    std::env::temp_dir().join(format!("paylink-demo-{}-{nonce:x}", std::process::id()))
}

/// Calls a tool; its structured result, or why the demo cannot go on (`what` names it).
async fn tool(
    client: &rmcp::service::RunningService<RoleClient, Updates>,
    name: &'static str,
    args: &serde_json::Value,
    what: &str,
) -> anyhow::Result<serde_json::Value> {
    let r = client
        .call_tool(
            CallToolRequestParams::new(name)
                .with_arguments(args.as_object().cloned().unwrap_or_default()),
        )
        .await?;
    let result = r
        .structured_content
        .clone()
        .with_context(|| format!("{name} returned no structured result"))?;
    if r.is_error == Some(true) {
        bail!("{what} failed: {result}");
    }
    Ok(result)
}

/// Waits (at most 20 s) for `resources/updated` about `uri`; `else_why` says what it
/// means when none comes.
async fn updated(
    updates: &mut mpsc::UnboundedReceiver<String>,
    uri: &str,
    else_why: &str,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match tokio::time::timeout_at(deadline, updates.recv()).await {
            Ok(Some(u)) if u == uri => return Ok(()),
            Ok(Some(_)) => continue,
            Ok(None) | Err(_) => {
                bail!("no resources/updated notification within 20 s: {else_why}")
            }
        }
    }
}

/// Runs the demo, writing the transcript to `out`; with `keep_open`, then serves until
/// Ctrl-C or SIGTERM.
pub async fn run(out: &mut (dyn Write + Send), keep_open: bool) -> anyhow::Result<()> {
    let dir = temp_dir();
    let result = run_in(&dir, out, keep_open).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn run_in(
    dir: &std::path::Path,
    out: &mut (dyn Write + Send),
    keep_open: bool,
) -> anyhow::Result<()> {
    // Both offline sandboxes, as accounts of the default organization: Flow's first (its
    // default gateway), Stripe's beside it.
    let flow = Sandbox::start(SandboxConfig::default())
        .await
        .context("cannot start the offline Flow sandbox")?;
    let stripe = StripeSandbox::start(StripeSandboxConfig::default())
        .await
        .context("cannot start the offline Stripe sandbox")?;
    let settings = Settings {
        data_dir: dir.to_path_buf(),
        listener_addr: "127.0.0.1:0".parse()?,
        flow: Some(FlowSettings {
            api_url: flow.api_url.clone(),
            endpoint: FlowEndpoint::Loopback,
            api_key: DEFAULT_API_KEY.to_string(),
            secret_key: DEFAULT_SECRET_KEY.into(),
            environment: Environment::Development,
            return_url: None,
            default_currency: Currency::CLP,
        }),
        stripe: Some(StripeSettings {
            api_base: stripe.api_base.clone(),
            secret_key: DEFAULT_STRIPE_TEST_KEY.into(),
            webhook_secrets: vec![DEFAULT_WEBHOOK_SECRET.into()],
            environment: Environment::Development,
            default_currency: Currency::CLP,
        }),
        ..Settings::default()
    };
    let shutdown = CancellationToken::new();
    let app = Application::build(settings, NameStyle::Dotted, shutdown.clone()).await?;
    // Stripe delivers its signed events to paylink's endpoint for the default organization.
    stripe
        .sandbox
        .add_webhook_endpoint_config(WebhookEndpointConfig::new(format!(
            "{}/webhook/stripe/default/development",
            app.public_base_url
        )));
    let sandbox_base = flow.base_url.clone();
    let listener_base = app.public_base_url.clone();
    writeln!(
        out,
        "paylink demo — the whole payment cycle, offline (no credentials, no real money)\n"
    )?;
    writeln!(out, "  Flow sandbox    {sandbox_base}")?;
    writeln!(out, "  Stripe sandbox  {}", stripe.api_base)?;
    writeln!(
        out,
        "  side listener   {listener_base}  (Flow confirmations: /webhook/flow)"
    )?;
    writeln!(out, "  ledger          {} (temporary)", dir.display())?;

    let mcp_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let mcp_url = format!("http://{}/mcp", mcp_listener.local_addr()?);
    let server = tokio::spawn(app.run_http(mcp_listener, HttpOptions::default()));
    writeln!(out, "  MCP server      {mcp_url}\n")?;

    let outcome = drive(&mcp_url, &sandbox_base, &listener_base, out).await;
    let outcome = match outcome {
        Ok(flow_id) => drive_stripe(&mcp_url, &listener_base, out)
            .await
            .and_then(|stripe_id| {
                writeln!(
                    out,
                    "\nResult: payment {flow_id} (Flow) and payment {stripe_id} (Stripe) are PAID."
                )?;
                Ok(())
            }),
        Err(e) => Err(e),
    };
    let outcome = match outcome {
        Ok(()) if keep_open => {
            let sandboxes = [flow.base_url.as_str(), stripe.api_base.as_str()];
            stay_open(&mcp_url, &listener_base, sandboxes, dir, out).await
        }
        other => other,
    };
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
    outcome
}

async fn drive(
    mcp_url: &str,
    sandbox_base: &str,
    listener_base: &str,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<String> {
    let (tx, mut updates) = mpsc::unbounded_channel();
    let client = Updates(tx)
        .serve(StreamableHttpClientTransport::from_uri(mcp_url.to_string()))
        .await
        .context("the MCP client could not connect")?;
    let tools: Vec<String> = client
        .list_all_tools()
        .await?
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    writeln!(out, "1. agent → tools/list: {}", tools.join(", "))?;

    let args = serde_json::json!({
        "amount": 5000,
        "description": "Clase de matemáticas, martes 10:00",
        "customerEmail": "apoderado@gmail.com",
        "entityId": "session-42",
        "idempotencyKey": "demo-session-42",
    });
    writeln!(out, "2. agent → payment.create {args}")?;
    let created = tool(&client, "payment.create", &args, "payment.create").await?;
    let id = created["paymentId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let link = created["paymentLinkUrl"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let uri = created["resourceUri"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    writeln!(
        out,
        "   ← paymentId {id}, status {}, {} {}",
        created["status"], created["currency"], created["amount"]
    )?;
    writeln!(out, "   ← paymentLinkUrl {link}")?;
    #[allow(deprecated)]
    client
        .subscribe(rmcp::model::SubscribeRequestParams::new(uri.clone()))
        .await?;
    writeln!(out, "3. agent subscribes to {uri}")?;

    let token = link
        .split("token=")
        .nth(1)
        .context("the link has no token")?
        .to_string();
    let http = reqwest::Client::new();
    let page = http.get(&link).send().await?.text().await?;
    if !page.contains("id=\"pay\"") {
        bail!("the sandbox pay page has no Pay button");
    }
    writeln!(out, "4. payer opens the link and clicks Pay on Flow's page")?;
    let back = http
        .post(format!("{sandbox_base}/app/web/pay.php"))
        .form(&[("token", token.as_str()), ("action", "pay")])
        .send()
        .await?
        .text()
        .await?;
    if !back.contains(listener_base) {
        bail!("the pay page did not send the payer back to paylink's return page");
    }
    writeln!(
        out,
        "5. Flow → POST {listener_base}/webhook/flow (token=…{})",
        &token[token.len().saturating_sub(6)..]
    )?;

    updated(&mut updates, &uri, "the confirmation was not processed").await?;
    writeln!(
        out,
        "6. paylink verified the token with a signed payment/getStatus and recorded it"
    )?;
    writeln!(
        out,
        "   → agent notified: notifications/resources/updated {uri}"
    )?;

    let ret = http
        .post(format!("{listener_base}/payment/return"))
        .form(&[("token", token.as_str())])
        .send()
        .await?
        .text()
        .await?;
    let shown = ret
        .split_once("data-state=\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map_or("?", |(state, _)| state);
    writeln!(
        out,
        "7. payer's browser lands on the return page, which says: {shown}"
    )?;

    let s = tool(
        &client,
        "payment.getStatus",
        &serde_json::json!({"entityId": id}),
        "payment.getStatus",
    )
    .await?;
    writeln!(
        out,
        "8. agent → payment.getStatus {{\"entityId\":\"{id}\"}}"
    )?;
    writeln!(
        out,
        "   ← status {}, flowStatus {}, paidAt {}",
        s["status"], s["flowStatus"], s["paidAt"]
    )?;
    client.cancel().await?;
    if s["status"] != "paid" {
        bail!("the payment did not end paid: {s}");
    }
    Ok(id)
}

/// The same cycle through Stripe: a Checkout link, paid with Stripe's test card on the
/// sandbox's checkout page, confirmed by Stripe's signed event.
async fn drive_stripe(
    mcp_url: &str,
    listener_base: &str,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<String> {
    let (tx, mut updates) = mpsc::unbounded_channel();
    let client = Updates(tx)
        .serve(StreamableHttpClientTransport::from_uri(mcp_url.to_string()))
        .await
        .context("the MCP client could not connect")?;
    let args = serde_json::json!({
        "amount": 12.50,
        "currency": "USD",
        "description": "Software license, December",
        "customerEmail": "billing@gmail.com",
        "gateway": "stripe",
        "idempotencyKey": "demo-license-12",
    });
    writeln!(
        out,
        "\nThe same with Stripe:\n9. agent → payment.create {args}"
    )?;
    let created = tool(&client, "payment.create", &args, "payment.create (Stripe)").await?;
    let text = |k: &str| created[k].as_str().unwrap_or_default().to_string();
    let (id, link, uri) = (
        text("paymentId"),
        text("paymentLinkUrl"),
        text("resourceUri"),
    );
    writeln!(
        out,
        "   ← paymentId {id}, status {}, {} {}",
        created["status"], created["currency"], created["amount"]
    )?;
    writeln!(
        out,
        "   ← paymentLinkUrl {link} (a Stripe Checkout Session)"
    )?;
    #[allow(deprecated)]
    client
        .subscribe(rmcp::model::SubscribeRequestParams::new(uri.clone()))
        .await?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let page = http.get(&link).send().await?.text().await?;
    if !page.contains("card") {
        bail!("the Stripe sandbox's checkout page has no card field");
    }
    writeln!(
        out,
        "10. payer opens the link and pays with Stripe's test card 4242 4242 4242 4242"
    )?;
    let paid = http
        .post(&link)
        .form(&[("card", "4242424242424242")])
        .send()
        .await?;
    if !(paid.status().is_redirection() || paid.status().is_success()) {
        bail!(
            "the checkout page refused the test card: HTTP {}",
            paid.status()
        );
    }
    writeln!(
        out,
        "11. Stripe → POST {listener_base}/webhook/stripe/default/development (checkout.session.completed, signed)"
    )?;
    updated(&mut updates, &uri, "Stripe's event was not processed").await?;
    writeln!(
        out,
        "12. paylink checked the signature, read the session back from Stripe, and recorded it"
    )?;
    let s = tool(
        &client,
        "payment.getStatus",
        &serde_json::json!({"entityId": id}),
        "payment.getStatus",
    )
    .await?;
    writeln!(
        out,
        "13. agent → payment.getStatus {{\"entityId\":\"{id}\"}}"
    )?;
    writeln!(out, "   ← status {}, paidAt {}", s["status"], s["paidAt"])?;
    client.cancel().await?;
    if s["status"] != "paid" {
        bail!("the Stripe payment did not end paid: {s}");
    }
    Ok(id)
}

/// After the cycle: one more payment left pending, how to reach everything, and a wait
/// for Ctrl-C or SIGTERM.
async fn stay_open(
    mcp_url: &str,
    listener_base: &str,
    [flow_base, stripe_base]: [&str; 2],
    dir: &std::path::Path,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let signals = super::shutdown_on_signals();
    let (tx, _updates) = mpsc::unbounded_channel();
    let client = Updates(tx)
        .serve(StreamableHttpClientTransport::from_uri(mcp_url.to_string()))
        .await
        .context("the MCP client could not connect")?;
    let args = serde_json::json!({
        "amount": 7500,
        "description": "Clase de física, jueves 16:00",
        "customerEmail": "apoderado@gmail.com",
        "idempotencyKey": "demo-keep-open",
    });
    let created = tool(&client, "payment.create", &args, "payment.create").await?;
    client.cancel().await?;
    let id = created["paymentId"].as_str().unwrap_or_default();
    let data_dir = dir.display();
    writeln!(
        out,
        "\nStill running (--keep-open), until Ctrl-C:\n\
         \x20 MCP server             {mcp_url}\n\
         \x20 side listener          {listener_base}  (/healthz, /webhook/flow, /payment/return)\n\
         \x20 Flow sandbox control   {flow_base}/sandbox/\n\
         \x20 Stripe sandbox control {stripe_base}/sandbox/\n\
         \x20 pending payment        {id}  {}\n\
         Settle it from another shell, as its payer would:\n\
         \x20 PAYLINK_DATA_DIR={data_dir} paylink trigger paid {id}\n\
         Press Ctrl-C to stop.",
        created["paymentLinkUrl"].as_str().unwrap_or_default()
    )?;
    out.flush()?;
    signals.cancelled().await;
    Ok(())
}
