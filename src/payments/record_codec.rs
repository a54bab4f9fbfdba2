//! What approvals and refunds share as records: JSON bytes, and the digest that names the
//! record of a request's idempotency claim within its organization.

use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::PaymentError;
use crate::store::StoreError;

/// The key of `organization`'s claim `claim` (claims may hold any characters a key may).
pub(super) fn claim_digest(organization: &str, claim: &str) -> String {
    let mut h = Sha256::new();
    h.update(organization.as_bytes());
    h.update([0u8]);
    h.update(claim.as_bytes());
    hex::encode(h.finalize())
}

pub(super) fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, PaymentError> {
    serde_json::to_vec(v)
        .map_err(|e| PaymentError::Store(StoreError::InvalidInput(format!("cannot encode: {e}"))))
}

/// Decodes a record; `what` ("a refund") names it when it does not.
pub(super) fn decode<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, PaymentError> {
    serde_json::from_slice(bytes).map_err(|e| {
        PaymentError::Store(StoreError::Corrupt(format!("{what} does not decode: {e}")))
    })
}
