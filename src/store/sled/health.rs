//! Whether the ledger can write, and getting it writing again without a restart.
//!
//! # Why a failed write is not retried in place
//!
//! sled 0.34 treats any I/O error of its log writer (a full disk: `ENOSPC`) as fatal for
//! the open database: it stores the error as the database's *global error*
//! (`Config::set_global_error`, set once, never cleared) and every later reservation,
//! transaction and flush returns it. Only opening the database again clears it
//! (`PageCache::start` calls `reset_global_error`). So once one write failed, every write
//! failed forever, even after space came back. (The old group commit added a second,
//! smaller stickiness: a failed flush was recorded as covering every ticket so far, and a
//! writer that wrote nothing waited for that same horizon, so it was handed the old failure
//! until some new write flushed successfully. The batched committer answers each batch
//! with its own flush's result, so nothing is carried over.)
//!
//! # What happens instead
//!
//! The first storage failure flips [`Health::writable`] to false, logs the cause once (one
//! error line per streak, however many requests follow), and starts a recovery thread.
//! While unwritable, writes are refused at once with [`StoreError::Unavailable`] without
//! touching sled; reads keep working. The recovery thread, with a growing pause between
//! attempts, probes the open database with a small durable write; when that fails it
//! closes the database (once nothing else holds it), opens it again, and probes the new
//! one. When a probe succeeds the ledger is writable again and a line says so.
//!
//! Acknowledged writes are safe throughout: a write is acknowledged only after its flush
//! and fsync succeeded, and reopening recovers sled's log up to the last intact batch,
//! which includes every flushed one. Writes that failed were never acknowledged; the
//! caller was told to retry with the same idempotency key, which finds or redoes them.
//!
//! Health checks and `/metrics` read [`Health`]'s atomics only: no ledger I/O per probe.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::{Shared, StoreError};

/// The first pause between recovery attempts; it doubles up to [`RECOVERY_MAX_PAUSE`].
const RECOVERY_FIRST_PAUSE: Duration = Duration::from_millis(250);
/// The longest pause between recovery attempts (each may reopen the ledger, which scans it).
const RECOVERY_MAX_PAUSE: Duration = Duration::from_secs(4);

/// The ledger's writability, shared by every clone of the store.
#[derive(Debug)]
pub(crate) struct Health {
    writable: AtomicBool,
    /// Writes that failed or were refused because the ledger could not write.
    failures: AtomicU64,
    /// Whether a recovery thread is running.
    recovering: AtomicBool,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            writable: AtomicBool::new(true),
            failures: AtomicU64::new(0),
            recovering: AtomicBool::new(false),
        }
    }
}

impl Health {
    pub fn writable(&self) -> bool {
        self.writable.load(Ordering::Acquire)
    }

    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Counts a write refused while unwritable.
    pub fn refused(&self) -> StoreError {
        self.failures.fetch_add(1, Ordering::Relaxed);
        StoreError::Unavailable
    }
}

/// Whether `e` means the disk or sled's log writer failed (as opposed to bad input,
/// corrupt data, or a runtime shutting down).
pub(crate) fn is_storage_failure(e: &StoreError) -> bool {
    matches!(e, StoreError::Io(_))
}

/// Records a storage failure: the first of a streak logs its cause and starts recovery.
/// Returns the error the caller should see.
pub(crate) fn failed(shared: &Arc<Shared>, e: StoreError) -> StoreError {
    if !is_storage_failure(&e) {
        return e;
    }
    let health = &shared.health;
    health.failures.fetch_add(1, Ordering::Relaxed);
    if health.writable.swap(false, Ordering::AcqRel) {
        tracing::error!(
            error = %e,
            "the ledger cannot write: refusing writes until it can (free disk space); \
             paylink retries in the background and resumes by itself"
        );
    }
    if !health.recovering.swap(true, Ordering::AcqRel) {
        let weak = Arc::downgrade(shared);
        let spawned = std::thread::Builder::new()
            .name("paylink-ledger-recover".into())
            .spawn(move || recover(weak));
        if let Err(spawn_error) = spawned {
            health.recovering.store(false, Ordering::Release);
            tracing::error!(error = %spawn_error, "cannot start the ledger recovery thread");
        }
    }
    StoreError::Unavailable
}

/// Until the ledger writes again (or the store is dropped): probe, reopen, probe.
fn recover(weak: Weak<Shared>) {
    let mut pause = RECOVERY_FIRST_PAUSE;
    loop {
        std::thread::park_timeout(pause);
        let Some(shared) = weak.upgrade() else {
            return; // the store is gone
        };
        match shared.try_recover() {
            Ok(()) => {
                let failures = shared.health.failures();
                // In this order: a failure after `writable` flips back must start a new
                // recovery, so this one must already have stepped aside.
                shared.health.recovering.store(false, Ordering::Release);
                shared.health.writable.store(true, Ordering::Release);
                tracing::warn!(
                    failed_writes_so_far = failures,
                    "the ledger can write again; writes resume"
                );
                return;
            }
            Err(e) => tracing::debug!(error = %e, "the ledger still cannot write"),
        }
        drop(shared);
        pause = (pause * 2).min(RECOVERY_MAX_PAUSE);
    }
}
