//! Serving HTTP on a socket that faces the internet.
//!
//! Every listener paylink opens (MCP over HTTP, the side listener, the offline sandbox) is
//! served by [`serve`], which holds these invariants:
//!
//! - **No stall.** `TCP_NODELAY` on every accepted socket, so a reply's last segment is
//!   never held back by Nagle's algorithm waiting for the client's delayed ACK (~40 ms).
//! - **Bounded time per connection.** A request head must arrive within
//!   [`Limits::header_timeout`]; the same timer closes a keep-alive connection that sits
//!   idle that long between requests. A request body must arrive whole within
//!   [`Limits::body_timeout`] (bodies are small; the router caps their size), else `408`.
//! - **Bounded connections.** At most [`Limits::max_connections`] per listener and
//!   [`Limits::max_per_ip`] per client address. A connection over either cap gets a short
//!   `503` with `Retry-After` and is closed at once, so it holds no descriptor.
//! - **Graceful shutdown.** On cancellation the listener stops accepting, connections
//!   finish their requests within [`Limits::drain`], and the rest are dropped.
//!
//! Handlers find the peer's address as `ConnectInfo<SocketAddr>`.
//!
//! [`is_loopback_host`] and [`is_loopback_url`] are the one answer to "does this name only
//! this machine?" for URLs paylink is given (a public URL, a Flow API base).

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// What one listener allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A request head must arrive within this; also the idle keep-alive limit.
    pub header_timeout: Duration,
    /// A request body must arrive whole within this.
    pub body_timeout: Duration,
    /// The largest request body read.
    pub max_body: usize,
    /// Open connections on this listener.
    pub max_connections: usize,
    /// Open connections from one client address.
    pub max_per_ip: usize,
    /// How long shutdown waits for requests in flight.
    pub drain: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            max_body: 64 * 1024,
            max_connections: 4096,
            max_per_ip: 512,
            drain: Duration::from_secs(5),
        }
    }
}

/// Open connections per listener and per client address.
#[derive(Debug)]
struct Gate {
    limits: Limits,
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

/// One admitted connection; dropping it frees its place.
struct Admitted {
    gate: Arc<Gate>,
    ip: IpAddr,
}

impl Gate {
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Admitted> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let (total, per_ip) = &mut *open;
        let mine = per_ip.get(&ip).copied().unwrap_or(0);
        if *total >= self.limits.max_connections || mine >= self.limits.max_per_ip {
            return None;
        }
        *total += 1;
        per_ip.insert(ip, mine + 1);
        Some(Admitted {
            gate: self.clone(),
            ip,
        })
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self.gate.open.lock().unwrap_or_else(|p| p.into_inner());
        let (total, per_ip) = &mut *open;
        *total -= 1;
        if let Some(n) = per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                per_ip.remove(&self.ip);
            }
        }
    }
}

/// The whole answer to a connection over a cap. It fits any socket's send buffer, so it is
/// written without waiting, and the socket is closed right after.
const FULL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\n\
retry-after: 1\r\nconnection: close\r\ncontent-length: 49\r\n\r\n\
too many connections; try again in a few seconds\n";

/// Serves `router` on `listener` until `shutdown` is cancelled (see the module docs).
pub async fn serve<L>(
    mut listener: L,
    router: Router,
    limits: Limits,
    shutdown: CancellationToken,
) -> io::Result<()>
where
    L: axum::serve::Listener<Io = TcpStream, Addr = SocketAddr>,
{
    let gate = Arc::new(Gate {
        limits,
        open: Mutex::new((0, HashMap::new())),
    });
    let router = router.layer(axum::middleware::from_fn_with_state(
        (limits.body_timeout, limits.max_body),
        read_body_within,
    ));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let _ = stream.set_nodelay(true);
        let Some(admitted) = gate.admit(peer.ip()) else {
            // Read what already arrived first: closing a socket with unread input resets
            // it, and the reset can destroy the 503 before the client reads it.
            // At most 64 KiB: a client that keeps sending cannot hold the accept loop.
            let mut sink = [0u8; 4096];
            for _ in 0..16 {
                if !matches!(stream.try_read(&mut sink), Ok(n) if n > 0) {
                    break;
                }
            }
            let _ = stream.try_write(FULL);
            continue;
        };
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(req)
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .keep_alive(true)
            .serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
            drop(admitted);
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(limits.drain) => {
            tracing::debug!("connections still open after the drain limit; dropping them");
        }
    }
    Ok(())
}

/// Reads the whole request body within `limit`, so a client that trickles its body cannot
/// hold a handler (and a connection slot) for long.
async fn read_body_within(
    axum::extract::State((limit, max)): axum::extract::State<(Duration, usize)>,
    req: Request,
    next: Next,
) -> Response {
    // A body-less request (GET, DELETE, HEAD) goes straight through.
    if req.headers().get(header::CONTENT_LENGTH).is_none()
        && req.headers().get(header::TRANSFER_ENCODING).is_none()
    {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let read = axum::body::to_bytes(body, max);
    match tokio::time::timeout(limit, read).await {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(e)) if is_too_large(&e) => (
            StatusCode::PAYLOAD_TOO_LARGE,
            [(header::CONNECTION, "close")],
            format!("the request body is larger than {max} bytes"),
        )
            .into_response(),
        Ok(Err(e)) => (
            StatusCode::BAD_REQUEST,
            format!("cannot read the body: {e}"),
        )
            .into_response(),
        Err(_) => (
            StatusCode::REQUEST_TIMEOUT,
            [(header::CONNECTION, "close")],
            format!(
                "the request body did not arrive within {} s",
                limit.as_secs()
            ),
        )
            .into_response(),
    }
}

/// Whether a URL host names only this machine: `localhost`, an address in 127.0.0.0/8, or
/// `::1` (bracketed or not), in any letter case and with or without a trailing dot.
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_end_matches('.');
    let h = h
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(h);
    h.eq_ignore_ascii_case("localhost") || h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether `url` (such as a public base URL) points at this machine only, so that nothing
/// elsewhere (Flow, a payer's browser) can reach it. A URL that does not parse is not
/// loopback.
pub fn is_loopback_url(url: &str) -> bool {
    reqwest::Url::parse(url.trim())
        .ok()
        .and_then(|u| u.host_str().map(is_loopback_host))
        .unwrap_or(false)
}

fn is_too_large(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = err.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_caps_total_and_per_address() {
        let gate = Arc::new(Gate {
            limits: Limits {
                max_connections: 3,
                max_per_ip: 2,
                ..Limits::default()
            },
            open: Mutex::new((0, HashMap::new())),
        });
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "127.0.0.3".parse().unwrap();
        let a1 = gate.admit(a).unwrap();
        let _a2 = gate.admit(a).unwrap();
        assert!(gate.admit(a).is_none(), "a third from one address");
        let _b1 = gate.admit(b).unwrap();
        assert!(gate.admit(b).is_none(), "a fourth in all");
        drop(a1);
        assert!(gate.admit(a).is_some(), "a place freed is taken again");
    }

    #[test]
    fn loopback_urls_are_told_from_reachable_ones() {
        for url in [
            "http://127.0.0.1:8787",
            "http://127.0.0.1",
            "http://127.1.2.3:1/x",
            "http://localhost:8787/",
            "https://LocalHost.",
            "http://[::1]:8787",
        ] {
            assert!(is_loopback_url(url), "{url}");
        }
        for url in [
            "https://pay.example.com",
            "http://10.0.0.1:8787",
            "http://[::2]:8787",
            "http://localhost.example.com",
            "http://127.0.0.1.example.com",
            "not a url",
        ] {
            assert!(!is_loopback_url(url), "{url}");
        }
    }

    #[test]
    fn the_refusal_is_a_whole_http_response() {
        let text = std::str::from_utf8(FULL).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(body.len(), len);
    }
}
