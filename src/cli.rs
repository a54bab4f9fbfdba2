//! The command line: `paylink sandbox`, and (as they land) serve, payments, demo, doctor.

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::sandbox::{DEFAULT_API_KEY, Sandbox, SandboxConfig};

#[derive(Debug, Parser)]
#[command(name = "paylink", version, about = "An MCP payments server for LLM agents, on Flow (flow.cl).")]
pub struct Cli {
    /// More logging on stderr (-v info, -vv debug). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the offline Flow sandbox on its own: Flow's API, a pay page, confirmations.
    Sandbox {
        /// Port on 127.0.0.1 (0 picks a free one).
        #[arg(long, default_value_t = 9100)]
        port: u16,
    },
}

/// Logs go to stderr only: in stdio mode stdout is the MCP channel.
pub fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn,paylink=info",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init();
}

/// A token cancelled by Ctrl-C or SIGTERM: the root of the cancellation tree.
pub fn shutdown_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    t.cancel();
                    return;
                }
            };
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        t.cancel();
    });
    token
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Sandbox { port } => run_sandbox(port).await,
    }
}

async fn run_sandbox(port: u16) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on 127.0.0.1:{port}: {e} (pick another with --port)"))?;
    let addr = listener.local_addr()?;
    eprintln!("Flow sandbox listening on http://{addr}");
    eprintln!("  API base URL : http://{addr}/api");
    eprintln!("  merchant     : apiKey {DEFAULT_API_KEY} (secret: see paylink::sandbox::DEFAULT_SECRET_KEY)");
    eprintln!("  pay page     : http://{addr}/app/web/pay.php?token=...");
    eprintln!("  control API  : http://{addr}/sandbox/ (settle, faults, requests, confirmations)");
    eprintln!("Press Ctrl-C to stop.");
    let shutdown = shutdown_on_signals();
    Sandbox::new(SandboxConfig::default()).serve(listener, shutdown).await?;
    Ok(())
}
