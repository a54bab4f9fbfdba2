//! Serving the side listener with a lane of its own for health checks.
//!
//! During a storm every worker of the main runtime is busy with thousands of webhook
//! connections, and a new connection waits its turn behind all of them: a load balancer's
//! `GET /healthz` could take hundreds of milliseconds and the server be declared dead
//! exactly when it is working hardest. So connections are accepted on a thread of their
//! own (with a one-thread runtime). It peeks at each connection's first bytes: a
//! connection that opens with `GET /healthz` (or `HEAD`) is served right there, one request
//! and then `Connection: close`; every other connection is handed, unread, to the main
//! runtime and served there as usual. Both lanes serve the same router.
//!
//! The lane must not hide a wedged server: a task on the main runtime beats a heartbeat
//! every [`HEARTBEAT_EVERY`], and when the last beat is older than [`STALE_AFTER`] the
//! lane answers `503` instead of asking the router.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::net::Limits;

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

/// Connections being peeked at, at most.
const MAX_PEEKING: usize = 1024;

/// The health lane serves one short request per connection.
const LANE_LIMITS: Limits = Limits {
    header_timeout: Duration::from_secs(2),
    body_timeout: Duration::from_secs(2),
    max_body: 1024,
    max_connections: 256,
    max_per_ip: 256,
    drain: LANE_DRAIN,
};

/// How often the main runtime proves it still runs tasks.
const HEARTBEAT_EVERY: Duration = Duration::from_millis(100);

/// A heartbeat older than this makes the health lane answer 503.
pub const STALE_AFTER: Duration = Duration::from_secs(3);

/// How long shutdown waits for health-lane connections (nothing on them is worth more).
const LANE_DRAIN: Duration = Duration::from_secs(1);

/// Serves `router` on `listener` until `shutdown` is cancelled, with health checks on their
/// own lane (see the module docs). Must be called from within the main runtime. Dropping
/// the future also stops the acceptor thread.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: CancellationToken,
) -> io::Result<()> {
    serve_with(listener, router, limits, shutdown, STALE_AFTER).await
}

async fn serve_with(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: CancellationToken,
    stale_after: Duration,
) -> io::Result<()> {
    let _stop_acceptor = shutdown.clone().drop_guard();
    let local = listener.local_addr()?;
    let listener = listener.into_std()?;
    let heartbeat = Arc::new(Heartbeat::new(stale_after));
    tokio::spawn(heartbeat.clone().beat(shutdown.clone()));
    let lane_router = router
        .clone()
        .layer(axum::middleware::from_fn_with_state(heartbeat, health_lane));
    let (main_tx, main_rx) = mpsc::channel(HANDOFF_CAPACITY);
    let (done_tx, done_rx) = oneshot::channel();
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
    let main = crate::net::serve(
        Handed { rx: main_rx, local },
        router,
        limits,
        shutdown.clone(),
    );
    let acceptor = async {
        done_rx.await.unwrap_or_else(|_| {
            Err(io::Error::other(
                "the side listener's acceptor thread panicked",
            ))
        })
    };
    tokio::pin!(main, acceptor);
    tokio::select! {
        served = &mut main => {
            shutdown.cancel();
            served?;
            acceptor.await
        }
        accepted = &mut acceptor => {
            // The acceptor stops only on shutdown or when it fails.
            shutdown.cancel();
            accepted?;
            main.await
        }
    }
}

/// When the main runtime last ran a task, as seen from the health lane.
struct Heartbeat {
    origin: Instant,
    last_ms: AtomicU64,
    stale_after: Duration,
}

impl Heartbeat {
    fn new(stale_after: Duration) -> Heartbeat {
        Heartbeat {
            origin: Instant::now(),
            last_ms: AtomicU64::new(0),
            stale_after,
        }
    }

    /// Runs on the main runtime until `shutdown`.
    async fn beat(self: Arc<Self>, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {
                    let now = self.origin.elapsed().as_millis() as u64;
                    self.last_ms.store(now, Ordering::Relaxed);
                }
            }
        }
    }

    fn age(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.origin.elapsed().saturating_sub(last)
    }
}

/// The health lane's layer: 503 while the main runtime is stuck, else the router's answer;
/// either way the connection closes after it.
async fn health_lane(
    State(heartbeat): State<Arc<Heartbeat>>,
    req: Request,
    next: Next,
) -> Response {
    let age = heartbeat.age();
    let mut response = if age > heartbeat.stale_after {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "unhealthy: the listener's main runtime has run no task for {} ms",
                age.as_millis()
            ),
        )
            .into_response()
    } else {
        next.run(req).await
    };
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
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
    let mut lane = tokio::spawn(crate::net::serve(
        Handed { rx: lane_rx, local },
        router,
        LANE_LIMITS,
        token,
    ));
    let peeking = Arc::new(tokio::sync::Semaphore::new(MAX_PEEKING));
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = accept_error(e) => continue,
                }
            }
        };
        let (main, lane_tx) = (main.clone(), lane_tx.clone());
        // Connections that have not said what they are yet are bounded: past the cap, a
        // new one goes straight to the main lane, whose caps and timeouts apply.
        let Ok(peek) = peeking.clone().try_acquire_owned() else {
            if let Ok(stream) = stream.into_std() {
                let _ = main.send((stream, peer)).await;
            }
            continue;
        };
        tokio::spawn(async move {
            let health = is_health_check(&stream).await;
            drop(peek);
            if health {
                let _ = stream.set_nodelay(true);
                let _ = lane_tx.send((stream, peer)).await;
            } else if let Ok(stream) = stream.into_std() {
                let _ = main.send((stream, peer)).await;
            }
        });
    }
    // Refuse new connections at once, then give health checks in flight a moment.
    drop(listener);
    drop(lane_tx);
    match tokio::time::timeout(LANE_DRAIN, &mut lane).await {
        Ok(served) => served.map_err(io::Error::other)?,
        Err(_) => {
            lane.abort();
            Ok(())
        }
    }
}

/// Whether the connection's first bytes are a health check's request line. Waits (within
/// [`PEEK_PATIENCE`]) while what has arrived is still a prefix of one.
async fn is_health_check(stream: &TcpStream) -> bool {
    let deadline = tokio::time::Instant::now() + PEEK_PATIENCE;
    let mut buf = [0u8; 14];
    let mut pause = Duration::from_millis(1);
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
        // Only part of the request line has arrived. peek returns at once while any byte
        // is buffered, so look again after a pause that doubles each time (a peer that
        // stalls mid-line costs about ten looks, not a busy loop).
        if tokio::time::Instant::now() + pause >= deadline {
            return false;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(128));
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
    use std::net::{SocketAddr, TcpStream as StdStream};
    use std::sync::mpsc as std_mpsc;
    use std::thread::JoinHandle;
    use std::time::{Duration, Instant};

    use axum::Router;
    use axum::routing::{get, post};
    use tokio_util::sync::CancellationToken;

    const MAIN_THREAD: &str = "main-runtime";

    struct Server {
        addr: SocketAddr,
        main: tokio::runtime::Handle,
        shutdown: CancellationToken,
        thread: JoinHandle<std::io::Result<()>>,
    }

    impl Server {
        /// A server on a one-thread main runtime of its own thread.
        fn start(stale_after: Duration) -> Server {
            let shutdown = CancellationToken::new();
            let token = shutdown.clone();
            let (tx, rx) = std_mpsc::channel();
            let thread = std::thread::Builder::new()
                .name(MAIN_THREAD.into())
                .spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    rt.block_on(async move {
                        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
                        tx.send((listener.local_addr()?, tokio::runtime::Handle::current()))
                            .unwrap();
                        super::serve_with(
                            listener,
                            router(),
                            super::Limits::default(),
                            token,
                            stale_after,
                        )
                        .await
                    })
                })
                .unwrap();
            let (addr, main) = rx.recv().unwrap();
            Server {
                addr,
                main,
                shutdown,
                thread,
            }
        }

        /// Holds the main runtime's only thread until the returned sender is used or dropped.
        fn hold_main(&self) -> std_mpsc::Sender<()> {
            let (release, held) = std_mpsc::channel::<()>();
            let (stuck_tx, stuck) = std_mpsc::channel();
            self.main.spawn(async move {
                stuck_tx.send(()).unwrap();
                let _ = held.recv();
            });
            stuck.recv().unwrap();
            release
        }

        /// Cancels and waits (with a deadline) for `serve` to return.
        fn stop(self) -> std::io::Result<()> {
            self.shutdown.cancel();
            let deadline = Instant::now() + Duration::from_secs(10);
            while !self.thread.is_finished() {
                assert!(
                    Instant::now() < deadline,
                    "serve did not return after shutdown"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
            self.thread.join().unwrap()
        }
    }

    /// Each route answers with the name of the thread that served it.
    fn router() -> Router {
        let thread = || async { std::thread::current().name().unwrap_or("?").to_string() };
        Router::new()
            .route("/healthz", get(thread))
            .route("/healthz2", get(thread))
            .route("/webhook", post(thread))
    }

    /// Sends `chunks` (pausing between them) and reads the answer until the server closes.
    fn exchange(addr: SocketAddr, chunks: &[&str]) -> String {
        let mut s = StdStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        for (i, chunk) in chunks.iter().enumerate() {
            if i > 0 {
                std::thread::sleep(Duration::from_millis(20));
            }
            s.write_all(chunk.as_bytes()).unwrap();
        }
        let mut out = String::new();
        s.read_to_string(&mut out)
            .expect("the server closes the connection");
        out
    }

    const HEALTH: &str = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    const WEBHOOK: &str =
        "POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi";

    #[test]
    fn health_checks_are_answered_while_the_main_runtime_is_busy() {
        let server = Server::start(super::STALE_AFTER);
        let addr = server.addr;
        let release = server.hold_main();
        let webhook = std::thread::spawn(move || exchange(addr, &[WEBHOOK]));
        let answer = exchange(addr, &[HEALTH]);
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(
            answer.to_ascii_lowercase().contains("connection: close"),
            "{answer}"
        );
        assert!(answer.ends_with("paylink-accept"), "{answer}");
        // The webhook waits for the main runtime, and is served once it is free.
        assert!(!webhook.is_finished());
        release.send(()).unwrap();
        let answer = webhook.join().unwrap();
        assert!(answer.ends_with(MAIN_THREAD), "{answer}");
        server.stop().unwrap();
    }

    #[test]
    fn a_wedged_main_runtime_makes_the_health_lane_answer_503() {
        let server = Server::start(Duration::from_millis(300));
        let release = server.hold_main();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let answer = exchange(server.addr, &[HEALTH]);
            if answer.starts_with("HTTP/1.1 503") {
                assert!(answer.contains("has run no task for"), "{answer}");
                break;
            }
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
            assert!(Instant::now() < deadline, "the health lane never noticed");
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(release);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !exchange(server.addr, &[HEALTH]).starts_with("HTTP/1.1 200") {
            assert!(Instant::now() < deadline, "the health lane never recovered");
            std::thread::sleep(Duration::from_millis(50));
        }
        server.stop().unwrap();
    }

    #[test]
    fn the_request_line_may_arrive_in_pieces_or_late() {
        let server = Server::start(super::STALE_AFTER);
        let addr = server.addr;
        let answer = exchange(addr, &["GE", "T /heal", "thz HTTP/1.1\r\nHost: x\r\n\r\n"]);
        assert!(answer.ends_with("paylink-accept"), "{answer}");
        // A prefix that turns out to be something else goes to the main lane.
        let answer = exchange(
            addr,
            &[
                "GET /health",
                "z2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            ],
        );
        assert!(answer.ends_with(MAIN_THREAD), "{answer}");
        // A connection silent for longer than the acceptor's patience is still served.
        let mut s = StdStream::connect(addr).unwrap();
        std::thread::sleep(super::PEEK_PATIENCE + Duration::from_millis(200));
        s.write_all(WEBHOOK.as_bytes()).unwrap();
        let mut out = String::new();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.read_to_string(&mut out).unwrap();
        assert!(out.ends_with(MAIN_THREAD), "{out}");
        server.stop().unwrap();
    }

    #[test]
    fn the_main_lane_keeps_connections_alive() {
        let server = Server::start(super::STALE_AFTER);
        let answer = exchange(
            server.addr,
            &[
                "POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\na",
                "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            ],
        );
        assert_eq!(answer.matches("HTTP/1.1 200").count(), 2, "{answer}");
        assert_eq!(answer.matches(MAIN_THREAD).count(), 2, "{answer}");
        server.stop().unwrap();
    }

    #[test]
    fn shutdown_stops_both_lanes_and_refuses_new_connections() {
        let server = Server::start(super::STALE_AFTER);
        let addr = server.addr;
        // An idle keep-alive connection on the main lane, and a health check that never
        // finishes its headers on the health lane.
        let mut idle = StdStream::connect(addr).unwrap();
        idle.write_all(b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\na")
            .unwrap();
        let mut buf = [0u8; 512];
        let _ = idle.read(&mut buf).unwrap();
        let mut half = StdStream::connect(addr).unwrap();
        half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .unwrap();
        server.stop().unwrap();
        assert!(StdStream::connect(addr).is_err(), "the port still accepts");
    }
}
