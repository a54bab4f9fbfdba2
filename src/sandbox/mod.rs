//! The offline Flow sandbox: an in-memory emulator of Flow's payment API on loopback,
//! with a real HTML pay page, server-to-server confirmations and a control API for tests.
//!
//! # Routes
//!
//! - `/api/payment/create` (POST, urlencoded or multipart), `/api/payment/getStatus`,
//!   `/api/payment/getStatusByFlowOrder`, `/api/payment/getStatusByCommerceId` (GET):
//!   Flow's services, signature-checked as Flow checks them (`api.rs`).
//! - `/api/refund/create` (POST), `/api/refund/getStatus` (GET), `/api/refund/cancel`
//!   (POST): Flow's refunds, signature-checked the same way (`refund_rules.rs` for the
//!   create's rules, `refunds.rs` for their states and callbacks).
//! - `/app/web/pay.php`: the pay page (GET shows the order, POST settles it) (`pay_page.rs`).
//! - `/sandbox/...`: the JSON control API (`control.rs`), listed by `GET /sandbox/`:
//!   - `POST /sandbox/settle` `{"token":"…","outcome":"paid|rejected|cancelled|pending"}`
//!     → 200 [`SettleReport`], 404 unknown token, 409 already final or expired;
//!   - `POST /sandbox/clock/advance` `{"seconds":N}` → `{"offset_seconds":…,"now":"…"}`;
//!   - `POST /sandbox/faults` with a [`Fault`], e.g.
//!     `{"target":"create","kind":{"kind":"delay","ms":2000},"times":1}` (targets `create`,
//!     `get_status`, `any`; kinds `delay` with `ms`, `http500`, `malformed_body`,
//!     `close_connection`; `times` absent or null = until cleared); `GET /sandbox/faults`
//!     lists the active ones; `DELETE /sandbox/faults` clears them;
//!   - `POST /sandbox/confirmations/drop` `{"count":N}`: the next N confirmations are
//!     dropped (replaces any count still pending; 0 cancels);
//!   - `POST /sandbox/refunds/{token}/{action}` (no body; `action` is `accept`, `reject`,
//!     `refund` or `cancel`, see [`RefundAction`]) → 200 [`RefundReport`] once the
//!     refund's callback was answered, 404 unknown refund, 409 a status that does not
//!     allow the action, 400 an unknown action; `GET /sandbox/refunds/{token}` (its
//!     RefundStatus JSON), `GET /sandbox/refund_callbacks` (every refund callback);
//!   - `GET /sandbox/requests`, `GET /sandbox/confirmations`, `GET /sandbox/orders/{token}`,
//!     `GET /sandbox/health` (`ok`).
//!
//! # Behaviour chosen where Flow's is not documented
//!
//! Signature and apiKey errors answer HTTP 401 code 108; CLP decimals answer code 1902;
//! an expired order reports status 4 and sends no confirmation; confirmations are sent for
//! paid, rejected and cancelled, once, with a 20 s timeout and no retries; times are UTC.
//! The sandbox clock is system time plus an offset that only moves forward
//! ([`Sandbox::advance_clock`]), so tests never sleep.
//!
//! # The `close_connection` fault
//!
//! Under [`Sandbox::serve`] / [`Sandbox::start`] each connection's stream carries a kill
//! switch (`net.rs`): the fault trips it and the connection is closed before a byte of the
//! answer is written, so the client sees a transport error. When [`Sandbox::router`] is
//! served by someone else there is no switch; the fault then answers with
//! `Connection: close` and a body that fails before its first byte, so hyper aborts the
//! connection (in practice before the head is flushed: a transport error; at worst the
//! client gets a head and then a body error, never a usable answer).

mod api;
mod control;
mod model;
mod net;
mod pay_page;
mod refund_rules;
mod refunds;
mod rules;
mod settle;
mod state;
pub mod stripe;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use time::{Duration, OffsetDateTime};
use tokio_util::sync::CancellationToken;

pub use model::{
    ConfirmationRecord, Fault, FaultKind, FaultTarget, Outcome, RecordedRequest, RefundAction,
    RefundReport, SandboxError, SettleReport,
};

use state::State;

/// The built-in merchant's apiKey.
pub const DEFAULT_API_KEY: &str = "SANDBOX-1F90971E-8276-4715-97FF-2BLG5030EE3B";
/// The built-in merchant's secretKey.
pub const DEFAULT_SECRET_KEY: &str = "sandbox-secret-0123456789abcdef0123456789ab";

/// A merchant account known to the sandbox.
#[derive(Clone, Debug)]
pub struct Merchant {
    pub api_key: String,
    pub secret_key: String,
    /// Currencies enabled for payment/create (others get code 1990).
    pub currencies: Vec<String>,
}

impl Default for Merchant {
    /// The built-in merchant: [`DEFAULT_API_KEY`], [`DEFAULT_SECRET_KEY`], CLP and USD.
    fn default() -> Self {
        Merchant {
            api_key: DEFAULT_API_KEY.to_string(),
            secret_key: DEFAULT_SECRET_KEY.to_string(),
            currencies: vec!["CLP".to_string(), "USD".to_string()],
        }
    }
}

#[derive(Clone, Debug)]
pub struct SandboxConfig {
    pub merchants: Vec<Merchant>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            merchants: vec![Merchant::default()],
        }
    }
}

struct Inner {
    merchants: Vec<Merchant>,
    /// Seconds added to system time by `advance_clock`.
    clock_offset: AtomicI64,
    /// Sends confirmations; built on first use (loading TLS roots costs ~50 ms).
    http: std::sync::OnceLock<reqwest::Client>,
    state: Mutex<State>,
}

/// A running emulator's shared state; cheap to clone.
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

impl Sandbox {
    pub fn new(config: SandboxConfig) -> Sandbox {
        Sandbox {
            inner: Arc::new(Inner {
                merchants: config.merchants,
                clock_offset: AtomicI64::new(0),
                http: std::sync::OnceLock::new(),
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// The confirmation client: 20 s timeout, no proxy (the merchant is usually on loopback).
    fn http(&self) -> &reqwest::Client {
        self.inner.http.get_or_init(|| {
            reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(20))
                .no_proxy()
                .build()
                .unwrap_or_else(|_| reqwest::Client::new())
        })
    }

    /// The whole app: `/api/...`, `/app/web/pay.php` and `/sandbox/...`.
    pub fn router(&self) -> Router {
        Router::new()
            .merge(api::routes())
            .merge(pay_page::routes())
            .merge(control::routes())
            .with_state(self.clone())
    }

    /// Serves on an already-bound listener until `shutdown` is cancelled.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: CancellationToken,
    ) -> std::io::Result<()> {
        let base_url = format!("http://{}", listener.local_addr()?);
        tracing::info!(%base_url, "flow sandbox listening");
        net::serve(self.router(), listener, shutdown).await
    }

    /// Binds 127.0.0.1:0, serves in the background and returns a handle that stops the
    /// server when dropped.
    pub async fn start(config: SandboxConfig) -> std::io::Result<RunningSandbox> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let sandbox = Sandbox::new(config);
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(sandbox.clone().serve(listener, shutdown.clone()));
        Ok(RunningSandbox {
            api_url: format!("{base_url}/api"),
            base_url,
            sandbox,
            shutdown,
            task: Some(task),
        })
    }

    /// Moves the sandbox clock forward (negative values are ignored).
    pub fn advance_clock(&self, seconds: i64) {
        if seconds < 0 {
            tracing::warn!(seconds, "the sandbox clock only moves forward; ignored");
            return;
        }
        self.inner.clock_offset.fetch_add(seconds, Ordering::SeqCst);
    }

    /// Adds a fault; faults apply in the order added. `times: Some(0)` is a no-op.
    pub fn add_fault(&self, fault: Fault) {
        if fault.times != Some(0) {
            self.lock().faults.push(fault);
        }
    }

    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// The next `n` confirmations are recorded as dropped and not sent (replaces any count
    /// still pending; 0 cancels).
    pub fn drop_next_confirmations(&self, n: u32) {
        self.lock().drops_pending = n;
    }

    /// Every `/api` request so far, in arrival order, without `s`.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    /// Every confirmation sent or dropped so far.
    pub fn confirmations(&self) -> Vec<ConfirmationRecord> {
        self.lock().confirmations.clone()
    }

    /// The order's PaymentStatus JSON, as getStatus would return it now.
    pub fn order(&self, token: &str) -> Option<serde_json::Value> {
        let now = self.now();
        self.lock().by_token(token).map(|o| o.status_json(now))
    }

    /// The faults still active.
    pub fn faults(&self) -> Vec<Fault> {
        self.lock().faults.clone()
    }

    /// The sandbox clock: system time plus the offset.
    pub fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
            + Duration::seconds(self.inner.clock_offset.load(Ordering::SeqCst))
    }

    fn clock_offset(&self) -> i64 {
        self.inner.clock_offset.load(Ordering::SeqCst)
    }

    fn merchant(&self, api_key: &str) -> Option<&Merchant> {
        self.inner.merchants.iter().find(|m| m.api_key == api_key)
    }

    /// The state lock; a panic elsewhere cannot poison the sandbox for later tests.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A sandbox served in the background on 127.0.0.1; stops when dropped.
pub struct RunningSandbox {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// `base_url` + `/api`.
    pub api_url: String,
    pub sandbox: Sandbox,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl RunningSandbox {
    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) -> std::io::Result<()> {
        self.shutdown.cancel();
        match self.task.take() {
            Some(task) => task.await.map_err(std::io::Error::other)?,
            None => Ok(()),
        }
    }
}

impl Drop for RunningSandbox {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
