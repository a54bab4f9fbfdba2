//! MCP over streamable HTTP at `/mcp`.
//!
//! Bound to loopback by default. Each bearer token belongs to one organization, and its
//! requests see only that organization's payments. Bound beyond loopback, the server
//! refuses to start without tokens. rmcp's Host check stays on (loopback names, plus the
//! names given in `allowed_hosts`); Origin is checked when `allowed_origins` is set; request
//! bodies are capped.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use super::{McpContext, Organization, PaylinkServer};

/// The largest MCP request body accepted (tool arguments are small).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Options of the HTTP transport.
#[derive(Debug, Clone, Default)]
pub struct HttpOptions {
    /// Bearer token → organization. Empty: no authentication (loopback only), every
    /// request acts for the default organization.
    pub tokens: HashMap<String, String>,
    /// Extra Host names to accept (e.g. `pay.example.com`), for deployments behind a proxy.
    pub allowed_hosts: Vec<String>,
    /// When set, browsers' Origin must be one of these.
    pub allowed_origins: Vec<String>,
}

/// Why the HTTP transport refuses to start.
#[derive(Debug, thiserror::Error)]
pub enum HttpConfigError {
    #[error(
        "refusing to serve MCP on {0} without a bearer token: set PAYLINK_HTTP_TOKENS (token=organization, comma-separated) or bind 127.0.0.1"
    )]
    PublicWithoutToken(SocketAddr),
}

pub fn check_bind(addr: SocketAddr, opts: &HttpOptions) -> Result<(), HttpConfigError> {
    if !addr.ip().is_loopback() && opts.tokens.is_empty() {
        return Err(HttpConfigError::PublicWithoutToken(addr));
    }
    Ok(())
}

#[derive(Clone)]
struct Auth {
    /// sha256(token) → organization: comparing digests keeps the comparison independent of
    /// where the tokens differ.
    tokens: Arc<HashMap<[u8; 32], String>>,
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

async fn require_bearer(State(auth): State<Auth>, mut req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match presented.and_then(|t| auth.tokens.get(&digest(t))) {
        Some(org) => {
            req.extensions_mut().insert(Organization(org.clone()));
            next.run(req).await
        }
        None => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "missing or invalid bearer token",
        )
            .into_response(),
    }
}

/// The `/mcp` router (merge it with anything else served on the same port).
pub fn router(ctx: Arc<McpContext>, opts: &HttpOptions, shutdown: CancellationToken) -> Router {
    let mut hosts: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    hosts.extend(opts.allowed_hosts.iter().cloned());
    let mut config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(hosts)
        .with_max_request_body_bytes(MAX_BODY_BYTES)
        // A plain JSON reply when the call emits nothing before its result (rmcp falls
        // back to an event stream when it does): one less framing layer per tool call.
        .with_json_response(true)
        .with_cancellation_token(shutdown);
    if !opts.allowed_origins.is_empty() {
        config = config.with_allowed_origins(opts.allowed_origins.clone());
    }
    let service = StreamableHttpService::new(
        move || Ok(PaylinkServer::new(ctx.clone())),
        LocalSessionManager::default().into(),
        config,
    );
    let mut routes = Router::new().nest_service("/mcp", service);
    if !opts.tokens.is_empty() {
        let auth = Auth {
            tokens: Arc::new(
                opts.tokens
                    .iter()
                    .map(|(t, o)| (digest(t), o.clone()))
                    .collect(),
            ),
        };
        routes = routes.layer(middleware::from_fn_with_state(auth, require_bearer));
    }
    routes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_bind_needs_a_token() {
        let public: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert!(check_bind(public, &HttpOptions::default()).is_err());
        assert!(check_bind(local, &HttpOptions::default()).is_ok());
        let with_token = HttpOptions {
            tokens: [("t".to_string(), "acme".to_string())].into(),
            ..Default::default()
        };
        assert!(check_bind(public, &with_token).is_ok());
    }
}
