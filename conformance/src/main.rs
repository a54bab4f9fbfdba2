//! `paylink-conformance`: the fixture MCP server that `.ci/conformance.sh` runs the official
//! conformance suite against, served at `http://127.0.0.1:<port>/mcp`.
//!
//! The transport is configured like paylink's own (`src/mcp/http.rs`): rmcp's streamable
//! HTTP service with the same loopback Host allowlist, the same request body cap, the
//! in-memory session manager with its defaults, and a cancellation token that ends every
//! session on shutdown. Only the handler differs, so the suite's transport scenarios
//! (sessions, concurrent SSE streams, DNS-rebinding protection) test paylink's settings.
//!
//! Usage: `paylink-conformance [--port N]` (default 3001; 0 picks a free port, printed on
//! stderr).

mod fixture;
mod media;

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;

use axum::Router;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};

use fixture::{FixtureServer, Media};

const DEFAULT_PORT: u16 = 3001;

/// Mirrors `paylink::mcp::http::MAX_BODY_BYTES` (256 KiB). Keep the two equal.
const MAX_BODY_BYTES: usize = 256 * 1024;

/// Mirrors the Host allowlist paylink builds when no extra hosts are configured.
const ALLOWED_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

const USAGE: &str = "usage: paylink-conformance [--port N]

Serves the MCP conformance fixtures over streamable HTTP at http://127.0.0.1:N/mcp.
  --port N   TCP port on 127.0.0.1 (default 3001; 0 picks a free port)";

fn parse_port(args: impl IntoIterator<Item = String>) -> Result<Option<u16>, String> {
    let mut port = DEFAULT_PORT;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let value = match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--port" => args.next().ok_or("--port needs a value")?,
            other => match other.strip_prefix("--port=") {
                Some(v) => v.to_owned(),
                None => return Err(format!("unexpected argument {other:?}")),
            },
        };
        port = value
            .parse()
            .map_err(|_| format!("--port: {value:?} is not a port number"))?;
    }
    Ok(Some(port))
}

fn router(config: StreamableHttpServerConfig) -> Router {
    let media = Arc::new(Media::generate());
    let service = StreamableHttpService::new(
        move || Ok(FixtureServer::new(media.clone())),
        LocalSessionManager::default().into(),
        config,
    );
    Router::new()
        .nest_service("/mcp", service)
        .route("/health", axum::routing::get(|| async { "ok" }))
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let port = match parse_port(std::env::args().skip(1)) {
        Ok(Some(port)) => port,
        Ok(None) => {
            eprintln!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("paylink-conformance: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };

    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(ALLOWED_HOSTS)
        .with_max_request_body_bytes(MAX_BODY_BYTES)
        .with_json_response(true);
    // paylink hands the service a child of its shutdown token; here the config's own
    // token plays that role: cancelling it closes every session and SSE stream.
    let sessions = config.cancellation_token.clone();

    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("paylink-conformance: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(bound) => eprintln!("paylink-conformance: MCP fixture server at http://{bound}/mcp"),
        Err(e) => eprintln!("paylink-conformance: listening (address unknown: {e})"),
    }

    let served = axum::serve(listener, router(config))
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            sessions.cancel();
        })
        .await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("paylink-conformance: server failed: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn port_argument() {
        assert_eq!(parse_port(args(&[])), Ok(Some(DEFAULT_PORT)));
        assert_eq!(parse_port(args(&["--port", "4100"])), Ok(Some(4100)));
        assert_eq!(parse_port(args(&["--port=0"])), Ok(Some(0)));
        assert_eq!(parse_port(args(&["--help"])), Ok(None));
        assert!(parse_port(args(&["--port"])).is_err());
        assert!(parse_port(args(&["--port", "70000"])).is_err());
        assert!(parse_port(args(&["serve"])).is_err());
    }
}
