//! `paylink sandbox`: the offline Flow sandbox on its own, on a loopback port, with the
//! emulator's public test merchant.

use crate::sandbox::{DEFAULT_API_KEY, DEFAULT_SECRET_KEY, Sandbox, SandboxConfig};

pub async fn run(port: u16) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| {
            anyhow::anyhow!("cannot listen on 127.0.0.1:{port}: {e} (pick another with --port)")
        })?;
    let addr = listener.local_addr()?;
    eprintln!("Flow sandbox listening on http://{addr}");
    eprintln!("  API base URL : http://{addr}/api");
    eprintln!("  test merchant: apiKey {DEFAULT_API_KEY}");
    eprintln!(
        "                 secretKey {DEFAULT_SECRET_KEY} (the emulator's public test credential)"
    );
    eprintln!("  pay page     : http://{addr}/app/web/pay.php?token=...");
    eprintln!("  control API  : http://{addr}/sandbox/ (settle, faults, requests, confirmations)");
    eprintln!("Press Ctrl-C to stop.");
    let shutdown = super::shutdown_on_signals();
    Sandbox::new(SandboxConfig::default())
        .serve(listener, shutdown)
        .await?;
    Ok(())
}
