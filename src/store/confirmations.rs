//! A bounded log of webhook confirmations (opaque JSON bytes), keyed by sled's monotonic
//! id generator (big-endian, so key order is arrival order).
//!
//! A confirmation is only a hint (the reconciler asks the gateway anyway), so recording
//! one does not wait for a flush: it becomes durable with the next ledger write or sled's
//! periodic flush (every 500 ms).
//!
//! The endpoint that feeds this log is unauthenticated (Flow signs nothing), so the log
//! keeps only the newest [`CONFIRMATION_LOG_CAP`] entries: every [`TRIM_EVERY`] appends the
//! oldest entries beyond the cap are removed. Disk and cache use stay bounded whatever
//! arrives.

use super::{Store, StoreError};

/// Entries kept (about 320 bytes each: ~32 MB at the cap).
pub const CONFIRMATION_LOG_CAP: u64 = 100_000;
/// How often (in appends) the log is trimmed back to the cap.
const TRIM_EVERY: u64 = 1_000;

impl Store {
    /// Appends an entry; returns its id.
    pub fn record_confirmation(&self, entry_json: &[u8]) -> Result<u64, StoreError> {
        let id = self.inner.db.generate_id()?;
        let log = &self.inner.trees.confirmations;
        log.insert(id.to_be_bytes(), entry_json)?;
        if id % TRIM_EVERY == 0 {
            self.trim_confirmations(CONFIRMATION_LOG_CAP)?;
        }
        Ok(id)
    }

    /// Removes the oldest entries so that at most `keep` remain; returns how many went.
    pub fn trim_confirmations(&self, keep: u64) -> Result<u64, StoreError> {
        let log = &self.inner.trees.confirmations;
        let len = log.len() as u64;
        let mut removed = 0;
        if len <= keep {
            return Ok(0);
        }
        for key in log.iter().keys().take((len - keep) as usize) {
            log.remove(key?)?;
            removed += 1;
        }
        Ok(removed)
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

#[cfg(test)]
mod tests {
    use super::super::Store;

    #[test]
    fn the_confirmation_log_is_trimmed_to_its_cap_oldest_first() {
        let store = Store::open_temporary().unwrap();
        for i in 0..50u32 {
            store
                .record_confirmation(format!("{{\"n\":{i}}}").as_bytes())
                .unwrap();
        }
        assert_eq!(store.trim_confirmations(20).unwrap(), 30);
        let kept = store.confirmations(100).unwrap();
        assert_eq!(kept.len(), 20);
        assert_eq!(kept.first().unwrap(), b"{\"n\":49}");
        assert_eq!(kept.last().unwrap(), b"{\"n\":30}");
        assert_eq!(store.trim_confirmations(20).unwrap(), 0);
    }
}
