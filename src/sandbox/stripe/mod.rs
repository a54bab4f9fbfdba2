//! The offline Stripe sandbox: an in-memory emulator of the parts of Stripe's API that a
//! payment-link gateway uses (Checkout Sessions, their PaymentIntents, refunds, webhook
//! endpoints and signed webhook deliveries), with a hosted checkout page and a control API
//! for tests.
//! It mirrors the Flow sandbox ([`crate::sandbox`]) and shares its server (`net.rs`).
//!
//! # Routes
//!
//! - `/v1/...` (`api.rs`, `resources.rs`): `Authorization: Bearer <key>` (or Basic),
//!   `application/x-www-form-urlencoded` bodies in bracket notation, Stripe's error JSON,
//!   a `Request-Id` on every answer, `Idempotency-Key` on POSTs:
//!   - `POST /v1/checkout/sessions`, `GET /v1/checkout/sessions` (`limit`, `starting_after`,
//!     `ending_before`, `created[gt|gte|lt|lte]`, `payment_intent`, `status`,
//!     `customer_details[email]`), `GET /v1/checkout/sessions/{id}`,
//!     `POST /v1/checkout/sessions/{id}/expire` (`expand[]=payment_intent` on all);
//!   - `POST /v1/webhook_endpoints` (`url`, `enabled_events[]`, `description`, `metadata`,
//!     `api_version`), `GET /v1/webhook_endpoints[/{id}]`, `DELETE /v1/webhook_endpoints/{id}`;
//!   - `POST /v1/refunds` (`payment_intent` or `charge`, `amount`, `metadata`, `reason`),
//!     `GET /v1/refunds/{id}` (`refund_rules.rs`, `refunds.rs`).
//! - `/c/pay/{id}`: the hosted checkout page (`checkout_page.rs`): `card=4242424242424242`
//!   pays, `card=4000000000000002` is declined, `method=async_pending|async_success|
//!   async_fail` pays by a delayed method; then 303 to `success_url`.
//! - `/sandbox/...`: the JSON control API (`control.rs`; `GET /sandbox/` lists it):
//!   - `POST /sandbox/settle` `{"session":"cs_…","outcome":"paid|declined|async_pending|
//!     async_succeeded|async_failed|expired"}` → 200 [`SettleReport`], 404, 409;
//!   - `POST /sandbox/clock/advance` `{"seconds":N}`;
//!   - `GET|POST|DELETE /sandbox/faults` with a [`Fault`], e.g.
//!     `{"target":"create","kind":{"kind":"http429","retry_after":2},"times":1}` (targets
//!     `create`, `retrieve`, `list`, `expire`, `any`; kinds in [`FaultKind`]);
//!   - `POST /sandbox/webhooks/drop|duplicate` `{"count":N}`,
//!     `POST /sandbox/webhooks/redeliver` `{"event":"evt_…"}`,
//!     `POST /sandbox/webhook_endpoints` `{"url":"…","enabled_events":["*"],"secret":"…"}`;
//!   - `POST /sandbox/refunds/{id}/{outcome}` (no body; `succeed`, `fail` or `cancel`,
//!     see [`RefundOutcome`]) → 200 [`RefundSettleReport`], 404, 409, 400 an unknown
//!     outcome; `POST /sandbox/refunds/hold` `{"count":N}`: the next N refunds start
//!     `pending` (they succeed at once otherwise, as card refunds do in test mode);
//!     `GET /sandbox/refunds/{id}`;
//!   - `GET /sandbox/requests`, `/sandbox/events`, `/sandbox/deliveries`,
//!     `/sandbox/sessions/{id}`, `/sandbox/health`.
//!
//! # Behaviour chosen where Stripe's is not observable offline
//!
//! - Only keys given in the configuration are accepted (default
//!   [`DEFAULT_STRIPE_TEST_KEY`]); `sk_live_`/`rk_live_` keys are refused with 401
//!   `livemode_mismatch`, publishable keys with 401 `secret_key_required`.
//! - Idempotency keys are kept per API key, forever (Stripe prunes after 24 h). As Stripe
//!   documents, an answer is kept only once the endpoint began executing: a request that
//!   fails validation (`parameter_*`, `amount_too_small`, …) keeps nothing and may be
//!   retried with the same key and other parameters. Faults other than `delay` and
//!   `timeout_then_create` sit in front of the API and keep nothing either.
//! - Where Stripe's error has no `code`, the body repeats the `type` (see `wire.rs`).
//! - A session's PaymentIntent is created at its first payment attempt (a declined card
//!   included) and reused by later attempts; `payment_intent` is `null` until then.
//! - The clock is system time plus an offset that only moves forward
//!   ([`StripeSandbox::advance_clock`]); open sessions past `expires_at` expire (and send
//!   `checkout.session.expired`) the next time the sandbox is asked anything. `expires_at`
//!   is checked against this clock. Webhook signatures use wall-clock `t` (`webhooks.rs`).
//! - The event `api_version` is [`STRIPE_API_VERSION`]; a request's `Stripe-Version` is
//!   recorded and echoed, and does not change the shapes.

mod api;
mod auth;
mod checkout_page;
mod control;
mod currency;
mod error;
mod idempotency;
mod model;
mod params;
mod refund_rules;
mod refunds;
mod resources;
mod rules;
mod settle;
mod state;
mod webhooks;
mod wire;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use axum::Router;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};
use tokio_util::sync::CancellationToken;

pub use model::{
    DeliveryPolicy, DeliveryRecord, Fault, FaultKind, FaultTarget, Outcome, RecordedRequest,
    RefundOutcome, RefundSettleReport, SettleReport, StripeSandboxError, WebhookEndpointConfig,
};

use settle::{Step, steps};
use state::{Endpoint, State};
use webhooks::Cause;
use wire::new_id;

/// The built-in secret test key.
pub const DEFAULT_STRIPE_TEST_KEY: &str = "sk_test_paylink_sandbox";
/// The signing secret of endpoints made with [`WebhookEndpointConfig::new`].
pub const DEFAULT_WEBHOOK_SECRET: &str = "whsec_paylink_sandbox_0123456789abcdef";
/// The API version the sandbox's shapes follow, stamped on events: the one the Stripe
/// gateway client pins (`gateway::stripe::API_VERSION`).
pub const STRIPE_API_VERSION: &str = "2024-06-20";

#[derive(Clone, Debug)]
pub struct StripeSandboxConfig {
    /// Accepted API keys (`sk_test_…`, `rk_test_…`); live keys are refused at start.
    pub api_keys: Vec<String>,
    /// Webhook endpoints present from the start.
    pub webhook_endpoints: Vec<WebhookEndpointConfig>,
    pub delivery: DeliveryPolicy,
}

impl Default for StripeSandboxConfig {
    /// [`DEFAULT_STRIPE_TEST_KEY`], no endpoints, the default delivery policy.
    fn default() -> Self {
        StripeSandboxConfig {
            api_keys: vec![DEFAULT_STRIPE_TEST_KEY.to_string()],
            webhook_endpoints: Vec::new(),
            delivery: DeliveryPolicy::default(),
        }
    }
}

/// Whether `key` moves real money: such keys never reach the sandbox's state.
pub fn is_live_key(key: &str) -> bool {
    key.starts_with("sk_live_") || key.starts_with("rk_live_")
}

struct Inner {
    api_keys: Vec<String>,
    delivery: DeliveryPolicy,
    /// Seconds added to system time by `advance_clock`.
    clock_offset: AtomicI64,
    /// Sends webhooks; built on first use.
    http: OnceLock<reqwest::Client>,
    state: Mutex<State>,
    /// Cancelled when the sandbox stops: ends pending deliveries and their retries.
    tasks: CancellationToken,
}

/// A running emulator's shared state; cheap to clone.
#[derive(Clone)]
pub struct StripeSandbox {
    inner: Arc<Inner>,
}

impl StripeSandbox {
    /// A sandbox with `config`; refuses live keys (InvalidInput).
    pub fn new(config: StripeSandboxConfig) -> std::io::Result<StripeSandbox> {
        if let Some(key) = config.api_keys.iter().find(|k| is_live_key(k)) {
            let masked = auth::mask(key);
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("the offline Stripe sandbox takes test keys only, not {masked}"),
            ));
        }
        let sandbox = StripeSandbox {
            inner: Arc::new(Inner {
                api_keys: config.api_keys,
                delivery: config.delivery,
                clock_offset: AtomicI64::new(0),
                http: OnceLock::new(),
                state: Mutex::new(State::default()),
                tasks: CancellationToken::new(),
            }),
        };
        for endpoint in config.webhook_endpoints {
            sandbox
                .lock()
                .endpoints
                .push(sandbox.endpoint_from(endpoint));
        }
        Ok(sandbox)
    }

    /// The delivery client: the policy's timeout, no proxy, no redirects.
    fn http(&self) -> &reqwest::Client {
        self.inner.http.get_or_init(|| {
            reqwest::Client::builder()
                .timeout(self.inner.delivery.timeout)
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .build()
                .unwrap_or_else(|_| reqwest::Client::new())
        })
    }

    /// The whole app: `/v1/...`, `/c/pay/...` and `/sandbox/...`.
    pub fn router(&self) -> Router {
        Router::new()
            .merge(api::routes())
            .merge(checkout_page::routes())
            .merge(control::routes())
            .with_state(self.clone())
    }

    /// Serves on an already-bound listener until `shutdown` is cancelled; then pending
    /// deliveries stop too.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: CancellationToken,
    ) -> std::io::Result<()> {
        let api_base = format!("http://{}", listener.local_addr()?);
        tracing::info!(%api_base, "stripe sandbox listening");
        let result = super::net::serve(self.router(), listener, shutdown).await;
        self.inner.tasks.cancel();
        result
    }

    /// Binds 127.0.0.1:0, serves in the background and returns a handle that stops the
    /// server when dropped.
    pub async fn start(config: StripeSandboxConfig) -> std::io::Result<RunningStripeSandbox> {
        let sandbox = StripeSandbox::new(config)?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let api_base = format!("http://{}", listener.local_addr()?);
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(sandbox.clone().serve(listener, shutdown.clone()));
        Ok(RunningStripeSandbox {
            api_base,
            sandbox,
            shutdown,
            task: Some(task),
        })
    }

    /// The sandbox clock: system time plus the offset.
    pub fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
            + Duration::seconds(self.inner.clock_offset.load(Ordering::SeqCst))
    }

    fn now_unix(&self) -> i64 {
        self.now().unix_timestamp()
    }

    /// The sandbox clock as RFC 3339, for the logs.
    fn at(&self) -> String {
        self.now().format(&Rfc3339).unwrap_or_default()
    }

    fn clock_offset(&self) -> i64 {
        self.inner.clock_offset.load(Ordering::SeqCst)
    }

    /// Moves the sandbox clock forward (negative values are ignored); open sessions whose
    /// `expires_at` has passed expire and their `checkout.session.expired` goes out.
    pub fn advance_clock(&self, seconds: i64) {
        if seconds < 0 {
            tracing::warn!(seconds, "the sandbox clock only moves forward; ignored");
            return;
        }
        self.inner.clock_offset.fetch_add(seconds, Ordering::SeqCst);
        self.expire_due();
    }

    /// Expires the sessions due by the sandbox clock and publishes their events.
    fn expire_due(&self) {
        let events = self.lock().sweep_expired(self.now_unix());
        self.publish(events, &Cause::default());
    }

    /// Applies `outcome` to the session, as the pay page or a bank would, and starts the
    /// deliveries of the events it causes (they run in the background).
    pub fn settle(
        &self,
        session: &str,
        outcome: Outcome,
    ) -> Result<SettleReport, StripeSandboxError> {
        let events = self.apply(session, |open| steps(outcome, open))?;
        tracing::info!(session, ?outcome, "stripe sandbox: session settled");
        let state = self.lock();
        let s = state
            .session(session)
            .ok_or_else(|| StripeSandboxError::UnknownSession(session.to_string()))?;
        Ok(SettleReport {
            session: state.session_json(s, false),
            payment_intent: s
                .payment_intent
                .as_ref()
                .and_then(|p| state.intent(p))
                .map(|p| p.json()),
            events,
        })
    }

    /// Applies the steps `choose` picks to the session (all or none) and publishes their
    /// events: the one path of the pay page, the control API and [`Self::settle`].
    fn apply(
        &self,
        session: &str,
        choose: impl FnOnce(bool) -> Vec<Step>,
    ) -> Result<Vec<String>, StripeSandboxError> {
        self.expire_due();
        let events = self.lock().apply_steps(session, choose, self.now_unix())?;
        Ok(self.publish(events, &Cause::default()))
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

    /// The faults still active.
    pub fn faults(&self) -> Vec<Fault> {
        self.lock().faults.clone()
    }

    /// The next `n` deliveries are recorded as dropped and not sent (replaces any count
    /// still pending; 0 cancels).
    pub fn drop_next_deliveries(&self, n: u32) {
        self.lock().drops_pending = n;
    }

    /// The next `n` deliveries are each sent twice (replaces any count still pending).
    pub fn duplicate_next_deliveries(&self, n: u32) {
        self.lock().duplicates_pending = n;
    }

    /// Sends a stored event again to every endpoint listening to its type; returns how many
    /// deliveries started.
    pub fn redeliver(&self, event: &str) -> Result<usize, StripeSandboxError> {
        self.redeliver_to(event, None)
    }

    fn redeliver_to(
        &self,
        event: &str,
        endpoint: Option<&str>,
    ) -> Result<usize, StripeSandboxError> {
        let jobs = self.lock().redeliver(event, endpoint, &self.at())?;
        let started = jobs.len();
        self.spawn_deliveries(jobs);
        Ok(started)
    }

    /// Every `/v1` request so far, in arrival order, without credentials.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    /// Every delivery attempt (and dropped delivery) so far, in the order they ended.
    pub fn deliveries(&self) -> Vec<DeliveryRecord> {
        self.lock().deliveries.clone()
    }

    /// Every event so far (Stripe's event JSON), oldest first.
    pub fn events(&self) -> Vec<Value> {
        self.lock().events.iter().map(|e| e.json.clone()).collect()
    }

    /// The session as `GET /v1/checkout/sessions/{id}` shows it now, with its
    /// PaymentIntent expanded and its line items.
    pub fn session(&self, id: &str) -> Option<Value> {
        self.expire_due();
        self.lock().session_view(id)
    }

    /// A PaymentIntent's JSON.
    pub fn payment_intent(&self, id: &str) -> Option<Value> {
        self.lock().intent(id).map(|p| p.json())
    }

    /// Adds a webhook endpoint for `enabled_events` (`*` for all; empty means all) and
    /// returns its new `whsec_…` signing secret.
    pub fn add_webhook_endpoint(&self, url: &str, enabled_events: &[&str]) -> String {
        let mut events: Vec<String> = enabled_events.iter().map(|e| e.to_string()).collect();
        if events.is_empty() {
            events.push("*".to_string());
        }
        let secret = new_id("whsec_", 32);
        let endpoint = self.endpoint_from(WebhookEndpointConfig {
            url: url.to_string(),
            secret: secret.clone(),
            enabled_events: events,
        });
        self.lock().endpoints.push(endpoint);
        secret
    }

    /// Adds a webhook endpoint with the signing secret `config` names (a test that gave
    /// paylink the secret before it knew paylink's address).
    pub fn add_webhook_endpoint_config(&self, config: WebhookEndpointConfig) {
        let endpoint = self.endpoint_from(config);
        self.lock().endpoints.push(endpoint);
    }

    /// A new endpoint (not yet stored) made from `config`.
    fn endpoint_from(&self, config: WebhookEndpointConfig) -> Endpoint {
        Endpoint {
            id: new_id("we_", 24),
            url: config.url,
            secret: config.secret,
            enabled_events: config.enabled_events,
            description: None,
            metadata: Vec::new(),
            api_version: None,
            created: self.now_unix(),
        }
    }

    /// The state lock; a panic elsewhere cannot poison the sandbox for later tests.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A sandbox served in the background on 127.0.0.1; stops when dropped.
pub struct RunningStripeSandbox {
    /// `http://127.0.0.1:PORT`: clients append `/v1/...`; the pay page and the control API
    /// live under the same base.
    pub api_base: String,
    pub sandbox: StripeSandbox,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl RunningStripeSandbox {
    /// Stops the server (and pending deliveries) and waits for it to finish.
    pub async fn stop(mut self) -> std::io::Result<()> {
        self.shutdown.cancel();
        self.sandbox.inner.tasks.cancel();
        match self.task.take() {
            Some(task) => task.await.map_err(std::io::Error::other)?,
            None => Ok(()),
        }
    }
}

impl Drop for RunningStripeSandbox {
    fn drop(&mut self) {
        self.shutdown.cancel();
        self.sandbox.inner.tasks.cancel();
    }
}
