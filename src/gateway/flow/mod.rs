//! Flow (flow.cl): request signing, the HTTP client, its refunds, and Flow's wire shapes.

pub mod client;
pub mod endpoint;
pub mod error;
pub mod notification;
pub mod refund;
pub mod sign;
pub mod wire;

pub use client::{FlowClient, FlowClientConfig, status_code};
pub use error::FlowError;

/// Flow's production API base.
pub const PRODUCTION_BASE_URL: &str = "https://www.flow.cl/api";
/// Flow's own sandbox API base.
pub const SANDBOX_BASE_URL: &str = "https://sandbox.flow.cl/api";

use crate::domain::{Currency, Money};

/// The currencies Flow's merchants use: Chilean pesos and UF, and those of the other
/// Latin American markets Flow serves, and US dollars.
pub fn takes_currency(currency: Currency) -> bool {
    matches!(
        currency.code(),
        "CLP" | "UF" | "PEN" | "MXN" | "COP" | "ARS" | "BRL" | "USD"
    )
}

/// The smallest order Flow accepts in a currency, where Flow documents one (CLP 350).
pub fn minimum(currency: Currency) -> Option<Money> {
    (currency == Currency::CLP).then(|| Money::from_minor(350, currency))
}
