//! An append-only log of webhook confirmations (opaque JSON bytes), keyed by sled's
//! monotonic id generator (big-endian, so key order is arrival order).
//!
//! A confirmation is only a hint (the reconciler asks the gateway anyway), so recording
//! one does not wait for a flush: it becomes durable with the next ledger write or sled's
//! periodic flush (every 500 ms).

use super::{Store, StoreError};

impl Store {
    /// Appends an entry; returns its id.
    pub fn record_confirmation(&self, entry_json: &[u8]) -> Result<u64, StoreError> {
        let id = self.inner.db.generate_id()?;
        self.inner
            .trees
            .confirmations
            .insert(id.to_be_bytes(), entry_json)?;
        Ok(id)
    }

    /// The newest `limit` entries, newest first.
    pub fn confirmations(&self, limit: usize) -> Result<Vec<Vec<u8>>, StoreError> {
        self.inner
            .trees
            .confirmations
            .iter()
            .values()
            .rev()
            .take(limit)
            .map(|v| Ok(v?.to_vec()))
            .collect()
    }
}
