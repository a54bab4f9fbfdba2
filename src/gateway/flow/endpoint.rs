//! What a Flow API base URL points at: Flow production, Flow's sandbox, a Flow-compatible
//! server on this machine, or some other https server. Every place that needs to know
//! (the environment a URL implies, whether money is real, whether plain http is allowed)
//! asks [`classify`].
//!
//! # Invariants
//!
//! - Plain `http://` is accepted only for a loopback host (127.0.0.0/8, `localhost`,
//!   `[::1]`, any port): Flow's requests carry the apiKey and a signature, and its answers
//!   decide whether a payment is paid.
//! - Flow's own hosts (`www.flow.cl`, `flow.cl`, `sandbox.flow.cl`) are recognised whatever
//!   the letter case, a trailing dot or the port, so a production URL is never mistaken for
//!   a test one; on those hosts only the `/api` base is accepted.
//! - A loopback URL means "a Flow-compatible server on this machine" (`paylink sandbox`, a
//!   test double), not paylink's built-in offline sandbox: that one is started by `serve`
//!   itself when no account is configured, and is never named by a URL in the settings.

use reqwest::Url;

use crate::domain::Environment;

/// Where a Flow API base URL points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowEndpoint {
    /// Flow production, `https://www.flow.cl/api`: real money.
    Production,
    /// Flow's sandbox, `https://sandbox.flow.cl/api`: test money.
    Sandbox,
    /// A Flow-compatible server on a loopback address (http or https, any port).
    Loopback,
    /// Any other https server, such as a proxy in front of Flow.
    OtherHttps,
}

impl FlowEndpoint {
    /// The environment the URL implies when nothing else says: production for Flow
    /// production, development for everything else.
    pub fn environment(self) -> Environment {
        match self {
            FlowEndpoint::Production => Environment::Production,
            FlowEndpoint::Sandbox | FlowEndpoint::Loopback | FlowEndpoint::OtherHttps => {
                Environment::Development
            }
        }
    }

    /// In words, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            FlowEndpoint::Production => "Flow production (real money)",
            FlowEndpoint::Sandbox => "Flow's sandbox (test money)",
            FlowEndpoint::Loopback => "a Flow-compatible server on this machine",
            FlowEndpoint::OtherHttps => "an https server that is not Flow's own",
        }
    }
}

/// A base URL that cannot be used. The message says what to give instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{url:?} {problem}")]
pub struct EndpointError {
    pub url: String,
    pub problem: &'static str,
}

/// Classifies a Flow API base URL such as `https://sandbox.flow.cl/api` (a trailing slash
/// is ignored).
pub fn classify(url: &str) -> Result<FlowEndpoint, EndpointError> {
    let fail = |problem: &'static str| EndpointError {
        url: url.to_string(),
        problem,
    };
    let parsed = Url::parse(url.trim()).map_err(|_| {
        fail(
            "is not a URL; give https://www.flow.cl/api (live), https://sandbox.flow.cl/api (Flow's sandbox) or http://127.0.0.1:PORT/api (a Flow-compatible server on this machine)",
        )
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(fail(
            "is not an http(s) URL; give https://www.flow.cl/api (live), https://sandbox.flow.cl/api (Flow's sandbox) or http://127.0.0.1:PORT/api (a Flow-compatible server on this machine)",
        ));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(fail(
            "carries a user name or password; give the API base alone, e.g. https://sandbox.flow.cl/api",
        ));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(fail(
            "has a query or fragment; give the API base alone, e.g. https://sandbox.flow.cl/api",
        ));
    }
    let Some(host) = parsed.host_str() else {
        return Err(fail("has no host; e.g. https://sandbox.flow.cl/api"));
    };
    if crate::net::is_loopback_host(host) {
        return Ok(FlowEndpoint::Loopback);
    }
    if parsed.scheme() != "https" {
        return Err(fail(
            "is plain http to another machine; Flow's API is https, and plain http is only for a Flow-compatible server on loopback (127.0.0.1, localhost, [::1])",
        ));
    }
    let path = parsed.path().trim_end_matches('/');
    match host.trim_end_matches('.') {
        "www.flow.cl" | "flow.cl" if path == "/api" => Ok(FlowEndpoint::Production),
        "www.flow.cl" | "flow.cl" => Err(fail(
            "is on Flow's production host but is not its API base; give https://www.flow.cl/api",
        )),
        "sandbox.flow.cl" if path == "/api" => Ok(FlowEndpoint::Sandbox),
        "sandbox.flow.cl" => Err(fail(
            "is on Flow's sandbox host but is not its API base; give https://sandbox.flow.cl/api",
        )),
        _ => Ok(FlowEndpoint::OtherHttps),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_base_url_is_recognised() {
        let table: &[(&str, FlowEndpoint)] = &[
            ("https://www.flow.cl/api", FlowEndpoint::Production),
            ("https://www.flow.cl/api/", FlowEndpoint::Production),
            ("https://WWW.Flow.CL/api", FlowEndpoint::Production),
            ("https://www.flow.cl.:443/api", FlowEndpoint::Production),
            ("https://flow.cl/api", FlowEndpoint::Production),
            (" https://www.flow.cl/api ", FlowEndpoint::Production),
            ("https://sandbox.flow.cl/api", FlowEndpoint::Sandbox),
            ("https://sandbox.flow.cl/api/", FlowEndpoint::Sandbox),
            ("http://127.0.0.1:9100/api", FlowEndpoint::Loopback),
            ("http://127.8.9.10/api", FlowEndpoint::Loopback),
            ("http://localhost:9100/api", FlowEndpoint::Loopback),
            ("http://LOCALHOST/api", FlowEndpoint::Loopback),
            ("http://[::1]:9/api", FlowEndpoint::Loopback),
            ("https://[::1]/api", FlowEndpoint::Loopback),
            (
                "https://flow-proxy.example.com/api",
                FlowEndpoint::OtherHttps,
            ),
        ];
        for (url, want) in table {
            assert_eq!(classify(url), Ok(*want), "{url}");
        }
    }

    #[test]
    fn only_production_implies_the_production_environment() {
        assert_eq!(
            classify("https://www.flow.cl/api/").unwrap().environment(),
            Environment::Production
        );
        for url in [
            "https://sandbox.flow.cl/api",
            "http://[::1]:9/api",
            "https://proxy.example.com/api",
        ] {
            assert_eq!(
                classify(url).unwrap().environment(),
                Environment::Development,
                "{url}"
            );
        }
    }

    #[test]
    fn unusable_base_urls_are_refused_with_what_to_give() {
        for (url, says) in [
            ("sandbox.flow.cl/api", "is not a URL"),
            ("ftp://sandbox.flow.cl/api", "not an http(s) URL"),
            ("http://sandbox.flow.cl/api", "plain http"),
            ("http://www.flow.cl/api", "plain http"),
            ("http://10.0.0.5:9100/api", "plain http"),
            ("http://[::2]:9/api", "plain http"),
            ("http://localhost.example.com/api", "plain http"),
            ("https://www.flow.cl", "https://www.flow.cl/api"),
            ("https://www.flow.cl/app", "https://www.flow.cl/api"),
            ("https://sandbox.flow.cl/", "https://sandbox.flow.cl/api"),
            (
                "https://user:pw@sandbox.flow.cl/api",
                "user name or password",
            ),
            ("https://sandbox.flow.cl/api?x=1", "query"),
        ] {
            let e = classify(url).unwrap_err();
            assert!(e.to_string().contains(says), "{url}: {e}");
        }
    }
}
