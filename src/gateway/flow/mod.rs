//! Flow (flow.cl): request signing, the HTTP client, and Flow's wire shapes.

pub mod client;
pub mod endpoint;
pub mod error;
pub mod sign;
pub mod wire;

pub use client::{FlowClient, FlowClientConfig};
pub use error::FlowError;

/// Flow's production API base.
pub const PRODUCTION_BASE_URL: &str = "https://www.flow.cl/api";
/// Flow's own sandbox API base.
pub const SANDBOX_BASE_URL: &str = "https://sandbox.flow.cl/api";
