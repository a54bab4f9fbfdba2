//! Where an organization's spending policy comes from: the one stored in the ledger for it
//! (`paylink integration policy`, a config under the environment part [`POLICY_PART`]),
//! else, for the default organization, the `PAYLINK_POLICY_*` settings, else none.

use super::org_setting;
use crate::domain::SpendingPolicy;
use crate::store::{Store, StoreError};

/// The configs key's environment part that holds an organization's policy (plain JSON: it
/// holds no secret). Not an environment: integration listings skip it.
pub const POLICY_PART: &str = "policy";

/// The spending policy stored for `organization`, if any.
pub async fn stored(
    store: &Store,
    organization: &str,
) -> Result<Option<SpendingPolicy>, StoreError> {
    org_setting::stored(store, organization, POLICY_PART, "spending policy").await
}

/// Stores `policy` for `organization`, replacing any; it wins over the settings.
pub async fn store(
    store: &Store,
    organization: &str,
    policy: &SpendingPolicy,
) -> Result<(), StoreError> {
    org_setting::store(store, organization, POLICY_PART, "spending policy", policy).await
}

/// Removes the spending policy stored for `organization`; whether there was one.
pub async fn clear(store: &Store, organization: &str) -> Result<bool, StoreError> {
    store.delete_config(organization, POLICY_PART).await
}

/// The spending policy in force for `organization`: its stored one, else `default` when it is the
/// default organization, else none.
pub async fn effective(
    store: &Store,
    organization: &str,
    default_organization: &str,
    default: &SpendingPolicy,
) -> Result<SpendingPolicy, StoreError> {
    org_setting::effective(
        store,
        organization,
        POLICY_PART,
        "spending policy",
        default_organization,
        default,
    )
    .await
}
