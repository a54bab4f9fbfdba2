//! The reads and bookkeeping writes other parts of paylink need from the ledger, kept
//! behind `Payments` so that no status changes except through the use cases: listings for
//! the operator and for MCP resources, the reconciler's schedule, the confirmation log and
//! the ledger's health.

use super::Payments;
use crate::domain::{Payment, PaymentEvent, PaymentStatus, Timestamp};
use crate::store::StoreError;

impl Payments {
    /// Any payment by id, whatever its organization (operator commands, the reconciler).
    pub async fn get(&self, id: &str) -> Result<Option<Payment>, StoreError> {
        self.store().get(id).await
    }

    /// The payment a gateway token belongs to (the return page).
    pub async fn by_token(&self, token: &str) -> Result<Option<Payment>, StoreError> {
        self.store().by_token(token).await
    }

    /// A payment's events, oldest first.
    pub async fn events(&self, id: &str) -> Result<Vec<PaymentEvent>, StoreError> {
        self.store().events(id).await
    }

    /// Payments newest first, optionally of one organization and one status.
    pub async fn list(
        &self,
        organization: Option<&str>,
        status: Option<PaymentStatus>,
        limit: usize,
    ) -> Result<Vec<Payment>, StoreError> {
        self.store().list(organization, status, limit).await
    }

    /// A page of payments for `payment.list` (see [`crate::store::ListQuery`]).
    pub async fn query(&self, q: &crate::store::ListQuery) -> Result<Vec<Payment>, StoreError> {
        self.store().query(q).await
    }

    /// Payments by status (sled: from memory; PostgreSQL: one query).
    pub async fn status_counts(&self) -> Result<[(PaymentStatus, u64); 4], StoreError> {
        self.store().status_counts().await
    }

    /// Payments the reconciler should look at by `now` (on a shared ledger, only those no
    /// other replica holds, leased to this one).
    pub async fn due(&self, now: Timestamp, limit: usize) -> Result<Vec<Payment>, StoreError> {
        self.store().take_due(now, limit).await
    }

    /// When the reconciler looks at a payment next (None: never again).
    pub async fn reschedule(
        &self,
        id: &str,
        next_check_at: Option<Timestamp>,
        attempts: u32,
    ) -> Result<(), StoreError> {
        self.store().reschedule(id, next_check_at, attempts).await
    }

    /// Appends an entry (opaque JSON) to the confirmation log.
    pub async fn record_confirmation(&self, entry_json: &[u8]) -> Result<u64, StoreError> {
        self.store().record_confirmation(entry_json).await
    }

    /// The newest confirmation log entries.
    pub async fn confirmations(&self, limit: usize) -> Result<Vec<Vec<u8>>, StoreError> {
        self.store().confirmations(limit).await
    }

    /// Outbound notifications to deliver, each leased to this process (shared ledger only).
    pub async fn claim_outbox(
        &self,
        now: Timestamp,
        lease: std::time::Duration,
        limit: usize,
    ) -> Result<Vec<crate::store::postgres::OutboxItem>, StoreError> {
        match self.store().postgres() {
            Some(pg) => pg.claim_outbox(now, lease, limit).await,
            None => Ok(Vec::new()),
        }
    }

    /// A notification delivered or given up: it leaves the outbox.
    pub async fn outbox_done(&self, payment_id: &str, seq: u64) -> Result<(), StoreError> {
        match self.store().postgres() {
            Some(pg) => pg.outbox_done(payment_id, seq).await,
            None => Ok(()),
        }
    }

    /// A failed delivery: offered again from `at`.
    pub async fn outbox_retry_at(
        &self,
        payment_id: &str,
        seq: u64,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        match self.store().postgres() {
            Some(pg) => pg.outbox_retry_at(payment_id, seq, at).await,
            None => Ok(()),
        }
    }

    /// Whether the ledger can write right now.
    pub fn ledger_writable(&self) -> bool {
        self.store().writable()
    }

    /// `/metrics` in the Prometheus text format, with the ledger's gauges refreshed.
    pub async fn render_metrics(&self) -> String {
        self.metrics().render(self.store()).await
    }
}
