//! The ledger on PostgreSQL: one database shared by several paylink processes and
//! replicas (`PAYLINK_DATABASE_URL`).
//!
//! # How the contract holds across replicas
//!
//! - **One key, one payment.** The idempotency claim is a row whose primary key is
//!   (organization, key). `create_draft` inserts it with `ON CONFLICT DO NOTHING`, which
//!   waits for a racing transaction holding the same key and then sees its row: never a
//!   read-then-write. An expired claim is replaced under `FOR UPDATE`, so two replicas
//!   replacing it one after the other give one new payment.
//! - **Status never goes backwards.** `apply` locks the payment row (`FOR UPDATE`), runs
//!   `Payment::apply` on what it read, and writes the payment and its event in the same
//!   transaction.
//! - **One reconciler per payment at a time.** `due` leases the payments it returns
//!   (`FOR UPDATE SKIP LOCKED`, then `lease_until`), so other replicas skip them until the
//!   lease ends ([`LEASE`]): a replica that dies mid-check lets another take over then.
//!   `reschedule` and `apply` end the lease.
//! - **Every replica hears every change.** `apply` sends `NOTIFY paylink_changes` with
//!   the payment id and event seq inside its transaction (delivered on commit);
//!   [`PgStore::changes`] follows it so MCP subscribers on any replica are told.
//! - **Outbound notifications leave once.** A change that reaches paid or failed adds an
//!   `outbox` row in its transaction; [`PgStore::claim_outbox`] hands each row to one
//!   replica at a time, under a lease, until it is delivered and deleted.
//!
//! Payments are stored whole as JSON (`doc`, the encoding sled uses) beside the columns
//! that are looked up, constrained or scheduled on. Migrations live in `migrations/` and
//! are compiled in; they run on connect and with `paylink migrate`.

mod feed;
mod records;
mod write;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::types::Json;
use sqlx::{PgPool, Row};

pub use feed::OutboxItem;

use super::sled::layout::check_part;
use super::{StoreError, Verification};
use crate::domain::{Payment, PaymentEvent, PaymentStatus, Timestamp};

/// How long a reconciler holds a due payment it took before another replica may take it.
pub const LEASE: Duration = Duration::from_secs(60);

/// Connections per process.
const POOL_SIZE: u32 = 16;

/// Entries the confirmation log keeps (the same cap as sled's).
const CONFIRMATION_LOG_CAP: i64 = 100_000;

/// The migrations in `migrations/`, compiled in.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The PostgreSQL ledger. Cheap to clone; clones share one pool.
#[derive(Clone)]
pub struct PgStore {
    shared: Arc<Shared>,
}

struct Shared {
    pool: PgPool,
    /// host:port/database, for logs (never the password).
    target: String,
    writable: AtomicBool,
    /// A background `SELECT 1` is checking whether the database is back.
    probing: AtomicBool,
    failures: AtomicU64,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("database", &self.shared.target)
            .finish_non_exhaustive()
    }
}

/// Checks whether the database answers again (see [`PgStore::writable`]).
async fn probe(store: PgStore) {
    let r = sqlx::query("SELECT 1")
        .execute(store.pool())
        .await
        .map(|_| ())
        .map_err(db_err);
    let _ = store.noted(r);
    store.shared.probing.store(false, Ordering::Relaxed);
}

/// Parses a `postgres://` URL; the error never repeats the URL (it may hold a password).
pub fn parse_url(url: &str) -> Result<PgConnectOptions, StoreError> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(StoreError::InvalidInput(
            "PAYLINK_DATABASE_URL must start with postgres:// or postgresql://, e.g. \
             postgres://paylink@db.internal:5432/paylink"
                .into(),
        ));
    }
    url.parse::<PgConnectOptions>().map_err(|e| {
        StoreError::InvalidInput(format!(
            "PAYLINK_DATABASE_URL is not a valid PostgreSQL URL ({}); write it as \
             postgres://user:password@host:port/database",
            redact(&e.to_string(), url)
        ))
    })
}

/// The driver's message with the URL (and so any password) taken out.
fn redact(message: &str, url: &str) -> String {
    message.replace(url, "<the URL>")
}

/// A driver error as the ledger's: connection trouble is `Unreachable` (retry later),
/// anything else an I/O error of the ledger.
pub(super) fn db_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => StoreError::Unreachable(e.to_string()),
        sqlx::Error::Database(d)
            if d.code()
                .is_some_and(|c| c.starts_with("08") || c.starts_with("57P")) =>
        {
            StoreError::Unreachable(d.message().to_owned())
        }
        sqlx::Error::Decode(_) | sqlx::Error::ColumnDecode { .. } => {
            StoreError::Corrupt(e.to_string())
        }
        _ => StoreError::Io(e.to_string()),
    }
}

impl PgStore {
    /// Connects (a pool of [`POOL_SIZE`]) and runs the migrations.
    pub async fn connect(url: &str) -> Result<PgStore, StoreError> {
        let options = parse_url(url)?;
        let target = format!(
            "{}:{}/{}",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or("(default database)")
        );
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
            .map_err(|e| match db_err(e) {
                StoreError::Unreachable(m) | StoreError::Io(m) => StoreError::Unreachable(format!(
                    "cannot connect to PostgreSQL at {target}: {}",
                    redact(&m, url)
                )),
                other => other,
            })?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Io(format!("cannot migrate the ledger at {target}: {e}")))?;
        Ok(PgStore {
            shared: Arc::new(Shared {
                pool,
                target,
                writable: AtomicBool::new(true),
                probing: AtomicBool::new(false),
                failures: AtomicU64::new(0),
            }),
        })
    }

    /// The migrations this build knows and which of them the database has applied.
    pub async fn migration_status(&self) -> Result<Vec<(i64, String, bool)>, StoreError> {
        let applied: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(self.pool())
                .await
                .map_err(|e| self.failed(e))?;
        Ok(MIGRATOR
            .iter()
            .map(|m| {
                (
                    m.version,
                    m.description.to_string(),
                    applied.contains(&m.version),
                )
            })
            .collect())
    }

    pub(super) fn pool(&self) -> &PgPool {
        &self.shared.pool
    }

    pub fn describe(&self) -> String {
        self.shared.target.clone()
    }

    /// Whether the database answered the last call. While it does not, each look (a
    /// health check) starts at most one `SELECT 1` in the background, so health comes back
    /// by itself once the database does, even when no payment is written meanwhile.
    pub fn writable(&self) -> bool {
        let up = self.shared.writable.load(Ordering::Relaxed);
        if !up
            && !self.shared.probing.swap(true, Ordering::Relaxed)
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(probe(self.clone()));
        }
        up
    }

    /// A driver error of any call, noted for health (see [`PgStore::noted`]).
    pub(super) fn failed(&self, e: sqlx::Error) -> StoreError {
        match self.noted::<()>(Err(db_err(e))) {
            Err(e) => e,
            Ok(()) => unreachable!("noted returns the error it was given"),
        }
    }

    pub fn write_failures(&self) -> u64 {
        self.shared.failures.load(Ordering::Relaxed)
    }

    /// Notes a call's outcome for health: connection trouble (in a read or a write) makes
    /// the ledger unwritable until a write or the health probe succeeds again.
    pub(super) fn noted<T>(&self, r: Result<T, StoreError>) -> Result<T, StoreError> {
        match &r {
            Ok(_) => self.shared.writable.store(true, Ordering::Relaxed),
            Err(StoreError::Unreachable(_)) => {
                if self.shared.writable.swap(false, Ordering::Relaxed) {
                    tracing::error!(database = %self.shared.target, "the ledger's database cannot be reached; writes fail until it is back");
                }
                self.shared.failures.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {}
        }
        r
    }

    async fn one(&self, sql: &str, value: &str) -> Result<Option<Payment>, StoreError> {
        let row: Option<(Json<Payment>,)> = sqlx::query_as(sql)
            .bind(value)
            .fetch_optional(self.pool())
            .await
            .map_err(|e| self.failed(e))?;
        Ok(row.map(|(Json(p),)| p))
    }

    pub async fn get(&self, id: &str) -> Result<Option<Payment>, StoreError> {
        check_part("the payment id", id)?;
        self.one("SELECT doc FROM payments WHERE id = $1", id).await
    }

    /// The newest payment with this token (two may share one; see the sled layout).
    pub async fn by_token(&self, token: &str) -> Result<Option<Payment>, StoreError> {
        check_part("the gateway token", token)?;
        self.one(
            "SELECT doc FROM payments WHERE gateway_token = $1 ORDER BY created_at DESC, id DESC LIMIT 1",
            token,
        )
        .await
    }

    pub async fn by_gateway_ref(&self, gateway_ref: &str) -> Result<Option<Payment>, StoreError> {
        check_part("the gateway reference", gateway_ref)?;
        self.one(
            "SELECT doc FROM payments WHERE gateway_ref = $1 ORDER BY created_at DESC, id DESC LIMIT 1",
            gateway_ref,
        )
        .await
    }

    pub async fn by_reference(&self, reference: &str) -> Result<Option<Payment>, StoreError> {
        check_part("the reference", reference)?;
        self.one(
            "SELECT doc FROM payments WHERE reference = $1 ORDER BY created_at DESC, id DESC LIMIT 1",
            reference,
        )
        .await
    }

    pub async fn by_entity(
        &self,
        organization: &str,
        entity_id: &str,
    ) -> Result<Vec<Payment>, StoreError> {
        check_part("the organization", organization)?;
        check_part("the entity id", entity_id)?;
        let rows: Vec<(Json<Payment>,)> = sqlx::query_as(
            "SELECT doc FROM payments WHERE organization = $1 AND entity_id = $2 ORDER BY created_at, id",
        )
        .bind(organization)
        .bind(entity_id)
        .fetch_all(self.pool())
        .await
        .map_err(|e| self.failed(e))?;
        Ok(rows.into_iter().map(|(Json(p),)| p).collect())
    }

    pub async fn events(&self, id: &str) -> Result<Vec<PaymentEvent>, StoreError> {
        let rows: Vec<(Json<PaymentEvent>,)> =
            sqlx::query_as("SELECT doc FROM events WHERE payment_id = $1 ORDER BY seq")
                .bind(id)
                .fetch_all(self.pool())
                .await
                .map_err(|e| self.failed(e))?;
        Ok(rows.into_iter().map(|(Json(e),)| e).collect())
    }

    pub async fn list(
        &self,
        organization: Option<&str>,
        status: Option<PaymentStatus>,
        limit: usize,
    ) -> Result<Vec<Payment>, StoreError> {
        let rows: Vec<(Json<Payment>,)> = sqlx::query_as(
            "SELECT doc FROM payments
              WHERE ($1::text IS NULL OR organization = $1)
                AND ($2::text IS NULL OR status = $2)
              ORDER BY created_at DESC, id DESC LIMIT $3",
        )
        .bind(organization)
        .bind(status.map(|s| s.as_str()))
        .bind(limit.min(i64::MAX as usize) as i64)
        .fetch_all(self.pool())
        .await
        .map_err(|e| self.failed(e))?;
        Ok(rows.into_iter().map(|(Json(p),)| p).collect())
    }

    /// A page of payments newest first (see [`crate::store::ListQuery`]).
    pub async fn query(&self, q: &crate::store::ListQuery) -> Result<Vec<Payment>, StoreError> {
        for (what, v) in [
            ("the organization", q.organization.as_deref()),
            ("the entity id", q.entity_id.as_deref()),
            ("the e-mail", q.customer_email.as_deref()),
        ] {
            if let Some(v) = v {
                check_part(what, v)?;
            }
        }
        let rows: Vec<(Json<Payment>,)> = sqlx::query_as(
            "SELECT doc FROM payments
              WHERE ($1::text IS NULL OR organization = $1)
                AND ($2::text IS NULL OR status = $2)
                AND ($3::text IS NULL OR entity_id = $3)
                AND ($4::text IS NULL OR lower(doc->>'customerEmail') = lower($4))
                AND ($5::bigint IS NULL OR created_at >= $5)
                AND ($6::bigint IS NULL OR created_at < $6)
                AND ($7::bigint IS NULL OR (created_at, id COLLATE \"C\") < ($7, $8::text COLLATE \"C\"))
              ORDER BY created_at DESC, id COLLATE \"C\" DESC
              LIMIT $9",
        )
        .bind(q.organization.as_deref())
        .bind(q.status.map(|s| s.as_str()))
        .bind(q.entity_id.as_deref())
        .bind(q.customer_email.as_deref())
        .bind(q.created_from.map(|t| t.0))
        .bind(q.created_to.map(|t| t.0))
        .bind(q.after.as_ref().map(|(t, _)| t.0))
        .bind(q.after.as_ref().map(|(_, id)| id.as_str()))
        .bind(q.limit.min(i64::MAX as usize) as i64)
        .fetch_all(self.pool())
        .await
        .map_err(|e| self.failed(e))?;
        Ok(rows.into_iter().map(|(Json(p),)| p).collect())
    }

    pub async fn status_counts(&self) -> Result<[(PaymentStatus, u64); 4], StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT status, count(*) FROM payments GROUP BY status")
                .fetch_all(self.pool())
                .await
                .map_err(|e| self.failed(e))?;
        let mut counts = PaymentStatus::ALL.map(|s| (s, 0u64));
        for (status, n) in rows {
            if let Some(slot) = counts.iter_mut().find(|(s, _)| s.as_str() == status) {
                slot.1 = n as u64;
            }
        }
        Ok(counts)
    }

    /// Due payments, earliest first (a plain read: nothing is leased).
    pub async fn due(&self, now: Timestamp, limit: usize) -> Result<Vec<Payment>, StoreError> {
        let rows: Vec<(Json<Payment>,)> = sqlx::query_as(
            "SELECT doc FROM payments WHERE next_check_at <= $1 ORDER BY next_check_at, id LIMIT $2",
        )
        .bind(now.0)
        .bind(limit.min(i64::MAX as usize) as i64)
        .fetch_all(self.pool())
        .await
        .map_err(|e| self.failed(e))?;
        Ok(rows.into_iter().map(|(Json(p),)| p).collect())
    }

    /// Due payments that no other reconciler holds, leased to the caller until
    /// `now + LEASE` (see the module doc).
    pub async fn take_due(&self, now: Timestamp, limit: usize) -> Result<Vec<Payment>, StoreError> {
        let lease_until = now.plus_millis(LEASE.as_millis() as i64);
        let rows: Result<Vec<(Json<Payment>,)>, StoreError> = sqlx::query_as(
            "WITH picked AS (
                 SELECT id FROM payments
                  WHERE next_check_at <= $1 AND (lease_until IS NULL OR lease_until <= $1)
                  ORDER BY next_check_at, id
                  LIMIT $2
                  FOR UPDATE SKIP LOCKED)
             UPDATE payments p SET lease_until = $3
               FROM picked WHERE p.id = picked.id
             RETURNING p.doc",
        )
        .bind(now.0)
        .bind(limit.min(i64::MAX as usize) as i64)
        .bind(lease_until.0)
        .fetch_all(self.pool())
        .await
        .map_err(|e| self.failed(e));
        let rows = self.noted(rows)?;
        let mut found: Vec<Payment> = rows.into_iter().map(|(Json(p),)| p).collect();
        found.sort_by(|a, b| (a.next_check_at, &a.id).cmp(&(b.next_check_at, &b.id)));
        Ok(found)
    }

    pub async fn put_config(&self, org: &str, env: &str, value: &[u8]) -> Result<(), StoreError> {
        check_part("the organization", org)?;
        check_part("the environment", env)?;
        let r = sqlx::query(
            "INSERT INTO configs (organization, environment, value) VALUES ($1, $2, $3)
             ON CONFLICT (organization, environment) DO UPDATE SET value = EXCLUDED.value",
        )
        .bind(org)
        .bind(env)
        .bind(value)
        .execute(self.pool())
        .await
        .map(|_| ())
        .map_err(|e| self.failed(e));
        self.noted(r)
    }

    pub async fn delete_config(&self, org: &str, env: &str) -> Result<bool, StoreError> {
        let r = sqlx::query("DELETE FROM configs WHERE organization = $1 AND environment = $2")
            .bind(org)
            .bind(env)
            .execute(self.pool())
            .await
            .map(|done| done.rows_affected() > 0)
            .map_err(|e| self.failed(e));
        self.noted(r)
    }

    pub async fn get_config(&self, org: &str, env: &str) -> Result<Option<Vec<u8>>, StoreError> {
        sqlx::query_scalar("SELECT value FROM configs WHERE organization = $1 AND environment = $2")
            .bind(org)
            .bind(env)
            .fetch_optional(self.pool())
            .await
            .map_err(|e| self.failed(e))
    }

    pub async fn list_configs(&self) -> Result<Vec<(String, String, Vec<u8>)>, StoreError> {
        sqlx::query_as("SELECT organization, environment, value FROM configs ORDER BY organization, environment")
            .fetch_all(self.pool())
            .await
            .map_err(|e| self.failed(e))
    }

    /// Appends to the confirmation log, trimming it back to its cap now and then.
    pub async fn record_confirmation(&self, entry: &[u8]) -> Result<u64, StoreError> {
        let r = sqlx::query_scalar::<_, i64>(
            "INSERT INTO confirmations (entry) VALUES ($1) RETURNING id",
        )
        .bind(entry)
        .fetch_one(self.pool())
        .await
        .map_err(|e| self.failed(e));
        let id = self.noted(r)?;
        if id % 1000 == 0 {
            sqlx::query("DELETE FROM confirmations WHERE id <= $1")
                .bind(id - CONFIRMATION_LOG_CAP)
                .execute(self.pool())
                .await
                .map_err(|e| self.failed(e))?;
        }
        Ok(id as u64)
    }

    pub async fn confirmations(&self, limit: usize) -> Result<Vec<Vec<u8>>, StoreError> {
        sqlx::query_scalar("SELECT entry FROM confirmations ORDER BY id DESC LIMIT $1")
            .bind(limit.min(i64::MAX as usize) as i64)
            .fetch_all(self.pool())
            .await
            .map_err(|e| self.failed(e))
    }

    pub async fn confirmation_count(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM confirmations")
            .fetch_one(self.pool())
            .await
            .map_err(|e| self.failed(e))?;
        Ok(n as u64)
    }

    /// The claim that names `p`, if its key is still claimed by it.
    pub async fn claim_of(
        &self,
        p: &Payment,
    ) -> Result<Option<crate::store::ClaimRecord>, StoreError> {
        let row: Option<(String, Option<i64>)> = sqlx::query_as(
            "SELECT fingerprint, expires_at FROM claims
              WHERE organization = $1 AND idempotency_key = $2 AND payment_id = $3",
        )
        .bind(&p.organization)
        .bind(&p.idempotency_key)
        .bind(&p.id)
        .fetch_optional(self.pool())
        .await
        .map_err(|e| self.failed(e))?;
        Ok(
            row.map(|(fingerprint, expires_at)| crate::store::ClaimRecord {
                fingerprint,
                expires_at: expires_at.map(Timestamp),
            }),
        )
    }

    /// Checks that every row agrees with its document, every payment has the events
    /// `1..=version`, and every claim points at a payment of its organization and key.
    pub async fn verify(&self) -> Result<Verification, StoreError> {
        let mut problems = Vec::new();
        let checks: [(&str, &str); 4] = [
            (
                "payments whose columns differ from their document",
                "SELECT id FROM payments WHERE doc->>'id' IS DISTINCT FROM id
                    OR doc->>'status' IS DISTINCT FROM status
                    OR doc->>'organization' IS DISTINCT FROM organization
                    OR doc->>'reference' IS DISTINCT FROM reference
                    OR (doc->>'gatewayToken') IS DISTINCT FROM gateway_token
                    OR (doc->>'createdAt')::bigint IS DISTINCT FROM created_at
                    OR (doc->>'nextCheckAt')::bigint IS DISTINCT FROM next_check_at
                 ORDER BY id LIMIT 100",
            ),
            (
                "payments whose events are not 1..=version",
                "SELECT p.id FROM payments p
                   LEFT JOIN events e ON e.payment_id = p.id
                  GROUP BY p.id, p.doc
                 HAVING count(e.seq) <> (p.doc->>'version')::bigint
                     OR coalesce(max(e.seq), 0) <> (p.doc->>'version')::bigint
                  ORDER BY p.id LIMIT 100",
            ),
            (
                "claims pointing at a payment of another organization or key",
                "SELECT c.organization || '/' || c.idempotency_key FROM claims c
                   JOIN payments p ON p.id = c.payment_id
                  WHERE p.organization <> c.organization OR p.idempotency_key <> c.idempotency_key
                  ORDER BY 1 LIMIT 100",
            ),
            (
                "payments without a claim",
                "SELECT p.id FROM payments p
                  WHERE NOT EXISTS (SELECT 1 FROM claims c WHERE c.payment_id = p.id)
                    AND NOT EXISTS (SELECT 1 FROM claims c
                                     WHERE c.organization = p.organization
                                       AND c.idempotency_key = p.idempotency_key)
                  ORDER BY p.id LIMIT 100",
            ),
        ];
        for (what, sql) in checks {
            let ids: Vec<String> = sqlx::query_scalar(sql)
                .fetch_all(self.pool())
                .await
                .map_err(|e| self.failed(e))?;
            if !ids.is_empty() {
                problems.push(format!("{what}: {}", ids.join(", ")));
            }
        }
        // Every document must decode.
        let mut rows = sqlx::query("SELECT id, doc::text AS doc FROM payments").fetch(self.pool());
        use futures::TryStreamExt;
        while let Some(row) = rows.try_next().await.map_err(|e| self.failed(e))? {
            let (id, doc): (String, String) = (row.get("id"), row.get("doc"));
            if let Err(e) = serde_json::from_str::<Payment>(&doc) {
                problems.push(format!("payment {id} does not decode: {e}"));
            }
        }
        drop(rows);
        let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(self.pool())
            .await
            .map_err(|e| self.failed(e))?;
        Ok(Verification {
            payments: self.status_counts().await?.to_vec(),
            events: events as u64,
            problems,
        })
    }
}
