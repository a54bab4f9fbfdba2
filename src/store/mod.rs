//! The ledger contract: what paylink stores and what every backend promises, behind one
//! [`Store`] handle.
//!
//! Two backends keep it:
//! - [`sled`] (the default): an embedded ledger in a data directory, for one process at a
//!   time; its module doc gives the durability, idempotency and threading details.
//! - [`postgres`]: one PostgreSQL database shared by several paylink processes and
//!   replicas (`PAYLINK_DATABASE_URL`).
//!
//! A third handle, [`remote`], reaches the sled ledger of the running `paylink serve`
//! through its socket, for the operator's commands while serve holds the ledger.
//!
//! # Promises (both backends; `tests/it/store_ledger.rs` runs the same tests against each)
//!
//! - **No acknowledged write lost.** A write that returns `Ok` is durable.
//! - **Nothing charged twice.** `create_draft` claims the idempotency key (scoped by
//!   organization) and records the draft in one transaction: one key yields one payment,
//!   however many callers race, in one process or in many.
//! - **Status never goes backwards.** Every status change is `Payment::apply` run inside
//!   a transaction over the stored payment as that transaction sees it: racing `paid` and
//!   `failed` give exactly one change and one event.
//! - **Every index consistent.** A payment, its lookups and its event are written together.
//!
//! Every method is async; the sled backend runs long scans off the async threads itself.

mod error;
pub mod postgres;
pub mod records;
pub mod remote;
pub mod sled;
pub mod transfer;

use std::path::Path;

use sled::blocking as off_thread;

pub use error::StoreError;
pub use sled::{CommitMode, SledStore, Verification, layout, ledger_exists};

use crate::domain::{
    Money, Payment, PaymentEvent, PaymentStatus, Source, Timestamp, Transition, TransitionError,
};

/// The version of the ledger's layout (sled's on-disk layout; PostgreSQL has migrations).
pub use sled::SCHEMA_VERSION;

/// sled's default page cache (1 GiB).
pub use sled::DEFAULT_CACHE_BYTES;

/// What `create_draft` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DraftOutcome {
    /// The key was free (or its claim had expired): the draft is stored.
    Created(Payment),
    /// The key is claimed with the same fingerprint: a retry; here is the payment.
    Existing(Payment),
    /// The key is claimed by a request with a different fingerprint.
    Conflict { existing: Payment },
    /// The draft's amount would take the day's total of its organization and currency
    /// past `limit` (the daily cap given): nothing written. `spent` is the total so far.
    OverDailyLimit { limit: Money, spent: Money },
}

/// What `apply` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyOutcome {
    Changed {
        payment: Payment,
        event: PaymentEvent,
    },
    /// Already in the requested status: nothing written.
    Unchanged(Payment),
    /// The status machine refused the change: nothing written.
    Refused {
        payment: Payment,
        error: TransitionError,
    },
}

/// Which payments a listing wants (`payment.list`): newest first, each filter optional,
/// at most `limit`, and only those created before the `after` position (the last payment
/// of the previous page: its `created_at` and id), so pages never overlap or skip.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    pub organization: Option<String>,
    pub status: Option<PaymentStatus>,
    pub entity_id: Option<String>,
    /// Compared case-insensitively.
    pub customer_email: Option<String>,
    /// Created at or after.
    pub created_from: Option<Timestamp>,
    /// Created before.
    pub created_to: Option<Timestamp>,
    /// The page starts after this (created_at, id), in newest-first order.
    pub after: Option<(Timestamp, String)>,
    pub limit: usize,
}

impl ListQuery {
    /// Whether `p` passes every filter (not the position or the limit).
    pub fn matches(&self, p: &Payment) -> bool {
        self.organization
            .as_deref()
            .is_none_or(|o| o == p.organization)
            && self.status.is_none_or(|s| s == p.status)
            && self
                .entity_id
                .as_deref()
                .is_none_or(|e| p.entity_id.as_deref() == Some(e))
            && self
                .customer_email
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(&p.customer_email))
            && self.created_from.is_none_or(|t| p.created_at >= t)
            && self.created_to.is_none_or(|t| p.created_at < t)
    }

    /// Whether `p` comes after the page position in newest-first order.
    pub fn is_after_position(&self, p: &Payment) -> bool {
        self.after
            .as_ref()
            .is_none_or(|(t, id)| (p.created_at, p.id.as_bytes()) < (*t, id.as_bytes()))
    }
}

/// The idempotency claim that names a payment: for requests with this fingerprint, until
/// `expires_at` (never when None).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimRecord {
    pub fingerprint: String,
    pub expires_at: Option<Timestamp>,
}

/// A whole-ledger operation refused while `paylink serve` holds the sled ledger.
fn held_elsewhere(what: &str) -> StoreError {
    StoreError::InvalidInput(format!(
        "{what} needs the ledger to itself, and a running `paylink serve` holds it: stop \
         paylink serve (and the clients that started it), then run this again"
    ))
}

/// The ledger. Cheap to clone; clones share one backend.
#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
}

#[derive(Clone, Debug)]
enum Backend {
    Sled(SledStore),
    Postgres(postgres::PgStore),
    /// The ledger of the running `paylink serve`, through its socket (sled only).
    Remote(remote::RemoteStore),
}

impl From<SledStore> for Store {
    fn from(s: SledStore) -> Store {
        Store {
            backend: Backend::Sled(s),
        }
    }
}

impl From<postgres::PgStore> for Store {
    fn from(s: postgres::PgStore) -> Store {
        Store {
            backend: Backend::Postgres(s),
        }
    }
}

impl From<remote::RemoteStore> for Store {
    fn from(s: remote::RemoteStore) -> Store {
        Store {
            backend: Backend::Remote(s),
        }
    }
}

impl Store {
    /// Opens (creating if needed) the sled ledger in `dir` (see [`SledStore::open`]).
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        SledStore::open(dir).map(Store::from)
    }

    /// [`Store::open`] with sled's page cache set to `cache_bytes`.
    pub fn open_with_cache(dir: &Path, cache_bytes: u64) -> Result<Store, StoreError> {
        SledStore::open_with_cache(dir, cache_bytes).map(Store::from)
    }

    /// A sled ledger in a temporary database, deleted on drop (tests, benches).
    pub fn open_temporary() -> Result<Store, StoreError> {
        SledStore::open_temporary().map(Store::from)
    }

    /// Opens the ledger the settings choose: PostgreSQL when `PAYLINK_DATABASE_URL` is
    /// set, else sled in the data directory (opened off the async threads).
    pub async fn open_for(settings: &crate::config::Settings) -> Result<Store, StoreError> {
        use secrecy::ExposeSecret;
        match &settings.database_url {
            Some(url) => Store::connect(url.expose_secret()).await,
            None => {
                let (dir, cache) = (settings.data_dir.clone(), settings.cache_bytes());
                off_thread(move || Store::open_with_cache(&dir, cache)).await
            }
        }
    }

    /// Connects to the PostgreSQL ledger at `url`, running its migrations first.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        postgres::PgStore::connect(url).await.map(Store::from)
    }

    /// The sled backend, for what only it has (its raw database, commit modes, bulk loads).
    pub fn sled(&self) -> Option<&SledStore> {
        match &self.backend {
            Backend::Sled(s) => Some(s),
            Backend::Postgres(_) | Backend::Remote(_) => None,
        }
    }

    /// The sled backend; panics on another. For tests and benches that inspect sled.
    #[doc(hidden)]
    pub fn expect_sled(&self) -> &SledStore {
        self.sled().expect("this ledger is kept by sled")
    }

    /// The raw sled database (tests that corrupt or inspect it on purpose).
    #[doc(hidden)]
    pub fn db(&self) -> ::sled::Db {
        self.expect_sled().db()
    }

    /// The PostgreSQL backend, for what only it has (leases, notifications, the outbox).
    pub fn postgres(&self) -> Option<&postgres::PgStore> {
        match &self.backend {
            Backend::Postgres(p) => Some(p),
            Backend::Sled(_) | Backend::Remote(_) => None,
        }
    }

    /// Where the ledger is, for the operator: the sled directory, or the database.
    pub fn describe_location(&self, data_dir: &Path) -> String {
        match &self.backend {
            Backend::Sled(_) => data_dir.display().to_string(),
            Backend::Postgres(p) => format!("PostgreSQL {}", p.describe()),
            Backend::Remote(r) => format!(
                "{} (held by the running paylink serve; reached through {})",
                data_dir.display(),
                r.socket().display()
            ),
        }
    }

    /// Which backend keeps the ledger, for logs and `doctor`.
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::Sled(_) => "sled (embedded)".into(),
            Backend::Postgres(p) => format!("PostgreSQL ({})", p.describe()),
            Backend::Remote(_) => "sled (embedded, held by the running paylink serve)".into(),
        }
    }

    // ---- reads ----

    pub async fn get(&self, id: &str) -> Result<Option<Payment>, StoreError> {
        match &self.backend {
            Backend::Sled(s) => s.get(id),
            Backend::Postgres(p) => p.get(id).await,
            Backend::Remote(r) => r.get(id).await,
        }
    }

    pub async fn by_token(&self, gateway_token: &str) -> Result<Option<Payment>, StoreError> {
        match &self.backend {
            Backend::Sled(s) => s.by_token(gateway_token),
            Backend::Postgres(p) => p.by_token(gateway_token).await,
            Backend::Remote(r) => r.by_token(gateway_token).await,
        }
    }

    pub async fn by_gateway_ref(&self, gateway_ref: &str) -> Result<Option<Payment>, StoreError> {
        match &self.backend {
            Backend::Sled(s) => s.by_gateway_ref(gateway_ref),
            Backend::Postgres(p) => p.by_gateway_ref(gateway_ref).await,
            Backend::Remote(r) => r.by_gateway_ref(gateway_ref).await,
        }
    }

    pub async fn by_reference(&self, reference: &str) -> Result<Option<Payment>, StoreError> {
        match &self.backend {
            Backend::Sled(s) => s.by_reference(reference),
            Backend::Postgres(p) => p.by_reference(reference).await,
            Backend::Remote(r) => r.by_reference(reference).await,
        }
    }

    /// The payments for an entity, oldest first.
    pub async fn by_entity(
        &self,
        organization: &str,
        entity_id: &str,
    ) -> Result<Vec<Payment>, StoreError> {
        match &self.backend {
            Backend::Sled(s) => s.by_entity(organization, entity_id),
            Backend::Postgres(p) => p.by_entity(organization, entity_id).await,
            Backend::Remote(r) => r.by_entity(organization, entity_id).await,
        }
    }

    /// Payments whose `next_check_at` is at or before `now`, earliest first, at most
    /// `limit` (a plain read).
    pub async fn due(&self, now: Timestamp, limit: usize) -> Result<Vec<Payment>, StoreError> {
        match &self.backend {
            Backend::Sled(s) => s.due(now, limit),
            Backend::Postgres(p) => p.due(now, limit).await,
            Backend::Remote(r) => Err(r.refuse("listing due payments")),
        }
    }

    /// What the reconciler checks now: [`Store::due`], except that on PostgreSQL only
    /// payments no other replica holds are returned, each leased to this process for
    /// [`postgres::LEASE`] (ended by its next `reschedule` or `apply`). sled has one
    /// process, so nothing to lease.
    pub async fn take_due(&self, now: Timestamp, limit: usize) -> Result<Vec<Payment>, StoreError> {
        match &self.backend {
            Backend::Sled(s) => s.due(now, limit),
            Backend::Postgres(p) => p.take_due(now, limit).await,
            Backend::Remote(r) => Err(r.refuse("taking due payments")),
        }
    }

    /// A payment's events, oldest first.
    pub async fn events(&self, id: &str) -> Result<Vec<PaymentEvent>, StoreError> {
        match &self.backend {
            Backend::Sled(s) => s.events(id),
            Backend::Postgres(p) => p.events(id).await,
            Backend::Remote(r) => r.events(id).await,
        }
    }

    /// Newest first (by `created_at`), optionally filtered, at most `limit`.
    pub async fn list(
        &self,
        organization: Option<&str>,
        status: Option<PaymentStatus>,
        limit: usize,
    ) -> Result<Vec<Payment>, StoreError> {
        match &self.backend {
            Backend::Sled(s) => {
                let (s, org) = (s.clone(), organization.map(str::to_owned));
                off_thread(move || s.list(org.as_deref(), status, limit)).await
            }
            Backend::Postgres(p) => p.list(organization, status, limit).await,
            Backend::Remote(r) => r.list(organization, status, limit).await,
        }
    }

    /// A page of payments, newest first (see [`ListQuery`]).
    pub async fn query(&self, q: &ListQuery) -> Result<Vec<Payment>, StoreError> {
        match &self.backend {
            Backend::Sled(s) => {
                let (s, q) = (s.clone(), q.clone());
                off_thread(move || s.query(&q)).await
            }
            Backend::Postgres(p) => p.query(q).await,
            Backend::Remote(r) => r.query(q).await,
        }
    }

    /// Payment counts by status.
    pub async fn status_counts(&self) -> Result<[(PaymentStatus, u64); 4], StoreError> {
        match &self.backend {
            Backend::Sled(s) => Ok(s.status_counts()),
            Backend::Postgres(p) => p.status_counts().await,
            Backend::Remote(r) => r.status_counts().await,
        }
    }

    /// How many payments the ledger holds.
    pub async fn len(&self) -> Result<usize, StoreError> {
        let counts = self.status_counts().await?;
        Ok(counts.iter().map(|(_, n)| *n as usize).sum())
    }

    pub async fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.len().await? == 0)
    }

    // ---- writes ----

    /// Claim, then record (see the module doc), with no daily cap. Durable before it
    /// returns.
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

    /// [`Store::create_draft`] that also adds the draft's amount to its organization's
    /// total for the UTC day of its `created_at` in its currency, in the same transaction,
    /// and refuses ([`DraftOutcome::OverDailyLimit`], nothing written) when that total
    /// would pass `daily_cap` (same currency as the draft). A retry (`Existing`) adds
    /// nothing. Concurrent creates, in one process or across replicas, never together
    /// pass the cap.
    pub async fn create_draft_capped(
        &self,
        draft: &Payment,
        idempotency_fingerprint: &str,
        claim_expires_at: Option<Timestamp>,
        source: Source,
        daily_cap: Option<Money>,
    ) -> Result<DraftOutcome, StoreError> {
        if let Some(cap) = daily_cap
            && cap.currency != draft.amount.currency
        {
            return Err(StoreError::InvalidInput(format!(
                "a daily cap of {cap} cannot limit a {} payment",
                draft.amount.currency
            )));
        }
        match &self.backend {
            Backend::Sled(s) => {
                s.create_draft_capped(
                    draft,
                    idempotency_fingerprint,
                    claim_expires_at,
                    source,
                    daily_cap,
                )
                .await
            }
            Backend::Postgres(p) => {
                p.create_draft(
                    draft,
                    idempotency_fingerprint,
                    claim_expires_at,
                    source,
                    daily_cap,
                )
                .await
            }
            Backend::Remote(r) => Err(r.refuse("creating a payment")),
        }
    }

    /// The total of the payments `organization` created on UTC `day` (`yyyy-mm-dd`) in
    /// `currency`, as counted by [`Store::create_draft_capped`].
    pub async fn spent_on(
        &self,
        organization: &str,
        day: &str,
        currency: crate::domain::Currency,
    ) -> Result<Money, StoreError> {
        let minor = match &self.backend {
            Backend::Sled(s) => s.spent_on(organization, day, currency.code())?,
            Backend::Postgres(p) => p.spent_on(organization, day, currency.code()).await?,
            Backend::Remote(r) => return Err(r.refuse("reading the day's spending")),
        };
        Ok(Money::from_minor(minor, currency))
    }

    /// Reads the payment, runs `Payment::apply`, and on a change writes it with its event.
    pub async fn apply(
        &self,
        id: &str,
        t: &Transition,
        source: Source,
        now: Timestamp,
    ) -> Result<ApplyOutcome, StoreError> {
        match &self.backend {
            Backend::Sled(s) => s.apply(id, t, source, now).await,
            Backend::Postgres(p) => p.apply(id, t, source, now).await,
            Backend::Remote(r) => Err(r.refuse("changing a payment's status")),
        }
    }

    /// Sets `next_check_at` and `check_attempts` (no event, no new version).
    pub async fn reschedule(
        &self,
        id: &str,
        next_check_at: Option<Timestamp>,
        check_attempts: u32,
    ) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sled(s) => s.reschedule(id, next_check_at, check_attempts).await,
            Backend::Postgres(p) => p.reschedule(id, next_check_at, check_attempts).await,
            Backend::Remote(r) => Err(r.refuse("rescheduling a payment's check")),
        }
    }

    /// Counts a new attempt to create the payment's gateway order; returns its number.
    pub async fn next_create_attempt(&self, id: &str) -> Result<u32, StoreError> {
        match &self.backend {
            Backend::Sled(s) => s.next_create_attempt(id).await,
            Backend::Postgres(p) => p.next_create_attempt(id).await,
            Backend::Remote(r) => Err(r.refuse("creating a gateway order")),
        }
    }

    // ---- integration configs (sealed by the caller) ----

    /// Stores the config of (organization, environment), durably.
    pub async fn put_config(
        &self,
        organization: &str,
        environment: &str,
        value: &[u8],
    ) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sled(s) => {
                let (s, o, e, v) = (
                    s.clone(),
                    organization.to_owned(),
                    environment.to_owned(),
                    value.to_vec(),
                );
                off_thread(move || s.put_config(&o, &e, &v)).await
            }
            Backend::Postgres(p) => p.put_config(organization, environment, value).await,
            Backend::Remote(r) => r.put_config(organization, environment, value).await,
        }
    }

    /// Removes the config of (organization, environment), durably; whether there was one.
    pub async fn delete_config(
        &self,
        organization: &str,
        environment: &str,
    ) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Sled(s) => {
                let (s, o, e) = (s.clone(), organization.to_owned(), environment.to_owned());
                off_thread(move || s.delete_config(&o, &e)).await
            }
            Backend::Postgres(p) => p.delete_config(organization, environment).await,
            Backend::Remote(r) => r.delete_config(organization, environment).await,
        }
    }

    pub async fn get_config(
        &self,
        organization: &str,
        environment: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        match &self.backend {
            Backend::Sled(s) => s.get_config(organization, environment),
            Backend::Postgres(p) => p.get_config(organization, environment).await,
            Backend::Remote(r) => r.get_config(organization, environment).await,
        }
    }

    /// Every config as (organization, environment, bytes), ordered by organization.
    pub async fn list_configs(&self) -> Result<Vec<(String, String, Vec<u8>)>, StoreError> {
        match &self.backend {
            Backend::Sled(s) => s.list_configs(),
            Backend::Postgres(p) => p.list_configs().await,
            Backend::Remote(r) => r.list_configs().await,
        }
    }

    // ---- the confirmation log ----

    /// Appends an entry; returns its id.
    pub async fn record_confirmation(&self, entry_json: &[u8]) -> Result<u64, StoreError> {
        match &self.backend {
            Backend::Sled(s) => {
                let (s, e) = (s.clone(), entry_json.to_vec());
                off_thread(move || s.record_confirmation(&e)).await
            }
            Backend::Postgres(p) => p.record_confirmation(entry_json).await,
            Backend::Remote(r) => Err(r.refuse("recording a confirmation")),
        }
    }

    /// The newest `limit` entries, newest first.
    pub async fn confirmations(&self, limit: usize) -> Result<Vec<Vec<u8>>, StoreError> {
        match &self.backend {
            Backend::Sled(s) => s.confirmations(limit),
            Backend::Postgres(p) => p.confirmations(limit).await,
            Backend::Remote(r) => r.confirmations(limit).await,
        }
    }

    /// How many entries the confirmation log holds.
    pub async fn confirmation_count(&self) -> Result<u64, StoreError> {
        match &self.backend {
            Backend::Sled(s) => Ok(s.confirmation_count()),
            Backend::Postgres(p) => p.confirmation_count().await,
            Backend::Remote(r) => r.confirmation_count().await,
        }
    }

    // ---- moving a ledger (`paylink ledger export` / `import`) ----

    /// The claim that names `p`, if its key is still claimed by it.
    pub async fn claim_of(&self, p: &Payment) -> Result<Option<ClaimRecord>, StoreError> {
        match &self.backend {
            Backend::Sled(s) => s.claim_of(p),
            Backend::Postgres(pg) => pg.claim_of(p).await,
            Backend::Remote(r) => r.claim_of(p).await,
        }
    }

    /// Inserts a whole payment record as it is (its events and claim with it); false
    /// when a payment with its id is already stored (nothing is written then).
    pub async fn import_payment(
        &self,
        p: &Payment,
        claim: Option<&ClaimRecord>,
        events: &[PaymentEvent],
    ) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Sled(s) => {
                let (s, p, claim, events) = (s.clone(), p.clone(), claim.cloned(), events.to_vec());
                off_thread(move || s.import_payment(&p, claim.as_ref(), &events)).await
            }
            Backend::Postgres(pg) => pg.import_payment(p, claim, events).await,
            Backend::Remote(_) => Err(held_elsewhere("importing into the ledger")),
        }
    }

    // ---- health and checks ----

    /// Whether the ledger can write right now (no I/O: the last writes' outcome).
    pub fn writable(&self) -> bool {
        match &self.backend {
            Backend::Sled(s) => s.writable(),
            Backend::Postgres(p) => p.writable(),
            Backend::Remote(_) => true,
        }
    }

    /// Writes that failed or were refused because the ledger could not write.
    pub fn write_failures(&self) -> u64 {
        match &self.backend {
            Backend::Sled(s) => s.write_failures(),
            Backend::Postgres(p) => p.write_failures(),
            Backend::Remote(_) => 0,
        }
    }

    /// Makes everything written so far durable (sled flushes; PostgreSQL commits did).
    pub async fn flush(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sled(s) => s.flush().await,
            Backend::Postgres(_) => Ok(()),
            Backend::Remote(r) => r.flush().await,
        }
    }

    /// Decodes every record and checks every index and count (`paylink ledger verify`).
    pub async fn verify(&self) -> Result<Verification, StoreError> {
        match &self.backend {
            Backend::Sled(s) => {
                let s = s.clone();
                off_thread(move || s.verify()).await
            }
            Backend::Postgres(p) => p.verify().await,
            Backend::Remote(r) => r.verify().await,
        }
    }

    /// The problems [`Store::verify`] finds; empty means consistent.
    pub async fn check_consistency(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.verify().await?.problems)
    }
}
