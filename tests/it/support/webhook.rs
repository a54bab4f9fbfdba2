//! The shared harness of the webhook and reconcile tests: the offline sandbox on
//! 127.0.0.1:0, a real sled ledger in a temporary directory, the payment use cases with a
//! Flow client pointing at the sandbox, and the side listener served on 127.0.0.1:0.
//! Waiting is always on a condition with a deadline.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use paylink::accounts::{Account, Connection, gateway_entry};
use paylink::domain::{Environment, Payment, PaymentStatus, Source, Timestamp};
use paylink::gateway::flow::{FlowClient, FlowClientConfig};
use paylink::gateway::retry::RetryPolicy;
use paylink::payments::{CreateInput, Gateways, PaymentSettings, Payments};
use paylink::reconcile::Reconciler;
use paylink::sandbox::{
    DEFAULT_API_KEY, DEFAULT_SECRET_KEY, Merchant, RunningSandbox, Sandbox, SandboxConfig,
};
use paylink::store::Store;
use paylink::webhook::{self, ConfirmationEntry, Metrics, WebhookOptions, WebhookState};
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

/// A second merchant known to the sandbox, not configured in paylink.
pub const OTHER_API_KEY: &str = "OTHER-MERCHANT-0000-0000-0000-000000000000";
pub const OTHER_SECRET_KEY: &str = "other-merchant-secret-0123456789abcdef0123";

pub struct Harness {
    pub sandbox: RunningSandbox,
    pub payments: Payments,
    /// The ledger behind `payments`, for tests that set up or inspect it directly.
    pub store: Store,
    pub metrics: Arc<Metrics>,
    pub state: WebhookState,
    /// `http://127.0.0.1:PORT` of the side listener.
    pub base: String,
    pub http: reqwest::Client,
    pub shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A Flow client for `api_key` at the sandbox, retrying reads quickly.
pub fn flow_client(sb: &RunningSandbox, api_key: &str, secret: &str) -> FlowClient {
    let mut cfg = FlowClientConfig::new(
        sb.api_url.clone(),
        api_key,
        SecretString::from(secret.to_string()),
    );
    cfg.timeout = Duration::from_secs(5);
    cfg.read_retry = FAST_READS;
    FlowClient::new(cfg).expect("flow client")
}

/// Reads retried quickly, so a test that provokes a failure does not wait long.
const FAST_READS: RetryPolicy = RetryPolicy {
    max_attempts: 2,
    base_delay: Duration::from_millis(5),
    max_delay: Duration::from_millis(20),
};

impl Harness {
    pub async fn start() -> Harness {
        Harness::start_with(|_| {}).await
    }

    /// Starts everything; `tweak` may adjust the payment settings before they are used.
    pub async fn start_with(tweak: impl FnOnce(&mut PaymentSettings)) -> Harness {
        Harness::start_with_options(tweak, |_| {}).await
    }

    /// Like [`Harness::start_with`]; `options` may also adjust the listener's options
    /// (the return page's merchant, for one).
    pub async fn start_with_options(
        tweak: impl FnOnce(&mut PaymentSettings),
        options: impl FnOnce(&mut WebhookOptions),
    ) -> Harness {
        let tweak_options = options;
        let merchants = vec![
            Merchant::default(),
            Merchant {
                api_key: OTHER_API_KEY.into(),
                secret_key: OTHER_SECRET_KEY.into(),
                currencies: vec!["CLP".into()],
            },
        ];
        let sandbox = Sandbox::start(SandboxConfig { merchants })
            .await
            .expect("sandbox starts");
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path()).expect("ledger opens");
        let gateways = Gateways::new();
        // As the server builds it: through the one account factory, reads retried quickly.
        let account = Account::new(
            &sandbox.api_url,
            DEFAULT_API_KEY,
            SecretString::from(DEFAULT_SECRET_KEY),
            Environment::Development,
        )
        .expect("a loopback Flow URL");
        let mut conn = Connection::new(Duration::from_secs(5)).expect("an HTTP client");
        conn.read_retry = FAST_READS;
        gateways.insert(
            "default",
            gateway_entry(&account, &conn).expect("a gateway entry"),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut settings = PaymentSettings::with_public_base(&base);
        tweak(&mut settings);
        let payments = Payments::new(store.clone(), gateways, settings);
        let metrics = payments.metrics().clone();
        let shutdown = CancellationToken::new();
        let mut options = WebhookOptions {
            workers: 4,
            ..WebhookOptions::default()
        };
        tweak_options(&mut options);
        let state = WebhookState::start(payments.clone(), options, shutdown.child_token());
        let router = webhook::router(state.clone());
        let stop = shutdown.child_token();
        tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await
        });
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        Harness {
            sandbox,
            payments,
            store,
            metrics,
            state,
            base,
            http,
            shutdown,
            _dir: dir,
        }
    }

    /// A new pending payment of `amount` CLP.
    pub async fn create(&self, amount: u32) -> Payment {
        self.create_described(amount, "Clase de matemáticas <b>")
            .await
    }

    /// A new pending payment of `amount` CLP for `description`.
    pub async fn create_described(&self, amount: u32, description: &str) -> Payment {
        let input = CreateInput {
            organization: "default".into(),
            amount_text: amount.to_string(),
            currency: None,
            description: description.into(),
            customer_email: "payer@gmail.com".into(),
            entity_id: None,
            idempotency_key: Some(format!("k-{}", paylink::domain::new_payment_id())),
            allow_paid_entity: false,
            gateway: None,
        };
        let out = self
            .payments
            .create(input, Source::Tool)
            .await
            .expect("create");
        assert_eq!(out.payment.status, PaymentStatus::Pending);
        out.payment
    }

    pub fn token(p: &Payment) -> String {
        p.gateway_token
            .clone()
            .expect("a pending payment has a token")
    }

    pub fn get(&self, id: &str) -> Payment {
        self.store
            .expect_sled()
            .get(id)
            .unwrap()
            .expect("payment exists")
    }

    /// POSTs a confirmation body to `/webhook/flow`; returns the status and how long it took.
    pub async fn post_confirmation(&self, body: &str) -> (u16, Duration) {
        let started = Instant::now();
        let r = self
            .http
            .post(format!("{}/webhook/flow", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_string())
            .send()
            .await
            .expect("listener answers");
        (r.status().as_u16(), started.elapsed())
    }

    pub async fn confirm(&self, token: &str) -> (u16, Duration) {
        self.post_confirmation(&format!("token={token}")).await
    }

    /// Waits until no confirmation is queued or being verified.
    pub async fn idle(&self) {
        eventually("the confirmation queue drains", || async {
            self.state.pending_confirmations() == 0
        })
        .await;
    }

    /// Waits until the payment satisfies `pred`; returns it.
    pub async fn wait_for(&self, id: &str, what: &str, pred: impl Fn(&Payment) -> bool) -> Payment {
        eventually(what, || async { pred(&self.get(id)) }).await;
        self.get(id)
    }

    pub fn confirmations(&self) -> Vec<ConfirmationEntry> {
        futures::executor::block_on(webhook::list_confirmations(&self.store, 1000)).unwrap()
    }

    pub fn confirmations_for(&self, token: &str) -> Vec<ConfirmationEntry> {
        self.confirmations()
            .into_iter()
            .filter(|c| c.token == token)
            .collect()
    }

    pub fn reconciler(&self) -> Reconciler {
        Reconciler::new(self.payments.clone())
    }

    /// The number of events of the payment, from the ledger.
    pub fn event_count(&self, id: &str) -> usize {
        self.store.expect_sled().events(id).unwrap().len()
    }
}

/// `now` plus whole hours.
pub fn hours_from_now(h: i64) -> Timestamp {
    Timestamp::now().plus_secs(h * 3600)
}

/// Polls `cond` until it holds, failing the test after 10 s.
pub async fn eventually<F, Fut>(what: &str, cond: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    super::wait_for(what, Duration::from_secs(10), cond).await
}
