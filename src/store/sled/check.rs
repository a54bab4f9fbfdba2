//! The full consistency check of the ledger.
//!
//! Walks every tree: each payment must have each index entry its fields call for and the
//! events `1..=version`; each index entry must point at an existing payment whose fields
//! produce exactly that key; each claim must point at an existing payment of its
//! organization and key; no event may belong to a missing payment; the in-memory status
//! counts must match the stored payments. A full scan: call via `spawn_blocking`, and on
//! a quiet ledger (sled has no snapshots, so concurrent writes can show as transient
//! problems).

use super::codec::{self, Claim};
use super::index::Index;
use super::layout;
use super::{SledStore, StoreError};
use crate::domain::{Payment, PaymentEvent, PaymentStatus};

/// What [`SledStore::verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Verification {
    /// Payments by status, as stored.
    pub payments: Vec<(PaymentStatus, u64)>,
    /// Events in the log, across all payments.
    pub events: u64,
    /// Everything inconsistent or undecodable; empty means the ledger is sound.
    pub problems: Vec<String>,
}

impl SledStore {
    /// Decodes every payment, event and claim and runs [`SledStore::check_consistency`]
    /// (`paylink ledger verify`). A full scan: call on a quiet ledger.
    pub fn verify(&self) -> Result<Verification, StoreError> {
        let problems = self.check_consistency()?;
        Ok(Verification {
            payments: self.status_counts().to_vec(),
            events: self.inner()?.trees.events.len() as u64,
            problems,
        })
    }

    /// Returns the problems found; empty means consistent.
    pub fn check_consistency(&self) -> Result<Vec<String>, StoreError> {
        let mut problems = Vec::new();
        let stored = self.check_payments(&mut problems)?;
        self.check_indexes(&mut problems)?;
        self.check_claims(&mut problems)?;
        self.check_orphan_events(&mut problems)?;
        let counted = self.status_counts();
        if counted != stored {
            problems.push(format!(
                "status counts in memory {counted:?} differ from the stored payments {stored:?}"
            ));
        }
        Ok(problems)
    }

    /// Each payment's own index entries and events; returns the counts by status.
    fn check_payments(
        &self,
        problems: &mut Vec<String>,
    ) -> Result<[(PaymentStatus, u64); 4], StoreError> {
        let inner = self.inner()?;
        let t = &inner.trees;
        let mut counts = PaymentStatus::ALL.map(|s| (s, 0u64));
        for item in t.payments.iter() {
            let (key, value) = item?;
            let p: Payment = match codec::decode(layout::PAYMENTS, &key, &value) {
                Ok(p) => p,
                Err(e) => {
                    problems.push(e.to_string());
                    continue;
                }
            };
            if key.as_ref() != p.id.as_bytes() {
                problems.push(format!(
                    "payment stored under {} has id {}",
                    layout::show(&key),
                    p.id
                ));
            }
            if let Some(slot) = counts.iter_mut().find(|(s, _)| *s == p.status) {
                slot.1 += 1;
            }
            for i in Index::ALL {
                if let Some(k) = i.key_for(&p)
                    && !t.index(i).contains_key(&k)?
                {
                    problems.push(format!(
                        "payment {}: no entry {} in {}",
                        p.id,
                        layout::show(&k),
                        i.tree_name()
                    ));
                }
            }
            self.check_events(&p, problems)?;
        }
        Ok(counts)
    }

    /// The payment's events are seq 1..=version, contiguous, and name it.
    fn check_events(&self, p: &Payment, problems: &mut Vec<String>) -> Result<(), StoreError> {
        let mut expected = 1u64;
        let inner = self.inner()?;
        for item in inner.trees.events.scan_prefix(layout::prefix(&[&p.id])) {
            let (key, value) = item?;
            let key_seq = layout::split_event_key(&key).map(|(_, seq)| seq);
            match codec::decode::<PaymentEvent>(layout::EVENTS, &key, &value) {
                Ok(e) if e.seq == expected && key_seq == Some(e.seq) && e.payment_id == p.id => {}
                Ok(e) => problems.push(format!(
                    "payment {}: event {} (key seq {key_seq:?}, payment {}) where event {expected} belongs",
                    p.id, e.seq, e.payment_id
                )),
                Err(e) => problems.push(e.to_string()),
            }
            expected += 1;
        }
        let found = expected - 1;
        if found != p.version {
            problems.push(format!(
                "payment {}: version {} but {found} events",
                p.id, p.version
            ));
        }
        Ok(())
    }

    /// Every index entry points at a payment whose fields produce that very key.
    fn check_indexes(&self, problems: &mut Vec<String>) -> Result<(), StoreError> {
        for i in Index::ALL {
            for key in self.inner()?.trees.index(i).iter().keys() {
                let key = key?;
                let Some(id) = i.id_of(&key) else {
                    problems.push(format!(
                        "{}: key {} names no payment",
                        i.tree_name(),
                        layout::show(&key)
                    ));
                    continue;
                };
                match self.get(id) {
                    Ok(Some(p)) if i.key_for(&p).as_deref() == Some(key.as_ref()) => {}
                    Ok(Some(_)) => problems.push(format!(
                        "{}: entry {} does not match the fields of payment {id}",
                        i.tree_name(),
                        layout::show(&key)
                    )),
                    Ok(None) => problems.push(format!(
                        "{}: entry {} points at missing payment {id}",
                        i.tree_name(),
                        layout::show(&key)
                    )),
                    // Undecodable payments are reported once, by check_payments.
                    Err(_) => {}
                }
            }
        }
        Ok(())
    }

    /// Every claim points at an existing payment of its organization and key.
    fn check_claims(&self, problems: &mut Vec<String>) -> Result<(), StoreError> {
        for item in self.inner()?.trees.claims.iter() {
            let (key, value) = item?;
            let claim: Claim = match codec::decode(layout::CLAIMS, &key, &value) {
                Ok(c) => c,
                Err(e) => {
                    problems.push(e.to_string());
                    continue;
                }
            };
            match self.get(&claim.payment_id) {
                Ok(Some(p))
                    if key.as_ref() == layout::joined(&[&p.organization, &p.idempotency_key]) => {}
                Ok(Some(p)) => problems.push(format!(
                    "claim {} points at payment {} of organization {:?} and key {:?}",
                    layout::show(&key),
                    p.id,
                    p.organization,
                    p.idempotency_key
                )),
                Ok(None) => problems.push(format!(
                    "claim {} points at missing payment {}",
                    layout::show(&key),
                    claim.payment_id
                )),
                Err(_) => {}
            }
        }
        Ok(())
    }

    /// No event belongs to a payment that does not exist.
    fn check_orphan_events(&self, problems: &mut Vec<String>) -> Result<(), StoreError> {
        let inner = self.inner()?;
        let t = &inner.trees;
        let mut last_checked: Option<String> = None;
        for key in t.events.iter().keys() {
            let key = key?;
            let Some((id, _)) = layout::split_event_key(&key) else {
                problems.push(format!(
                    "events: key {} is not an event key",
                    layout::show(&key)
                ));
                continue;
            };
            if last_checked.as_deref() == Some(id) {
                continue;
            }
            if !t.payments.contains_key(id.as_bytes())? {
                problems.push(format!(
                    "events: payment {id} has events but does not exist"
                ));
            }
            last_checked = Some(id.to_owned());
        }
        Ok(())
    }
}
