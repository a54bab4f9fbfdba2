//! Approvals: a person's yes or no before money moves, kept in the ledger so that any
//! process or replica — the one the MCP client talks to, or the one serving the approval
//! page — sees the same decision, taken once.
//!
//! Two records per approval: `approval/<id>` holds it, and `approval_claim/<digest>` (the
//! digest of organization and idempotency claim) names the approval of that request, so
//! a retried call finds the approval it is waiting for instead of asking twice. Both are
//! written by compare-and-swap; a decision swaps pending for approved or declined and so
//! wins once.

use super::record_codec::{claim_digest, decode, encode};
use super::{PaymentError, Payments};
use crate::domain::{
    Approval, ApprovalAction, ApprovalState, DecidedVia, Money, Standing, Timestamp,
    approval::new_approval_id,
};

const APPROVAL: &str = "approval";
const APPROVAL_CLAIM: &str = "approval_claim";

/// What a request needing approval is, before an approval exists for it.
#[derive(Debug, Clone)]
pub struct ApprovalRequest {
    pub organization: String,
    pub claim: String,
    pub fingerprint: String,
    pub action: ApprovalAction,
    pub amount: Money,
    pub payer: String,
    pub description: String,
    pub live: bool,
    pub gateway: String,
    pub request: serde_json::Value,
}

/// Why a decision was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotDecided {
    NotFound,
    /// Decided before (by this or another click, process or replica).
    AlreadyDecided(ApprovalState),
    Expired,
}

impl Payments {
    /// The approval page of `id`: `<public base>/approve/<id>`.
    pub fn approval_url(&self, id: &str) -> String {
        format!("{}/approve/{id}", self.settings().public_base_url)
    }

    /// The approval `id`, as stored (with its bytes, for a later swap).
    async fn approval_raw(&self, id: &str) -> Result<Option<(Approval, Vec<u8>)>, PaymentError> {
        match self.store().record_get(APPROVAL, id).await? {
            None => Ok(None),
            Some(bytes) => Ok(Some((decode("an approval", &bytes)?, bytes))),
        }
    }

    /// The approval `id` if it belongs to `organization`.
    pub async fn approval(
        &self,
        organization: &str,
        id: &str,
    ) -> Result<Option<Approval>, PaymentError> {
        if !crate::domain::approval::is_approval_id(id) {
            return Ok(None);
        }
        Ok(self
            .approval_raw(id)
            .await?
            .map(|(a, _)| a)
            .filter(|a| a.organization == organization))
    }

    /// The approval that covers `req`: the one already asked for this request (decided,
    /// or still waiting), else a new pending one. An expired one is replaced. The same
    /// claim with other arguments is another request: `IdempotencyConflict`.
    pub(crate) async fn approval_for(
        &self,
        req: ApprovalRequest,
    ) -> Result<Approval, PaymentError> {
        let digest = claim_digest(&req.organization, &req.claim);
        for _ in 0..8 {
            let now = Timestamp::now();
            let current = self.store().record_get(APPROVAL_CLAIM, &digest).await?;
            if let Some(id_bytes) = &current {
                let id = String::from_utf8_lossy(id_bytes).into_owned();
                if let Some((a, _)) = self.approval_raw(&id).await? {
                    if a.fingerprint != req.fingerprint {
                        return Err(PaymentError::IdempotencyConflict { payment_id: a.id });
                    }
                    // A request without an idempotencyKey is "the same request" only within
                    // the idempotency window: after it, identical arguments are a new
                    // payment, and a person is asked again.
                    let window = self.settings().idempotency_window.as_millis() as i64;
                    let keyless =
                        req.claim.starts_with("auto:") || req.claim.starts_with("refund-auto:");
                    let outlived = keyless && a.decided_at.is_some_and(|d| now.0 > d.0 + window);
                    if a.standing(now) != Standing::Expired && !outlived {
                        return Ok(a);
                    }
                }
            }
            let ttl = self.settings().approval_ttl;
            let a = Approval {
                id: new_approval_id(),
                organization: req.organization.clone(),
                claim: req.claim.clone(),
                fingerprint: req.fingerprint.clone(),
                action: req.action,
                amount: req.amount,
                payer: req.payer.clone(),
                description: req.description.clone(),
                live: req.live,
                gateway: req.gateway.clone(),
                state: ApprovalState::Pending,
                created_at: now,
                expires_at: now.plus_millis(ttl.as_millis() as i64),
                decided_at: None,
                decided_via: None,
                request: req.request.clone(),
                outcome_id: None,
            };
            self.store()
                .record_swap(APPROVAL, &a.id, None, &encode(&a)?)
                .await?;
            if self
                .store()
                .record_swap(APPROVAL_CLAIM, &digest, current.as_deref(), a.id.as_bytes())
                .await?
            {
                self.metrics().approvals_asked.inc();
                return Ok(a);
            }
            // Another call asked at the same moment: use its approval.
        }
        Err(PaymentError::Store(crate::store::StoreError::Unreachable(
            "approvals kept changing under a request; try again".into(),
        )))
    }

    /// Takes the decision on approval `id` of `organization`, once.
    pub async fn decide_approval(
        &self,
        organization: Option<&str>,
        id: &str,
        approve: bool,
        via: DecidedVia,
    ) -> Result<Result<Approval, NotDecided>, PaymentError> {
        if !crate::domain::approval::is_approval_id(id) {
            return Ok(Err(NotDecided::NotFound));
        }
        loop {
            let Some((a, bytes)) = self.approval_raw(id).await? else {
                return Ok(Err(NotDecided::NotFound));
            };
            if organization.is_some_and(|o| o != a.organization) {
                return Ok(Err(NotDecided::NotFound));
            }
            let now = Timestamp::now();
            let Some(next) = a.decided(approve, via, now) else {
                return Ok(Err(match a.standing(now) {
                    Standing::Expired => NotDecided::Expired,
                    _ => NotDecided::AlreadyDecided(a.state),
                }));
            };
            if self
                .store()
                .record_swap(APPROVAL, id, Some(&bytes), &encode(&next)?)
                .await?
            {
                if approve {
                    self.metrics().approvals_approved.inc();
                } else {
                    self.metrics().approvals_declined.inc();
                }
                tracing::info!(organization = %next.organization, approved = approve, via = ?via, "approval decided");
                return Ok(Ok(next));
            }
        }
    }

    /// Records what the approved request made (best effort: a later read can find it
    /// again by running the idempotent request).
    pub async fn note_approval_outcome(&self, id: &str, outcome: &str) {
        for _ in 0..4 {
            let Ok(Some((a, bytes))) = self.approval_raw(id).await else {
                return;
            };
            if a.outcome_id.as_deref() == Some(outcome) {
                return;
            }
            let mut next = a.clone();
            next.outcome_id = Some(outcome.to_string());
            let Ok(next) = encode(&next) else { return };
            match self
                .store()
                .record_swap(APPROVAL, id, Some(&bytes), &next)
                .await
            {
                Ok(true) => return,
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "could not note what an approval made");
                    return;
                }
            }
        }
    }

    /// The approval of the request behind `organization`'s claim, if one was asked.
    pub async fn approval_of_claim(
        &self,
        organization: &str,
        claim: &str,
    ) -> Result<Option<Approval>, PaymentError> {
        let digest = claim_digest(organization, claim);
        match self.store().record_get(APPROVAL_CLAIM, &digest).await? {
            None => Ok(None),
            Some(id) => Ok(self
                .approval_raw(&String::from_utf8_lossy(&id))
                .await?
                .map(|(a, _)| a)),
        }
    }
}

impl Payments {
    /// The approval `id`, whatever its organization (the approval page: the id is the
    /// secret that proves the right to see it).
    pub async fn approval_by_id(&self, id: &str) -> Result<Option<Approval>, PaymentError> {
        if !crate::domain::approval::is_approval_id(id) {
            return Ok(None);
        }
        Ok(self.approval_raw(id).await?.map(|(a, _)| a))
    }

    /// Runs the request an approved approval covers (idempotent: its claim makes a second
    /// run return the first one's result). The id of what it made.
    pub async fn run_approved(&self, approval: &Approval) -> Result<String, PaymentError> {
        match approval.action {
            ApprovalAction::CreatePayment => {
                let input: super::CreateInput = serde_json::from_value(approval.request.clone())
                    .map_err(|e| {
                        PaymentError::Store(crate::store::StoreError::Corrupt(format!(
                            "the request of an approval does not decode: {e}"
                        )))
                    })?;
                let done = self.create(input, crate::domain::Source::Approval).await?;
                Ok(done.payment.id)
            }
            ApprovalAction::Refund => self.run_approved_refund(approval).await,
        }
    }
}
