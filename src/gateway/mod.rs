//! The payment-gateway boundary.
//!
//! [`PaymentGateway`] is what the ledger, the tools, the webhook and the reconciler use;
//! it speaks in domain terms (money, an order request, a gateway verdict). Flow is the first
//! implementation ([`flow`]); Stripe will be the second. Wire formats live with each
//! gateway; mapping a gateway's status codes to [`GatewayVerdict`] is an exhaustive match.

pub mod flow;
pub mod retry;

use std::future::Future;

use crate::domain::Money;

/// What paylink asks a gateway to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRequest {
    /// Our order id at the gateway; reused on every retry of the same payment.
    pub commerce_order: String,
    pub subject: String,
    pub amount: Money,
    pub payer_email: String,
    /// Where the gateway confirms server-to-server.
    pub url_confirmation: String,
    /// Where the payer's browser returns.
    pub url_return: String,
    /// Seconds after which the order can no longer be paid.
    pub timeout_secs: Option<u64>,
}

/// A created order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedOrder {
    /// The gateway's order id (Flow's flowOrder).
    pub provider_ref: String,
    /// The token the gateway will confirm with (Flow's token).
    pub token: String,
    /// The link to give the payer.
    pub payment_url: String,
}

/// The gateway's signed verdict on an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayVerdict {
    Pending,
    Paid { paid_at: Option<String> },
    Rejected,
    Cancelled,
}

/// What a status query returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderStatus {
    pub provider_ref: String,
    pub commerce_order: String,
    pub verdict: GatewayVerdict,
    /// The gateway's own status code and its meaning (Flow: 1..4).
    pub gateway_code: i64,
    pub gateway_message: &'static str,
    /// The order amount as the gateway reports it, when it parses in our currency table.
    pub amount: Option<Money>,
}

/// A payment gateway. Errors are the gateway's own typed errors.
pub trait PaymentGateway: Send + Sync {
    type Error: std::error::Error + Send + Sync + 'static;

    fn create_order(
        &self,
        req: &OrderRequest,
    ) -> impl Future<Output = Result<CreatedOrder, Self::Error>> + Send;
    fn status_by_token(
        &self,
        token: &str,
    ) -> impl Future<Output = Result<OrderStatus, Self::Error>> + Send;
    fn status_by_provider_ref(
        &self,
        provider_ref: &str,
    ) -> impl Future<Output = Result<OrderStatus, Self::Error>> + Send;
    /// `Ok(None)` when the gateway has no order with this commerce order.
    fn status_by_commerce_order(
        &self,
        commerce_order: &str,
    ) -> impl Future<Output = Result<Option<OrderStatus>, Self::Error>> + Send;
}
