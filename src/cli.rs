//! The command line: `paylink sandbox`, and (as they land) serve, payments, demo, doctor.

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use paylink_tools::NameStyle;

use crate::app::Application;
use crate::config::Settings;
use crate::mcp::http::HttpOptions;
use crate::sandbox::{DEFAULT_API_KEY, Sandbox, SandboxConfig};

#[derive(Debug, Parser)]
#[command(
    name = "paylink",
    version,
    about = "An MCP payments server for LLM agents, on Flow (flow.cl)."
)]
pub struct Cli {
    /// More logging on stderr (-v info, -vv debug). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ToolNames {
    /// payment.create, payment.getStatus
    Dotted,
    /// payment_create, payment_get_status (for clients that reject dots)
    Snake,
}

impl From<ToolNames> for NameStyle {
    fn from(t: ToolNames) -> NameStyle {
        match t {
            ToolNames::Dotted => NameStyle::Dotted,
            ToolNames::Snake => NameStyle::Snake,
        }
    }
}

/// Options shared by the commands that open the ledger.
#[derive(Debug, Clone, clap::Args)]
pub struct Common {
    /// The ledger directory (sled). [env: PAYLINK_DATA_DIR] [default: paylink-data]
    #[arg(long)]
    pub data_dir: Option<std::path::PathBuf>,
    /// The side listener for Flow's confirmations, the return page, /healthz and /metrics.
    /// [env: PAYLINK_LISTEN] [default: 127.0.0.1:8787]
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
    /// The public base URL at which Flow reaches the side listener (used to build
    /// urlConfirmation and urlReturn). [env: PAYLINK_PUBLIC_URL]
    #[arg(long)]
    pub public_url: Option<String>,
    /// Allow a production (live money) Flow account. [env: PAYLINK_ALLOW_LIVE]
    #[arg(long)]
    pub allow_live: bool,
}

impl Common {
    /// Defaults, then the environment, then these flags; validated.
    pub fn settings(&self) -> anyhow::Result<Settings> {
        let mut s = Settings::default().apply_env(|k| std::env::var(k).ok())?;
        if let Some(d) = &self.data_dir {
            s.data_dir = d.clone();
        }
        if let Some(l) = self.listen {
            s.listener_addr = l;
        }
        if let Some(u) = &self.public_url {
            s.public_base_url = Some(crate::config::check_url("--public-url", u)?);
        }
        s.allow_live |= self.allow_live;
        Ok(s.validate()?)
    }
}

/// `token=organization,token2=organization2` from PAYLINK_HTTP_TOKENS.
pub fn parse_tokens(raw: &str) -> anyhow::Result<std::collections::HashMap<String, String>> {
    let mut map = std::collections::HashMap::new();
    for (i, pair) in raw
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .enumerate()
    {
        let (token, org) = pair.split_once('=').ok_or_else(|| {
            anyhow::anyhow!(
                "PAYLINK_HTTP_TOKENS: entry {} is not token=organization",
                i + 1
            )
        })?;
        if token.trim().len() < 16 {
            anyhow::bail!(
                "PAYLINK_HTTP_TOKENS: entry {} has a token shorter than 16 characters",
                i + 1
            );
        }
        if org.trim().is_empty() {
            anyhow::bail!("PAYLINK_HTTP_TOKENS: entry {} names no organization", i + 1);
        }
        map.insert(token.trim().to_string(), org.trim().to_string());
    }
    Ok(map)
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the MCP tools: over stdio by default, or streamable HTTP with --http.
    Serve {
        /// Serve MCP over streamable HTTP at http://ADDR/mcp instead of stdio. Beyond
        /// loopback it needs bearer tokens in PAYLINK_HTTP_TOKENS (token=organization,...).
        #[arg(long, value_name = "ADDR")]
        http: Option<std::net::SocketAddr>,
        /// How tool names are listed; calls under either spelling always work.
        #[arg(long, value_enum, default_value = "dotted")]
        tool_names: ToolNames,
        #[command(flatten)]
        common: Common,
    },
    /// Run the whole payment cycle offline and print a transcript: create a link over MCP,
    /// pay it on the built-in sandbox, watch the confirmation arrive and the status turn paid.
    Demo,
    /// Look at and repair payments in the ledger.
    Payments {
        #[command(subcommand)]
        action: PaymentsAction,
        #[command(flatten)]
        common: Common,
    },
    /// Flow confirmations received by the side listener.
    Confirmations {
        #[command(subcommand)]
        action: ConfirmationsAction,
        #[command(flatten)]
        common: Common,
    },
    /// Check the configuration, the ledger, the public URL and Flow credentials.
    Doctor {
        #[command(flatten)]
        common: Common,
    },
    /// Print the JSON manifests of the tools.
    Tools {
        #[arg(long, value_enum, default_value = "dotted")]
        tool_names: ToolNames,
    },
    /// Run the offline Flow sandbox on its own: Flow's API, a pay page, confirmations.
    Sandbox {
        /// Port on 127.0.0.1 (0 picks a free one).
        #[arg(long, default_value_t = 9100)]
        port: u16,
    },
}

#[derive(Debug, Subcommand)]
pub enum PaymentsAction {
    /// List payments, newest first.
    List {
        /// Only this status: draft, pending, paid or failed.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One payment with its event log.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Ask Flow about open payments now (all of them, or one with --id) and record the answers.
    Reconcile {
        #[arg(long)]
        id: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfirmationsAction {
    /// List received confirmations, newest first.
    List {
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
}

/// Logs go to stderr only: in stdio mode stdout is the MCP channel.
/// `quiet`: commands whose stdout is a transcript log only warnings by default.
pub fn init_tracing(verbose: u8, quiet: bool) {
    let default = match verbose {
        0 if quiet => "error",
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
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
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
        Command::Serve {
            http,
            tool_names,
            common,
        } => serve(http, tool_names.into(), &common).await,
        Command::Payments { action, common } => {
            let settings = common.settings()?;
            let mut out = std::io::stdout();
            match action {
                PaymentsAction::List {
                    status,
                    limit,
                    json,
                } => {
                    let status = match status.as_deref() {
                        None => None,
                        Some(s) => Some(
                            crate::domain::PaymentStatus::ALL
                                .into_iter()
                                .find(|st| st.as_str() == s)
                                .ok_or_else(|| {
                                    anyhow::anyhow!(
                                        "--status: {s:?} is not draft, pending, paid or failed"
                                    )
                                })?,
                        ),
                    };
                    crate::ops::payments_list(&settings, status, limit, json, &mut out)
                }
                PaymentsAction::Show { id, json } => {
                    crate::ops::payments_show(&settings, &id, json, &mut out)
                }
                PaymentsAction::Reconcile { id, json } => {
                    crate::ops::payments_reconcile(settings, id, json, &mut out).await
                }
            }
        }
        Command::Confirmations {
            action: ConfirmationsAction::List { limit, json },
            common,
        } => {
            crate::ops::confirmations_list(&common.settings()?, limit, json, &mut std::io::stdout())
        }
        Command::Doctor { common } => {
            let ready = crate::ops::doctor(common.settings(), &mut std::io::stdout()).await?;
            if ready {
                Ok(())
            } else {
                anyhow::bail!("doctor found problems")
            }
        }
        Command::Demo => {
            let mut out = std::io::stdout();
            crate::demo::run(&mut out).await
        }
        Command::Tools { tool_names } => {
            let style: NameStyle = tool_names.into();
            let all: Vec<_> = paylink_tools::catalog()
                .iter()
                .map(|t| paylink_tools::manifest(t, style))
                .collect();
            println!("{}", serde_json::to_string_pretty(&all)?);
            Ok(())
        }
    }
}

async fn serve(
    http: Option<std::net::SocketAddr>,
    style: NameStyle,
    common: &Common,
) -> anyhow::Result<()> {
    let settings = common.settings()?;
    let tokens = match std::env::var("PAYLINK_HTTP_TOKENS") {
        Ok(raw) => parse_tokens(&raw)?,
        Err(_) => Default::default(),
    };
    let mut orgs: Vec<String> = tokens.values().cloned().collect();
    orgs.sort();
    orgs.dedup();
    let shutdown = shutdown_on_signals();
    let app = Application::build(settings, style, orgs, shutdown).await?;
    match http {
        None => app.run_stdio().await,
        Some(addr) => {
            let opts = HttpOptions {
                tokens,
                ..Default::default()
            };
            crate::mcp::http::check_bind(addr, &opts)?;
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
            eprintln!(
                "paylink: MCP over streamable HTTP at http://{}/mcp",
                listener.local_addr()?
            );
            app.run_http(listener, opts).await
        }
    }
}

async fn run_sandbox(port: u16) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| {
            anyhow::anyhow!("cannot listen on 127.0.0.1:{port}: {e} (pick another with --port)")
        })?;
    let addr = listener.local_addr()?;
    eprintln!("Flow sandbox listening on http://{addr}");
    eprintln!("  API base URL : http://{addr}/api");
    eprintln!(
        "  merchant     : apiKey {DEFAULT_API_KEY} (secret: see paylink::sandbox::DEFAULT_SECRET_KEY)"
    );
    eprintln!("  pay page     : http://{addr}/app/web/pay.php?token=...");
    eprintln!("  control API  : http://{addr}/sandbox/ (settle, faults, requests, confirmations)");
    eprintln!("Press Ctrl-C to stop.");
    let shutdown = shutdown_on_signals();
    Sandbox::new(SandboxConfig::default())
        .serve(listener, shutdown)
        .await?;
    Ok(())
}
