//! What `paylink ledger export` reads and `paylink ledger import` writes on sled: a
//! payment's idempotency claim, and a whole payment record (with its claim and events)
//! inserted as it is.

use super::codec::{self, Claim};
use super::layout;
use super::{SledStore, StoreError};
use crate::domain::{Payment, PaymentEvent};
use crate::store::ClaimRecord;

impl SledStore {
    /// The claim that names `p` (None when its key was claimed again after it expired).
    pub fn claim_of(&self, p: &Payment) -> Result<Option<ClaimRecord>, StoreError> {
        let key = layout::joined(&[&p.organization, &p.idempotency_key]);
        let inner = self.inner()?;
        let Some(raw) = inner.trees.claims.get(&key)? else {
            return Ok(None);
        };
        let claim: Claim = codec::decode(layout::CLAIMS, &key, &raw)?;
        Ok((claim.payment_id == p.id).then_some(ClaimRecord {
            fingerprint: claim.fingerprint,
            expires_at: claim.expires_at,
        }))
    }

    /// Inserts a payment with its events and claim in one transaction, then flushes;
    /// skips (false) one whose id is already stored. Index entries follow from its fields.
    pub fn import_payment(
        &self,
        p: &Payment,
        claim: Option<&ClaimRecord>,
        events: &[PaymentEvent],
    ) -> Result<bool, StoreError> {
        super::write::check_payment_keys(p)?;
        let inner = self.writable_inner()?;
        let stored = inner.transact(|tx| {
            if tx.payments.get(p.id.as_bytes())?.is_some() {
                return Ok(false);
            }
            super::write::write_payment(tx, None, p)?;
            for e in events {
                super::write::append_event(tx, e)?;
            }
            if let Some(c) = claim {
                let claim = Claim {
                    payment_id: p.id.clone(),
                    fingerprint: c.fingerprint.clone(),
                    expires_at: c.expires_at,
                };
                let bytes = codec::encode("the claim", &claim)
                    .map_err(sled::transaction::ConflictableTransactionError::Abort)?;
                tx.claims.insert(
                    layout::joined(&[&p.organization, &p.idempotency_key]),
                    bytes,
                )?;
            }
            Ok(true)
        })?;
        if stored {
            inner.counts.add(p.status);
            inner.log.flush(&inner.db)?;
        }
        Ok(stored)
    }
}
