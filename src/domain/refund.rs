//! A refund of a paid payment, as paylink records it: requested by an agent (after a
//! person approved it), then followed at the gateway until it is refunded, rejected or
//! canceled. Its log keeps every state it went through.

use serde::{Deserialize, Serialize};

use super::{Environment, Money, Source, Timestamp};
use crate::gateway::GatewayKind;

/// Where a refund stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    /// Recorded; the gateway has not acknowledged it yet.
    Requested,
    /// The gateway took it; nobody has acted on it yet.
    Created,
    /// The receiver accepted it (Flow); the money has not moved yet.
    Accepted,
    /// Refused by the receiver or the gateway: nothing was refunded.
    Rejected,
    /// The money went back.
    Refunded,
    /// Withdrawn before it was paid out: nothing was refunded.
    Canceled,
}

impl RefundStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundStatus::Requested => "requested",
            RefundStatus::Created => "created",
            RefundStatus::Accepted => "accepted",
            RefundStatus::Rejected => "rejected",
            RefundStatus::Refunded => "refunded",
            RefundStatus::Canceled => "canceled",
        }
    }

    /// Whether nothing more is expected of the gateway.
    pub fn is_final(self) -> bool {
        match self {
            RefundStatus::Requested | RefundStatus::Created | RefundStatus::Accepted => false,
            RefundStatus::Rejected | RefundStatus::Refunded | RefundStatus::Canceled => true,
        }
    }

    /// Whether its amount counts against what remains refundable.
    pub fn holds_amount(self) -> bool {
        match self {
            RefundStatus::Requested
            | RefundStatus::Created
            | RefundStatus::Accepted
            | RefundStatus::Refunded => true,
            RefundStatus::Rejected | RefundStatus::Canceled => false,
        }
    }

    /// Whether a refund in `self` may move to `to`. Open states move forward to any later
    /// one; a final state stays, except that a refunded one may still fail (Stripe reports
    /// a refund to a closed card as failed days later).
    pub fn can_become(self, to: RefundStatus) -> bool {
        if self == to {
            return false;
        }
        match self {
            RefundStatus::Requested => true,
            RefundStatus::Created => to != RefundStatus::Requested,
            RefundStatus::Accepted => {
                !matches!(to, RefundStatus::Requested | RefundStatus::Created)
            }
            RefundStatus::Refunded => to == RefundStatus::Rejected,
            RefundStatus::Rejected | RefundStatus::Canceled => false,
        }
    }
}

/// One state a refund went through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundEvent {
    pub at: Timestamp,
    pub status: RefundStatus,
    pub source: Source,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Refund {
    /// `rf_` and 24 random characters.
    pub id: String,
    pub organization: String,
    pub payment_id: String,
    pub gateway: GatewayKind,
    pub environment: Environment,
    pub amount: Money,
    /// Who gets the money back (the payment's payer).
    pub receiver: String,
    pub status: RefundStatus,
    pub gateway_refund_ref: Option<String>,
    pub token: Option<String>,
    /// The idempotency claim it was made under.
    pub claim: String,
    pub fingerprint: String,
    /// Set when the gateway's answer to the create was lost and it cannot be asked again
    /// safely: an operator must look at the gateway's dashboard.
    pub outcome_unknown: bool,
    /// Set when the last create certainly never reached the gateway (refused before
    /// sending, or the connection failed): sending it again cannot refund twice.
    #[serde(default)]
    pub never_left: bool,
    /// What the gateway said when it refused.
    pub failure: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// When the reconciler next follows it (None: final, or nothing to ask).
    pub next_check_at: Option<Timestamp>,
    pub events: Vec<RefundEvent>,
}

impl Refund {
    /// Moves to `to` when allowed, with an event; whether it moved.
    pub fn advance(&mut self, to: RefundStatus, source: Source, now: Timestamp) -> bool {
        if !self.status.can_become(to) {
            return false;
        }
        self.status = to;
        self.updated_at = now;
        self.events.push(RefundEvent {
            at: now,
            status: to,
            source,
        });
        true
    }
}

/// A new refund id.
pub fn new_refund_id() -> String {
    super::payment::random_id("rf_", 24)
}

#[cfg(test)]
mod tests {
    use super::RefundStatus as S;

    #[test]
    fn refunds_move_forward_and_final_ones_stay_except_a_late_failure() {
        assert!(S::Requested.can_become(S::Created));
        assert!(S::Requested.can_become(S::Refunded));
        assert!(S::Created.can_become(S::Accepted));
        assert!(!S::Accepted.can_become(S::Created));
        assert!(!S::Created.can_become(S::Created));
        assert!(S::Refunded.can_become(S::Rejected));
        assert!(!S::Refunded.can_become(S::Canceled));
        assert!(!S::Rejected.can_become(S::Refunded));
        assert!(!S::Canceled.can_become(S::Created));
        assert!(S::Requested.holds_amount() && !S::Rejected.holds_amount());
    }
}
