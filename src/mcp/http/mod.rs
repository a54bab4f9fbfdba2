//! MCP over streamable HTTP at `/mcp`.
//!
//! Bound to loopback by default. Each bearer token belongs to one organization, and its
//! requests see only that organization's payments. Bound beyond loopback, the server
//! refuses to start without tokens. rmcp's Host check stays on (loopback names, plus the
//! names given in `allowed_hosts`); Origin is checked when `allowed_origins` is set; request
//! bodies are capped.
//!
//! Sessions belong to the organization whose token opened them ([`sessions`]); each
//! organization has at most [`HttpOptions::max_sessions_per_org`] open, and an idle one
//! expires after [`HttpOptions::session_idle`]. A call answered by one message comes back
//! as one `application/json` reply ([`reply`]); `DELETE /mcp` answers `204`.

mod reply;
mod sessions;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use super::{McpContext, Organization, PaylinkServer};
use futures::StreamExt;
use sessions::{OwnedSessions, Owners};

/// The largest MCP request body accepted (tool arguments are small).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// What the listener reads of a body before rmcp's own cap answers 413 (a little more, so
/// that answer is rmcp's).
pub const READ_BODY_BYTES: usize = MAX_BODY_BYTES + 1024;

/// Options of the HTTP transport.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Bearer token → organization. Empty: no authentication (loopback only), every
    /// request acts for the default organization.
    pub tokens: HashMap<String, String>,
    /// Extra Host names to accept (e.g. `pay.example.com`), for deployments behind a proxy.
    pub allowed_hosts: Vec<String>,
    /// When set, browsers' Origin must be one of these.
    pub allowed_origins: Vec<String>,
    /// Open sessions per organization; an `initialize` past it gets `429`.
    pub max_sessions_per_org: usize,
    /// A session with no request and no open stream for this long is closed.
    pub session_idle: Duration,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            tokens: HashMap::new(),
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            max_sessions_per_org: 256,
            session_idle: Duration::from_secs(120),
        }
    }
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

pub(crate) fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

async fn require_bearer(State(auth): State<Auth>, mut req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token);
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

/// The token of an `Authorization: Bearer <token>` header; the scheme is
/// case-insensitive (RFC 9110 §11.1).
pub(crate) fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[derive(Clone)]
struct Guard {
    owners: Arc<Owners>,
    default_organization: String,
    max_sessions_per_org: usize,
}

const SESSION_HEADER: &str = "mcp-session-id";

/// Keeps each session to its organization, caps sessions per organization, answers a
/// one-message call as JSON, and `DELETE` with `204`.
async fn guard(State(g): State<Guard>, req: Request, next: Next) -> Response {
    let org = req
        .extensions()
        .get::<Organization>()
        .map(|o| o.0.clone())
        .unwrap_or_else(|| g.default_organization.clone());
    let session = req
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // Another organization's session gets the same answer as one that does not exist.
    if let Some(id) = &session
        && g.owners.owner(id).is_some_and(|owner| owner != org)
    {
        return (StatusCode::NOT_FOUND, "Not Found: Session not found").into_response();
    }
    if let Some(id) = &session {
        g.owners.touch(id);
    }
    let method = req.method().clone();
    if method != Method::POST {
        let response = next.run(req).await;
        if method == Method::DELETE && response.status() == StatusCode::ACCEPTED {
            return StatusCode::NO_CONTENT.into_response();
        }
        if let Some(id) = &session
            && method == Method::GET
            && response.status().is_success()
        {
            // The session is in use while its client holds this stream open.
            let open = g.owners.stream_opened(id);
            let (parts, body) = response.into_parts();
            let body = body.into_data_stream().map(move |chunk| {
                let _ = &open;
                chunk
            });
            return Response::from_parts(parts, axum::body::Body::from_stream(body));
        }
        return response;
    }
    // The body is already in memory (see crate::net); it is small.
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, READ_BODY_BYTES)
        .await
        .unwrap_or_default();
    if session.is_none() && g.owners.count(&org) >= g.max_sessions_per_org && is_initialize(&bytes)
    {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "60")],
            format!(
                "organization {org:?} already has {} open MCP sessions, the limit: end sessions you no longer use (DELETE /mcp) or wait for idle ones to expire",
                g.max_sessions_per_org
            ),
        )
            .into_response();
    }
    let bytes = match super::duplicates::mark(&bytes) {
        Some(marked) => marked.into(),
        None => bytes,
    };
    let req = Request::from_parts(parts, axum::body::Body::from(bytes));
    reply::prefer_json(next.run(req).await).await
}

fn is_initialize(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .is_some_and(|v| v.get("method").and_then(|m| m.as_str()) == Some("initialize"))
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
        .with_cancellation_token(shutdown.clone());
    if !opts.allowed_origins.is_empty() {
        config = config.with_allowed_origins(opts.allowed_origins.clone());
    }
    let owners = Arc::new(Owners::default());
    let mut local = LocalSessionManager::default();
    // Idle sessions are closed by `sessions::sweep`, which knows about open streams; rmcp's
    // own timer is only a backstop.
    local.session_config.keep_alive = Some(opts.session_idle.max(Duration::from_secs(3600)));
    let guard_state = Guard {
        owners: owners.clone(),
        default_organization: ctx.default_organization.clone(),
        max_sessions_per_org: opts.max_sessions_per_org,
    };
    let sessions = Arc::new(OwnedSessions::new(
        local,
        owners,
        ctx.default_organization.clone(),
    ));
    tokio::spawn(sessions::sweep(
        sessions.clone(),
        opts.session_idle,
        shutdown.clone(),
    ));
    let service = StreamableHttpService::new(
        move || Ok(PaylinkServer::new(ctx.clone())),
        sessions,
        config,
    );
    let mut routes = Router::new()
        .nest_service("/mcp", service)
        .layer(middleware::from_fn_with_state(guard_state, guard));
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

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer abc"), Some("abc"));
        assert_eq!(bearer_token("BEARER  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearerabc"), None);
    }
}
