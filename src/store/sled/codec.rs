//! Value encoding: JSON through serde_json.
//!
//! JSON because it is self-describing and forward-compatible (a new optional field with a
//! serde default needs no migration), and readable in a hex dump during an incident. A
//! payment is a few hundred bytes, so encoding or decoding one costs a few microseconds
//! (`ledger/json_*` in `benches/ledger.rs`), which is noise next to an fsync.

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use super::layout;
use crate::domain::{PaymentStatus, Timestamp};
use crate::store::StoreError;

/// An idempotency claim: the key is taken by this payment, for requests with this
/// fingerprint, until `expires_at` (never when `None`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Claim {
    pub payment_id: String,
    pub fingerprint: String,
    pub expires_at: Option<Timestamp>,
}

impl Claim {
    /// Whether the claim still holds at `now`.
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.expires_at.is_none_or(|at| at > now)
    }
}

/// The status alone: decoding only it skips building the rest of a payment.
#[derive(Deserialize)]
pub(crate) struct StatusOnly {
    pub status: PaymentStatus,
}

pub(crate) fn encode<T: Serialize>(what: &str, value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value)
        .map_err(|e| StoreError::InvalidInput(format!("cannot encode {what}: {e}")))
}

/// Decodes a stored value; failure names the tree and the key.
pub(crate) fn decode<T: DeserializeOwned>(
    tree: &str,
    key: &[u8],
    bytes: &[u8],
) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| {
        StoreError::Corrupt(format!(
            "{tree}[{}] does not decode: {e}",
            layout::show(key)
        ))
    })
}
