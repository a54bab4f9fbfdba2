//! Group commit: many writers, one fsync.
//!
//! A writer commits its sled transaction, then takes a *ticket*: the number of commits so
//! far, its own included. A flusher thread repeatedly notes the commit count (`covers`),
//! calls `Db::flush` (write out the log and fsync), and publishes `covers` on a watch
//! channel. A writer returns once a published value reaches its ticket, that is, once a
//! flush that *started after* its commit has completed. Every writer that committed while
//! one flush was running is served by the next single flush.
//!
//! The flusher is a plain thread, not a task: it must run to completion whatever happens
//! to the futures waiting on it (a caller's timeout drops its future, never the flush),
//! and it must not depend on a particular tokio runtime being alive. It parks on a condvar
//! when nothing is pending and is joined when the store is dropped.
//!
//! [`CommitMode::FlushEachWrite`] is the naive alternative (each writer flushes on its
//! own, on tokio's blocking pool), kept so `benches/ledger.rs` can compare the two. The
//! naive `flush_async` per write was measured first and hangs forever under concurrent
//! writers in sled 0.34.7 (sled#1308): it is not used anywhere.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

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

#[derive(Debug, Default)]
struct State {
    /// Transactions committed so far (tickets handed out).
    committed: u64,
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
    pub fn start(db: sled::Db) -> Result<GroupCommit, StoreError> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            durable: watch::channel(Durable::default()).0,
        });
        let for_thread = shared.clone();
        let thread = std::thread::Builder::new()
            .name("paylink-ledger-flush".into())
            .spawn(move || run_flusher(&db, &for_thread))
            .map_err(|e| StoreError::Io(format!("cannot start the ledger flusher thread: {e}")))?;
        Ok(GroupCommit {
            shared,
            thread: Some(thread),
        })
    }

    /// Call right after a transaction committed: the ticket to wait for.
    pub fn committed(&self) -> u64 {
        let ticket = {
            let mut s = self.shared.lock();
            s.committed += 1;
            s.committed
        };
        self.shared.wake.notify_one();
        ticket
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

fn run_flusher(db: &sled::Db, shared: &Shared) {
    let mut flushed = 0;
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
            s.committed
        };
        let result = db.flush();
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
