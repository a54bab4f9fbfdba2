//! The Stripe API client for one account: Checkout Sessions made and read, events checked.
//!
//! Every request carries `Authorization: Bearer <key>` and `Stripe-Version: API_VERSION`.
//! Reads (`GET /v1/checkout/sessions/{id}`, the list) are retried with backoff while the
//! error is retryable, honouring a short `Retry-After`. The create
//! (`POST /v1/checkout/sessions` with `Idempotency-Key`) is sent again only when the
//! connection certainly never opened; a timeout, a 429, a 5xx or a broken reply is
//! returned with `outcome_unknown`, and the payment use case asks Stripe by reference
//! before it makes another attempt (with a new key).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;

use super::error::{ApiFailure, StripeError, scrub};
use super::params::create_form;
use super::status::{needs_intent, order_status};
use super::wire::{ErrorBody, Form, List, Session};
use super::{API_BASE, API_VERSION, KeyMode, amounts, events, signature};
use crate::domain::Timestamp;
use crate::gateway::retry::{Decision, RetryPolicy};
use crate::gateway::{
    Checkout, CheckoutRequest, Gateway, GatewayError, GatewayKind, GatewayStatus, Lookup,
    Notification, NotificationError, RefundLookup, RefundRequest, RefundSnapshot,
};

/// Default per-request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Sessions asked for per list page (Stripe's maximum).
pub const PAGE_SIZE: u32 = 100;
/// Pages read at most when looking a session up by our reference.
pub const MAX_LIST_PAGES: usize = 10;
/// Stripe's limit on an idempotency key.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// How to reach one Stripe account.
#[derive(Debug, Clone)]
pub struct StripeConfig {
    /// `https://api.stripe.com`, or a Stripe-compatible server (paylink's emulator).
    pub api_base: String,
    /// `sk_test_…`, `sk_live_…` or a restricted key `rk_…`.
    pub secret_key: SecretString,
    /// The webhook endpoint's signing secrets (`whsec_…`); several while one rotates,
    /// none when the account takes no events.
    pub webhook_secrets: Vec<SecretString>,
    /// Secrets being rotated out: each accepted until its time (unix seconds), then not,
    /// without a restart.
    pub retiring_webhook_secrets: Vec<(SecretString, i64)>,
    pub timeout: Duration,
    /// For reads, and for re-sending a create that never left.
    pub read_retry: RetryPolicy,
}

impl StripeConfig {
    pub fn new(secret_key: SecretString) -> StripeConfig {
        StripeConfig {
            api_base: API_BASE.to_string(),
            secret_key,
            webhook_secrets: Vec::new(),
            retiring_webhook_secrets: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            read_retry: RetryPolicy::default(),
        }
    }
}

/// A client for one Stripe account. Cheap to clone (the HTTP pool is shared).
#[derive(Debug, Clone)]
pub struct StripeClient {
    http: reqwest::Client,
    cfg: StripeConfig,
}

impl StripeClient {
    /// A client with its own connection pool.
    pub fn new(cfg: StripeConfig) -> Result<StripeClient, StripeError> {
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("paylink/", env!("CARGO_PKG_VERSION")))
            // Stripe does not redirect; a redirect would only carry the key elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| StripeError::Config(e.without_url().to_string()))?;
        StripeClient::with_http(cfg, http)
    }

    /// A client sharing an existing pool (one pool for every account).
    pub fn with_http(
        cfg: StripeConfig,
        http: reqwest::Client,
    ) -> Result<StripeClient, StripeError> {
        let base = cfg.api_base.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(StripeError::Config(format!(
                "the Stripe API URL must start with http:// or https://, got {base:?}"
            )));
        }
        let key = cfg.secret_key.expose_secret();
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(StripeError::Config(
                "the Stripe secret key is empty or holds spaces or other characters no key has"
                    .into(),
            ));
        }
        let cfg = StripeConfig {
            api_base: base.to_string(),
            ..cfg
        };
        Ok(StripeClient { http, cfg })
    }

    pub fn config(&self) -> &StripeConfig {
        &self.cfg
    }

    /// Whether `key` is a test or a live key. The refusal names the expected prefixes and
    /// never quotes the key.
    pub fn key_mode(key: &str) -> Result<KeyMode, String> {
        let key = key.trim();
        for (prefix, mode) in [
            ("sk_test_", KeyMode::Test),
            ("rk_test_", KeyMode::Test),
            ("sk_live_", KeyMode::Live),
            ("rk_live_", KeyMode::Live),
        ] {
            if key.len() > prefix.len() && key.starts_with(prefix) {
                return Ok(mode);
            }
        }
        let hint = if key.starts_with("pk_") {
            " (this is a publishable key, which cannot create payments)"
        } else if key.starts_with("whsec_") {
            " (this is a webhook signing secret, not an API key)"
        } else {
            ""
        };
        Err(format!(
            "a Stripe secret key starts with sk_test_ or rk_test_ (test mode) or sk_live_ or rk_live_ (live){hint}"
        ))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.cfg.api_base, path)
    }

    pub(super) fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(self.cfg.secret_key.expose_secret())
            .header("Stripe-Version", API_VERSION)
    }

    pub(super) async fn send<T: DeserializeOwned>(
        &self,
        rb: reqwest::RequestBuilder,
    ) -> Result<T, StripeError> {
        let timeout = self.cfg.timeout;
        let resp = rb
            .send()
            .await
            .map_err(|e| StripeError::from_reqwest(e, timeout))?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = resp
            .bytes()
            .await
            .map_err(|e| StripeError::from_reqwest(e, timeout))?;
        if status.is_success() {
            return serde_json::from_slice(&body)
                .map_err(|e| StripeError::Malformed(e.to_string()));
        }
        let http_status = status.as_u16();
        match serde_json::from_slice::<ErrorBody>(&body) {
            Ok(ErrorBody { error }) => Err(StripeError::Api(Box::new(ApiFailure {
                http_status,
                kind: error.kind,
                code: error.code,
                message: scrub(error.message.as_deref().unwrap_or("")),
                param: error.param,
                decline_code: error.decline_code,
                retry_after,
            }))),
            Err(_) => Err(StripeError::Http {
                http_status,
                retry_after,
            }),
        }
    }

    /// A GET (`path` with its query), retried with backoff while the error is retryable.
    pub(super) async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, StripeError> {
        let policy = self.cfg.read_retry;
        let mut delays = policy.delays();
        let mut attempt = 1;
        loop {
            let e = match self.send(self.request(reqwest::Method::GET, path)).await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let wait = match policy.decide(attempt, e.retryable(), delays.next()) {
                Decision::GiveUp => return Err(e),
                Decision::RetryAfter(d) => match e.retry_after() {
                    // Stripe asks for longer than this read may wait: say so to the caller.
                    Some(asked) if asked > policy.max_delay => return Err(e),
                    Some(asked) => asked.max(d),
                    None => d,
                },
            };
            tracing::debug!(attempt, error = %e, "retrying Stripe read");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// Checks an idempotency key as Stripe takes it.
    pub(super) fn check_idempotency_key(key: &str) -> Result<(), StripeError> {
        if key.is_empty()
            || key.len() > MAX_IDEMPOTENCY_KEY_LEN
            || !key.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(StripeError::Config(format!(
                "an idempotency key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} visible ASCII characters"
            )));
        }
        Ok(())
    }

    /// Creates the Checkout Session for `req`. Its parameters are fixed before the first
    /// attempt, so a re-send carries exactly the same body and idempotency key.
    pub async fn create_session(&self, req: &CheckoutRequest) -> Result<Session, StripeError> {
        let unit_amount = amounts::to_stripe(req.amount).map_err(StripeError::Amount)?;
        if let Some(minimum) = amounts::minimum(req.amount.currency)
            && req.amount.minor < minimum.minor
        {
            return Err(StripeError::BelowMinimum {
                minimum: minimum.to_string(),
            });
        }
        let key = &req.idempotency_key;
        Self::check_idempotency_key(key)?;
        let body = create_form(req, unit_amount, now_unix())?.encode();
        self.post_create("/v1/checkout/sessions", key, body).await
    }

    /// A create's POST with its idempotency key; the body is fixed before the first
    /// attempt, and the request is sent again only when it certainly never reached Stripe.
    pub(super) async fn post_create<T: DeserializeOwned>(
        &self,
        path: &str,
        key: &str,
        body: String,
    ) -> Result<T, StripeError> {
        let policy = self.cfg.read_retry;
        let mut delays = policy.delays();
        let mut attempt = 1;
        loop {
            let rb = self
                .request(reqwest::Method::POST, path)
                .header("Idempotency-Key", key)
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(body.clone());
            let err = match self.send::<T>(rb).await {
                Ok(s) => return Ok(s),
                Err(e) => e,
            };
            // Only a request that certainly never reached Stripe is sent again here.
            match policy.decide(attempt, err.never_sent(), delays.next()) {
                Decision::GiveUp => return Err(err),
                Decision::RetryAfter(d) => {
                    tracing::debug!(attempt, path, error = %err, "re-sending a Stripe create that never left");
                    tokio::time::sleep(d).await;
                    attempt += 1;
                }
            }
        }
    }

    /// Whether `id` can be a Stripe id: letters, digits and `_` (nothing else reaches a
    /// URL path).
    pub(super) fn is_stripe_id(id: &str) -> bool {
        !id.is_empty()
            && id.len() <= 255
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    }

    /// The session `id` with its payment intent expanded; `None` when Stripe has none.
    pub async fn retrieve_session(&self, id: &str) -> Result<Option<Session>, StripeError> {
        if !Self::is_stripe_id(id) {
            return Ok(None);
        }
        let mut q = Form::new();
        q.push(&["expand", ""], "payment_intent");
        match self
            .get::<Session>(&format!("/v1/checkout/sessions/{id}?{}", q.encode()))
            .await
        {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The newest session whose `client_reference_id` is `reference`, among those created
    /// since `created_after` (at most [`MAX_LIST_PAGES`] pages of [`PAGE_SIZE`]).
    pub async fn find_by_reference(
        &self,
        reference: &str,
        created_after: Timestamp,
    ) -> Result<Option<Session>, StripeError> {
        let gte = created_after.0.div_euclid(1000);
        let mut starting_after: Option<String> = None;
        for _ in 0..MAX_LIST_PAGES {
            let mut q = Form::new();
            q.push(&["created", "gte"], gte.to_string())
                .push(&["limit"], PAGE_SIZE.to_string());
            if let Some(after) = &starting_after {
                q.push(&["starting_after"], after.as_str());
            }
            let page: List<Session> = self
                .get(&format!("/v1/checkout/sessions?{}", q.encode()))
                .await?;
            // Stripe lists newest first, so the first page with a match holds the newest.
            if let Some(found) = page
                .data
                .iter()
                .filter(|s| s.client_reference_id.as_deref() == Some(reference))
                .max_by_key(|s| s.created)
            {
                return Ok(Some(found.clone()));
            }
            match page.data.last() {
                Some(last) if page.has_more => starting_after = Some(last.id.clone()),
                _ => return Ok(None),
            }
        }
        // A session past this bound was never handed to anyone (its create's answer was
        // lost), so a new attempt cannot make a payer pay twice.
        tracing::warn!(
            pages = MAX_LIST_PAGES,
            "no Stripe session for the reference among the newest; treated as none"
        );
        Ok(None)
    }

    async fn read_status(&self, lookup: Lookup<'_>) -> Result<Option<GatewayStatus>, StripeError> {
        let session = match lookup {
            Lookup::Token(id) | Lookup::GatewayRef(id) => self.retrieve_session(id).await?,
            Lookup::Reference {
                reference,
                created_after,
            } => match self.find_by_reference(reference, created_after).await? {
                // A list does not expand payment intents: read the session again when its
                // verdict depends on one.
                Some(s) if needs_intent(&s) => self.retrieve_session(&s.id).await?,
                other => other,
            },
        };
        session.map(|s| order_status(&s)).transpose()
    }

    async fn open_checkout(&self, req: &CheckoutRequest) -> Result<Checkout, StripeError> {
        let s = self.create_session(req).await?;
        let url = s
            .url
            .filter(|u| !u.is_empty())
            .ok_or_else(|| StripeError::Malformed("a created session without its url".into()))?;
        Ok(Checkout {
            gateway_ref: s.id.clone(),
            token: s.id,
            url,
        })
    }
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Gateway for StripeClient {
    fn kind(&self) -> GatewayKind {
        GatewayKind::Stripe
    }

    fn call_timeout(&self) -> Duration {
        self.cfg.timeout
    }

    fn create_checkout<'a>(
        &'a self,
        req: &'a CheckoutRequest,
    ) -> BoxFuture<'a, Result<Checkout, GatewayError>> {
        Box::pin(async move { self.open_checkout(req).await.map_err(GatewayError::from) })
    }

    fn status<'a>(
        &'a self,
        lookup: Lookup<'a>,
    ) -> BoxFuture<'a, Result<Option<GatewayStatus>, GatewayError>> {
        Box::pin(async move { self.read_status(lookup).await.map_err(GatewayError::from) })
    }

    fn create_refund<'a>(
        &'a self,
        req: &'a RefundRequest,
    ) -> BoxFuture<'a, Result<RefundSnapshot, GatewayError>> {
        Box::pin(self.open_refund(req))
    }

    fn refund_status<'a>(
        &'a self,
        lookup: RefundLookup<'a>,
    ) -> BoxFuture<'a, Result<Option<RefundSnapshot>, GatewayError>> {
        Box::pin(self.read_refund(lookup))
    }

    fn verify_notification(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
        now_unix: i64,
    ) -> Result<Option<Notification>, NotificationError> {
        let mut secrets = self.cfg.webhook_secrets.clone();
        secrets.extend(
            self.cfg
                .retiring_webhook_secrets
                .iter()
                .filter(|(_, until)| *until > now_unix)
                .map(|(s, _)| s.clone()),
        );
        if secrets.is_empty() {
            return Err(NotificationError::NotConfigured);
        }
        let header = headers
            .get(signature::HEADER)
            .and_then(|v| v.to_str().ok())
            .ok_or(NotificationError::BadSignature)?;
        signature::verify(header, body, &secrets, now_unix)?;
        events::read(body)
    }
}

#[cfg(test)]
mod tests;
