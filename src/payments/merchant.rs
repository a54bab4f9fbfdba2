//! Where an organization's merchant (its name and site on the return page) comes from: the
//! one stored in the ledger for it (`paylink integration merchant`, a config under the
//! part [`MERCHANT_PART`]), else, for the default organization, the
//! `PAYLINK_MERCHANT_NAME` / `PAYLINK_MERCHANT_URL` settings, else none (a neutral page).
//! It belongs to the organization, not to one gateway: Flow and Stripe payers see the same.

use crate::payer::Merchant;
use crate::store::{Store, StoreError};

/// The configs key's part that holds an organization's merchant (plain JSON: no secret).
/// Not an environment: integration listings skip it.
pub const MERCHANT_PART: &str = "merchant";

/// The merchant stored for `organization`, if any.
pub async fn stored(store: &Store, organization: &str) -> Result<Option<Merchant>, StoreError> {
    match store.get_config(organization, MERCHANT_PART).await? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            StoreError::Corrupt(format!(
                "the merchant stored for organization {organization:?} does not decode: {e}"
            ))
        }),
    }
}

/// Stores `merchant` for `organization`, replacing any; it wins over the settings.
pub async fn store(
    store: &Store,
    organization: &str,
    merchant: &Merchant,
) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(merchant)
        .map_err(|e| StoreError::InvalidInput(format!("cannot encode the merchant: {e}")))?;
    store.put_config(organization, MERCHANT_PART, &bytes).await
}

/// Removes the merchant stored for `organization`; whether there was one.
pub async fn clear(store: &Store, organization: &str) -> Result<bool, StoreError> {
    store.delete_config(organization, MERCHANT_PART).await
}

/// The merchant in force for `organization`: its stored one, else `default` when it is
/// the default organization, else none.
pub async fn effective(
    store: &Store,
    organization: &str,
    default_organization: &str,
    default: &Merchant,
) -> Result<Merchant, StoreError> {
    Ok(match stored(store, organization).await? {
        Some(m) => m,
        None if organization == default_organization => default.clone(),
        None => Merchant::default(),
    })
}
