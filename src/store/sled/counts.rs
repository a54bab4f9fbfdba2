//! Payment counts by status, kept in memory so `/metrics` never scans the ledger.
//!
//! Loaded once at open by one scan of the payments tree, then moved after each committed
//! change. Counters are signed: a status change may be counted a moment before the create
//! that preceded it, and a snapshot clamps such a transient negative to zero.

use std::sync::atomic::{AtomicI64, Ordering};

use super::codec::{self, StatusOnly};
use super::layout;
use crate::domain::PaymentStatus;
use crate::store::StoreError;

#[derive(Debug, Default)]
pub(crate) struct StatusCounts([AtomicI64; 4]);

fn slot(status: PaymentStatus) -> usize {
    match status {
        PaymentStatus::Draft => 0,
        PaymentStatus::Pending => 1,
        PaymentStatus::Paid => 2,
        PaymentStatus::Failed => 3,
    }
}

impl StatusCounts {
    /// Counts every payment in the tree (a full scan).
    pub fn load(payments: &sled::Tree) -> Result<StatusCounts, StoreError> {
        let counts = StatusCounts::default();
        for item in payments.iter() {
            let (key, value) = item?;
            let s: StatusOnly = codec::decode(layout::PAYMENTS, &key, &value)?;
            counts.add(s.status);
        }
        Ok(counts)
    }

    pub fn add(&self, status: PaymentStatus) {
        self.0[slot(status)].fetch_add(1, Ordering::Relaxed);
    }

    pub fn moved(&self, from: PaymentStatus, to: PaymentStatus) {
        self.0[slot(to)].fetch_add(1, Ordering::Relaxed);
        self.0[slot(from)].fetch_sub(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> [(PaymentStatus, u64); 4] {
        PaymentStatus::ALL.map(|s| (s, self.0[slot(s)].load(Ordering::Relaxed).max(0) as u64))
    }

    pub fn total(&self) -> u64 {
        self.snapshot().iter().map(|(_, n)| n).sum()
    }
}
