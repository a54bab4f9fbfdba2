//! The Flow API client: signed requests, typed errors, retries that never double-charge.
//!
//! Reads (`payment/getStatus`, `getStatusByFlowOrder`, `getStatusByCommerceId`) are GETs
//! with every parameter in the query string, retried with backoff when the error is
//! retryable. `payment/create` is a form POST and is never blindly re-sent: the client
//! re-sends it (with the same commerceOrder) only when the attempt certainly never reached
//! Flow; any other failure is returned, and the payment use case waits out a settle window
//! and asks Flow by commerceOrder before it sends again.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;

use super::error::FlowError;
use super::sign::{SIGNATURE_PARAM, sign};
use super::wire::{ErrorBody, PayResponse, PaymentStatus};
use crate::domain::{Currency, Money};
use crate::gateway::retry::{Decision, RetryPolicy};
use futures::future::BoxFuture;

use crate::gateway::{
    Checkout, CheckoutRequest, Gateway, GatewayError, GatewayKind, GatewayStatus, Lookup,
    RefundLookup, RefundRequest, RefundSnapshot, Verdict,
};

/// Default per-request timeout: 30 s, as Flow's own integrations use.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How to reach one Flow merchant account.
#[derive(Debug, Clone)]
pub struct FlowClientConfig {
    /// `https://www.flow.cl/api`, `https://sandbox.flow.cl/api`, or the offline sandbox's `/api`.
    pub base_url: String,
    pub api_key: String,
    pub secret_key: SecretString,
    pub timeout: Duration,
    pub read_retry: RetryPolicy,
    pub create_retry: RetryPolicy,
}

impl FlowClientConfig {
    pub fn new(
        base_url: impl Into<String>,
        api_key: impl Into<String>,
        secret_key: SecretString,
    ) -> Self {
        FlowClientConfig {
            base_url: base_url.into(),
            api_key: api_key.into(),
            secret_key,
            timeout: DEFAULT_TIMEOUT,
            read_retry: RetryPolicy::default(),
            create_retry: RetryPolicy {
                max_attempts: 2,
                ..RetryPolicy::default()
            },
        }
    }
}

/// The parameters of `payment/create`, as Flow names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateParams {
    pub commerce_order: String,
    pub subject: String,
    pub currency: String,
    /// The amount in major units as exact decimal text (`5000`).
    pub amount: String,
    pub email: String,
    pub url_confirmation: String,
    pub url_return: String,
    pub timeout_secs: Option<u64>,
    /// A JSON object as text, signed exactly as sent.
    pub optional: Option<String>,
    pub payment_method: Option<u32>,
}

impl CreateParams {
    fn to_params(&self) -> Vec<(&'static str, String)> {
        let mut p = vec![
            ("commerceOrder", self.commerce_order.clone()),
            ("subject", self.subject.clone()),
            ("currency", self.currency.clone()),
            ("amount", self.amount.clone()),
            ("email", self.email.clone()),
            ("urlConfirmation", self.url_confirmation.clone()),
            ("urlReturn", self.url_return.clone()),
        ];
        if let Some(t) = self.timeout_secs {
            p.push(("timeout", t.to_string()));
        }
        if let Some(o) = &self.optional {
            p.push(("optional", o.clone()));
        }
        if let Some(m) = self.payment_method {
            p.push(("paymentMethod", m.to_string()));
        }
        p
    }
}

/// Flow's order status codes, exhaustively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowStatus {
    Pending = 1,
    Paid = 2,
    Rejected = 3,
    Cancelled = 4,
}

impl FlowStatus {
    pub fn from_code(code: i64) -> Option<FlowStatus> {
        match code {
            1 => Some(FlowStatus::Pending),
            2 => Some(FlowStatus::Paid),
            3 => Some(FlowStatus::Rejected),
            4 => Some(FlowStatus::Cancelled),
            _ => None,
        }
    }

    /// Flow's meaning of the code, in English.
    pub fn message(self) -> &'static str {
        match self {
            FlowStatus::Pending => "Pending payment",
            FlowStatus::Paid => "Paid",
            FlowStatus::Rejected => "Rejected",
            FlowStatus::Cancelled => "Cancelled",
        }
    }
}

/// A client for one Flow merchant account. Cheap to clone (the HTTP pool is shared).
#[derive(Debug, Clone)]
pub struct FlowClient {
    http: reqwest::Client,
    cfg: FlowClientConfig,
}

impl FlowClient {
    /// A client with its own connection pool.
    pub fn new(cfg: FlowClientConfig) -> Result<FlowClient, FlowError> {
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("paylink/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| FlowError::Config(e.without_url().to_string()))?;
        FlowClient::with_http(cfg, http)
    }

    /// A client sharing an existing pool (one pool for every merchant account).
    pub fn with_http(
        cfg: FlowClientConfig,
        http: reqwest::Client,
    ) -> Result<FlowClient, FlowError> {
        let base = cfg.base_url.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(FlowError::Config(format!(
                "the Flow API URL must start with http:// or https://, got {base:?}"
            )));
        }
        let cfg = FlowClientConfig {
            base_url: base.to_string(),
            ..cfg
        };
        Ok(FlowClient { http, cfg })
    }

    pub fn config(&self) -> &FlowClientConfig {
        &self.cfg
    }

    pub(super) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub(super) fn signed(
        &self,
        params: Vec<(&'static str, String)>,
    ) -> Vec<(&'static str, String)> {
        let mut all = Vec::with_capacity(params.len() + 2);
        all.push(("apiKey", self.cfg.api_key.clone()));
        // Never send empty parameters: Flow does not document whether it signs over them.
        all.extend(params.into_iter().filter(|(_, v)| !v.is_empty()));
        let s = sign(
            all.iter().map(|(k, v)| (*k, v.as_str())),
            self.cfg.secret_key.expose_secret().as_bytes(),
        );
        all.push((SIGNATURE_PARAM, s));
        all
    }

    pub(super) fn url(&self, service: &str) -> String {
        format!("{}/{}", self.cfg.base_url, service)
    }

    pub(super) async fn read_response<T: DeserializeOwned>(
        &self,
        resp: reqwest::Response,
    ) -> Result<T, FlowError> {
        let status = resp.status().as_u16();
        let body = resp
            .bytes()
            .await
            .map_err(|e| FlowError::from_reqwest(e, self.cfg.timeout))?;
        match status {
            200 => {
                serde_json::from_slice::<T>(&body).map_err(|e| FlowError::Malformed(e.to_string()))
            }
            400 | 401 => match serde_json::from_slice::<ErrorBody>(&body) {
                Ok(err) => Err(FlowError::Api {
                    http_status: status,
                    code: err.code,
                    message: err.message,
                }),
                Err(e) => Err(FlowError::Malformed(format!(
                    "HTTP {status} without Flow's error JSON: {e}"
                ))),
            },
            other => Err(FlowError::Http { http_status: other }),
        }
    }

    async fn get_once<T: DeserializeOwned>(
        &self,
        service: &str,
        params: Vec<(&'static str, String)>,
    ) -> Result<T, FlowError> {
        let resp = self
            .http
            .get(self.url(service))
            .query(&self.signed(params))
            .send()
            .await
            .map_err(|e| FlowError::from_reqwest(e, self.cfg.timeout))?;
        self.read_response(resp).await
    }

    /// A GET, retried with backoff while the error is retryable.
    pub(super) async fn get<T: DeserializeOwned>(
        &self,
        service: &str,
        params: Vec<(&'static str, String)>,
    ) -> Result<T, FlowError> {
        let policy = self.cfg.read_retry;
        let mut delays = policy.delays();
        let mut attempt = 1;
        loop {
            match self.get_once(service, params.clone()).await {
                Ok(v) => return Ok(v),
                Err(e) => match policy.decide(attempt, e.retryable(), delays.next()) {
                    Decision::GiveUp => return Err(e),
                    Decision::RetryAfter(d) => {
                        tracing::debug!(service, attempt, error = %e, "retrying Flow read");
                        tokio::time::sleep(d).await;
                        attempt += 1;
                    }
                },
            }
        }
    }

    async fn create_once(&self, p: &CreateParams) -> Result<PayResponse, FlowError> {
        let resp = self
            .http
            .post(self.url("payment/create"))
            .form(&self.signed(p.to_params()))
            .send()
            .await
            .map_err(|e| FlowError::from_reqwest(e, self.cfg.timeout))?;
        self.read_response(resp).await
    }

    /// `payment/create`. A failed attempt is re-sent with the same commerceOrder only when it
    /// certainly never reached Flow, or when `getStatusByCommerceId` finds no order; if Flow
    /// does hold one, the answer is [`FlowError::OrderExistsWithoutLink`]. A timeout is
    /// returned at once: the caller has waited long enough, and its own retry goes through
    /// the same check.
    pub async fn create(&self, p: &CreateParams) -> Result<PayResponse, FlowError> {
        let policy = self.cfg.create_retry;
        let mut delays = policy.delays();
        let mut attempt = 1;
        loop {
            let err = match self.create_once(p).await {
                Ok(r) => return Ok(r),
                Err(e) => e,
            };
            // Only a request that certainly never reached Flow is sent again here. Any
            // other failure leaves the outcome unknown (a proxy's 5xx, a timeout, a broken
            // reply): Flow may still act on it, late, so the caller decides when a
            // re-send is safe (see payments::create).
            let retry_in = match policy.decide(attempt, err.never_sent(), delays.next()) {
                Decision::GiveUp => return Err(err),
                Decision::RetryAfter(d) => d,
            };
            tokio::time::sleep(retry_in).await;
            tracing::debug!(attempt, error = %err, "re-sending payment/create with the same commerceOrder");
            attempt += 1;
        }
    }

    /// `payment/getStatus` by token.
    pub async fn get_status(&self, token: &str) -> Result<PaymentStatus, FlowError> {
        self.get("payment/getStatus", vec![("token", token.to_string())])
            .await
    }

    /// `payment/getStatusByFlowOrder`.
    pub async fn get_status_by_flow_order(
        &self,
        flow_order: i64,
    ) -> Result<PaymentStatus, FlowError> {
        self.get(
            "payment/getStatusByFlowOrder",
            vec![("flowOrder", flow_order.to_string())],
        )
        .await
    }

    /// `payment/getStatusByCommerceId`.
    pub async fn get_status_by_commerce_id(
        &self,
        commerce_order: &str,
    ) -> Result<PaymentStatus, FlowError> {
        self.get(
            "payment/getStatusByCommerceId",
            vec![("commerceId", commerce_order.to_string())],
        )
        .await
    }

    /// `getStatusByCommerceId`, with Flow's "Transaction not found" as `Ok(None)`.
    pub async fn find_by_commerce_order(
        &self,
        commerce_order: &str,
    ) -> Result<Option<PaymentStatus>, FlowError> {
        match self.get_status_by_commerce_id(commerce_order).await {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Maps Flow's PaymentStatus to a neutral status.
pub fn order_status(s: &PaymentStatus) -> Result<GatewayStatus, FlowError> {
    let flow_status = FlowStatus::from_code(s.status)
        .ok_or_else(|| FlowError::Malformed(format!("unknown Flow status {}", s.status)))?;
    let verdict = match flow_status {
        FlowStatus::Pending => Verdict::Pending,
        FlowStatus::Paid => Verdict::Paid {
            paid_at: s.payment_data.as_ref().and_then(|d| d.date.clone()),
        },
        FlowStatus::Rejected => Verdict::Rejected,
        FlowStatus::Cancelled => Verdict::Cancelled,
    };
    let currency = s
        .currency
        .as_deref()
        .and_then(Currency::from_code)
        .unwrap_or(Currency::CLP);
    Ok(GatewayStatus {
        gateway_ref: s.flow_order.to_string(),
        reference: s.commerce_order.clone(),
        verdict,
        amount: Money::parse_major(&s.amount, currency).ok(),
        checkout: None,
    })
}

/// Flow's status code and its wording for a verdict.
pub fn status_code(verdict: &Verdict) -> (i64, &'static str) {
    let s = match verdict {
        Verdict::Pending => FlowStatus::Pending,
        Verdict::Paid { .. } => FlowStatus::Paid,
        Verdict::Rejected => FlowStatus::Rejected,
        Verdict::Cancelled => FlowStatus::Cancelled,
    };
    (s as i64, s.message())
}

impl FlowClient {
    async fn open_checkout(&self, req: &CheckoutRequest) -> Result<Checkout, FlowError> {
        let params = CreateParams {
            commerce_order: req.reference.clone(),
            subject: req.subject.clone(),
            currency: req.amount.currency.code().to_string(),
            amount: req.amount.major_text(),
            email: req.payer_email.clone(),
            url_confirmation: req.notify_url.clone(),
            url_return: req.return_url.clone(),
            timeout_secs: req.expires_in_secs,
            optional: None,
            payment_method: None,
        };
        let r = self.create(&params).await?;
        Ok(Checkout {
            gateway_ref: r.flow_order.to_string(),
            url: format!("{}?token={}", r.url, r.token),
            token: r.token,
        })
    }

    async fn read_status(&self, lookup: Lookup<'_>) -> Result<Option<GatewayStatus>, FlowError> {
        let answer = match lookup {
            Lookup::Token(token) => self.get_status(token).await,
            Lookup::GatewayRef(r) => {
                let flow_order: i64 = r
                    .parse()
                    .map_err(|_| FlowError::Config(format!("{r:?} is not a Flow order number")))?;
                self.get_status_by_flow_order(flow_order).await
            }
            Lookup::Reference { reference, .. } => self.get_status_by_commerce_id(reference).await,
        };
        match answer {
            Ok(s) => order_status(&s).map(Some),
            // "Transaction not found" (and, for tokens, any refusal that is not about our
            // credentials: Flow answers an unknown token with a 400 of its own).
            Err(e) if e.is_not_found() => Ok(None),
            Err(e @ FlowError::Api { .. })
                if matches!(lookup, Lookup::Token(_)) && !e.is_auth() =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

impl Gateway for FlowClient {
    fn kind(&self) -> GatewayKind {
        GatewayKind::Flow
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
        self.open_refund(req)
    }

    fn refund_status<'a>(
        &'a self,
        lookup: RefundLookup<'a>,
    ) -> BoxFuture<'a, Result<Option<RefundSnapshot>, GatewayError>> {
        self.read_refund(lookup)
    }
}
