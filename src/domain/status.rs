//! The payment status machine.
//!
//! `draft → pending`, `draft | pending → paid | failed`, and one correction:
//! `failed → paid`, because the gateway's signed answer is the truth and money that moved
//! must be recorded even if paylink had given up on it (expired, abandoned). `paid` never
//! changes again. Every guard is an exhaustive match with no wildcard arm, so a new status
//! cannot be added without deciding each of its transitions.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum PaymentStatus {
    /// Written before the gateway is called; has a commerceOrder but no link yet.
    Draft,
    /// The gateway gave a link; waiting for the payer.
    Pending,
    Paid,
    Failed,
}

/// What a requested change of status amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The change applies and is recorded as an event of this kind.
    Apply(EventKind),
    /// The payment is already there (a replay or a duplicate): acknowledged, nothing written.
    AlreadyThere,
}

/// A change the machine refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("the payment is already paid; a paid payment never changes status")]
    AlreadyPaid,
    #[error("a {from:?} payment cannot go back to {to:?}")]
    Backwards {
        from: PaymentStatus,
        to: PaymentStatus,
    },
}

/// The kind of an event in a payment's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    Created,
    Pending,
    Paid,
    Failed,
    /// A failed payment that the gateway later reported paid.
    Corrected,
}

impl PaymentStatus {
    /// Whether no further change can ever apply.
    pub fn is_terminal(self) -> bool {
        match self {
            PaymentStatus::Paid => true,
            // Failed can still be corrected to paid by the gateway's word.
            PaymentStatus::Draft | PaymentStatus::Pending | PaymentStatus::Failed => false,
        }
    }

    /// Whether the payment is settled from the payer's point of view (paid or failed).
    pub fn is_final(self) -> bool {
        match self {
            PaymentStatus::Paid | PaymentStatus::Failed => true,
            PaymentStatus::Draft | PaymentStatus::Pending => false,
        }
    }

    /// Decides a change from `self` to `to`.
    pub fn change_to(self, to: PaymentStatus) -> Result<Change, TransitionError> {
        use PaymentStatus::*;
        match (self, to) {
            (Draft, Pending) => Ok(Change::Apply(EventKind::Pending)),
            (Draft | Pending, Paid) => Ok(Change::Apply(EventKind::Paid)),
            (Draft | Pending, Failed) => Ok(Change::Apply(EventKind::Failed)),
            (Failed, Paid) => Ok(Change::Apply(EventKind::Corrected)),
            (Draft, Draft) | (Pending, Pending) | (Paid, Paid) | (Failed, Failed) => {
                Ok(Change::AlreadyThere)
            }
            (Paid, Draft | Pending | Failed) => Err(TransitionError::AlreadyPaid),
            (Pending | Failed, Draft) | (Failed, Pending) => {
                Err(TransitionError::Backwards { from: self, to })
            }
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Draft => "draft",
            PaymentStatus::Pending => "pending",
            PaymentStatus::Paid => "paid",
            PaymentStatus::Failed => "failed",
        }
    }

    pub const ALL: [PaymentStatus; 4] = [
        PaymentStatus::Draft,
        PaymentStatus::Pending,
        PaymentStatus::Paid,
        PaymentStatus::Failed,
    ];
}

impl std::fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::PaymentStatus::*;
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_whole_table() {
        use Change::*;
        let ok = |k| Ok(Apply(k));
        let table = [
            (Draft, Draft, Ok(AlreadyThere)),
            (Draft, Pending, ok(EventKind::Pending)),
            (Draft, Paid, ok(EventKind::Paid)),
            (Draft, Failed, ok(EventKind::Failed)),
            (
                Pending,
                Draft,
                Err(TransitionError::Backwards {
                    from: Pending,
                    to: Draft,
                }),
            ),
            (Pending, Pending, Ok(AlreadyThere)),
            (Pending, Paid, ok(EventKind::Paid)),
            (Pending, Failed, ok(EventKind::Failed)),
            (Paid, Draft, Err(TransitionError::AlreadyPaid)),
            (Paid, Pending, Err(TransitionError::AlreadyPaid)),
            (Paid, Paid, Ok(AlreadyThere)),
            (Paid, Failed, Err(TransitionError::AlreadyPaid)),
            (
                Failed,
                Draft,
                Err(TransitionError::Backwards {
                    from: Failed,
                    to: Draft,
                }),
            ),
            (
                Failed,
                Pending,
                Err(TransitionError::Backwards {
                    from: Failed,
                    to: Pending,
                }),
            ),
            (Failed, Paid, ok(EventKind::Corrected)),
            (Failed, Failed, Ok(AlreadyThere)),
        ];
        for (from, to, want) in table {
            assert_eq!(from.change_to(to), want, "{from} -> {to}");
        }
    }

    fn status() -> impl Strategy<Value = PaymentStatus> {
        prop::sample::select(PaymentStatus::ALL.to_vec())
    }

    proptest! {
        /// Whatever sequence of requested changes arrives, paid is never left, and the
        /// status only moves forward (draft < pending < failed/paid, with failed → paid).
        #[test]
        fn any_sequence_never_leaves_paid_nor_goes_back(seq in prop::collection::vec(status(), 0..40)) {
            let mut cur = Draft;
            let mut was_paid = false;
            for to in seq {
                if let Ok(Change::Apply(_)) = cur.change_to(to) {
                    prop_assert!(to != Draft);
                    cur = to;
                }
                if was_paid { prop_assert_eq!(cur, Paid); }
                was_paid |= cur == Paid;
            }
        }
    }
}
