//! The embedded ledger on sled (the default backend): payments, their indexes, idempotency claims, events,
//! integration configs and the webhook confirmation log.
//!
//! # Promises
//!
//! - **No acknowledged write lost.** When `create_draft`, `apply` or `reschedule` return
//!   `Ok`, the change survives SIGKILL and power loss to the extent fsync does: each is
//!   answered after a flush that started after its transaction committed — sled's flush,
//!   then an `fdatasync` of sled's log file, because sled 0.34's own flush stops at
//!   `sync_file_range` (see [`commit`]). Outcomes that write nothing (`Existing`,
//!   `Unchanged`, ...) are answered after that same flush, so they never report state a
//!   crash could take back. `tests/it/store_crash.rs` kills a writer with SIGKILL and checks
//!   this.
//! - **Nothing charged twice.** `create_draft` claims the idempotency key and records the
//!   draft in one transaction: one key yields one payment, however many callers race.
//! - **Status never goes backwards.** Every status change is `Payment::apply` run inside a
//!   transaction over the stored payment, as the transaction sees it: racing `paid` and
//!   `failed` produce exactly one change and one event, whether they land in one batch
//!   (the second sees the first's write) or in two (sled transactions are serializable).
//! - **Every index consistent.** A payment, its index entries and its event are written in
//!   the same transaction; [`SledStore::check_consistency`] verifies the whole ledger.
//!
//! # Layout and encoding
//!
//! One sled tree per role ([`layout`] lists them with their key formats) and multi-tree
//! transactions over tuples of trees. Chosen over one tree with key prefixes because sled
//! commits a multi-tree transaction as one atomically recovered log batch, so nothing is
//! lost in atomicity, while separate trees keep each key free of a role prefix, let a scan
//! (the due index, the created index for `list`) be a plain range over its own tree, and
//! make each role's size visible. Values are JSON ([`codec`] says why).
//!
//! Idempotency claims are scoped by organization (`organization 00 key`), so two tenants
//! that both send key `1` never collide. A claim's expiry is judged against the new
//! draft's `created_at`, the caller's clock for that request.
//!
//! # Group commit, batched
//!
//! A flush costs an fsync, and sled 0.34 does not let writers that each run their own
//! transaction share one (its flush holds the transaction lock). So one committer thread
//! performs every write: callers send it their write as data, and it runs everything
//! queued as ONE transaction followed by ONE flush, then answers each caller ([`commit`]
//! says how, and what stays true: each write's logic and atomicity are those it had alone).
//! `benches/ledger.rs` compares this with a transaction and a flush per write
//! ([`CommitMode::FlushEachWrite`]). The store never calls sled's `flush_async`, which can
//! hang forever under concurrent callers in sled 0.34.7 (sled#1308).
//!
//! # A full disk
//!
//! A write that fails in sled or in the flush makes the ledger *unwritable*: later writes
//! are refused at once with [`StoreError::Unavailable`] while a background thread waits
//! for the disk, reopening the database because sled 0.34 refuses every write after one
//! I/O error until it is reopened ([`health`] says how). [`SledStore::writable`] is an atomic
//! read for health checks.
//!
//! # Threads
//!
//! sled 0.34 runs every transaction under a process-wide lock that a flush also holds
//! (shared) while its log write reaches the disk, so a transaction can wait that long.
//! Payment writes therefore run on the committer thread (or, with
//! [`CommitMode::FlushEachWrite`], on tokio's blocking pool), never on an async worker;
//! the async caller only awaits the answer. Point reads (`get`, `by_*`, `events`, `due`) are short and fine on async
//! threads. Long scans — `list`, `check_consistency`, and `open` (which counts payments by
//! status in one scan) — should be called via `tokio::task::spawn_blocking`.

mod check;
mod codec;
mod commit;
mod configs;
mod confirmations;
mod counts;
mod files;
mod health;
mod index;
pub mod layout;
mod read;
mod records;
mod transfer;
mod write;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use sled::Transactional;
use sled::transaction::{ConflictableTransactionResult, TransactionResult, TransactionalTree};

pub use crate::store::{ApplyOutcome, DraftOutcome, StoreError};
pub use check::Verification;
pub use commit::CommitMode;
pub use files::ledger_exists;

use crate::domain::PaymentStatus;
use commit::{Committer, Ledger, LogFile};
use counts::StatusCounts;
use index::Index;

/// The version of the on-disk layout. A directory written by another version is refused.
pub const SCHEMA_VERSION: u32 = 2;

/// Schema history, each version upgraded to the next on open by [`upgrade`]:
/// - 1: payments named Flow's fields (`commerceOrder`, `providerReference`, `flowToken`)
///   and had no `gateway`.
/// - 2: payments hold the gateway that made them and neutral references (`reference`,
///   `gatewayRef`, `gatewayToken`). Index trees and keys are unchanged.
const OLDEST_UPGRADABLE: u32 = 1;

/// The ledger. Cheap to clone; all clones share one database and one committer.
#[derive(Clone)]
pub struct SledStore {
    shared: Arc<Shared>,
}

/// What every clone shares: the open database (swapped when it is reopened after a
/// storage failure) and its health.
pub(crate) struct Shared {
    /// None only while the database is being reopened.
    current: RwLock<Option<Arc<Inner>>>,
    /// Where to reopen from; None for a temporary database (never reopened).
    reopen: Option<(PathBuf, u64)>,
    health: health::Health,
    flush_each_write: AtomicBool,
}

impl Shared {
    fn current(&self) -> Option<Arc<Inner>> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Proves the ledger writes (a small durable write), reopening it first when the open
    /// database cannot. Called only by the recovery thread.
    fn try_recover(&self) -> Result<(), StoreError> {
        if self.current().is_some_and(|inner| inner.probe().is_ok()) {
            return Ok(());
        }
        let Some((dir, cache_bytes)) = &self.reopen else {
            return Err(StoreError::Io(
                "a temporary ledger cannot be reopened".into(),
            ));
        };
        {
            let mut slot = self
                .current
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some(old) = slot.take() {
                match Arc::try_unwrap(old) {
                    // Dropped outside the lock: it joins the committer thread.
                    Ok(old) => {
                        drop(slot);
                        drop(old);
                    }
                    Err(still_used) => {
                        *slot = Some(still_used);
                        return Err(StoreError::Io(
                            "the old database is still in use; reopening later".into(),
                        ));
                    }
                }
            }
        }
        let inner = Arc::new(Inner::open(dir, *cache_bytes)?);
        let probed = inner.probe();
        // Installed even when the probe failed, so reads work; the next attempt reopens.
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(inner);
        probed
    }
}

struct Inner {
    // Dropped first: joins the committer, which holds a handle on the database.
    committer: Committer,
    counts: Arc<StatusCounts>,
    confirmations: confirmations::Counted,
    trees: Trees,
    log: Arc<LogFile>,
    db: sled::Db,
}

#[derive(Clone)]
pub(crate) struct Trees {
    meta: sled::Tree,
    payments: sled::Tree,
    events: sled::Tree,
    claims: sled::Tree,
    indexes: [sled::Tree; 6],
    spend: sled::Tree,
    configs: sled::Tree,
    confirmations: sled::Tree,
    records: sled::Tree,
}

impl Trees {
    fn open(db: &sled::Db) -> Result<Trees, StoreError> {
        Ok(Trees {
            meta: db.open_tree(layout::META)?,
            payments: db.open_tree(layout::PAYMENTS)?,
            events: db.open_tree(layout::EVENTS)?,
            claims: db.open_tree(layout::CLAIMS)?,
            indexes: [
                db.open_tree(Index::Token.tree_name())?,
                db.open_tree(Index::GatewayRef.tree_name())?,
                db.open_tree(Index::Reference.tree_name())?,
                db.open_tree(Index::Entity.tree_name())?,
                db.open_tree(Index::Created.tree_name())?,
                db.open_tree(Index::Due.tree_name())?,
            ],
            spend: db.open_tree(layout::SPEND)?,
            configs: db.open_tree(layout::CONFIGS)?,
            confirmations: db.open_tree(layout::CONFIRMATIONS)?,
            records: db.open_tree(layout::RECORDS)?,
        })
    }

    fn index(&self, i: Index) -> &sled::Tree {
        &self.indexes[i.slot()]
    }

    /// Runs `f` as one serializable transaction over the payments, events, claims, index
    /// and spend trees. `f` may run more than once (sled retries on conflict): no side effects.
    fn transact<A, E>(
        &self,
        f: impl Fn(&Tx<'_>) -> ConflictableTransactionResult<A, E>,
    ) -> TransactionResult<A, E> {
        let [i0, i1, i2, i3, i4, i5] = &self.indexes;
        (
            &self.payments,
            &self.events,
            &self.claims,
            i0,
            i1,
            i2,
            i3,
            i4,
            i5,
            &self.spend,
        )
            .transaction(
                |(payments, events, claims, x0, x1, x2, x3, x4, x5, spend)| {
                    f(&Tx {
                        payments,
                        events,
                        claims,
                        indexes: [x0, x1, x2, x3, x4, x5],
                        spend,
                    })
                },
            )
    }
}

/// The trees of one ledger transaction.
pub(crate) struct Tx<'a> {
    payments: &'a TransactionalTree,
    events: &'a TransactionalTree,
    claims: &'a TransactionalTree,
    indexes: [&'a TransactionalTree; 6],
    spend: &'a TransactionalTree,
}

impl Tx<'_> {
    fn index(&self, i: Index) -> &TransactionalTree {
        self.indexes[i.slot()]
    }
}

impl Inner {
    /// [`Trees::transact`] with the ledger's error.
    fn transact<A>(
        &self,
        f: impl Fn(&Tx<'_>) -> ConflictableTransactionResult<A, StoreError>,
    ) -> Result<A, StoreError> {
        Ok(self.trees.transact(f)?)
    }

    /// Opens the ledger in `dir` (see [`SledStore::open_with_cache`]).
    fn open(dir: &Path, cache_bytes: u64) -> Result<Inner, StoreError> {
        files::prepare_dir(dir)?;
        // sled takes a damaged log record for the torn end of the log and silently drops
        // it and everything after it, so a damaged ledger can open empty. A directory
        // marked as holding a ledger that opens without its schema version is refused as
        // damaged rather than initialised afresh over what is left of it.
        let had_ledger = files::has_marker(dir);
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            .open()
            .map_err(|e| StoreError::opening(dir, e))?;
        files::restrict_files(dir)?;
        let inner =
            Inner::from_db(db, LogFile::open(dir)?, had_ledger).map_err(|e| e.loading(dir))?;
        if !had_ledger {
            files::write_marker(dir)?;
        }
        Ok(inner)
    }

    fn from_db(db: sled::Db, log: LogFile, had_ledger: bool) -> Result<Inner, StoreError> {
        // Before opening (and so creating) any tree: a ledger that lost its records must
        // not get fresh trees written over what is left of it.
        if had_ledger && !db.tree_names().iter().any(|n| n == layout::META.as_bytes()) {
            return Err(StoreError::Corrupt(LOST_RECORDS.into()));
        }
        let trees = Trees::open(&db)?;
        let log = Arc::new(log);
        check_schema(&db, &log, &trees, had_ledger)?;
        let counts = Arc::new(StatusCounts::load(&trees.payments)?);
        let confirmations = confirmations::Counted::load(&trees.confirmations);
        let committer = Committer::start(Ledger {
            db: db.clone(),
            log: log.clone(),
            trees: trees.clone(),
            counts: counts.clone(),
        })?;
        Ok(Inner {
            committer,
            counts,
            confirmations,
            trees,
            log,
            db,
        })
    }

    /// A small durable write: proves the disk takes writes again.
    fn probe(&self) -> Result<(), StoreError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or_default();
        self.trees
            .meta
            .insert(layout::WRITE_PROBE_KEY, &now.to_be_bytes())?;
        self.log.flush(&self.db)
    }

    /// Flushes and fsyncs on tokio's blocking pool. Never `flush_async`: it flushes on
    /// sled's own thread pool, and concurrent calls can park every pool thread in a flush
    /// while the log write they all wait for sits queued on that same pool: a permanent
    /// hang in sled 0.34.7 (sled#1308, fixed only in unreleased sled; it hung
    /// `benches/ledger.rs` here).
    async fn flush_off_pool(&self) -> Result<(), StoreError> {
        let (db, log) = (self.db.clone(), self.log.clone());
        blocking(move || log.flush(&db)).await
    }
}

pub(crate) use write::check_payment_keys;

/// Runs a ledger write on tokio's blocking pool (see "Threads" above).
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(StoreError::ShuttingDown),
    }
}

/// sled's default page cache (1 GiB), used by [`SledStore::open`].
pub const DEFAULT_CACHE_BYTES: u64 = 1024 * 1024 * 1024;

impl SledStore {
    /// Opens (creating if needed) the ledger in `dir`, readable by this user only (see
    /// `store/files.rs`), writing the schema version into a new ledger and refusing a
    /// ledger of another version. Counts payments by status and
    /// the confirmation log's entries, one scan each: call via `spawn_blocking` from async
    /// code when the ledger may be large.
    pub fn open(dir: &Path) -> Result<SledStore, StoreError> {
        SledStore::open_with_cache(dir, DEFAULT_CACHE_BYTES)
    }

    /// [`SledStore::open`] with sled's page cache set to `cache_bytes` (what sled aims to keep
    /// of the ledger in memory; its accounting is approximate; the rest is read from disk
    /// through the OS page cache).
    pub fn open_with_cache(dir: &Path, cache_bytes: u64) -> Result<SledStore, StoreError> {
        let inner = Inner::open(dir, cache_bytes)?;
        Ok(SledStore::from_inner(
            inner,
            Some((dir.to_owned(), cache_bytes)),
        ))
    }

    /// A ledger in a temporary sled database, deleted on drop (tests, benches).
    pub fn open_temporary() -> Result<SledStore, StoreError> {
        let db = sled::Config::new().temporary(true).open()?;
        Ok(SledStore::from_inner(
            Inner::from_db(db, LogFile::none(), false)?,
            None,
        ))
    }

    fn from_inner(inner: Inner, reopen: Option<(PathBuf, u64)>) -> SledStore {
        SledStore {
            shared: Arc::new(Shared {
                current: RwLock::new(Some(Arc::new(inner))),
                reopen,
                health: health::Health::default(),
                flush_each_write: AtomicBool::new(false),
            }),
        }
    }

    /// The open database; fails only for the moment it is being reopened.
    fn inner(&self) -> Result<Arc<Inner>, StoreError> {
        self.shared.current().ok_or(StoreError::Unavailable)
    }

    /// The open database for a write; refused at once while the ledger cannot write.
    fn writable_inner(&self) -> Result<Arc<Inner>, StoreError> {
        if !self.shared.health.writable() {
            return Err(self.shared.health.refused());
        }
        self.inner()
    }

    /// Turns a write's error into what the caller sees, noting storage failures.
    fn write_failed(&self, e: StoreError) -> StoreError {
        health::failed(&self.shared, e)
    }

    /// Whether the ledger can write right now (an atomic read; no I/O).
    pub fn writable(&self) -> bool {
        self.shared.health.writable()
    }

    /// Writes that failed or were refused because the ledger could not write.
    pub fn write_failures(&self) -> u64 {
        self.shared.health.failures()
    }

    fn mode(&self) -> CommitMode {
        if self.shared.flush_each_write.load(Ordering::Relaxed) {
            CommitMode::FlushEachWrite
        } else {
            CommitMode::Batched
        }
    }

    /// Payment counts by status, from memory (zeros for the moment the ledger reopens).
    pub fn status_counts(&self) -> [(PaymentStatus, u64); 4] {
        match self.shared.current() {
            Some(inner) => inner.counts.snapshot(),
            None => StatusCounts::default().snapshot(),
        }
    }

    /// The number of payments, from memory.
    pub fn len(&self) -> usize {
        self.shared
            .current()
            .map_or(0, |inner| inner.counts.total() as usize)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes everything to disk now.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let inner = self.writable_inner()?;
        let result = inner.flush_off_pool().await;
        drop(inner);
        result.map_err(|e| self.write_failed(e))
    }

    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.inner()?.db.size_on_disk()?)
    }

    /// Chooses how writes are made durable (benches compare the two).
    pub fn set_commit_mode(&self, mode: CommitMode) {
        let each = matches!(mode, CommitMode::FlushEachWrite);
        self.shared.flush_each_write.store(each, Ordering::Relaxed);
    }

    /// The raw database, for tests that corrupt or inspect it on purpose.
    #[doc(hidden)]
    pub fn db(&self) -> sled::Db {
        let inner = self
            .inner()
            .expect("the ledger is open (not being reopened)");
        inner.db.clone()
    }
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore")
            .field("payments", &self.len())
            .finish_non_exhaustive()
    }
}

const LOST_RECORDS: &str = "the directory held a paylink ledger, but the storage engine \
     recovered none of it: a damaged record made it drop that record and everything after it";

/// Rewrites a ledger of schema `from` in today's format, then records the new version.
/// Each payment is decoded (serde aliases read the old names) and written back whole, in
/// batches; the version is written last, so an upgrade cut short is simply done again
/// on the next open.
fn upgrade(db: &sled::Db, log: &LogFile, trees: &Trees, from: u32) -> Result<(), StoreError> {
    let started = std::time::Instant::now();
    let mut batch = sled::Batch::default();
    let (mut in_batch, mut total) = (0usize, 0usize);
    for item in trees.payments.iter() {
        let (key, raw) = item?;
        let p: crate::domain::Payment = codec::decode(layout::PAYMENTS, &key, &raw)?;
        batch.insert(key, codec::encode("a payment", &p)?);
        in_batch += 1;
        total += 1;
        if in_batch == 1000 {
            trees.payments.apply_batch(std::mem::take(&mut batch))?;
            in_batch = 0;
        }
    }
    trees.payments.apply_batch(batch)?;
    log.flush(db)?;
    let version = codec::encode("the schema version", &SCHEMA_VERSION)?;
    trees.meta.insert(layout::SCHEMA_VERSION_KEY, version)?;
    log.flush(db)?;
    tracing::info!(
        from,
        to = SCHEMA_VERSION,
        payments = total,
        took_ms = started.elapsed().as_millis() as u64,
        "ledger upgraded"
    );
    Ok(())
}

/// Checks the schema version, writing it into a new ledger. `had_ledger`: the directory is
/// marked as holding a ledger, so a missing version means the ledger lost records.
fn check_schema(
    db: &sled::Db,
    log: &LogFile,
    trees: &Trees,
    had_ledger: bool,
) -> Result<(), StoreError> {
    match trees.meta.get(layout::SCHEMA_VERSION_KEY)? {
        Some(raw) => {
            let found: u32 = codec::decode(layout::META, layout::SCHEMA_VERSION_KEY, &raw)?;
            if (OLDEST_UPGRADABLE..SCHEMA_VERSION).contains(&found) {
                return upgrade(db, log, trees, found);
            }
            if found != SCHEMA_VERSION {
                return Err(StoreError::SchemaMismatch {
                    found,
                    expected: SCHEMA_VERSION,
                });
            }
            Ok(())
        }
        None if !trees.payments.is_empty() => Err(StoreError::Corrupt(
            "the ledger holds payments but no schema version; refusing to guess its layout".into(),
        )),
        None if had_ledger => Err(StoreError::Corrupt(LOST_RECORDS.into())),
        None => {
            let version = codec::encode("the schema version", &SCHEMA_VERSION)?;
            trees.meta.insert(layout::SCHEMA_VERSION_KEY, version)?;
            log.flush(db)
        }
    }
}
