//! Small keyed records kept beside the payments — approvals waiting for a person, refunds
//! — as opaque bytes per (kind, key). A record changes only by compare-and-swap against
//! the bytes the writer read, on every backend, so a decision is taken once however many
//! clicks, processes or replicas race on it.

use super::{Backend, Store, StoreError, off_thread};

/// Every kind of record paylink keeps (what `paylink ledger export` moves). A new kind is
/// added here, or it is not moved with the ledger.
pub const KINDS: &[&str] = &[
    "approval",
    "approval_claim",
    "refund",
    "refund_claim",
    "refund_token",
    "payment_refunds",
];

impl Store {
    /// The record `kind`/`key`, if any.
    pub async fn record_get(&self, kind: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match &self.backend {
            Backend::Sled(s) => s.record_get(kind, key),
            Backend::Postgres(p) => p.record_get(kind, key).await,
            Backend::Remote(r) => r.record_get(kind, key).await,
        }
    }

    /// Writes `new` if the record holds `old` now (`None`: if there is none), durably.
    /// Whether it was written; `false` means another writer got there first: read again.
    pub async fn record_swap(
        &self,
        kind: &str,
        key: &str,
        old: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Sled(s) => {
                let (s, k, key, old, new) = (
                    s.clone(),
                    kind.to_owned(),
                    key.to_owned(),
                    old.map(<[u8]>::to_vec),
                    new.to_vec(),
                );
                off_thread(move || s.record_swap(&k, &key, old.as_deref(), &new)).await
            }
            Backend::Postgres(p) => p.record_swap(kind, key, old, new).await,
            Backend::Remote(r) => Err(r.refuse("recording approvals and refunds")),
        }
    }

    /// Every record of `kind` as (key, bytes), in key order.
    pub async fn record_scan(&self, kind: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        match &self.backend {
            Backend::Sled(s) => {
                let (s, k) = (s.clone(), kind.to_owned());
                off_thread(move || s.record_scan(&k)).await
            }
            Backend::Postgres(p) => p.record_scan(kind).await,
            Backend::Remote(r) => r.record_scan(kind).await,
        }
    }
}
