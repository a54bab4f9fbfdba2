//! A bounded log of webhook confirmations (opaque JSON bytes), keyed by sled's monotonic
//! id generator (big-endian, so key order is arrival order).
//!
//! A confirmation is only a hint (the reconciler asks the gateway anyway), so recording
//! one does not wait for a flush: it becomes durable with the next ledger write or sled's
//! periodic flush (every 500 ms).
//!
//! The endpoint that feeds this log is unauthenticated (a gateway's confirmation may be unsigned), so the log
//! keeps only the newest [`CONFIRMATION_LOG_CAP`] entries: once it holds [`TRIM_EVERY`]
//! more, the oldest are removed back to the cap. Disk and cache use stay bounded whatever
//! arrives. The number of entries is counted once when the ledger opens and then kept in
//! memory, so appending never scans the log (sled's `len` walks the whole tree).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::{SledStore, StoreError};

/// Entries kept (about 320 bytes each: ~32 MB at the cap).
pub const CONFIRMATION_LOG_CAP: u64 = 100_000;
/// How far (in entries) the log may grow past the cap before it is trimmed back.
const TRIM_EVERY: u64 = 1_000;

/// The log's length, kept beside it.
pub(super) struct Counted {
    len: AtomicU64,
    trimming: AtomicBool,
}

impl Counted {
    pub(super) fn load(log: &sled::Tree) -> Counted {
        Counted {
            len: AtomicU64::new(log.len() as u64),
            trimming: AtomicBool::new(false),
        }
    }
}

impl SledStore {
    /// Appends an entry; returns its id.
    pub fn record_confirmation(&self, entry_json: &[u8]) -> Result<u64, StoreError> {
        let inner = self.writable_inner()?;
        let appended = (|| {
            let id = inner.db.generate_id()?;
            inner
                .trees
                .confirmations
                .insert(id.to_be_bytes(), entry_json)?;
            Ok::<_, StoreError>(id)
        })();
        let id = appended.map_err(|e| self.write_failed(e))?;
        let len = inner.confirmations.len.fetch_add(1, Ordering::Relaxed) + 1;
        drop(inner);
        if len >= CONFIRMATION_LOG_CAP + TRIM_EVERY {
            self.trim_confirmations(CONFIRMATION_LOG_CAP)?;
        }
        Ok(id)
    }

    /// Removes the oldest entries so that at most `keep` remain; returns how many went.
    /// While another call is trimming, returns 0 at once.
    pub fn trim_confirmations(&self, keep: u64) -> Result<u64, StoreError> {
        let inner = self.inner()?;
        let counted = &inner.confirmations;
        if counted.trimming.swap(true, Ordering::Acquire) {
            return Ok(0);
        }
        // Cleared however this returns (an error, or a panic inside sled).
        struct Release<'a>(&'a AtomicBool);
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                self.0.store(false, Ordering::Release);
            }
        }
        let _release = Release(&counted.trimming);
        let log = &inner.trees.confirmations;
        let excess = counted.len.load(Ordering::Relaxed).saturating_sub(keep);
        let mut removed = 0;
        let result = (|| {
            for key in log.iter().keys().take(excess as usize) {
                if log.remove(key?)?.is_some() {
                    removed += 1;
                }
            }
            Ok::<_, StoreError>(())
        })();
        // Whatever was removed is subtracted, even when a later removal failed.
        counted.len.fetch_sub(removed, Ordering::Relaxed);
        result.map(|()| removed)
    }

    /// How many entries the log holds.
    pub fn confirmation_count(&self) -> u64 {
        self.shared
            .current()
            .map_or(0, |inner| inner.confirmations.len.load(Ordering::Relaxed))
    }

    /// The newest `limit` entries, newest first.
    pub fn confirmations(&self, limit: usize) -> Result<Vec<Vec<u8>>, StoreError> {
        self.inner()?
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
    use super::super::SledStore;

    #[test]
    fn the_confirmation_log_is_trimmed_to_its_cap_oldest_first() {
        let store = SledStore::open_temporary().unwrap();
        for i in 0..50u32 {
            store
                .record_confirmation(format!("{{\"n\":{i}}}").as_bytes())
                .unwrap();
        }
        assert_eq!(store.confirmation_count(), 50);
        assert_eq!(store.trim_confirmations(20).unwrap(), 30);
        assert_eq!(store.confirmation_count(), 20);
        let kept = store.confirmations(100).unwrap();
        assert_eq!(kept.len(), 20);
        assert_eq!(kept.first().unwrap(), b"{\"n\":49}");
        assert_eq!(kept.last().unwrap(), b"{\"n\":30}");
        assert_eq!(store.trim_confirmations(20).unwrap(), 0);
    }

    #[test]
    fn appends_keep_the_log_within_its_cap_and_the_count_survives_a_reopen() {
        use super::{CONFIRMATION_LOG_CAP, TRIM_EVERY};
        let dir = tempfile::tempdir().unwrap();
        let total = CONFIRMATION_LOG_CAP + TRIM_EVERY + 10;
        {
            let store = SledStore::open(dir.path()).unwrap();
            for _ in 0..total {
                store.record_confirmation(b"{}").unwrap();
                assert!(store.confirmation_count() < CONFIRMATION_LOG_CAP + TRIM_EVERY);
            }
            assert_eq!(store.confirmation_count(), CONFIRMATION_LOG_CAP + 10);
        }
        let store = SledStore::open(dir.path()).unwrap();
        assert_eq!(store.confirmation_count(), CONFIRMATION_LOG_CAP + 10);
        assert_eq!(
            store.confirmations(usize::MAX).unwrap().len() as u64,
            CONFIRMATION_LOG_CAP + 10
        );
    }
}
