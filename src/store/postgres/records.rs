//! Small keyed records on PostgreSQL: the `records` table, changed by compare-and-swap
//! (an `INSERT … ON CONFLICT DO NOTHING` for a new one, an `UPDATE … WHERE value = old`
//! otherwise), so that of two replicas racing on one record exactly one wins.

use super::{PgStore, StoreError};
use crate::store::sled::layout::check_part;

impl PgStore {
    pub async fn record_get(&self, kind: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        check_part("the record kind", kind)?;
        check_part("the record key", key)?;
        sqlx::query_scalar("SELECT value FROM records WHERE kind = $1 AND key = $2")
            .bind(kind)
            .bind(key)
            .fetch_optional(self.pool())
            .await
            .map_err(|e| self.failed(e))
    }

    pub async fn record_swap(
        &self,
        kind: &str,
        key: &str,
        old: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError> {
        check_part("the record kind", kind)?;
        check_part("the record key", key)?;
        let q = match old {
            None => sqlx::query(
                "INSERT INTO records (kind, key, value) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind(kind)
            .bind(key)
            .bind(new),
            Some(old) => sqlx::query(
                "UPDATE records SET value = $3 WHERE kind = $1 AND key = $2 AND value = $4",
            )
            .bind(kind)
            .bind(key)
            .bind(new)
            .bind(old),
        };
        let r = q
            .execute(self.pool())
            .await
            .map(|done| done.rows_affected() == 1)
            .map_err(|e| self.failed(e));
        self.noted(r)
    }

    pub async fn record_scan(&self, kind: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        check_part("the record kind", kind)?;
        sqlx::query_as("SELECT key, value FROM records WHERE kind = $1 ORDER BY key")
            .bind(kind)
            .fetch_all(self.pool())
            .await
            .map_err(|e| self.failed(e))
    }
}
