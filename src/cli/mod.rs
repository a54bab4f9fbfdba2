//! The command line: the clap types of `paylink` and its dispatch, one file per command.
//!
//! - [`serve`]: the MCP tools over stdio or streamable HTTP.
//! - [`demo`]: the whole payment cycle, offline, as a transcript.
//! - [`payments`]: list, show and reconcile payments in the ledger.
//! - [`confirmations`]: Flow confirmations received by the side listener.
//! - [`doctor`]: is this configuration ready, for every account `serve` would use?
//! - [`ledger`]: check the ledger itself.
//! - [`integration`]: store, list and disable Flow accounts per organization.
//! - [`tools`]: the tools' JSON manifests.
//! - [`sandbox`]: the offline Flow sandbox on its own.
//! - [`output`]: tables, colour, times and amounts for people, `--json` times.
//! - [`progress`]: progress on stderr, only on a terminal.
//! - [`trigger`]: settle a payment made on an offline sandbox, from the shell.
//!
//! Options that only some commands use (`--listen`, `--public-url`: [`Reach`];
//! `--allow-live`: [`Live`]) are flattened into those commands only, after their
//! subcommand, where the operator types them.
//!
//! Every command that needs settings gets them from [`Settings::from_process`], once.
//!
//! Commands that only read the ledger (`payments list|show`, `confirmations list`,
//! `integration show`, `ledger verify|export`, `doctor`) open it with `open_existing_store`:
//! where there is none they create nothing and say where they looked ([`NoLedger`], exit
//! status [`EXIT_NO_LEDGER`]). Commands that write (`serve`, `integration flow|stripe|...`,
//! `payments reconcile`) create it with `open_store` or the application.

pub mod confirmations;
pub mod demo;
pub mod doctor;
pub mod integration;
pub mod ledger;
mod merchant;
pub mod migrate;
pub mod output;
pub mod payments;
pub mod policy;
mod progress;
pub mod sandbox;
pub mod serve;
pub mod tools;
pub mod trigger;

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use paylink_tools::NameStyle;
use paylink_tools::validate::is_unsafe_char;
use tokio_util::sync::CancellationToken;

use crate::config::{Flags, Settings};
use crate::store::{Store, ledger_exists};

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
    /// Per client, from the clientInfo.name it sends at initialize: snake names for
    /// clients known to reject dots (a name containing "claude", "codex", "openai" or
    /// "copilot", any case), dotted names for every other client
    Auto,
    /// payment.create, payment.getStatus
    Dotted,
    /// payment_create, payment_get_status (for clients that reject dots)
    Snake,
}

impl From<ToolNames> for NameStyle {
    fn from(t: ToolNames) -> NameStyle {
        match t {
            ToolNames::Auto => NameStyle::Auto,
            ToolNames::Dotted => NameStyle::Dotted,
            ToolNames::Snake => NameStyle::Snake,
        }
    }
}

/// Options shared by the commands that read settings; they override paylink.toml and the
/// environment. Global within their command: `paylink payments list --data-dir D` and
/// `paylink payments --data-dir D list` both work.
#[derive(Debug, Clone, clap::Args)]
pub struct Common {
    /// A paylink.toml file. [env: PAYLINK_CONFIG] [default: ./paylink.toml when present]
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<std::path::PathBuf>,
    /// The ledger directory (sled). Commands that only read never create it.
    /// [env: PAYLINK_DATA_DIR] [default: the per-user data directory,
    /// $XDG_DATA_HOME/paylink or ~/.local/share/paylink on Linux]
    #[arg(long, value_name = "DIR", global = true)]
    pub data_dir: Option<std::path::PathBuf>,
    /// Keep the ledger in PostgreSQL instead of sled (several processes or replicas on one
    /// database), e.g. postgres://paylink@db:5432/paylink. [env: PAYLINK_DATABASE_URL]
    #[arg(long, value_name = "URL", global = true)]
    pub database_url: Option<String>,
}

/// Where the side listener is and how Flow and Stripe reach it: flattened only into the
/// commands that listen or print those URLs (`serve`, `doctor`, `integration flow|stripe`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Reach {
    /// The side listener for Flow's confirmations, the return page, /healthz and /metrics.
    /// [env: PAYLINK_LISTEN] [default: 127.0.0.1:8787]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// The public base URL at which Flow and Stripe reach the side listener (used to build
    /// urlConfirmation, urlReturn and webhook URLs). [env: PAYLINK_PUBLIC_URL]
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
}

/// The opt-in to live money, flattened only into the commands that use or store an
/// account (`serve`, `doctor`, `payments reconcile`, `integration flow|stripe`).
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct Live {
    /// Allow a production (live money) Flow or Stripe account. [env: PAYLINK_ALLOW_LIVE]
    #[arg(long)]
    pub allow_live: bool,
}

impl Common {
    /// Defaults, then paylink.toml, then the environment, then these flags; validated.
    pub fn settings(&self) -> anyhow::Result<Settings> {
        self.settings_with(&Reach::default(), Live::default())
    }

    /// [`Common::settings`] with the listener and live-money flags of the command.
    pub fn settings_with(&self, reach: &Reach, live: Live) -> anyhow::Result<Settings> {
        Ok(Settings::from_process(&self.flags(reach, live))?)
    }

    pub fn flags(&self, reach: &Reach, live: Live) -> Flags {
        Flags {
            config: self.config.clone(),
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone(),
            listen: reach.listen.clone(),
            public_url: reach.public_url.clone(),
            allow_live: live.allow_live,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the MCP tools: over stdio by default, or streamable HTTP with --http.
    Serve(serve::Args),
    /// Run the whole payment cycle offline and print a transcript: create a link over MCP,
    /// pay it on the built-in sandbox, watch the confirmation arrive and the status turn paid.
    Demo {
        /// After the cycle, keep the server and the sandboxes running (with a pending
        /// payment to settle with `paylink trigger`) until Ctrl-C.
        #[arg(long)]
        keep_open: bool,
    },
    /// Settle a payment made on an offline sandbox (the built-in one of `paylink serve` or
    /// `paylink demo --keep-open`, or `paylink sandbox`), as its payer would; the sandbox
    /// then confirms it to paylink. Never touches a real gateway.
    Trigger {
        /// What the payer does.
        #[arg(value_enum)]
        outcome: trigger::Outcome,
        /// The payment's id (`ent_…`, the paymentId of payment.create).
        payment_id: String,
        #[command(flatten)]
        common: Common,
    },
    /// Look at and repair payments in the ledger.
    Payments {
        #[command(subcommand)]
        action: payments::Action,
        #[command(flatten)]
        common: Common,
    },
    /// Flow confirmations received by the side listener.
    Confirmations {
        #[command(subcommand)]
        action: confirmations::Action,
        #[command(flatten)]
        common: Common,
    },
    /// Check the configuration, the ledger, the public URL, and every Flow account `serve`
    /// would use (stored integrations and FLOW_*) with a signed call.
    Doctor {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        reach: Reach,
        #[command(flatten)]
        live: Live,
    },
    /// Create or upgrade the PostgreSQL ledger's tables (PAYLINK_DATABASE_URL), then exit.
    Migrate {
        #[command(flatten)]
        common: Common,
    },
    /// Check the ledger itself.
    Ledger {
        #[command(subcommand)]
        action: ledger::Action,
        #[command(flatten)]
        common: Common,
    },
    /// Configure the Flow account of an organization (stored in the ledger, secret sealed).
    Integration {
        #[command(subcommand)]
        action: integration::Action,
        #[command(flatten)]
        common: Common,
    },
    /// Print the JSON manifests of the tools.
    Tools {
        /// How the tool names are spelled in the manifests.
        #[arg(long, value_enum, default_value = "dotted")]
        tool_names: ToolNames,
    },
    /// Run the offline sandboxes on their own: Flow's API, a pay page, confirmations; and
    /// Stripe's API, a checkout page, signed webhook deliveries.
    Sandbox {
        /// Port of the Flow sandbox on 127.0.0.1 (0 picks a free one).
        #[arg(long, default_value_t = 9100)]
        port: u16,
        /// Port of the Stripe sandbox on 127.0.0.1 (0 picks a free one).
        #[arg(long, default_value_t = 9200)]
        stripe_port: u16,
        /// Where the Stripe sandbox delivers its events from the start (paylink's default
        /// side listener, default organization, development), signed with the sandbox's
        /// default webhook secret. More endpoints can be added with POST /v1/webhook_endpoints.
        #[arg(
            long,
            default_value = "http://127.0.0.1:8787/webhook/stripe/default/development"
        )]
        stripe_webhook_url: String,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    output::init_color();
    let mut out = std::io::stdout();
    match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Demo { keep_open } => demo::run(&mut out, keep_open).await,
        Command::Trigger {
            outcome,
            payment_id,
            common,
        } => trigger::run(outcome, &payment_id, &common.settings()?, &mut out).await,
        Command::Payments { action, common } => {
            let settings = common.settings_with(&Reach::default(), action.live())?;
            payments::run(action, settings, &mut out).await
        }
        Command::Confirmations { action, common } => {
            confirmations::run(action, &common.settings()?, &mut out).await
        }
        Command::Doctor {
            common,
            reach,
            live,
        } => {
            let ready = doctor::run(common.settings_with(&reach, live), &mut out).await?;
            if ready {
                Ok(())
            } else {
                anyhow::bail!("doctor found problems (see the FAIL lines above)")
            }
        }
        Command::Migrate { common } => migrate::run(&common.settings()?, &mut out).await,
        Command::Ledger { action, common } => {
            ledger::run(action, &common.settings()?, &mut out).await
        }
        Command::Integration { action, common } => {
            let (reach, live) = action.reach();
            integration::run(action, &common.settings_with(&reach, live)?, &mut out).await
        }
        Command::Tools { tool_names } => tools::run(tool_names.into(), &mut out),
        Command::Sandbox {
            port,
            stripe_port,
            stripe_webhook_url,
        } => sandbox::run(port, stripe_port, &stripe_webhook_url).await,
    }
}

impl Command {
    /// The log filter without `-v` or RUST_LOG: the servers (`serve`, `sandbox`) log what
    /// they do; the operator's commands, which print their own results, only warnings
    /// (the reconciler's per-payment ones are summed up by `payments reconcile` itself);
    /// `demo`, whose stdout is a transcript, only errors.
    pub fn log_default(&self) -> &'static str {
        match self {
            Command::Serve(_) | Command::Sandbox { .. } => "warn,paylink=info",
            Command::Demo { .. } => "error",
            _ => "warn,paylink::reconcile=error",
        }
    }
}

/// Logs go to stderr only (in stdio mode stdout is the MCP channel), with payer e-mails
/// redacted (see [`crate::logging`]). `-v` is info, `-vv` debug, over `default`
/// ([`Command::log_default`]); RUST_LOG, when set, wins.
pub fn init_tracing(verbose: u8, default: &str) {
    let default = match verbose {
        0 => default,
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

/// Opens the ledger, creating it when there is none (for commands that write); the error
/// says whether another process holds it, it is damaged, or something else failed (see
/// [`crate::store::StoreError`]). A sled ledger held by a running `paylink serve` is
/// reached through its socket instead ([`crate::owner`]).
pub(crate) async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    match Store::open_for(settings).await {
        Err(e @ crate::store::StoreError::Locked { .. }) if settings.database_url.is_none() => {
            match crate::owner::remote_store(&settings.data_dir).await {
                Some(remote) => Ok(remote),
                None => Err(e.into()),
            }
        }
        opened => Ok(opened?),
    }
}

/// Opens the ledger for a command that only reads: when the data directory holds none,
/// fails with [`NoLedger`] before anything is created (no directory, no file). A
/// PostgreSQL ledger (`PAYLINK_DATABASE_URL`) is not in the data directory: it is opened
/// as it is, and the database's own errors say when it cannot be reached.
pub(crate) async fn open_existing_store(settings: &Settings) -> anyhow::Result<Store> {
    if settings.database_url.is_none() && !ledger_exists(&settings.data_dir) {
        return Err(NoLedger::at(&settings.data_dir).into());
    }
    open_store(settings).await
}

/// The exit status of a command that needs a ledger when the data directory holds none
/// (1 is every other failure; 2 is clap's, for usage errors; README.md has the table).
pub const EXIT_NO_LEDGER: u8 = 3;

/// paylink's default data directory before it became the per-user one, relative to the
/// working directory. Only looked at, to point at a ledger left there.
const FORMER_DEFAULT_DATA_DIR: &str = "paylink-data";

/// A command that only reads found no ledger in the data directory, and created none.
#[derive(Debug)]
pub struct NoLedger {
    /// Where it looked.
    pub dir: PathBuf,
    /// `./paylink-data`, the default of earlier versions, holds a ledger.
    pub former_default_has_one: bool,
}

impl std::error::Error for NoLedger {}

impl std::fmt::Display for NoLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let dir = self.dir.display().to_string();
        let dir = shown(&dir);
        if self.former_default_has_one {
            write!(
                f,
                "no ledger in {dir} (nothing was created), but ./{FORMER_DEFAULT_DATA_DIR}, \
                 paylink's former default data directory, holds one: pass --data-dir \
                 {FORMER_DEFAULT_DATA_DIR} (or set PAYLINK_DATA_DIR), or move it to {dir}"
            )
        } else {
            write!(
                f,
                "no ledger yet in {dir} (nothing was created); `paylink serve` creates one \
                 there on first start. To use a ledger elsewhere, set PAYLINK_DATA_DIR or \
                 pass --data-dir"
            )
        }
    }
}

impl NoLedger {
    pub fn at(dir: &Path) -> NoLedger {
        NoLedger {
            dir: dir.to_path_buf(),
            former_default_has_one: ledger_exists(Path::new(FORMER_DEFAULT_DATA_DIR)),
        }
    }
}

/// The exit status of `payments reconcile` when some payments could not be checked (the
/// gateway did not answer, or refused): the answers it did get are recorded.
pub const EXIT_RECONCILE_ERRORS: u8 = 4;

/// The exit status for a command that failed with `e`: [`EXIT_NO_LEDGER`],
/// [`EXIT_RECONCILE_ERRORS`], or 1 for every other failure.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<NoLedger>().is_some() {
        EXIT_NO_LEDGER
    } else if e.downcast_ref::<payments::ReconcileErrors>().is_some() {
        EXIT_RECONCILE_ERRORS
    } else {
        1
    }
}

/// Stored text as it may reach the operator's terminal: every character that input
/// validation refuses (controls, bidirectional controls, tags; see
/// [`paylink_tools::validate::is_unsafe_char`]) is shown as a visible escape such as
/// `\u{1b}`, so a ledger written before that validation, or edited by hand, cannot move
/// the cursor, recolour the screen or forge table rows.
pub(crate) fn shown(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe_char(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}
