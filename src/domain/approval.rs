//! A person's approval of one money-moving request (a payment above the policy's
//! confirmation threshold, or a refund), asked inside the MCP client (elicitation) or
//! through a one-time link on the side listener.
//!
//! An approval covers exactly one request: the organization, its idempotency claim and the
//! fingerprint of its arguments. It is decided once — pending becomes approved or
//! declined, never back — and a pending one that outlives `expires_at` is expired: it can
//! no longer be approved, and a new request asks again. Its id is the secret part of the
//! approval link (165 random bits), so it is never logged.

use serde::{Deserialize, Serialize};

use super::{Money, Timestamp};

/// What is waiting for a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Approval {
    pub id: String,
    pub organization: String,
    /// The idempotency claim of the request it approves.
    pub claim: String,
    /// The fingerprint of the request's arguments: other arguments are another request.
    pub fingerprint: String,
    pub action: ApprovalAction,
    pub amount: Money,
    /// Who pays (a payment) or receives the money back (a refund).
    pub payer: String,
    pub description: String,
    /// Whether real money moves (a live account) or a sandbox's.
    pub live: bool,
    /// The gateway's display name.
    pub gateway: String,
    pub state: ApprovalState,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub decided_at: Option<Timestamp>,
    pub decided_via: Option<DecidedVia>,
    /// The request to run once approved, as the use case takes it.
    pub request: serde_json::Value,
    /// What the approved request made (a payment or refund id), once it ran.
    pub outcome_id: Option<String>,
}

/// The kind of request an approval is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalAction {
    CreatePayment,
    Refund,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalState {
    Pending,
    Approved,
    Declined,
}

/// How the person answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecidedVia {
    /// In the MCP client, through elicitation.
    Elicitation,
    /// On the approval page.
    Link,
}

/// What an approval amounts to now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Waiting,
    Approved,
    Declined,
    Expired,
}

impl Approval {
    pub fn standing(&self, now: Timestamp) -> Standing {
        match self.state {
            ApprovalState::Approved => Standing::Approved,
            ApprovalState::Declined => Standing::Declined,
            ApprovalState::Pending if now >= self.expires_at => Standing::Expired,
            ApprovalState::Pending => Standing::Waiting,
        }
    }

    /// The approval decided: `None` when it is no longer pending or has expired (a decision
    /// is taken once).
    pub fn decided(&self, approve: bool, via: DecidedVia, now: Timestamp) -> Option<Approval> {
        if self.standing(now) != Standing::Waiting {
            return None;
        }
        let mut next = self.clone();
        next.state = if approve {
            ApprovalState::Approved
        } else {
            ApprovalState::Declined
        };
        next.decided_at = Some(now);
        next.decided_via = Some(via);
        Some(next)
    }

    /// The words a person reads before deciding, the same in the client and on the page.
    pub fn question(&self) -> String {
        let mode = if self.live {
            "LIVE: real money moves"
        } else {
            "sandbox: no real money moves"
        };
        match self.action {
            ApprovalAction::CreatePayment => format!(
                "Approve a payment link of {} for {:?}, to be paid by {} through {} ({mode})?",
                self.amount.for_people(),
                self.description,
                self.payer,
                self.gateway
            ),
            ApprovalAction::Refund => format!(
                "Approve a refund of {} to {} of the payment for {:?} through {} ({mode})?",
                self.amount.for_people(),
                self.payer,
                self.description,
                self.gateway
            ),
        }
    }
}

/// A new approval id: `apv_` and 32 random base-36 characters.
pub fn new_approval_id() -> String {
    super::payment::random_id("apv_", 32)
}

/// Whether `s` has the shape of an approval id (checked before any lookup).
pub fn is_approval_id(s: &str) -> bool {
    s.len() == 36
        && s.starts_with("apv_")
        && s[4..]
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Currency;

    fn pending() -> Approval {
        Approval {
            id: new_approval_id(),
            organization: "default".into(),
            claim: "key:default:k1".into(),
            fingerprint: "f".into(),
            action: ApprovalAction::CreatePayment,
            amount: Money::from_minor(150_000, Currency::CLP),
            payer: "ana@example.com".into(),
            description: "Plan anual".into(),
            live: false,
            gateway: "Flow".into(),
            state: ApprovalState::Pending,
            created_at: Timestamp(1_000),
            expires_at: Timestamp(2_000),
            decided_at: None,
            decided_via: None,
            request: serde_json::json!({}),
            outcome_id: None,
        }
    }

    #[test]
    fn an_approval_is_decided_once_and_not_after_it_expires() {
        let a = pending();
        assert!(is_approval_id(&a.id));
        let yes = a.decided(true, DecidedVia::Link, Timestamp(1_500)).unwrap();
        assert_eq!(yes.standing(Timestamp(9_999)), Standing::Approved);
        assert!(
            yes.decided(false, DecidedVia::Link, Timestamp(1_600))
                .is_none()
        );
        assert!(
            a.decided(true, DecidedVia::Link, Timestamp(2_000))
                .is_none()
        );
        assert_eq!(a.standing(Timestamp(2_000)), Standing::Expired);
        let no = a
            .decided(false, DecidedVia::Elicitation, Timestamp(1_500))
            .unwrap();
        assert_eq!(no.standing(Timestamp(1_600)), Standing::Declined);
    }

    #[test]
    fn the_question_names_amount_payer_description_and_mode() {
        let q = pending().question();
        assert!(q.contains("CLP 150.000") || q.contains("150"), "{q}");
        assert!(
            q.contains("ana@example.com") && q.contains("Plan anual"),
            "{q}"
        );
        assert!(q.contains("sandbox"), "{q}");
        assert!(!is_approval_id("apv_short") && !is_approval_id("ent_abc"));
    }
}
