//! Integration configs: opaque bytes (encrypted by the caller) per organization and
//! environment.
//!
//! Configs change rarely and by hand, so `put_config` flushes synchronously before it
//! returns; from async code call it via `spawn_blocking`.

use super::layout;
use super::{SledStore, StoreError};

impl SledStore {
    /// Stores the config of (organization, environment), durably (flushes before returning).
    pub fn put_config(
        &self,
        organization: &str,
        environment: &str,
        value: &[u8],
    ) -> Result<(), StoreError> {
        layout::check_part("the organization", organization)?;
        layout::check_part("the environment", environment)?;
        let inner = self.writable_inner()?;
        let result = inner
            .trees
            .configs
            .insert(layout::joined(&[organization, environment]), value)
            .map_err(StoreError::from)
            .and_then(|_| inner.log.flush(&inner.db));
        drop(inner);
        result.map_err(|e| self.write_failed(e))
    }

    /// Removes the config of (organization, environment), durably; whether there was one.
    pub fn delete_config(&self, organization: &str, environment: &str) -> Result<bool, StoreError> {
        layout::check_part("the organization", organization)?;
        layout::check_part("the environment", environment)?;
        let inner = self.writable_inner()?;
        let result = inner
            .trees
            .configs
            .remove(layout::joined(&[organization, environment]))
            .map_err(StoreError::from)
            .and_then(|old| inner.log.flush(&inner.db).map(|()| old.is_some()));
        drop(inner);
        result.map_err(|e| self.write_failed(e))
    }

    pub fn get_config(
        &self,
        organization: &str,
        environment: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        layout::check_part("the organization", organization)?;
        layout::check_part("the environment", environment)?;
        let key = layout::joined(&[organization, environment]);
        Ok(self.inner()?.trees.configs.get(key)?.map(|v| v.to_vec()))
    }

    /// Every config as (organization, environment, bytes), ordered by organization.
    pub fn list_configs(&self) -> Result<Vec<(String, String, Vec<u8>)>, StoreError> {
        let mut all = Vec::new();
        for item in self.inner()?.trees.configs.iter() {
            let (key, value) = item?;
            let (org, env) = layout::split_first(&key).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "{}[{}] is not organization\\0environment",
                    layout::CONFIGS,
                    layout::show(&key)
                ))
            })?;
            all.push((org.to_owned(), env.to_owned(), value.to_vec()));
        }
        Ok(all)
    }
}
