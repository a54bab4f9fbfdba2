//! The command line: `paylink sandbox`, and (as they land) serve, payments, demo, doctor.

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use paylink_tools::NameStyle;

use crate::app::Application;
use crate::config::Settings;
use crate::mcp::http::HttpOptions;
use crate::sandbox::{DEFAULT_API_KEY, DEFAULT_SECRET_KEY, Sandbox, SandboxConfig};

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
    /// A paylink.toml file. [env: PAYLINK_CONFIG] [default: ./paylink.toml when present]
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<std::path::PathBuf>,
    /// The ledger directory (sled). [env: PAYLINK_DATA_DIR] [default: paylink-data]
    #[arg(long, global = true)]
    pub data_dir: Option<std::path::PathBuf>,
    /// The side listener for Flow's confirmations, the return page, /healthz and /metrics.
    /// [env: PAYLINK_LISTEN] [default: 127.0.0.1:8787]
    #[arg(long, global = true)]
    pub listen: Option<std::net::SocketAddr>,
    /// The public base URL at which Flow reaches the side listener (used to build
    /// urlConfirmation and urlReturn). [env: PAYLINK_PUBLIC_URL]
    #[arg(long, global = true)]
    pub public_url: Option<String>,
    /// Allow a production (live money) Flow account. [env: PAYLINK_ALLOW_LIVE]
    #[arg(long, global = true)]
    pub allow_live: bool,
}

impl Common {
    /// Defaults, then the environment, then these flags; validated.
    pub fn settings(&self) -> anyhow::Result<Settings> {
        let file = self
            .config
            .clone()
            .or_else(|| std::env::var_os("PAYLINK_CONFIG").map(Into::into))
            .or_else(|| Some(std::path::PathBuf::from("paylink.toml")).filter(|p| p.exists()));
        let mut s = Settings::default();
        if let Some(f) = file {
            s = s.apply_file(&f)?;
        }
        let mut s = s.apply_env(|k| std::env::var(k).ok())?;
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
    /// Check the ledger itself.
    Ledger {
        #[command(subcommand)]
        action: LedgerAction,
        #[command(flatten)]
        common: Common,
    },
    /// Configure the Flow account of an organization (stored in the ledger, secret sealed).
    Integration {
        #[command(subcommand)]
        action: IntegrationAction,
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
pub enum IntegrationAction {
    /// Store a Flow account: `--test` for Flow's sandbox, otherwise live (needs --allow-live).
    Flow {
        /// Flow's API base: https://www.flow.cl/api (live) or https://sandbox.flow.cl/api.
        /// Defaults to the sandbox URL with --test, else the live one.
        #[arg(long)]
        api_url: Option<String>,
        /// Your Flow apiKey (Flow: Mis datos → Integración).
        #[arg(long, env = "FLOW_API_KEY", hide_env_values = true)]
        api_key: String,
        /// Your Flow secretKey. Prefer --secret-key-file or FLOW_SECRET_KEY so it stays out
        /// of your shell history.
        #[arg(long, env = "FLOW_SECRET_KEY", hide_env_values = true)]
        secret_key: Option<String>,
        /// A file holding the secretKey (one line).
        #[arg(long, conflicts_with = "secret_key")]
        secret_key_file: Option<std::path::PathBuf>,
        /// Where payers return after paying (default: paylink's own return page).
        #[arg(long)]
        return_url: Option<String>,
        #[arg(long, default_value = "CLP")]
        currency: String,
        /// Use Flow's sandbox (development environment, test money).
        #[arg(long)]
        test: bool,
        #[arg(long, default_value = "default")]
        organization: String,
    },
    /// List the stored integrations (secrets are never shown).
    Show {
        #[arg(long)]
        json: bool,
    },
    /// Stop using an integration for new payments (its payments are kept).
    Disable {
        #[arg(long, default_value = "default")]
        organization: String,
        /// development or production.
        #[arg(long, default_value = "development")]
        environment: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum LedgerAction {
    /// Open the ledger, decode every payment, event and claim, check every index, and
    /// report counts and problems; exits non-zero when it finds any. Stop paylink first.
    Verify {
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

/// Logs go to stderr only (in stdio mode stdout is the MCP channel), with payer e-mails
/// redacted (see [`crate::logging`]).
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
        .with_writer(crate::logging::RedactingStderr)
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
        Command::Ledger {
            action: LedgerAction::Verify { json },
            common,
        } => {
            let sound =
                crate::ops::ledger_verify(&common.settings()?, json, &mut std::io::stdout())?;
            if sound {
                Ok(())
            } else {
                anyhow::bail!("the ledger has problems (listed above)")
            }
        }
        Command::Integration { action, common } => {
            integration(action, &common.settings()?, &mut std::io::stdout())
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
    let app = Application::build(settings.clone(), style, orgs, shutdown).await?;
    eprintln!(
        "paylink: side listener (Flow confirmations, /healthz) at http://{}",
        app.listener_addr
    );
    match http {
        None => app.run_stdio().await,
        Some(addr) => {
            let opts = HttpOptions {
                tokens,
                allowed_hosts: settings.http_allowed_hosts.clone(),
                allowed_origins: settings.http_allowed_origins.clone(),
                max_sessions_per_org: settings.http_max_sessions_per_org,
                session_idle: settings.http_session_idle,
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
    eprintln!("  test merchant: apiKey {DEFAULT_API_KEY}");
    eprintln!(
        "                 secretKey {DEFAULT_SECRET_KEY} (the emulator's public test credential)"
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

fn integration(
    action: IntegrationAction,
    settings: &Settings,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    use crate::domain::Environment;
    use crate::gateway::flow::{PRODUCTION_BASE_URL, SANDBOX_BASE_URL};
    use crate::integrations::{NewIntegration, list, save, set_active};
    use crate::ops::shown;
    let store = crate::store::Store::open_with_cache(&settings.data_dir, settings.cache_bytes())?;
    match action {
        IntegrationAction::Flow {
            api_url,
            api_key,
            secret_key,
            secret_key_file,
            return_url,
            currency,
            test,
            organization,
        } => {
            let secret = match (secret_key, secret_key_file) {
                (_, Some(path)) => std::fs::read_to_string(&path)
                    .map_err(|e| {
                        anyhow::anyhow!("--secret-key-file {}: cannot be read: {e}", path.display())
                    })?
                    .trim()
                    .to_string(),
                (Some(s), None) => s,
                (None, None) => anyhow::bail!(
                    "--secret-key: missing; give --secret-key-file, FLOW_SECRET_KEY or --secret-key"
                ),
            };
            let api_url = api_url.unwrap_or_else(|| {
                if test {
                    SANDBOX_BASE_URL
                } else {
                    PRODUCTION_BASE_URL
                }
                .to_string()
            });
            let environment = if test {
                Environment::Development
            } else if api_url.trim_end_matches('/') == PRODUCTION_BASE_URL {
                Environment::Production
            } else {
                Environment::Development
            };
            if secret.trim().is_empty() {
                anyhow::bail!("--secret-key: the secret key is empty");
            }
            // A new key only for a ledger with no sealed secret: otherwise the key that
            // opens them must be there.
            let key = if crate::integrations::list(&store)?.is_empty() {
                settings.master_key_or_create()?
            } else {
                settings.master_key()?
            };
            let stored = save(
                &store,
                &key,
                NewIntegration {
                    organization,
                    environment,
                    api_url,
                    api_key,
                    secret_key: secrecy::SecretString::from(secret),
                    return_url,
                    default_currency: currency,
                },
                settings.allow_live,
            )?;
            let public = settings.public_base(settings.listener_addr);
            writeln!(
                out,
                "Stored the Flow integration of {:?} ({}, {}).",
                stored.organization,
                stored.environment.as_str(),
                stored.api_url
            )?;
            writeln!(
                out,
                "Paste this confirmation URL into Flow's settings (urlConfirmation):"
            )?;
            writeln!(out, "  {public}/webhook/flow")?;
            if public.contains("127.0.0.1") || public.contains("localhost") {
                writeln!(
                    out,
                    "Note: that URL is loopback. Set PAYLINK_PUBLIC_URL (or --public-url) to the address Flow can reach."
                )?;
            }
            Ok(())
        }
        IntegrationAction::Show { json } => {
            let all = list(&store)?;
            if json {
                let shown: Vec<_> = all
                    .iter()
                    .map(|s| serde_json::json!({"organization": s.organization, "environment": s.environment, "apiUrl": s.api_url, "apiKey": s.api_key, "secretKey": "(sealed)", "returnUrl": s.return_url, "currency": s.default_currency, "active": s.active, "updatedAt": s.updated_at.rfc3339()}))
                    .collect();
                writeln!(out, "{}", serde_json::to_string_pretty(&shown)?)?;
            } else if all.is_empty() {
                writeln!(
                    out,
                    "No integrations stored: paylink runs on its built-in offline sandbox. Add one with `paylink integration flow --test ...`."
                )?;
            } else {
                writeln!(
                    out,
                    "{:<16} {:<12} {:<8} {:<32} {:<8} SECRET",
                    "ORGANIZATION", "ENVIRONMENT", "ACTIVE", "API URL", "CURRENCY"
                )?;
                for s in all {
                    writeln!(
                        out,
                        "{:<16} {:<12} {:<8} {:<32} {:<8} (sealed)",
                        shown(&s.organization),
                        s.environment.as_str(),
                        s.active,
                        shown(&s.api_url),
                        shown(&s.default_currency)
                    )?;
                }
            }
            Ok(())
        }
        IntegrationAction::Disable {
            organization,
            environment,
        } => {
            let env = Environment::parse(&environment).ok_or_else(|| {
                anyhow::anyhow!("--environment: {environment:?} is not development or production")
            })?;
            set_active(&store, &organization, env, false)?;
            writeln!(
                out,
                "Disabled the {} integration of {organization:?}; its payments are kept.",
                env.as_str()
            )?;
            Ok(())
        }
    }
}
