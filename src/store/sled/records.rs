//! Small keyed records (approvals, refunds) beside the payments: bytes under
//! `kind 00 key`, written durably, changed only by compare-and-swap so that two writers
//! racing on one record (a double click on an approval, two replicas following one refund)
//! never both win.

use super::layout;
use super::{SledStore, StoreError};

impl SledStore {
    /// The record `kind`/`key`, if any.
    pub fn record_get(&self, kind: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let k = record_key(kind, key)?;
        Ok(self.inner()?.trees.records.get(k)?.map(|v| v.to_vec()))
    }

    /// Writes `new` if the record is `old` now (`None`: absent), durably. Whether it did.
    pub fn record_swap(
        &self,
        kind: &str,
        key: &str,
        old: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError> {
        let k = record_key(kind, key)?;
        let inner = self.writable_inner()?;
        let result = inner
            .trees
            .records
            .compare_and_swap(k, old, Some(new))
            .map_err(StoreError::from)
            .and_then(|swapped| match swapped {
                Ok(()) => inner.log.flush(&inner.db).map(|()| true),
                Err(_) => Ok(false),
            });
        drop(inner);
        result.map_err(|e| self.write_failed(e))
    }

    /// Every record of `kind` as (key, bytes), in key order.
    pub fn record_scan(&self, kind: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        layout::check_part("the record kind", kind)?;
        let prefix = layout::joined(&[kind, ""]);
        let mut all = Vec::new();
        for item in self.inner()?.trees.records.scan_prefix(&prefix) {
            let (k, v) = item?;
            let key = std::str::from_utf8(&k[prefix.len()..]).map_err(|_| {
                StoreError::Corrupt(format!(
                    "{}[{}] is not UTF-8",
                    layout::RECORDS,
                    layout::show(&k)
                ))
            })?;
            all.push((key.to_owned(), v.to_vec()));
        }
        Ok(all)
    }
}

fn record_key(kind: &str, key: &str) -> Result<Vec<u8>, StoreError> {
    layout::check_part("the record kind", kind)?;
    layout::check_part("the record key", key)?;
    Ok(layout::joined(&[kind, key]))
}
