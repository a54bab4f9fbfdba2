//! The confirmation log: one typed entry per confirmation received, stored through
//! [`Payments::record_confirmation`] and read back by `paylink confirmations list`.
//!
//! Entries never hold a secret: the token is what the gateway POSTed (it is also in the
//! pay link), and a gateway error is recorded by its message, which gateways keep free of
//! URLs, keys and signatures. Recording is best effort: a failure to log is itself only logged.

use serde::{Deserialize, Serialize};

use crate::domain::Timestamp;
use crate::payments::Payments;
use crate::store::{Store, StoreError};

/// One confirmation as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmationEntry {
    /// When the listener received it (milliseconds since the epoch, UTC).
    pub received_at: Timestamp,
    /// The token the gateway (or someone) POSTed.
    pub token: String,
    /// What came of it: `paid`, `failed:<reason>`, `pending`, `unchanged`, `duplicate`,
    /// `unknown_token`, `foreign_token`, `rate_limited`, `queue_full`,
    /// `gateway_error: <message>` or `store_error: <message>`.
    pub outcome: String,
    /// The payment the token belongs to, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
}

/// What verifying a confirmation came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The payment became paid.
    Paid,
    /// The payment became failed, for this reason.
    Failed(&'static str),
    /// The gateway says the order is still pending.
    Pending,
    /// The gateway's verdict was already recorded.
    Unchanged,
    /// Folded into a confirmation already queued or in flight for the same token.
    Duplicate,
    /// No gateway account we may ask knows the token.
    UnknownToken,
    /// The gateway knows the token, but it belongs to none of our payments (or not to the
    /// payment whose reference it names).
    ForeignToken,
    /// The fallback search was skipped: its global rate limit was reached.
    RateLimited,
    /// Acknowledged but not queued: the queue was full (the reconciler will catch up).
    QueueFull,
    GatewayError(String),
    StoreError(String),
}

impl Outcome {
    pub fn label(&self) -> String {
        match self {
            Outcome::Paid => "paid".into(),
            Outcome::Failed(reason) => format!("failed:{reason}"),
            Outcome::Pending => "pending".into(),
            Outcome::Unchanged => "unchanged".into(),
            Outcome::Duplicate => "duplicate".into(),
            Outcome::UnknownToken => "unknown_token".into(),
            Outcome::ForeignToken => "foreign_token".into(),
            Outcome::RateLimited => "rate_limited".into(),
            Outcome::QueueFull => "queue_full".into(),
            Outcome::GatewayError(m) => format!("gateway_error: {m}"),
            Outcome::StoreError(m) => format!("store_error: {m}"),
        }
    }
}

/// Appends an entry for `token`; a failure is logged, never returned.
pub(crate) async fn record(
    payments: &Payments,
    token: &str,
    outcome: &Outcome,
    payment_id: Option<&str>,
) {
    let entry = ConfirmationEntry {
        received_at: Timestamp::now(),
        token: token.to_string(),
        outcome: outcome.label(),
        payment_id: payment_id.map(str::to_string),
    };
    let result = match serde_json::to_vec(&entry) {
        Ok(bytes) => payments.record_confirmation(&bytes).await,
        Err(e) => Err(StoreError::Io(e.to_string())),
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, "cannot record a confirmation");
    }
}

/// The newest `limit` confirmations, newest first. An entry that does not decode (written
/// by another version) is skipped with a warning.
pub async fn list_confirmations(
    store: &Store,
    limit: usize,
) -> Result<Vec<ConfirmationEntry>, StoreError> {
    let raw = store.confirmations(limit).await?;
    Ok(raw
        .iter()
        .filter_map(|bytes| match serde_json::from_slice(bytes) {
            Ok(entry) => Some(entry),
            Err(e) => {
                tracing::warn!(error = %e, "skipping a confirmation entry that does not decode");
                None
            }
        })
        .collect())
}
