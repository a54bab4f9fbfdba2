//! The ledger's writes: claim-and-record a draft, apply a transition, reschedule a check.
//!
//! Each is an [`Op`]: its logic runs inside a transaction over the payment, its events, its
//! claim and its index entries. By default the committer runs it in one transaction with
//! other callers' ops and one flush ([`super::commit`]); with
//! [`CommitMode::FlushEachWrite`] it runs alone on the blocking pool and flushes alone.
//! Status counts move only after a transaction has committed, so a retried transaction is
//! never counted twice.

use std::sync::Arc;

use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use super::codec::{self, Claim};
use super::counts::StatusCounts;
use super::index::Index;
use super::layout;
use super::{ApplyOutcome, CommitMode, DraftOutcome, Inner, SledStore, StoreError, Tx, blocking};
use crate::domain::policy::utc_day;
use crate::domain::{Applied, Money, Payment, PaymentStatus, Source, Timestamp, Transition};

type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

fn abort(e: StoreError) -> ConflictableTransactionError<StoreError> {
    ConflictableTransactionError::Abort(e)
}

/// Every string of a payment that goes into a key or a lookup must be free of NUL (both
/// backends refuse the same payments).
pub(crate) fn check_payment_keys(p: &Payment) -> Result<(), StoreError> {
    if p.id.is_empty() {
        return Err(StoreError::InvalidInput(
            "a payment id must not be empty".into(),
        ));
    }
    layout::check_part("the payment id", &p.id)?;
    layout::check_part("the organization", &p.organization)?;
    layout::check_part("the reference", &p.reference)?;
    layout::check_part("the idempotency key", &p.idempotency_key)?;
    for (what, value) in [
        ("the entity id", &p.entity_id),
        ("the gateway token", &p.gateway_token),
        ("the gateway reference", &p.gateway_ref),
    ] {
        if let Some(v) = value {
            layout::check_part(what, v)?;
        }
    }
    Ok(())
}

/// Reads and decodes the payment `id` inside a transaction.
fn read_payment(tx: &Tx<'_>, id: &str) -> TxResult<Option<Payment>> {
    match tx.payments.get(id.as_bytes())? {
        Some(raw) => codec::decode(layout::PAYMENTS, id.as_bytes(), &raw)
            .map(Some)
            .map_err(abort),
        None => Ok(None),
    }
}

/// Writes `new` and moves its index entries from where `old` had them.
pub(super) fn write_payment(tx: &Tx<'_>, old: Option<&Payment>, new: &Payment) -> TxResult<()> {
    let bytes = codec::encode("the payment", new).map_err(abort)?;
    tx.payments.insert(new.id.as_bytes(), bytes)?;
    for i in Index::ALL {
        let before = old.and_then(|p| i.key_for(p));
        let after = i.key_for(new);
        if before == after {
            continue;
        }
        let tree: &TransactionalTree = tx.index(i);
        if let Some(key) = before {
            tree.remove(key)?;
        }
        if let Some(key) = after {
            tree.insert(key, &[][..])?;
        }
    }
    Ok(())
}

/// Appends an event, refusing to overwrite one already stored under its seq.
pub(super) fn append_event(tx: &Tx<'_>, event: &crate::domain::PaymentEvent) -> TxResult<()> {
    let key = layout::event_key(&event.payment_id, event.seq);
    let bytes = codec::encode("the event", event).map_err(abort)?;
    if tx.events.insert(key, bytes)?.is_some() {
        return Err(abort(StoreError::Corrupt(format!(
            "payment {} already has an event {}; its version is behind its events",
            event.payment_id, event.seq
        ))));
    }
    Ok(())
}

/// A ledger write as data, so that the committer can run many callers' writes in one
/// transaction (see [`super::commit`]). Each op's logic is the same whether it runs alone
/// or in a batch: it reads through the transaction, so it sees what earlier ops of the
/// same batch wrote.
pub(crate) enum Op {
    Create {
        /// Boxed: a payment is several times the size of the other ops.
        draft: Box<Payment>,
        fingerprint: String,
        claim_expires_at: Option<Timestamp>,
        source: Source,
        /// The most the day's total of the draft's organization and currency may reach.
        daily_cap: Option<Money>,
    },
    Apply {
        id: String,
        transition: Transition,
        source: Source,
        now: Timestamp,
    },
    Reschedule {
        id: String,
        next_check_at: Option<Timestamp>,
        check_attempts: u32,
    },
    NextCreateAttempt {
        id: String,
    },
}

/// What an op did.
#[derive(Debug)]
pub(crate) enum Done {
    Draft(DraftOutcome),
    Apply(ApplyOutcome),
    Rescheduled,
    CreateAttempt(u32),
}

/// An op's result inside a transaction. The outer error is for the transaction: storage
/// failures, conflicts, and failures found after the op had already written (those abort
/// it). The inner error is the op's own refusal (no such payment, an id already taken),
/// always found before it wrote anything, so the transaction and any other op batched
/// with it go on untouched.
pub(crate) type Step<T> = TxResult<Result<T, StoreError>>;

impl Op {
    pub(crate) fn run(&self, tx: &Tx<'_>) -> Step<Done> {
        Ok(match self {
            Op::Create {
                draft,
                fingerprint,
                claim_expires_at,
                source,
                daily_cap,
            } => create(
                tx,
                draft,
                fingerprint,
                *claim_expires_at,
                *source,
                *daily_cap,
            )?
            .map(Done::Draft),
            Op::Apply {
                id,
                transition,
                source,
                now,
            } => apply(tx, id, transition, *source, *now)?.map(Done::Apply),
            Op::Reschedule {
                id,
                next_check_at,
                check_attempts,
            } => reschedule(tx, id, *next_check_at, *check_attempts)?.map(|()| Done::Rescheduled),
            Op::NextCreateAttempt { id } => next_create_attempt(tx, id)?.map(Done::CreateAttempt),
        })
    }
}

impl Done {
    /// Moves the status counts by what this op wrote. Call once, after its transaction
    /// committed: a transaction that sled retries is never counted twice.
    pub(crate) fn count(&self, counts: &StatusCounts) {
        match self {
            Done::Draft(DraftOutcome::Created(p)) => counts.add(p.status),
            Done::Apply(ApplyOutcome::Changed { event, .. }) => {
                if let Some(from) = event.from {
                    counts.moved(from, event.to);
                }
            }
            Done::Draft(_) | Done::Apply(_) | Done::Rescheduled | Done::CreateAttempt(_) => {}
        }
    }
}

fn create(
    tx: &Tx<'_>,
    draft: &Payment,
    fingerprint: &str,
    claim_expires_at: Option<Timestamp>,
    source: Source,
    daily_cap: Option<Money>,
) -> Step<DraftOutcome> {
    let claim_key = layout::joined(&[&draft.organization, &draft.idempotency_key]);
    if let Some(raw) = tx.claims.get(&claim_key)? {
        let held: Claim = codec::decode(layout::CLAIMS, &claim_key, &raw).map_err(abort)?;
        if held.is_live(draft.created_at) {
            let Some(existing) = read_payment(tx, &held.payment_id)? else {
                return Ok(Err(StoreError::Corrupt(format!(
                    "the claim {} points at payment {}, which does not exist",
                    layout::show(&claim_key),
                    held.payment_id
                ))));
            };
            return Ok(Ok(if held.fingerprint == fingerprint {
                DraftOutcome::Existing(existing)
            } else {
                DraftOutcome::Conflict { existing }
            }));
        }
    }
    if tx.payments.get(draft.id.as_bytes())?.is_some() {
        return Ok(Err(StoreError::InvalidInput(format!(
            "a payment with id {} already exists under another idempotency key",
            draft.id
        ))));
    }
    // The day's total, read and written through this transaction: a batch's creates see
    // each other's additions, and a refusal writes nothing.
    let spend_key = spend_key(draft);
    let spent = match tx.spend.get(&spend_key)? {
        Some(raw) => codec::decode::<i64>(layout::SPEND, &spend_key, &raw).map_err(abort)?,
        None => 0,
    };
    let total = spent.saturating_add(draft.amount.minor);
    if let Some(limit) = daily_cap
        && total > limit.minor
    {
        return Ok(Ok(DraftOutcome::OverDailyLimit {
            limit,
            spent: Money::from_minor(spent, draft.amount.currency),
        }));
    }
    let claim = Claim {
        payment_id: draft.id.clone(),
        fingerprint: fingerprint.to_owned(),
        expires_at: claim_expires_at,
    };
    let claim_bytes = codec::encode("the claim", &claim).map_err(abort)?;
    tx.spend.insert(
        spend_key,
        codec::encode("the day's spend", &total).map_err(abort)?,
    )?;
    tx.claims.insert(claim_key, claim_bytes)?;
    write_payment(tx, None, draft)?;
    append_event(tx, &draft.created_event(source))?;
    Ok(Ok(DraftOutcome::Created(draft.clone())))
}

/// `organization 00 yyyy-mm-dd 00 currency`: where the day's total of a draft counts.
fn spend_key(draft: &Payment) -> Vec<u8> {
    layout::joined(&[
        &draft.organization,
        &utc_day(draft.created_at),
        draft.amount.currency.code(),
    ])
}

fn apply(
    tx: &Tx<'_>,
    id: &str,
    t: &Transition,
    source: Source,
    now: Timestamp,
) -> Step<ApplyOutcome> {
    let Some(current) = read_payment(tx, id)? else {
        return Ok(Err(StoreError::NotFound(format!("payment {id}"))));
    };
    Ok(Ok(match current.apply(t, source, now) {
        Err(error) => ApplyOutcome::Refused {
            payment: current,
            error,
        },
        Ok(Applied::Unchanged) => ApplyOutcome::Unchanged(current),
        Ok(Applied::Changed { payment, event }) => {
            write_payment(tx, Some(&current), &payment)?;
            append_event(tx, &event)?;
            ApplyOutcome::Changed {
                payment: *payment,
                event,
            }
        }
    }))
}

/// Writes nothing when the schedule is already the one asked for.
fn reschedule(
    tx: &Tx<'_>,
    id: &str,
    next_check_at: Option<Timestamp>,
    check_attempts: u32,
) -> Step<()> {
    let Some(current) = read_payment(tx, id)? else {
        return Ok(Err(StoreError::NotFound(format!("payment {id}"))));
    };
    if current.next_check_at == next_check_at && current.check_attempts == check_attempts {
        return Ok(Ok(()));
    }
    let mut p = current.clone();
    p.next_check_at = next_check_at;
    p.check_attempts = check_attempts;
    write_payment(tx, Some(&current), &p)?;
    Ok(Ok(()))
}

fn next_create_attempt(tx: &Tx<'_>, id: &str) -> Step<u32> {
    let Some(current) = read_payment(tx, id)? else {
        return Ok(Err(StoreError::NotFound(format!("payment {id}"))));
    };
    let mut p = current.clone();
    p.create_attempt = current.create_attempt.max(1).saturating_add(1);
    write_payment(tx, Some(&current), &p)?;
    Ok(Ok(p.create_attempt))
}

impl SledStore {
    /// [`SledStore::create_draft_capped`] with no daily cap.
    pub async fn create_draft(
        &self,
        draft: &Payment,
        idempotency_fingerprint: &str,
        claim_expires_at: Option<Timestamp>,
        source: Source,
    ) -> Result<DraftOutcome, StoreError> {
        self.create_draft_capped(
            draft,
            idempotency_fingerprint,
            claim_expires_at,
            source,
            None,
        )
        .await
    }

    /// Claim, then record: one transaction stores the idempotency claim
    /// (`organization 00 key` → payment id, fingerprint, expiry), the draft, its index
    /// entries, its `created` event and the day's new total (refused, writing nothing,
    /// when that total would pass `daily_cap`). A live claim with the same fingerprint gives
    /// `Existing`, with another fingerprint `Conflict`; a claim whose expiry is at or
    /// before the draft's `created_at` is replaced. Durable before it returns.
    pub async fn create_draft_capped(
        &self,
        draft: &Payment,
        idempotency_fingerprint: &str,
        claim_expires_at: Option<Timestamp>,
        source: Source,
        daily_cap: Option<Money>,
    ) -> Result<DraftOutcome, StoreError> {
        check_payment_keys(draft)?;
        if draft.status != PaymentStatus::Draft || draft.version != 1 {
            return Err(StoreError::InvalidInput(format!(
                "create_draft takes a new draft (status draft, version 1), not a {} payment at version {}",
                draft.status, draft.version
            )));
        }
        let op = Op::Create {
            draft: Box::new(draft.clone()),
            fingerprint: idempotency_fingerprint.to_owned(),
            claim_expires_at,
            source,
            daily_cap,
        };
        match self.write(op).await? {
            Done::Draft(outcome) => Ok(outcome),
            other => Err(mismatched(&other)),
        }
    }

    /// One transaction: read the payment, `Payment::apply`, and on a change write the
    /// payment, its moved index entries and the event. Durable before it returns.
    pub async fn apply(
        &self,
        id: &str,
        t: &Transition,
        source: Source,
        now: Timestamp,
    ) -> Result<ApplyOutcome, StoreError> {
        layout::check_part("the payment id", id)?;
        if let Transition::Pending {
            gateway_ref,
            gateway_token,
            ..
        } = t
        {
            layout::check_part("the gateway reference", gateway_ref)?;
            layout::check_part("the gateway token", gateway_token)?;
        }
        let op = Op::Apply {
            id: id.to_owned(),
            transition: t.clone(),
            source,
            now,
        };
        match self.write(op).await? {
            Done::Apply(outcome) => Ok(outcome),
            other => Err(mismatched(&other)),
        }
    }

    /// Sets `next_check_at` (None takes the payment out of the due index) and
    /// `check_attempts`, atomically with the due index. Adds no event and does not change
    /// the version. Durable before it returns.
    pub async fn reschedule(
        &self,
        id: &str,
        next_check_at: Option<Timestamp>,
        check_attempts: u32,
    ) -> Result<(), StoreError> {
        layout::check_part("the payment id", id)?;
        let op = Op::Reschedule {
            id: id.to_owned(),
            next_check_at,
            check_attempts,
        };
        match self.write(op).await? {
            Done::Rescheduled => Ok(()),
            other => Err(mismatched(&other)),
        }
    }

    /// Counts a new attempt to create the payment's order at its gateway (after an earlier
    /// one certainly made none) and returns its number; the gateway's idempotency key
    /// changes with it. Adds no event and does not change the version. Durable before it
    /// returns.
    pub async fn next_create_attempt(&self, id: &str) -> Result<u32, StoreError> {
        layout::check_part("the payment id", id)?;
        match self
            .write(Op::NextCreateAttempt { id: id.to_owned() })
            .await?
        {
            Done::CreateAttempt(n) => Ok(n),
            other => Err(mismatched(&other)),
        }
    }

    /// Runs one write and returns once it is durable, whatever it did: an outcome that
    /// wrote nothing is answered only after a flush that started after its transaction, so
    /// a caller never acts on state that a crash could take back.
    async fn write(&self, op: Op) -> Result<Done, StoreError> {
        let inner = self.writable_inner()?;
        let result = match self.mode() {
            CommitMode::Batched => inner.committer.submit(op).await,
            CommitMode::FlushEachWrite => inner.write_alone(op).await,
        };
        // Released before a failure is handled: recovery reopens only an unused database.
        drop(inner);
        result.map_err(|e| self.write_failed(e))
    }

    /// Stores new payments (with claim, indexes and `created` event) in per-tree batches,
    /// without a transaction and without flushing: only for populating benches and tests.
    /// Assumes fresh ids and keys. Keep calls to about 1,000 payments: sled holds every
    /// node version a batch touches until the batch ends (10,000 per call measured ~1.4 GB).
    #[doc(hidden)]
    pub fn bulk_insert_unflushed(&self, payments: &[Payment]) -> Result<(), StoreError> {
        let inner = self.inner()?;
        let t = &inner.trees;
        let mut main = sled::Batch::default();
        let mut events = sled::Batch::default();
        let mut claims = sled::Batch::default();
        let mut indexes: [sled::Batch; 6] = Default::default();
        for p in payments {
            check_payment_keys(p)?;
            main.insert(p.id.as_bytes(), codec::encode("the payment", p)?);
            let event = p.created_event(Source::Cli);
            events.insert(
                layout::event_key(&p.id, 1),
                codec::encode("the event", &event)?,
            );
            let claim = Claim {
                payment_id: p.id.clone(),
                fingerprint: String::new(),
                expires_at: None,
            };
            claims.insert(
                layout::joined(&[&p.organization, &p.idempotency_key]),
                codec::encode("the claim", &claim)?,
            );
            for i in Index::ALL {
                if let Some(key) = i.key_for(p) {
                    indexes[i.slot()].insert(key, &[][..]);
                }
            }
        }
        t.payments.apply_batch(main)?;
        t.events.apply_batch(events)?;
        t.claims.apply_batch(claims)?;
        for (i, batch) in Index::ALL.into_iter().zip(indexes) {
            t.index(i).apply_batch(batch)?;
        }
        for p in payments {
            inner.counts.add(p.status);
        }
        Ok(())
    }
}

/// An op answered with another op's outcome: a bug in the committer, never expected.
fn mismatched(done: &Done) -> StoreError {
    StoreError::Corrupt(format!("the ledger answered a write with {done:?}"))
}

impl SledStore {
    /// The total `organization` created on UTC `day` in `currency`, in minor units.
    pub fn spent_on(
        &self,
        organization: &str,
        day: &str,
        currency: &str,
    ) -> Result<i64, StoreError> {
        layout::check_part("the organization", organization)?;
        let key = layout::joined(&[organization, day, currency]);
        match self.inner()?.trees.spend.get(&key)? {
            Some(raw) => codec::decode(layout::SPEND, &key, &raw),
            None => Ok(0),
        }
    }
}

impl Inner {
    /// [`CommitMode::FlushEachWrite`]: the op in a transaction of its own on the blocking
    /// pool, then a flush of its own.
    async fn write_alone(self: &Arc<Self>, op: Op) -> Result<Done, StoreError> {
        let inner = self.clone();
        let done = blocking(move || {
            let done = inner.transact(|tx| op.run(tx))??;
            done.count(&inner.counts);
            Ok(done)
        })
        .await?;
        self.flush_off_pool().await?;
        Ok(done)
    }
}
