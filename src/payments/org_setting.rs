//! An organization's small plain-JSON settings stored in the ledger (its spending policy,
//! its merchant): a config under a part of its own that is not an environment, so
//! integration listings skip it. One stored value wins over the process's settings, which
//! apply only to the default organization.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::store::{Store, StoreError};

/// The value stored for `organization` under `part`, if any; `what` names it in errors.
pub async fn stored<T: DeserializeOwned>(
    store: &Store,
    organization: &str,
    part: &str,
    what: &str,
) -> Result<Option<T>, StoreError> {
    match store.get_config(organization, part).await? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            StoreError::Corrupt(format!(
                "the {what} stored for organization {organization:?} does not decode: {e}"
            ))
        }),
    }
}

/// Stores `value` for `organization` under `part`, replacing any.
pub async fn store<T: Serialize>(
    store: &Store,
    organization: &str,
    part: &str,
    what: &str,
    value: &T,
) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(value)
        .map_err(|e| StoreError::InvalidInput(format!("cannot encode the {what}: {e}")))?;
    store.put_config(organization, part, &bytes).await
}

/// The value in force for `organization`: its stored one, else `default` when it is the
/// default organization, else `T::default()`.
pub async fn effective<T: DeserializeOwned + Clone + Default>(
    store: &Store,
    organization: &str,
    part: &str,
    what: &str,
    default_organization: &str,
    default: &T,
) -> Result<T, StoreError> {
    Ok(match stored(store, organization, part, what).await? {
        Some(v) => v,
        None if organization == default_organization => default.clone(),
        None => T::default(),
    })
}
