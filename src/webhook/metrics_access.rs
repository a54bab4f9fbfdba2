//! Who may read `GET /metrics`.
//!
//! The side listener faces the internet when a gateway must reach it, and the metrics say
//! how much money moves and how often gateways fail. So: with a token (`PAYLINK_METRICS_TOKEN`),
//! `/metrics` wants `Authorization: Bearer <token>` (scheme case-insensitive) and answers
//! 401 otherwise; without one it stays open on a loopback listener (local Prometheus
//! setups keep working) and answers 403 on any other address, saying how to open it.
//! Tokens are compared as SHA-256 digests, like MCP's bearer tokens, so the comparison
//! time does not depend on where a guess differs.

use std::net::SocketAddr;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret, SecretString};

use crate::mcp::http::{bearer_token, digest};

/// The access rule of `/metrics`, fixed at start.
#[derive(Clone, Default)]
pub enum MetricsAccess {
    /// Anyone who reaches the listener (bound to loopback, no token set).
    #[default]
    Open,
    /// Requests bearing the token whose SHA-256 digest this is.
    Token([u8; 32]),
    /// Nobody: the listener is bound beyond loopback and no token is set.
    Refused,
}

impl std::fmt::Debug for MetricsAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MetricsAccess::Open => "Open",
            MetricsAccess::Token(_) => "Token(REDACTED)",
            MetricsAccess::Refused => "Refused",
        })
    }
}

impl MetricsAccess {
    /// The rule for a side listener bound to `listener` with `token` configured.
    pub fn new(token: Option<&SecretString>, listener: SocketAddr) -> MetricsAccess {
        match token {
            Some(t) => MetricsAccess::Token(digest(t.expose_secret())),
            None if listener.ip().is_loopback() => MetricsAccess::Open,
            None => MetricsAccess::Refused,
        }
    }

    /// `None` when the request may read the metrics, else the answer to give.
    pub(super) fn refusal(&self, headers: &HeaderMap) -> Option<Response> {
        match self {
            MetricsAccess::Open => None,
            MetricsAccess::Token(want) => {
                let presented = headers
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(bearer_token);
                if presented.is_some_and(|t| digest(t) == *want) {
                    return None;
                }
                Some(
                    (
                        StatusCode::UNAUTHORIZED,
                        [(header::WWW_AUTHENTICATE, "Bearer")],
                        "/metrics needs Authorization: Bearer <PAYLINK_METRICS_TOKEN>\n",
                    )
                        .into_response(),
                )
            }
            MetricsAccess::Refused => Some(
                (
                    StatusCode::FORBIDDEN,
                    "/metrics is off on a listener bound beyond loopback: set \
                     PAYLINK_METRICS_TOKEN (16 or more characters) and scrape with \
                     Authorization: Bearer <token>, or bind PAYLINK_LISTEN to 127.0.0.1\n",
                )
                    .into_response(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(auth: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(a) = auth {
            h.insert(header::AUTHORIZATION, a.parse().unwrap());
        }
        h
    }

    #[test]
    fn loopback_is_open_elsewhere_refused_and_a_token_wins_everywhere() {
        let token = SecretString::from("metrics-token-0123456789".to_string());
        let any: SocketAddr = "0.0.0.0:8787".parse().unwrap();
        for local in ["127.0.0.1:8787", "[::1]:8787"] {
            let access = MetricsAccess::new(None, local.parse().unwrap());
            assert!(access.refusal(&headers(None)).is_none(), "{local}");
        }
        let refused = MetricsAccess::new(None, any)
            .refusal(&headers(None))
            .unwrap();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        for addr in [any, "127.0.0.1:8787".parse().unwrap()] {
            let access = MetricsAccess::new(Some(&token), addr);
            for bad in [
                None,
                Some("Bearer wrong-token-0123456789"),
                Some("Basic bWV0cmljcw=="),
                Some("Bearer"),
            ] {
                let r = access.refusal(&headers(bad)).expect("refused");
                assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{bad:?}");
            }
            for good in [
                "Bearer metrics-token-0123456789",
                "bearer metrics-token-0123456789",
                "BEARER  metrics-token-0123456789 ",
            ] {
                assert!(access.refusal(&headers(Some(good))).is_none(), "{good}");
            }
            assert!(!format!("{access:?}").contains("metrics-token"));
        }
    }
}
