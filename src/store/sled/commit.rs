//! Batched commit: many writers, one transaction, one fsync.
//!
//! # Why not let each writer commit and share the fsync
//!
//! The ledger used to let every writer run its own sled transaction and then wait for a
//! flusher thread whose single flush covered every commit made so far. It reached about
//! one write per `fdatasync` whatever the number of writers: sled 0.34 runs every
//! transaction under a process-wide lock, and its flush holds that lock (shared) while the
//! log write reaches the disk, so writers queued behind each flush instead of joining it.
//!
//! # What happens instead
//!
//! One *committer* thread performs every write. [`Committer::submit`] sends an [`Op`] (a
//! create, a transition or a reschedule, as data) with a oneshot for its answer. The
//! committer takes everything queued (up to [`MAX_BATCH`]), runs all of it as ONE sled
//! transaction over the payment trees, in arrival order, then calls [`LogFile::flush`]
//! once (sled's flush, then `fdatasync` of sled's log) and answers every op. While it
//! flushes, new ops queue up and become the next batch, so the batch size follows the load
//! by itself: a lone writer is committed at once, 64 writers share each fsync.
//!
//! # Invariants
//!
//! - **Per-op logic is unchanged.** Each op runs exactly the logic it would run alone
//!   ([`Op::run`]), reading through the transaction, so it sees the writes of the ops
//!   before it in the batch (sled's transactional reads see the transaction's own writes).
//!   Two creates with one idempotency key in one batch give one `Created` and one
//!   `Existing`; racing `paid` and `failed` give one change and one refusal.
//! - **Atomic per payment, and per batch.** A payment, its claim, its index entries and
//!   its event are written by one op inside one transaction, which sled recovers as one
//!   log batch; a crash keeps all of a batch or none of it.
//! - **One op's failure is its own.** An op's refusal (no such payment, an id already
//!   taken) is found before it writes and is only that op's answer. An op that fails after
//!   writing (a corrupt record) aborts the transaction; the batch is then run again
//!   without it, so the others never see its partial writes. Only a storage failure fails
//!   the whole batch; sled retries the transaction on a conflict.
//! - **Nothing answered before it is durable.** Every op, including one that wrote nothing
//!   (`Existing`, `Unchanged`, a refusal), is answered only after a flush that started
//!   after its batch committed, so nobody is told of state that a crash could take back. A
//!   failed flush fails every op of its batch, and the store then stops writing until it
//!   has reopened the database ([`super::health`]).
//! - **Counts move after commit.** Status counts move once per committed op, before the
//!   flush, as when every writer committed on its own.
//! - **Ops outlive their callers.** A caller that stops waiting (a timeout drops its
//!   future) does not withdraw its op: once sent it is committed and counted, like a
//!   write on the blocking pool that nobody awaits.
//!
//! The committer is a plain thread, not a task: it must not depend on a particular tokio
//! runtime being alive. It is joined when the store is dropped, after answering what is
//! queued, so a reopen of the same directory never finds sled's lock still held. A panic
//! inside an op is caught: the batch is run again op by op, and the op that panics hands
//! its panic to its own caller, as a write on the blocking pool would.
//!
//! # Durability of a flush
//!
//! sled 0.34's `flush` on Linux writes the log and waits with `sync_file_range`, which
//! commits neither file metadata (the log's growth) nor the device's write cache; sled
//! fsyncs only from its background thread, every 500 ms. That survives SIGKILL but not
//! power loss, so every flush here is [`LogFile::flush`]: sled's flush, then `fdatasync`
//! of sled's log file.
//!
//! [`CommitMode::FlushEachWrite`] is the naive alternative (each writer runs its own
//! transaction on tokio's blocking pool and flushes on its own), kept so
//! `benches/ledger.rs` can compare the two. sled's `flush_async` is used nowhere: under
//! concurrent callers it hangs forever in sled 0.34.7 (sled#1308).

use std::fs::File;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::Path;
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use sled::transaction::{ConflictableTransactionError, TransactionError};
use tokio::sync::oneshot;

use super::Trees;
use super::counts::StatusCounts;
use super::write::{Done, Op};
use crate::store::StoreError;

/// How a write is made durable before it is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitMode {
    /// The committer runs concurrent writers' ops in one transaction and one flush (the
    /// default).
    Batched,
    /// Every writer runs its own transaction and flushes on its own.
    FlushEachWrite,
}

/// The most ops in one transaction: bounds the wait of the last op in a batch and the
/// memory a transaction holds.
pub(crate) const MAX_BATCH: usize = 256;

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

/// What the committer needs of the open database.
pub(crate) struct Ledger {
    pub db: sled::Db,
    pub log: Arc<LogFile>,
    pub trees: Trees,
    pub counts: Arc<StatusCounts>,
}

/// An op's answer: its result, or the panic it raised.
type Answer = std::thread::Result<Result<Done, StoreError>>;

struct Request {
    op: Op,
    answer: oneshot::Sender<Answer>,
}

/// The committer thread and its queue.
pub(crate) struct Committer {
    queue: Option<mpsc::Sender<Request>>,
    thread: Option<JoinHandle<()>>,
}

impl Committer {
    pub fn start(ledger: Ledger) -> Result<Committer, StoreError> {
        let (queue, requests) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("paylink-ledger-commit".into())
            .spawn(move || run(&ledger, &requests))
            .map_err(|e| {
                StoreError::Io(format!("cannot start the ledger committer thread: {e}"))
            })?;
        Ok(Committer {
            queue: Some(queue),
            thread: Some(thread),
        })
    }

    /// Queues `op` and waits until its batch is durable.
    pub async fn submit(&self, op: Op) -> Result<Done, StoreError> {
        let stopped = || StoreError::Io("the ledger committer stopped".into());
        let (answer, answered) = oneshot::channel();
        let queue = self.queue.as_ref().ok_or_else(stopped)?;
        queue.send(Request { op, answer }).map_err(|_| stopped())?;
        match answered.await {
            Ok(Ok(result)) => result,
            Ok(Err(panic)) => resume_unwind(panic),
            Err(_) => Err(stopped()),
        }
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        // Closing the queue ends the thread once it has answered what was queued.
        self.queue.take();
        if let Some(thread) = self.thread.take() {
            // Joined so the thread's database handle is released before the store's drop
            // returns: a reopen of the same directory must not find the lock still held.
            let _ = thread.join();
        }
    }
}

fn run(ledger: &Ledger, requests: &mpsc::Receiver<Request>) {
    while let Ok(first) = requests.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match requests.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        ledger.commit(batch);
    }
}

/// Why a batch's transaction was aborted: the op at `at` failed after it had written.
struct Failed {
    at: usize,
    error: StoreError,
}

impl Ledger {
    /// Runs the batch as one transaction and one flush, then answers every request.
    fn commit(&self, batch: Vec<Request>) {
        let ops: Vec<&Op> = batch.iter().map(|r| &r.op).collect();
        // Only the transaction runs op logic; a panic there leaves nothing committed.
        let transacted = match catch_unwind(AssertUnwindSafe(|| self.transact_ops(&ops))) {
            Ok(transacted) => transacted,
            Err(panic) if batch.len() == 1 => {
                if let Some(request) = batch.into_iter().next() {
                    let _ = request.answer.send(Err(panic));
                }
                return;
            }
            Err(_) => {
                // Find the op that panicked by committing them one by one, so the others
                // still get their answers.
                for request in batch {
                    self.commit(vec![request]);
                }
                return;
            }
        };
        let results = match transacted.and_then(|results| self.durable(results)) {
            Ok(results) => results,
            Err(e) => batch.iter().map(|_| Err(e.clone())).collect(),
        };
        for (request, result) in batch.into_iter().zip(results) {
            // A caller that stopped waiting is no reason to stop: its op is committed.
            let _ = request.answer.send(Ok(result));
        }
    }

    /// Counts what a committed transaction wrote, then flushes it to disk.
    fn durable(
        &self,
        results: Vec<Result<Done, StoreError>>,
    ) -> Result<Vec<Result<Done, StoreError>>, StoreError> {
        for done in results.iter().flatten() {
            done.count(&self.counts);
        }
        self.log.flush(&self.db).inspect_err(|e| {
            tracing::error!(error = %e, ops = results.len(), "flushing the ledger failed");
        })?;
        Ok(results)
    }

    /// Runs every op in one transaction, in order. An op that aborts the transaction is
    /// answered with its error and the rest are run again without it, so the committed
    /// transaction holds none of its partial writes. Fails only when storage does.
    fn transact_ops(&self, ops: &[&Op]) -> Result<Vec<Result<Done, StoreError>>, StoreError> {
        let mut failed: Vec<Option<StoreError>> = ops.iter().map(|_| None).collect();
        loop {
            let attempt = self.trees.transact(|tx| {
                let mut results = Vec::with_capacity(ops.len());
                for (at, op) in ops.iter().enumerate() {
                    if let Some(error) = &failed[at] {
                        results.push(Err(error.clone()));
                        continue;
                    }
                    results.push(op.run(tx).map_err(|e| match e {
                        ConflictableTransactionError::Abort(error) => {
                            ConflictableTransactionError::Abort(Failed { at, error })
                        }
                        ConflictableTransactionError::Conflict => {
                            ConflictableTransactionError::Conflict
                        }
                        ConflictableTransactionError::Storage(e) => {
                            ConflictableTransactionError::Storage(e)
                        }
                    })?);
                }
                Ok(results)
            });
            match attempt {
                Ok(results) => return Ok(results),
                Err(TransactionError::Abort(Failed { at, error })) => failed[at] = Some(error),
                Err(TransactionError::Storage(e)) => return Err(e.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Payment, PaymentStatus, Source, Timestamp, Transition, new_payment_id};
    use crate::store::{ApplyOutcome, DraftOutcome, SledStore, layout};

    fn draft(key: &str) -> Payment {
        let mut p = crate::domain::payment::tests::draft();
        p.id = new_payment_id();
        p.reference = format!("PL-{key}");
        p.idempotency_key = key.into();
        p
    }

    fn create(p: &Payment) -> Op {
        Op::Create {
            draft: Box::new(p.clone()),
            fingerprint: "fp".into(),
            claim_expires_at: None,
            source: Source::Tool,
            daily_cap: None,
        }
    }

    fn go_pending(id: &str, token: &str) -> Op {
        Op::Apply {
            id: id.into(),
            transition: Transition::Pending {
                gateway_ref: "1".into(),
                gateway_token: token.into(),
                payment_link_url: "https://sandbox.flow.cl/pay".into(),
                expires_at: None,
                next_check_at: None,
            },
            source: Source::Tool,
            now: Timestamp(2_000),
        }
    }

    /// One batch: each op sees the ones before it, and an op that fails (before or after
    /// writing) fails alone, leaving none of its writes behind.
    #[tokio::test]
    async fn ops_in_one_batch_see_each_other_and_fail_alone() {
        let store = SledStore::open_temporary().unwrap();
        let broken = draft("broken");
        store
            .create_draft(&broken, "fp", None, Source::Tool)
            .await
            .unwrap();
        let inner = store.inner().unwrap();
        // An event already where the next transition's event goes: that transition
        // writes the payment, then finds the slot taken and aborts.
        inner
            .trees
            .events
            .insert(layout::event_key(&broken.id, 2), &b"{}"[..])
            .unwrap();
        let ledger = Ledger {
            db: inner.db.clone(),
            log: inner.log.clone(),
            trees: inner.trees.clone(),
            counts: inner.counts.clone(),
        };
        let a = draft("k1");
        let ops = [
            create(&a),
            go_pending(&broken.id, "tok_broken"),
            go_pending("ent_missing", "tok_missing"),
            create(&draft("k1")),
            go_pending(&a.id, "tok_a"),
        ];
        let results = ledger
            .transact_ops(&ops.iter().collect::<Vec<_>>())
            .unwrap();
        let outcomes: Vec<String> = results
            .iter()
            .map(|r| match r {
                Ok(Done::Draft(DraftOutcome::Created(p))) if p.id == a.id => "created a".into(),
                Ok(Done::Draft(DraftOutcome::Existing(p))) if p.id == a.id => "existing a".into(),
                Ok(Done::Apply(ApplyOutcome::Changed { payment, .. })) if payment.id == a.id => {
                    "a changed".into()
                }
                Err(StoreError::Corrupt(_)) => "corrupt".into(),
                Err(StoreError::NotFound(_)) => "not found".into(),
                other => format!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            outcomes,
            [
                "created a",
                "corrupt",
                "not found",
                "existing a",
                "a changed"
            ]
        );
        let stored_a = store.get(&a.id).unwrap().unwrap();
        assert_eq!(stored_a.status, PaymentStatus::Pending);
        assert_eq!(store.by_token("tok_a").unwrap(), Some(stored_a));
        // The aborted transition left neither its payment write nor its index entry.
        let stored_broken = store.get(&broken.id).unwrap().unwrap();
        assert_eq!(
            (stored_broken.status, stored_broken.version),
            (PaymentStatus::Draft, 1)
        );
        assert_eq!(store.by_token("tok_broken").unwrap(), None);
    }
}
