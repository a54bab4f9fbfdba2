//! Serving the side listener with a lane of its own for health checks.
//!
//! During a storm every worker of the main runtime is busy with thousands of webhook
//! connections, and a new connection waits its turn behind all of them: a load balancer's
//! `GET /healthz` could take hundreds of milliseconds and the server be declared dead
//! exactly when it is working hardest. So connections are accepted on a thread of their
//! own (with a one-thread runtime). It peeks at each connection's first bytes: a
//! connection that opens with `GET /healthz` (or `HEAD`) is served right there, one request
//! and then `Connection: close`; every other connection is handed, unread, to the main
//! runtime and served there as usual. Both lanes serve the same router, so the answers do
//! not depend on the lane; only the waiting does.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, header};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// The request lines that take the health lane.
const HEALTH_PREFIXES: [&[u8]; 4] = [
    b"GET /healthz ",
    b"GET /healthz?",
    b"HEAD /healthz ",
    b"HEAD /healthz?",
];

/// How long the acceptor waits for a new connection's first bytes before handing it to the
/// main runtime unclassified (which then applies its own timeouts).
const PEEK_PATIENCE: Duration = Duration::from_millis(500);

/// Connections accepted but not yet taken by a lane.
const HANDOFF_CAPACITY: usize = 1024;

/// Serves `router` on `listener` until `shutdown` is cancelled, with health checks on their
/// own lane (see the module docs). Must be called from within the main runtime.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let local = listener.local_addr()?;
    let listener = listener.into_std()?;
    let (main_tx, main_rx) = mpsc::channel(HANDOFF_CAPACITY);
    let (done_tx, done_rx) = oneshot::channel();
    let lane_router = router.clone().layer(axum::middleware::map_response(
        |mut response: axum::response::Response| async move {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            response
        },
    ));
    let token = shutdown.clone();
    std::thread::Builder::new()
        .name("paylink-accept".into())
        .spawn(move || {
            let result = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .and_then(|rt| rt.block_on(accept_loop(listener, lane_router, main_tx, token)));
            let _ = done_tx.send(result);
        })?;
    let main = Handed { rx: main_rx, local };
    let token = shutdown.clone();
    axum::serve(main, router)
        .with_graceful_shutdown(async move { token.cancelled().await })
        .await?;
    // The acceptor stops on the same token (or has already failed).
    shutdown.cancel();
    done_rx.await.unwrap_or(Ok(()))
}

/// Runs on the acceptor thread: accepts, classifies, and serves the health lane.
async fn accept_loop(
    listener: std::net::TcpListener,
    router: Router,
    main: mpsc::Sender<(std::net::TcpStream, SocketAddr)>,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let listener = TcpListener::from_std(listener)?;
    let local = listener.local_addr()?;
    let (lane_tx, lane_rx) = mpsc::channel(HANDOFF_CAPACITY);
    let token = shutdown.clone();
    let lane = tokio::spawn(async move {
        axum::serve(Handed { rx: lane_rx, local }, router)
            .with_graceful_shutdown(async move { token.cancelled().await })
            .await
    });
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    accept_error(e).await;
                    continue;
                }
            },
        };
        let (main, lane_tx) = (main.clone(), lane_tx.clone());
        tokio::spawn(async move {
            if is_health_check(&stream).await {
                let _ = stream.set_nodelay(true);
                let _ = lane_tx.send((stream, peer)).await;
            } else if let Ok(stream) = stream.into_std() {
                let _ = main.send((stream, peer)).await;
            }
        });
    }
    drop(lane_tx);
    lane.await.map_err(io::Error::other)?
}

/// Whether the connection's first bytes are a health check's request line. Waits (within
/// [`PEEK_PATIENCE`]) while what has arrived is still a prefix of one.
async fn is_health_check(stream: &TcpStream) -> bool {
    let deadline = tokio::time::Instant::now() + PEEK_PATIENCE;
    let mut buf = [0u8; 14];
    loop {
        let n = match tokio::time::timeout_at(deadline, stream.peek(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => n,
            _ => return false,
        };
        let seen = &buf[..n];
        if HEALTH_PREFIXES.iter().any(|p| seen.starts_with(p)) {
            return true;
        }
        if !HEALTH_PREFIXES.iter().any(|p| p.starts_with(seen)) {
            return false;
        }
        // Only part of the request line has arrived; peek returns at once while any byte
        // is buffered, so look again shortly.
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Connection-level errors (the peer gave up) are retried at once; anything else (out of
/// file descriptors, say) waits a second so the loop does not spin.
async fn accept_error(e: io::Error) {
    use io::ErrorKind::*;
    if matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "the side listener cannot accept a connection; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Connections handed over by the acceptor, as an axum listener. Streams arrive as
/// `std` sockets (non-blocking) and are registered with the runtime that accepts them.
struct Handed<S> {
    rx: mpsc::Receiver<(S, SocketAddr)>,
    local: SocketAddr,
}

trait IntoTokio: Send + 'static {
    fn into_tokio(self) -> io::Result<TcpStream>;
}

impl IntoTokio for TcpStream {
    fn into_tokio(self) -> io::Result<TcpStream> {
        Ok(self)
    }
}

impl IntoTokio for std::net::TcpStream {
    fn into_tokio(self) -> io::Result<TcpStream> {
        TcpStream::from_std(self)
    }
}

impl<S: IntoTokio> axum::serve::Listener for Handed<S> {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        loop {
            let Some((stream, peer)) = self.rx.recv().await else {
                // The acceptor has stopped: nothing more will come; shutdown ends serve.
                return std::future::pending().await;
            };
            match stream.into_tokio() {
                Ok(stream) => return (stream, peer),
                Err(e) => tracing::warn!(error = %e, "cannot take over an accepted connection"),
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream as StdStream;
    use std::sync::mpsc as std_mpsc;
    use std::time::Duration;

    use axum::Router;
    use axum::routing::{get, post};
    use tokio_util::sync::CancellationToken;

    /// A server on a one-worker main runtime of its own thread; returns its address.
    fn start(
        router: Router,
        shutdown: CancellationToken,
    ) -> (std::net::SocketAddr, tokio::runtime::Handle) {
        let (tx, rx) = std_mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send((
                    listener.local_addr().unwrap(),
                    tokio::runtime::Handle::current(),
                ))
                .unwrap();
                super::serve(listener, router, shutdown).await.unwrap();
            });
        });
        rx.recv().unwrap()
    }

    /// Sends `chunks` (pausing between them) and reads the whole answer (until close).
    fn exchange(addr: std::net::SocketAddr, chunks: &[&str]) -> String {
        let mut s = StdStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        for (i, chunk) in chunks.iter().enumerate() {
            if i > 0 {
                std::thread::sleep(Duration::from_millis(20));
            }
            s.write_all(chunk.as_bytes()).unwrap();
        }
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    fn router() -> Router {
        Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route(
                "/webhook",
                post(|body: String| async move { format!("got {body}") }),
            )
    }

    #[test]
    fn health_checks_are_answered_while_the_main_runtime_is_stuck() {
        let shutdown = CancellationToken::new();
        let (addr, main) = start(router(), shutdown.clone());
        // Hold the main runtime's only thread until the test lets go.
        let (release, held) = std_mpsc::channel::<()>();
        let (stuck_tx, stuck) = std_mpsc::channel();
        main.spawn(async move {
            stuck_tx.send(()).unwrap();
            let _ = held.recv();
        });
        stuck.recv().unwrap();
        let answer = exchange(addr, &["GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"]);
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(
            answer.to_ascii_lowercase().contains("connection: close"),
            "{answer}"
        );
        assert!(answer.ends_with("ok"), "{answer}");
        // Other requests wait for the main runtime, and are served once it is free.
        let webhook = std::thread::spawn(move || {
            exchange(
                addr,
                &[
                    "POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
                ],
            )
        });
        release.send(()).unwrap();
        let answer = webhook.join().unwrap();
        assert!(answer.ends_with("got hi"), "{answer}");
        shutdown.cancel();
    }

    #[test]
    fn the_request_line_may_arrive_in_pieces_or_late() {
        let shutdown = CancellationToken::new();
        let (addr, _main) = start(router(), shutdown.clone());
        let answer = exchange(addr, &["GE", "T /heal", "thz HTTP/1.1\r\nHost: x\r\n\r\n"]);
        assert!(
            answer.starts_with("HTTP/1.1 200") && answer.ends_with("ok"),
            "{answer}"
        );
        // A prefix that turns out to be something else goes to the main lane.
        let answer = exchange(
            addr,
            &[
                "GET /health",
                "z2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            ],
        );
        assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
        // A connection silent for longer than the acceptor's patience is still served.
        let mut s = StdStream::connect(addr).unwrap();
        std::thread::sleep(super::PEEK_PATIENCE + Duration::from_millis(200));
        s.write_all(
            b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nConnection: close\r\n\r\nz",
        )
        .unwrap();
        let mut out = String::new();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let _ = s.read_to_string(&mut out);
        assert!(out.ends_with("got z"), "{out}");
        shutdown.cancel();
    }

    #[test]
    fn the_main_lane_keeps_connections_alive() {
        let shutdown = CancellationToken::new();
        let (addr, _main) = start(router(), shutdown.clone());
        let answer = exchange(
            addr,
            &[
                "POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\na",
                "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            ],
        );
        assert!(
            answer.contains("got a") && answer.ends_with("ok"),
            "{answer}"
        );
        assert_eq!(answer.matches("HTTP/1.1 200").count(), 2, "{answer}");
        shutdown.cancel();
    }
}
