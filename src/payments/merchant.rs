//! Where an organization's merchant (its name and site on the return page) comes from: the
//! one stored in the ledger for it (`paylink integration merchant`, a config under the
//! part [`MERCHANT_PART`]), else, for the default organization, the
//! `PAYLINK_MERCHANT_NAME` / `PAYLINK_MERCHANT_URL` settings, else none (a neutral page).
//! It belongs to the organization, not to one gateway: Flow and Stripe payers see the same.

use super::org_setting;
use crate::payer::Merchant;
use crate::store::{Store, StoreError};

/// The configs key's part that holds an organization's merchant (plain JSON: no secret).
/// Not an environment: integration listings skip it.
pub const MERCHANT_PART: &str = "merchant";

/// The merchant stored for `organization`, if any.
pub async fn stored(store: &Store, organization: &str) -> Result<Option<Merchant>, StoreError> {
    org_setting::stored(store, organization, MERCHANT_PART, "merchant").await
}

/// Stores `merchant` for `organization`, replacing any; it wins over the settings.
pub async fn store(
    store: &Store,
    organization: &str,
    merchant: &Merchant,
) -> Result<(), StoreError> {
    org_setting::store(store, organization, MERCHANT_PART, "merchant", merchant).await
}

/// Removes the merchant stored for `organization`; whether there was one.
pub async fn clear(store: &Store, organization: &str) -> Result<bool, StoreError> {
    store.delete_config(organization, MERCHANT_PART).await
}

/// The merchant in force for `organization`: its stored one, else `default` when it is the
/// default organization, else none.
pub async fn effective(
    store: &Store,
    organization: &str,
    default_organization: &str,
    default: &Merchant,
) -> Result<Merchant, StoreError> {
    org_setting::effective(
        store,
        organization,
        MERCHANT_PART,
        "merchant",
        default_organization,
        default,
    )
    .await
}
