//! Where refunds are kept: records beside the payments (see `crate::store::records`),
//! written only by compare-and-swap.
//!
//! - `refund/<id>`: the refund, with its log.
//! - `refund_claim/<digest of organization and claim>`: the refund a request made, so a
//!   retry returns it.
//! - `refund_token/<gateway token>`: the refund a gateway's callback names.
//! - `payment_refunds/<payment id>`: the payment's refunds with their amounts and whether
//!   each still holds its amount. Appending to it is the one serialization point of a
//!   payment's refunds: the swap that adds a refund checks, against the list it replaces,
//!   that the refunds together never pass the payment's amount, however many run at once.

use serde::{Deserialize, Serialize};

use super::record_codec::{decode, encode};
use super::{PaymentError, Payments};
use crate::domain::Refund;

const REFUND: &str = "refund";
const REFUND_CLAIM: &str = "refund_claim";
const REFUND_TOKEN: &str = "refund_token";
const PAYMENT_REFUNDS: &str = "payment_refunds";

/// One line of a payment's refund list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Held {
    pub id: String,
    pub minor: i64,
    /// False once the refund was rejected or canceled: its amount is free again.
    pub holds: bool,
}

/// How adding a refund to a payment's list went.
pub(super) enum Reserve {
    Reserved,
    /// The refunds already holding would leave less than asked.
    TooLarge {
        held_minor: i64,
    },
}

impl Payments {
    pub(super) async fn refund_raw(
        &self,
        id: &str,
    ) -> Result<Option<(Refund, Vec<u8>)>, PaymentError> {
        match self.store().record_get(REFUND, id).await? {
            None => Ok(None),
            Some(bytes) => Ok(Some((decode("a refund", &bytes)?, bytes))),
        }
    }

    /// Stores a new refund; false if one with its id exists.
    pub(super) async fn insert_refund(&self, r: &Refund) -> Result<bool, PaymentError> {
        Ok(self
            .store()
            .record_swap(REFUND, &r.id, None, &encode(r)?)
            .await?)
    }

    /// Replaces `old` (as read) with `new`; false if someone changed it in between.
    pub(super) async fn swap_refund(&self, old: &[u8], new: &Refund) -> Result<bool, PaymentError> {
        Ok(self
            .store()
            .record_swap(REFUND, &new.id, Some(old), &encode(new)?)
            .await?)
    }

    /// The refund id recorded for a request's claim.
    pub(super) async fn refund_of_claim(
        &self,
        digest: &str,
    ) -> Result<Option<String>, PaymentError> {
        Ok(self
            .store()
            .record_get(REFUND_CLAIM, digest)
            .await?
            .map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// Records that the request's claim made refund `id` (replacing `previous`, the
    /// lapsed refund it named, if any); false if another request did first.
    pub(super) async fn claim_refund(
        &self,
        digest: &str,
        id: &str,
        previous: Option<&str>,
    ) -> Result<bool, PaymentError> {
        Ok(self
            .store()
            .record_swap(
                REFUND_CLAIM,
                digest,
                previous.map(str::as_bytes),
                id.as_bytes(),
            )
            .await?)
    }

    pub(super) async fn index_refund_token(
        &self,
        token: &str,
        id: &str,
    ) -> Result<(), PaymentError> {
        self.store()
            .record_swap(REFUND_TOKEN, token, None, id.as_bytes())
            .await?;
        Ok(())
    }

    /// The refund a gateway token names.
    pub async fn refund_by_token(&self, token: &str) -> Result<Option<Refund>, PaymentError> {
        let Some(id) = self.store().record_get(REFUND_TOKEN, token).await? else {
            return Ok(None);
        };
        Ok(self
            .refund_raw(&String::from_utf8_lossy(&id))
            .await?
            .map(|(r, _)| r))
    }

    async fn held_raw(
        &self,
        payment_id: &str,
    ) -> Result<(Vec<Held>, Option<Vec<u8>>), PaymentError> {
        match self.store().record_get(PAYMENT_REFUNDS, payment_id).await? {
            None => Ok((Vec::new(), None)),
            Some(bytes) => Ok((decode("a payment's refund list", &bytes)?, Some(bytes))),
        }
    }

    /// Adds refund `id` of `minor` to the payment's list if the refunds holding their
    /// amounts leave room for it under `payment_minor`.
    pub(super) async fn reserve_refund(
        &self,
        payment_id: &str,
        id: &str,
        minor: i64,
        payment_minor: i64,
    ) -> Result<Reserve, PaymentError> {
        loop {
            let (mut list, raw) = self.held_raw(payment_id).await?;
            if list.iter().any(|h| h.id == id) {
                return Ok(Reserve::Reserved);
            }
            let held: i64 = list.iter().filter(|h| h.holds).map(|h| h.minor).sum();
            if held + minor > payment_minor {
                return Ok(Reserve::TooLarge { held_minor: held });
            }
            list.push(Held {
                id: id.to_string(),
                minor,
                holds: true,
            });
            if self
                .store()
                .record_swap(PAYMENT_REFUNDS, payment_id, raw.as_deref(), &encode(&list)?)
                .await?
            {
                return Ok(Reserve::Reserved);
            }
        }
    }

    /// Frees the amount of a refund that was rejected or canceled.
    pub(super) async fn release_refund(
        &self,
        payment_id: &str,
        id: &str,
    ) -> Result<(), PaymentError> {
        loop {
            let (mut list, raw) = self.held_raw(payment_id).await?;
            let Some(line) = list.iter_mut().find(|h| h.id == id && h.holds) else {
                return Ok(());
            };
            line.holds = false;
            if self
                .store()
                .record_swap(PAYMENT_REFUNDS, payment_id, raw.as_deref(), &encode(&list)?)
                .await?
            {
                return Ok(());
            }
        }
    }

    /// The minor units held by a payment's refunds (refunded or still open).
    pub(super) async fn held_minor(&self, payment_id: &str) -> Result<i64, PaymentError> {
        let (list, _) = self.held_raw(payment_id).await?;
        Ok(list.iter().filter(|h| h.holds).map(|h| h.minor).sum())
    }

    /// A payment's refunds, oldest first.
    pub async fn refunds_of(&self, payment_id: &str) -> Result<Vec<Refund>, PaymentError> {
        let (list, _) = self.held_raw(payment_id).await?;
        let mut out = Vec::with_capacity(list.len());
        for h in list {
            if let Some((r, _)) = self.refund_raw(&h.id).await? {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Every refund still open (the reconciler's work list).
    pub(super) async fn open_refunds(&self) -> Result<Vec<Refund>, PaymentError> {
        let mut open = Vec::new();
        for (_, bytes) in self.store().record_scan(REFUND).await? {
            let r: Refund = decode("a refund", &bytes)?;
            if !r.status.is_final() {
                open.push(r);
            }
        }
        Ok(open)
    }
}
