//! What the PostgreSQL ledger tells every replica: the change feed (LISTEN/NOTIFY) and
//! the outbox of outbound notifications.

use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::types::Json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::PgStore;
use super::write::CHANGES_CHANNEL;
use crate::domain::{Payment, PaymentEvent, Timestamp};
use crate::store::StoreError;

/// One outbound notification to deliver: the change and how many times it was handed out.
#[derive(Debug, Clone)]
pub struct OutboxItem {
    pub payment: Payment,
    pub event: PaymentEvent,
    pub attempts: u32,
}

impl PgStore {
    /// Every change committed by any process on this database from now on, as (payment,
    /// event), until `shutdown`. The listener reconnects by itself after a lost
    /// connection; changes committed meanwhile are not replayed (subscribers get hints,
    /// the outbox is what must not miss anything).
    pub async fn changes(
        &self,
        shutdown: CancellationToken,
    ) -> Result<mpsc::Receiver<(Payment, PaymentEvent)>, StoreError> {
        let mut listener = PgListener::connect_with(self.pool())
            .await
            .map_err(|e| self.failed(e))?;
        listener
            .listen(CHANGES_CHANNEL)
            .await
            .map_err(|e| self.failed(e))?;
        let (tx, rx) = mpsc::channel(1024);
        let store = self.clone();
        tokio::spawn(async move {
            loop {
                let note = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    note = listener.recv() => note,
                };
                let note = match note {
                    Ok(note) => note,
                    Err(e) => {
                        tracing::warn!(error = %e, "lost the ledger's change feed; reconnecting");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                };
                let Some((id, seq)) = note
                    .payload()
                    .split_once(' ')
                    .and_then(|(id, seq)| Some((id.to_owned(), seq.parse::<u64>().ok()?)))
                else {
                    continue;
                };
                match store.change(&id, seq).await {
                    Ok(Some(change)) => {
                        if tx.send(change).await.is_err() {
                            return;
                        }
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(payment = %id, error = %e, "cannot read a change from the ledger")
                    }
                }
            }
        });
        Ok(rx)
    }

    /// The payment as it is now and its event `seq`.
    async fn change(
        &self,
        id: &str,
        seq: u64,
    ) -> Result<Option<(Payment, PaymentEvent)>, StoreError> {
        let row: Option<(Json<Payment>, Json<PaymentEvent>)> = sqlx::query_as(
            "SELECT p.doc, e.doc FROM payments p JOIN events e ON e.payment_id = p.id
              WHERE p.id = $1 AND e.seq = $2",
        )
        .bind(id)
        .bind(seq as i64)
        .fetch_optional(self.pool())
        .await
        .map_err(|e| self.failed(e))?;
        Ok(row.map(|(Json(p), Json(e))| (p, e)))
    }

    /// Hands out up to `limit` outbound notifications no other replica holds, each leased
    /// to the caller until `now + lease`.
    pub async fn claim_outbox(
        &self,
        now: Timestamp,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let rows: Vec<(Json<Payment>, Json<PaymentEvent>, i32)> = sqlx::query_as(
            "WITH picked AS (
                 SELECT payment_id, seq FROM outbox
                  WHERE lease_until <= $1
                  ORDER BY lease_until, payment_id, seq
                  LIMIT $2
                  FOR UPDATE SKIP LOCKED),
             leased AS (
                 UPDATE outbox o SET lease_until = $3, attempts = o.attempts + 1
                   FROM picked WHERE o.payment_id = picked.payment_id AND o.seq = picked.seq
                 RETURNING o.payment_id, o.seq, o.attempts)
             SELECT p.doc, e.doc, leased.attempts FROM leased
               JOIN payments p ON p.id = leased.payment_id
               JOIN events e ON e.payment_id = leased.payment_id AND e.seq = leased.seq",
        )
        .bind(now.0)
        .bind(limit.min(i64::MAX as usize) as i64)
        .bind(now.plus_millis(lease.as_millis() as i64).0)
        .fetch_all(self.pool())
        .await
        .map_err(|e| self.failed(e))?;
        Ok(rows
            .into_iter()
            .map(|(Json(payment), Json(event), attempts)| OutboxItem {
                payment,
                event,
                attempts: attempts.max(0) as u32,
            })
            .collect())
    }

    /// A notification was delivered (or will never be): it leaves the outbox.
    pub async fn outbox_done(&self, payment_id: &str, seq: u64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM outbox WHERE payment_id = $1 AND seq = $2")
            .bind(payment_id)
            .bind(seq as i64)
            .execute(self.pool())
            .await
            .map_err(|e| self.failed(e))?;
        Ok(())
    }

    /// A delivery failed: try again from `at`.
    pub async fn outbox_retry_at(
        &self,
        payment_id: &str,
        seq: u64,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET lease_until = $3 WHERE payment_id = $1 AND seq = $2")
            .bind(payment_id)
            .bind(seq as i64)
            .bind(at.0)
            .execute(self.pool())
            .await
            .map_err(|e| self.failed(e))?;
        Ok(())
    }
}
