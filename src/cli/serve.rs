//! `paylink serve`: the MCP tools over stdio (the default) or streamable HTTP (`--http`),
//! with the side listener, the reconciler and the notifier around them.

use paylink_tools::NameStyle;

use super::{Common, Live, Reach, ToolNames};
use crate::app::Application;
use crate::mcp::http::HttpOptions;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Serve MCP over streamable HTTP at http://ADDR/mcp instead of stdio. Beyond
    /// loopback it needs bearer tokens in PAYLINK_HTTP_TOKENS (token=organization,...).
    #[arg(long, value_name = "ADDR")]
    pub http: Option<std::net::SocketAddr>,
    /// How tool names are listed; calls under either spelling always work. `auto` decides
    /// per client (each HTTP session by its own initialize).
    #[arg(long, value_enum, default_value = "auto")]
    pub tool_names: ToolNames,
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub reach: Reach,
    #[command(flatten)]
    pub live: Live,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let settings = args.common.settings_with(&args.reach, args.live)?;
    let style: NameStyle = args.tool_names.into();
    let opts = HttpOptions {
        tokens: settings.http_tokens.to_map(),
        allowed_hosts: settings.http_allowed_hosts.clone(),
        allowed_origins: settings.http_allowed_origins.clone(),
        max_sessions_per_org: settings.http_max_sessions_per_org,
        session_idle: settings.http_session_idle,
    };
    // Refuse an unauthenticated bind beyond loopback before anything starts.
    if let Some(addr) = args.http {
        crate::mcp::http::check_bind(addr, &opts)?;
    }
    // A new ledger beside the one earlier versions kept in ./paylink-data: say so loudly
    // rather than serve an empty ledger while the payments sit elsewhere.
    if settings.database_url.is_none() && !crate::store::ledger_exists(&settings.data_dir) {
        let missing = super::NoLedger::at(&settings.data_dir);
        if missing.former_default_has_one {
            eprintln!(
                "paylink: WARNING: starting a new, empty ledger in {}, but ./paylink-data (the \
                 default data directory of earlier versions) holds one: stop and pass \
                 --data-dir paylink-data (or set PAYLINK_DATA_DIR), or move it there",
                super::shown(&settings.data_dir.display().to_string())
            );
        }
    }
    let shutdown = super::shutdown_on_signals();
    let app = match Application::build(settings.clone(), style, shutdown.clone()).await {
        Ok(app) => app,
        // Another serve holds the sled ledger: run this client's session through it.
        Err(e)
            if args.http.is_none()
                && settings.database_url.is_none()
                && crate::owner::is_locked(&e) =>
        {
            return crate::owner::attach::run(settings, style, shutdown, e).await;
        }
        Err(e) => return Err(e),
    };
    eprintln!(
        "paylink: side listener (Flow confirmations, /healthz) at http://{}",
        app.listener_addr
    );
    match args.http {
        None => app.run_stdio().await,
        Some(addr) => {
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
