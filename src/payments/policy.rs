//! Where an organization's spending policy comes from: the one stored in the ledger for it
//! (`paylink integration policy`, a config under the environment part [`POLICY_PART`]),
//! else, for the default organization, the `PAYLINK_POLICY_*` settings, else none.

use crate::domain::SpendingPolicy;
use crate::store::{Store, StoreError};

/// The configs key's environment part that holds an organization's policy (plain JSON: it
/// holds no secret). Not an environment: integration listings skip it.
pub const POLICY_PART: &str = "policy";

/// The policy stored for `organization`, if any.
pub async fn stored(
    store: &Store,
    organization: &str,
) -> Result<Option<SpendingPolicy>, StoreError> {
    match store.get_config(organization, POLICY_PART).await? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            StoreError::Corrupt(format!(
                "the spending policy stored for organization {organization:?} does not decode: {e}"
            ))
        }),
    }
}

/// Stores `policy` for `organization`, replacing any; it wins over the settings' policy.
pub async fn store(
    store: &Store,
    organization: &str,
    policy: &SpendingPolicy,
) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(policy)
        .map_err(|e| StoreError::InvalidInput(format!("cannot encode the policy: {e}")))?;
    store.put_config(organization, POLICY_PART, &bytes).await
}

/// Removes the policy stored for `organization`; whether there was one.
pub async fn clear(store: &Store, organization: &str) -> Result<bool, StoreError> {
    store.delete_config(organization, POLICY_PART).await
}

/// The policy in force for `organization`: its stored one, else `default` when it is the
/// default organization, else none.
pub async fn effective(
    store: &Store,
    organization: &str,
    default_organization: &str,
    default: &SpendingPolicy,
) -> Result<SpendingPolicy, StoreError> {
    Ok(match stored(store, organization).await? {
        Some(p) => p,
        None if organization == default_organization => default.clone(),
        None => SpendingPolicy::default(),
    })
}
