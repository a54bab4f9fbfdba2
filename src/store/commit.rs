//! Group commit: many writers, one fsync.
//!
//! A writer commits its sled transaction, then takes a *ticket*: the number of commits so
//! far, its own included. A flusher thread repeatedly notes the commit count (`covers`),
//! calls `Db::flush` (write out the log and fsync), and publishes `covers` on a watch
//! channel. A writer returns once a published value reaches its ticket, that is, once a
//! flush that *started after* its commit has completed. Every writer that committed while
//! one flush was running is served by the next single flush.
//!
//! In sled 0.34 a flush holds the process-wide transaction lock (shared) for its whole
//! fsync, so a flush started while writers are still inside their transactions stalls
//! them and covers only the commits made so far. The flusher therefore waits for writers
//! that are *in flight* (between `begin` and commit) to commit, but never longer than the
//! last flush took, so a writer waits at most about two flushes. A lone writer finds
//! nobody in flight and is flushed at once.
//!
//! The flusher is a plain thread, not a task: it must run to completion whatever happens
//! to the futures waiting on it (a caller's timeout drops its future, never the flush),
//! and it must not depend on a particular tokio runtime being alive. It parks on a condvar
//! when nothing is pending and is joined when the store is dropped.
//!
//! sled 0.34's `flush` on Linux writes the log and waits with `sync_file_range`, which
//! commits neither file metadata (the log's growth) nor the device's write cache; sled
//! fsyncs only from its background thread, every 500 ms. That survives SIGKILL but not
//! power loss, so every flush here is [`LogFile::flush`]: sled's flush, then `fdatasync`
//! of sled's log file, done outside sled's lock so writers keep committing meanwhile.
//!
//! [`CommitMode::FlushEachWrite`] is the naive alternative (each writer flushes on its
//! own, on tokio's blocking pool), kept so `benches/ledger.rs` can compare the two. The
//! naive `flush_async` per write was measured first and hangs forever under concurrent
//! writers in sled 0.34.7 (sled#1308): it is not used anywhere.

use std::fs::File;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::error::StoreError;

/// How a write is made durable before it is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitMode {
    /// Concurrent writers share flushes (the default).
    GroupCommit,
    /// Every writer flushes on its own.
    FlushEachWrite,
}

/// sled's log file, opened by the store to fsync it (none for a temporary database).
#[derive(Debug)]
pub(crate) struct LogFile(Option<File>);

impl LogFile {
    pub fn none() -> LogFile {
        LogFile(None)
    }

    /// Opens `dir/db` (sled 0.34's single log file) and fsyncs the directory once, so the
    /// file's own entry is durable too.
    pub fn open(dir: &Path) -> Result<LogFile, StoreError> {
        let io = |what: &str, e: std::io::Error| {
            StoreError::Io(format!("{what} {}: {e}", dir.display()))
        };
        let file = File::open(dir.join("db")).map_err(|e| io("cannot open the sled log in", e))?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io("cannot fsync the ledger directory", e))?;
        Ok(LogFile(Some(file)))
    }

    /// Writes sled's buffers out and fsyncs them: when this returns Ok, every write
    /// committed before the call survives power loss to the extent fsync does.
    pub fn flush(&self, db: &sled::Db) -> Result<(), StoreError> {
        db.flush()?;
        if let Some(file) = &self.0 {
            file.sync_data()
                .map_err(|e| StoreError::Io(format!("fsync of the ledger failed: {e}")))?;
        }
        Ok(())
    }
}

#[derive(Debug, Default)]
struct State {
    /// Transactions committed so far (tickets handed out).
    committed: u64,
    /// Writers between `begin` and commit (or failure).
    in_flight: u64,
    shutdown: bool,
}

#[derive(Debug, Clone, Default)]
struct Durable {
    /// Every ticket up to this one is on disk.
    upto: u64,
    /// The last failed flush: the tickets it covered and sled's message.
    failure: Option<(u64, String)>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    durable: watch::Sender<Durable>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is two plain fields; a panic elsewhere cannot leave it half-written.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[derive(Debug)]
pub(crate) struct GroupCommit {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl GroupCommit {
    pub fn start(db: sled::Db, log: Arc<LogFile>) -> Result<GroupCommit, StoreError> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            durable: watch::channel(Durable::default()).0,
        });
        let for_thread = shared.clone();
        let thread = std::thread::Builder::new()
            .name("paylink-ledger-flush".into())
            .spawn(move || run_flusher(&db, &log, &for_thread))
            .map_err(|e| StoreError::Io(format!("cannot start the ledger flusher thread: {e}")))?;
        Ok(GroupCommit {
            shared,
            thread: Some(thread),
        })
    }

    /// Call before a write transaction starts; commit or drop the guard when it is done.
    pub fn begin(&self) -> InFlight<'_> {
        self.shared.lock().in_flight += 1;
        InFlight {
            shared: &self.shared,
            done: false,
        }
    }

    /// A ticket covering every commit so far, for an outcome that wrote nothing but must
    /// not report state that is not yet durable.
    pub fn horizon(&self) -> u64 {
        self.shared.lock().committed
    }

    /// Waits until a flush that started after the ticket was taken has completed.
    pub async fn wait(&self, ticket: u64) -> Result<(), StoreError> {
        let mut rx = self.shared.durable.subscribe();
        let reached = |d: &Durable| {
            d.upto >= ticket || d.failure.as_ref().is_some_and(|(upto, _)| *upto >= ticket)
        };
        let d = rx
            .wait_for(reached)
            .await
            .map_err(|_| StoreError::Io("the ledger flusher stopped".into()))?
            .clone();
        if d.upto >= ticket {
            return Ok(());
        }
        let message = d.failure.map(|(_, m)| m).unwrap_or_default();
        Err(StoreError::Io(format!(
            "flushing the ledger to disk failed: {message}"
        )))
    }
}

/// A writer inside its transaction. Dropping it without `committed` (the transaction
/// failed or wrote nothing) only tells the flusher not to wait for it.
pub(crate) struct InFlight<'a> {
    shared: &'a Shared,
    done: bool,
}

impl InFlight<'_> {
    /// Call right after the transaction committed: the ticket to wait for.
    pub fn committed(mut self) -> u64 {
        let ticket = {
            let mut s = self.shared.lock();
            s.committed += 1;
            s.in_flight -= 1;
            s.committed
        };
        self.done = true;
        self.shared.wake.notify_one();
        ticket
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.shared.lock().in_flight -= 1;
            self.shared.wake.notify_one();
        }
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            // Joined so the thread's database handle is released before the store's drop
            // returns: a reopen of the same directory must not find the lock still held.
            let _ = thread.join();
        }
    }
}

/// The longest a flush waits for writers in flight, whatever the last flush took.
const MAX_GATHER: Duration = Duration::from_millis(10);

fn run_flusher(db: &sled::Db, log: &LogFile, shared: &Shared) {
    let mut flushed = 0;
    let mut gather = Duration::ZERO;
    loop {
        let covers = {
            let mut s = shared.lock();
            while s.committed == flushed && !s.shutdown {
                s = shared
                    .wake
                    .wait(s)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
            if s.committed == flushed {
                return; // shutting down with nothing pending
            }
            let deadline = Instant::now() + gather;
            while s.in_flight > 0 && !s.shutdown {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                s = shared
                    .wake
                    .wait_timeout(s, left)
                    .map(|(s, _)| s)
                    .unwrap_or_else(|poisoned| poisoned.into_inner().0);
            }
            s.committed
        };
        let started = Instant::now();
        let result = log.flush(db);
        gather = started.elapsed().min(MAX_GATHER);
        flushed = covers;
        shared.durable.send_modify(|d| match result {
            Ok(_) => d.upto = covers,
            Err(e) => {
                tracing::error!(error = %e, "flushing the ledger failed");
                d.failure = Some((covers, e.to_string()));
            }
        });
    }
}
