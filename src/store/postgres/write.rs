//! The PostgreSQL ledger's writes, each one transaction (READ COMMITTED plus row locks):
//! claim-and-record a draft, apply a transition, reschedule a check, count a create
//! attempt. See the module doc of [`super`] for why each holds across replicas.

use sqlx::types::Json;
use sqlx::{Postgres, Transaction};

use super::{PgStore, db_err};
use crate::domain::policy::utc_day;
use crate::domain::{
    Applied, Money, Payment, PaymentEvent, PaymentStatus, Source, Timestamp, Transition,
};
use crate::store::sled::layout::check_part;
use crate::store::{ApplyOutcome, DraftOutcome, StoreError};

/// The channel `apply` notifies on; the payload is `<payment id> <event seq>`.
pub const CHANGES_CHANNEL: &str = "paylink_changes";

type Tx = Transaction<'static, Postgres>;

async fn lock_payment(tx: &mut Tx, id: &str) -> Result<Option<Payment>, StoreError> {
    let row: Option<(Json<Payment>,)> =
        sqlx::query_as("SELECT doc FROM payments WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_err)?;
    Ok(row.map(|(Json(p),)| p))
}

/// Inserts a new payment row with its columns.
async fn insert_payment(tx: &mut Tx, p: &Payment) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO payments (id, organization, idempotency_key, reference, entity_id,
                               gateway_token, gateway_ref, status, created_at, next_check_at, doc)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&p.id)
    .bind(&p.organization)
    .bind(&p.idempotency_key)
    .bind(&p.reference)
    .bind(&p.entity_id)
    .bind(&p.gateway_token)
    .bind(&p.gateway_ref)
    .bind(p.status.as_str())
    .bind(p.created_at.0)
    .bind(p.next_check_at.map(|t| t.0))
    .bind(Json(p))
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// Rewrites a payment and its columns, ending any reconciler's lease on it.
async fn update_payment(tx: &mut Tx, p: &Payment) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE payments SET reference = $2, entity_id = $3, gateway_token = $4, gateway_ref = $5,
                status = $6, next_check_at = $7, lease_until = NULL, doc = $8
          WHERE id = $1",
    )
    .bind(&p.id)
    .bind(&p.reference)
    .bind(&p.entity_id)
    .bind(&p.gateway_token)
    .bind(&p.gateway_ref)
    .bind(p.status.as_str())
    .bind(p.next_check_at.map(|t| t.0))
    .bind(Json(p))
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(())
}

async fn append_event(tx: &mut Tx, e: &PaymentEvent) -> Result<(), StoreError> {
    let done = sqlx::query(
        "INSERT INTO events (payment_id, seq, doc) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(&e.payment_id)
    .bind(e.seq as i64)
    .bind(Json(e))
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::Corrupt(format!(
            "payment {} already has an event {}; its version is behind its events",
            e.payment_id, e.seq
        )));
    }
    Ok(())
}

fn check_new_draft(draft: &Payment) -> Result<(), StoreError> {
    if draft.status != PaymentStatus::Draft || draft.version != 1 {
        return Err(StoreError::InvalidInput(format!(
            "create_draft takes a new draft (status draft, version 1), not a {} payment at version {}",
            draft.status, draft.version
        )));
    }
    crate::store::sled::check_payment_keys(draft)
}

/// The day's total of an organization and currency, in minor units (0 when none).
async fn spent_in(tx: &mut Tx, org: &str, day: &str, currency: &str) -> Result<i64, StoreError> {
    let total: Option<i64> = sqlx::query_scalar(
        "SELECT total FROM spend WHERE organization = $1 AND day = $2 AND currency = $3",
    )
    .bind(org)
    .bind(day)
    .bind(currency)
    .fetch_optional(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(total.unwrap_or(0))
}

impl PgStore {
    /// The total `org` created on UTC `day` in `currency`, in minor units.
    pub async fn spent_on(&self, org: &str, day: &str, currency: &str) -> Result<i64, StoreError> {
        let mut tx = self.begin().await?;
        let total = spent_in(&mut tx, org, day, currency).await?;
        tx.rollback().await.map_err(db_err)?;
        Ok(total)
    }

    async fn begin(&self) -> Result<Tx, StoreError> {
        self.pool().begin().await.map_err(db_err)
    }

    async fn commit(&self, tx: Tx) -> Result<(), StoreError> {
        tx.commit().await.map_err(db_err)
    }

    pub async fn create_draft(
        &self,
        draft: &Payment,
        fingerprint: &str,
        claim_expires_at: Option<Timestamp>,
        source: Source,
        daily_cap: Option<Money>,
    ) -> Result<DraftOutcome, StoreError> {
        check_new_draft(draft)?;
        let r = self
            .create_tx(draft, fingerprint, claim_expires_at, source, daily_cap)
            .await;
        self.noted(r)
    }

    async fn create_tx(
        &self,
        draft: &Payment,
        fingerprint: &str,
        claim_expires_at: Option<Timestamp>,
        source: Source,
        daily_cap: Option<Money>,
    ) -> Result<DraftOutcome, StoreError> {
        let mut tx = self.begin().await?;
        // The payment first (the claim refers to it); a taken id is the caller's error.
        let taken: Option<i32> = sqlx::query_scalar("SELECT 1 FROM payments WHERE id = $1")
            .bind(&draft.id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        if taken.is_some() {
            return Err(StoreError::InvalidInput(format!(
                "a payment with id {} already exists under another idempotency key",
                draft.id
            )));
        }
        // An existing claim, locked so that replacing an expired one is ours alone.
        let held: Option<(String, String, Option<i64>)> = sqlx::query_as(
            "SELECT payment_id, fingerprint, expires_at FROM claims
              WHERE organization = $1 AND idempotency_key = $2 FOR UPDATE",
        )
        .bind(&draft.organization)
        .bind(&draft.idempotency_key)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        if let Some((payment_id, held_fp, expires_at)) = &held
            && expires_at.is_none_or(|e| e > draft.created_at.0)
        {
            let existing = self.locked_existing(&mut tx, payment_id).await?;
            tx.rollback().await.map_err(db_err)?;
            return Ok(if *held_fp == fingerprint {
                DraftOutcome::Existing(existing)
            } else {
                DraftOutcome::Conflict { existing }
            });
        }
        insert_payment(&mut tx, draft).await?;
        append_event(&mut tx, &draft.created_event(source)).await?;
        let claimed = if held.is_some() {
            // Expired, and locked by us: replace it.
            sqlx::query(
                "UPDATE claims SET payment_id = $3, fingerprint = $4, expires_at = $5
                  WHERE organization = $1 AND idempotency_key = $2",
            )
        } else {
            sqlx::query(
                "INSERT INTO claims (organization, idempotency_key, payment_id, fingerprint, expires_at)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
        }
        .bind(&draft.organization)
        .bind(&draft.idempotency_key)
        .bind(&draft.id)
        .bind(fingerprint)
        .bind(claim_expires_at.map(|t| t.0))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if claimed.rows_affected() == 0 {
            // Another transaction claimed the key between our look and our insert: the
            // insert waited on the unique index until it committed, and its payment wins.
            tx.rollback().await.map_err(db_err)?;
            return Box::pin(self.create_tx(
                draft,
                fingerprint,
                claim_expires_at,
                source,
                daily_cap,
            ))
            .await;
        }
        // Last, so the day's row is locked for as short a time as possible. The upsert
        // waits for any other transaction holding that row and then sees its total, so
        // replicas add up one after another; no row back means the cap would be passed.
        let day = utc_day(draft.created_at);
        let added: Option<i64> = sqlx::query_scalar(
            "INSERT INTO spend (organization, day, currency, total)
             SELECT $1::text, $2::text, $3::text, $4::bigint
              WHERE $5::bigint IS NULL OR $4::bigint <= $5::bigint
             ON CONFLICT (organization, day, currency) DO UPDATE
                SET total = spend.total + EXCLUDED.total
              WHERE $5::bigint IS NULL OR spend.total + EXCLUDED.total <= $5::bigint
             RETURNING total",
        )
        .bind(&draft.organization)
        .bind(&day)
        .bind(draft.amount.currency.code())
        .bind(draft.amount.minor)
        .bind(daily_cap.map(|m| m.minor))
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        if added.is_none() {
            let spent = spent_in(
                &mut tx,
                &draft.organization,
                &day,
                draft.amount.currency.code(),
            )
            .await?;
            tx.rollback().await.map_err(db_err)?;
            return Ok(DraftOutcome::OverDailyLimit {
                limit: daily_cap.unwrap_or(draft.amount),
                spent: Money::from_minor(spent, draft.amount.currency),
            });
        }
        self.commit(tx).await?;
        Ok(DraftOutcome::Created(draft.clone()))
    }

    async fn locked_existing(&self, tx: &mut Tx, id: &str) -> Result<Payment, StoreError> {
        let row: Option<(Json<Payment>,)> =
            sqlx::query_as("SELECT doc FROM payments WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut **tx)
                .await
                .map_err(db_err)?;
        row.map(|(Json(p),)| p).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "a claim points at payment {id}, which does not exist"
            ))
        })
    }

    pub async fn apply(
        &self,
        id: &str,
        t: &Transition,
        source: Source,
        now: Timestamp,
    ) -> Result<ApplyOutcome, StoreError> {
        check_part("the payment id", id)?;
        if let Transition::Pending {
            gateway_ref,
            gateway_token,
            ..
        } = t
        {
            check_part("the gateway reference", gateway_ref)?;
            check_part("the gateway token", gateway_token)?;
        }
        let r = self.apply_tx(id, t, source, now).await;
        self.noted(r)
    }

    async fn apply_tx(
        &self,
        id: &str,
        t: &Transition,
        source: Source,
        now: Timestamp,
    ) -> Result<ApplyOutcome, StoreError> {
        let mut tx = self.begin().await?;
        let Some(current) = lock_payment(&mut tx, id).await? else {
            return Err(StoreError::NotFound(format!("payment {id}")));
        };
        let outcome = match current.apply(t, source, now) {
            Err(error) => ApplyOutcome::Refused {
                payment: current,
                error,
            },
            Ok(Applied::Unchanged) => ApplyOutcome::Unchanged(current),
            Ok(Applied::Changed { payment, event }) => {
                update_payment(&mut tx, &payment).await?;
                append_event(&mut tx, &event).await?;
                if matches!(event.to, PaymentStatus::Paid | PaymentStatus::Failed) {
                    sqlx::query("INSERT INTO outbox (payment_id, seq) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                        .bind(id)
                        .bind(event.seq as i64)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                }
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(CHANGES_CHANNEL)
                    .bind(format!("{id} {}", event.seq))
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                self.commit(tx).await?;
                return Ok(ApplyOutcome::Changed {
                    payment: *payment,
                    event,
                });
            }
        };
        tx.rollback().await.map_err(db_err)?;
        Ok(outcome)
    }

    pub async fn reschedule(
        &self,
        id: &str,
        next_check_at: Option<Timestamp>,
        check_attempts: u32,
    ) -> Result<(), StoreError> {
        let r = async {
            let mut tx = self.begin().await?;
            let Some(mut p) = lock_payment(&mut tx, id).await? else {
                return Err(StoreError::NotFound(format!("payment {id}")));
            };
            p.next_check_at = next_check_at;
            p.check_attempts = check_attempts;
            update_payment(&mut tx, &p).await?;
            self.commit(tx).await
        }
        .await;
        self.noted(r)
    }

    pub async fn next_create_attempt(&self, id: &str) -> Result<u32, StoreError> {
        let r = async {
            let mut tx = self.begin().await?;
            let Some(mut p) = lock_payment(&mut tx, id).await? else {
                return Err(StoreError::NotFound(format!("payment {id}")));
            };
            p.create_attempt = p.create_attempt.max(1).saturating_add(1);
            update_payment(&mut tx, &p).await?;
            self.commit(tx).await?;
            Ok(p.create_attempt)
        }
        .await;
        self.noted(r)
    }

    /// Inserts whole records as they are (`paylink ledger import`): a payment with its
    /// claim and events, skipping one whose id is already stored. Whether it was new.
    pub async fn import_payment(
        &self,
        p: &Payment,
        claim: Option<&crate::store::ClaimRecord>,
        events: &[PaymentEvent],
    ) -> Result<bool, StoreError> {
        crate::store::sled::check_payment_keys(p)?;
        let mut tx = self.begin().await?;
        let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM payments WHERE id = $1")
            .bind(&p.id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        if exists.is_some() {
            tx.rollback().await.map_err(db_err)?;
            return Ok(false);
        }
        insert_payment(&mut tx, p).await?;
        for e in events {
            append_event(&mut tx, e).await?;
        }
        if let Some(crate::store::ClaimRecord {
            fingerprint,
            expires_at,
        }) = claim
        {
            sqlx::query(
                "INSERT INTO claims (organization, idempotency_key, payment_id, fingerprint, expires_at)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (organization, idempotency_key) DO UPDATE
                   SET payment_id = EXCLUDED.payment_id, fingerprint = EXCLUDED.fingerprint,
                       expires_at = EXCLUDED.expires_at",
            )
            .bind(&p.organization)
            .bind(&p.idempotency_key)
            .bind(&p.id)
            .bind(fingerprint)
            .bind(expires_at.map(|t| t.0))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        self.commit(tx).await?;
        Ok(true)
    }
}
