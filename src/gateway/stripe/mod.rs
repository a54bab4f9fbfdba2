//! Stripe: a Checkout Session per payment, read back by its id or by our reference, and
//! signed webhook events as hints.
//!
//! - [`client`]: [`StripeClient`], the [`Gateway`](crate::gateway::Gateway) for one Stripe
//!   account: creates Checkout Sessions (never blindly re-sent), reads them with retries.
//! - [`params`]: the create's form body (expiry clamped into Stripe's window).
//! - [`status`]: a session (and its payment intent) in neutral terms, an exhaustive `match`.
//! - [`amounts`]: [`Money`] to Stripe's integer amounts and back, exactly, and Stripe's
//!   minimum charge per currency.
//! - [`wire`]: Stripe's JSON shapes and the bracket-notation form encoder.
//! - [`error`]: [`StripeError`] and its mapping to the neutral `GatewayError`.
//! - [`signature`] and [`events`]: the `Stripe-Signature` check and the events paylink acts on.
//! - [`refund`]: refunds of a session's PaymentIntent, and a Refund's status in neutral terms.
//!
//! Stripe's names (`payment_status`, `resource_missing`, `cs_…`) stay in this folder.

pub mod amounts;
pub mod client;
pub mod error;
pub mod events;
pub mod params;
pub mod refund;
pub mod signature;
pub mod status;
pub mod wire;

pub use client::{StripeClient, StripeConfig};
pub use error::StripeError;

use crate::domain::{Currency, Money};

/// Stripe's API base.
pub const API_BASE: &str = "https://api.stripe.com";

/// The Stripe API version every request is pinned to (`Stripe-Version`). 2024-06-20 is
/// the last version before Stripe's monthly release trains; every field this client sends
/// and reads (Checkout Session `status`, `payment_status`, `amount_total`, `currency`,
/// `client_reference_id`, `url`, `payment_intent`, `metadata`; the list's `has_more`;
/// events' `id`, `type`, `data.object`) has the same shape in it as in later versions.
/// Webhook events are rendered in the endpoint's own version, so [`events`] reads them
/// leniently.
pub const API_VERSION: &str = "2024-06-20";

/// Whether a Stripe API key moves test money or real money.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyMode {
    /// `sk_test_` / `rk_test_`: test mode.
    Test,
    /// `sk_live_` / `rk_live_`: real money.
    Live,
}

/// The smallest amount Stripe charges in a currency, where Stripe's table has one.
pub fn minimum(currency: Currency) -> Option<Money> {
    amounts::minimum(currency)
}

/// Whether Stripe can charge in the currency: any ISO 4217 code (not Chile's UF).
pub fn takes_currency(currency: Currency) -> bool {
    amounts::stripe_currency(currency).is_ok()
}
