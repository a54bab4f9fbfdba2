//! `paylink sandbox`: the offline Flow and Stripe sandboxes on their own, on loopback
//! ports, with the emulators' public test credentials.

use crate::sandbox::stripe::{
    DEFAULT_STRIPE_TEST_KEY, DEFAULT_WEBHOOK_SECRET, StripeSandbox, StripeSandboxConfig,
    WebhookEndpointConfig,
};
use crate::sandbox::{DEFAULT_API_KEY, DEFAULT_SECRET_KEY, Sandbox, SandboxConfig};

async fn bind(port: u16, flag: &str) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| {
            anyhow::anyhow!("cannot listen on 127.0.0.1:{port}: {e} (pick another with {flag})")
        })
}

pub async fn run(port: u16, stripe_port: u16, stripe_webhook_url: &str) -> anyhow::Result<()> {
    let flow = bind(port, "--port").await?;
    let stripe = bind(stripe_port, "--stripe-port").await?;
    let url = crate::config::check_url("--stripe-webhook-url", stripe_webhook_url)?;
    let (addr, stripe_addr) = (flow.local_addr()?, stripe.local_addr()?);
    eprintln!("Flow sandbox listening on http://{addr}");
    eprintln!("  API base URL : http://{addr}/api");
    eprintln!("  test merchant: apiKey {DEFAULT_API_KEY}");
    eprintln!(
        "                 secretKey {DEFAULT_SECRET_KEY} (the emulator's public test credential)"
    );
    eprintln!("  pay page     : http://{addr}/app/web/pay.php?token=...");
    eprintln!("  control API  : http://{addr}/sandbox/ (settle, faults, requests, confirmations)");
    eprintln!("Stripe sandbox listening on http://{stripe_addr}");
    eprintln!("  STRIPE_API_BASE       = http://{stripe_addr}");
    eprintln!(
        "  STRIPE_SECRET_KEY     = {DEFAULT_STRIPE_TEST_KEY} (the emulator's public test key)"
    );
    eprintln!("  STRIPE_WEBHOOK_SECRET = {DEFAULT_WEBHOOK_SECRET}");
    eprintln!("  events delivered to   : {url}");
    eprintln!(
        "  checkout page        : http://{stripe_addr}/c/pay/cs_test_... (card 4242424242424242 pays, 4000000000000002 is declined)"
    );
    eprintln!(
        "  control API          : http://{stripe_addr}/sandbox/ (settle, clock, faults, deliveries)"
    );
    eprintln!("Press Ctrl-C to stop.");
    let shutdown = super::shutdown_on_signals();
    let stripe_sandbox = StripeSandbox::new(StripeSandboxConfig {
        webhook_endpoints: vec![WebhookEndpointConfig::new(&url)],
        ..StripeSandboxConfig::default()
    })?;
    let (a, b) = tokio::join!(
        Sandbox::new(SandboxConfig::default()).serve(flow, shutdown.clone()),
        stripe_sandbox.serve(stripe, shutdown),
    );
    a?;
    b?;
    Ok(())
}
