//! Refunding a paid payment: claim, approve, reserve, act, record — like a create.
//!
//! 1. The payment must be paid; the amount (all that remains when none is given) is parsed
//!    in its currency.
//! 2. The request's claim (its idempotencyKey, else its arguments within the window) finds
//!    the refund an earlier identical request made: a retry returns it.
//! 3. A person always approves a refund first (see [`super::approvals`]).
//! 4. The refund is recorded as `requested` and its amount reserved on the payment's
//!    refund list, by a compare-and-swap that never lets the refunds pass the payment.
//! 5. The gateway is asked; its answer moves the refund on. A refusal ends it `rejected`
//!    (its amount freed); an unanswered call leaves it `requested` for the reconciler,
//!    which sends it again only where the gateway honours idempotency keys (a second Flow
//!    refund could be paid out: there the refund is marked for an operator instead).
//!
//! Callbacks and the reconciler only ever move a refund by a signed read of it.

use sha2::{Digest, Sha256};

use super::record_codec::claim_digest;
use super::refund_ledger::Reserve;
use super::{PaymentError, Payments};
use crate::domain::refund::new_refund_id;
use crate::domain::{
    ApprovalAction, Money, PaymentStatus, Refund, RefundStatus, Source, Standing, Timestamp,
};
use crate::gateway::{GatewayError, GatewayKind, RefundRequest, RefundState};

/// A refund request in domain terms. Kept whole in its approval.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RefundInput {
    pub organization: String,
    pub payment_id: String,
    /// The exact decimal text of the amount; None: all that remains.
    pub amount_text: Option<String>,
    pub idempotency_key: Option<String>,
}

/// A refund made (or returned again).
#[derive(Debug, Clone)]
pub struct RefundOutcome {
    pub refund: Refund,
    /// Everything the payment's refunds hold now, this one included.
    pub held: Money,
    pub reused: bool,
}

/// What an earlier request with the same claim left.
enum Existing {
    Found(Box<RefundOutcome>),
    /// A refund without a key, older than the window: this request is a new one.
    Lapsed(String),
    None,
}

/// The neutral gateway state as the ledger records it.
fn status_of(s: RefundState) -> RefundStatus {
    match s {
        RefundState::Created => RefundStatus::Created,
        RefundState::Accepted => RefundStatus::Accepted,
        RefundState::Rejected => RefundStatus::Rejected,
        RefundState::Refunded => RefundStatus::Refunded,
        RefundState::Canceled => RefundStatus::Canceled,
    }
}

/// Whether a refund create whose answer was lost may be sent again: only where the
/// gateway honours idempotency keys.
pub(super) fn resend_is_safe(kind: GatewayKind) -> bool {
    match kind {
        GatewayKind::Stripe => true,
        GatewayKind::Flow => false,
    }
}

fn fingerprint(org: &str, payment_id: &str, amount: Money) -> String {
    let mut h = Sha256::new();
    for part in [
        org,
        payment_id,
        &amount.minor.to_string(),
        amount.currency.code(),
    ] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    hex::encode(h.finalize())
}

impl Payments {
    /// Refunds (part of) a paid payment, or returns the refund an identical request made.
    pub async fn refund(
        &self,
        input: RefundInput,
        source: Source,
    ) -> Result<RefundOutcome, PaymentError> {
        let org = input.organization.clone();
        let payment = self.find(&org, &input.payment_id).await?;
        if payment.status != PaymentStatus::Paid {
            return Err(PaymentError::NotRefundable {
                payment_id: payment.id.clone(),
                status: payment.status,
            });
        }
        let entry = self
            .gateways()
            .get(&org, payment.environment, payment.gateway)
            .ok_or_else(|| PaymentError::NoAccount {
                organization: org.clone(),
                environment: payment.environment,
            })?;
        let currency = payment.amount.currency;
        let held_before = self.held_minor(&payment.id).await?;
        let amount = match &input.amount_text {
            Some(t) => Money::parse_major(t, currency).map_err(PaymentError::InvalidAmount)?,
            None => {
                let rest = payment.amount.minor - held_before;
                if rest <= 0 {
                    return Err(PaymentError::NothingToRefund {
                        payment_id: payment.id.clone(),
                    });
                }
                Money::from_minor(rest, currency)
            }
        };
        let fp = fingerprint(&org, &payment.id, amount);
        let now = Timestamp::now();
        let claim = match &input.idempotency_key {
            Some(k) => format!("refund:{org}:{k}"),
            // Identical calls within the window are one refund; after it, a new one.
            None => format!("refund-auto:{fp}"),
        };
        let lapses_after = input
            .idempotency_key
            .is_none()
            .then(|| self.settings().idempotency_window.as_millis() as i64);
        let digest = claim_digest(&org, &claim);
        let previous = match self
            .existing_refund(&digest, &fp, lapses_after, now)
            .await?
        {
            Existing::Found(done) => return Ok(*done),
            Existing::Lapsed(id) => Some(id),
            Existing::None => None,
        };
        if amount.minor > payment.amount.minor - held_before {
            return Err(PaymentError::RefundTooLarge {
                payment_id: payment.id.clone(),
                remaining: Money::from_minor(payment.amount.minor - held_before, currency),
            });
        }
        // A person approves every refund.
        let approval = self
            .approval_for(super::approvals::ApprovalRequest {
                organization: org.clone(),
                claim: claim.clone(),
                fingerprint: fp.clone(),
                action: ApprovalAction::Refund,
                amount,
                payer: payment.customer_email.clone(),
                description: payment.description.clone(),
                live: entry.mode.is_live(),
                gateway: entry.kind().display_name().to_string(),
                request: serde_json::to_value(&input).unwrap_or_default(),
            })
            .await?;
        match approval.standing(now) {
            Standing::Approved => {}
            Standing::Declined => {
                return Err(PaymentError::ApprovalDeclined {
                    approval_id: approval.id,
                });
            }
            Standing::Waiting | Standing::Expired => {
                return Err(PaymentError::NeedsApproval {
                    url: self.approval_url(&approval.id),
                    approval: Box::new(approval),
                    threshold: None,
                });
            }
        }

        let mut refund = Refund {
            id: new_refund_id(),
            organization: org.clone(),
            payment_id: payment.id.clone(),
            gateway: payment.gateway,
            environment: payment.environment,
            amount,
            receiver: payment.customer_email.clone(),
            status: RefundStatus::Requested,
            gateway_refund_ref: None,
            token: None,
            claim,
            fingerprint: fp.clone(),
            outcome_unknown: false,
            never_left: false,
            failure: None,
            created_at: now,
            updated_at: now,
            // If this process dies before the gateway's answer is recorded, the reconciler
            // takes it up once the call must have ended.
            next_check_at: Some(now.plus_secs(300)),
            events: vec![crate::domain::RefundEvent {
                at: now,
                status: RefundStatus::Requested,
                source,
            }],
        };
        self.insert_refund(&refund).await?;
        if !self
            .claim_refund(&digest, &refund.id, previous.as_deref())
            .await?
        {
            // An identical request got there first: its refund is the one.
            if let Existing::Found(done) = self
                .existing_refund(&digest, &fp, lapses_after, now)
                .await?
            {
                return Ok(*done);
            }
        }
        match self
            .reserve_refund(&payment.id, &refund.id, amount.minor, payment.amount.minor)
            .await?
        {
            Reserve::Reserved => {}
            Reserve::TooLarge { held_minor } => {
                // Another refund took the room meanwhile: this one never reaches the gateway.
                self.finish_refund(
                    &mut refund,
                    RefundStatus::Canceled,
                    Some("another refund of this payment took what remained".into()),
                    Source::Tool,
                )
                .await?;
                return Err(PaymentError::RefundTooLarge {
                    payment_id: payment.id.clone(),
                    remaining: Money::from_minor(payment.amount.minor - held_minor, currency),
                });
            }
        }
        self.note_approval_outcome(&approval.id, &refund.id).await;
        let refund = self.send_refund(refund, &payment, source).await?;
        let held = Money::from_minor(self.held_minor(&payment.id).await?, currency);
        Ok(RefundOutcome {
            refund,
            held,
            reused: false,
        })
    }

    /// The refund an earlier request with this claim made. `lapses_after` (ms): a claim
    /// without a key names its refund only that long; after it, the request is new.
    async fn existing_refund(
        &self,
        digest: &str,
        fp: &str,
        lapses_after: Option<i64>,
        now: Timestamp,
    ) -> Result<Existing, PaymentError> {
        let Some(id) = self.refund_of_claim(digest).await? else {
            return Ok(Existing::None);
        };
        let Some((r, _)) = self.refund_raw(&id).await? else {
            return Ok(Existing::None);
        };
        if r.fingerprint != fp {
            return Err(PaymentError::IdempotencyConflict { payment_id: r.id });
        }
        if lapses_after.is_some_and(|ms| now.0 > r.created_at.0 + ms) {
            return Ok(Existing::Lapsed(id));
        }
        let held = Money::from_minor(self.held_minor(&r.payment_id).await?, r.amount.currency);
        Ok(Existing::Found(Box::new(RefundOutcome {
            refund: r,
            held,
            reused: true,
        })))
    }

    /// Sends a `requested` refund to the gateway and records its answer.
    pub(super) async fn send_refund(
        &self,
        mut refund: Refund,
        payment: &crate::domain::Payment,
        source: Source,
    ) -> Result<Refund, PaymentError> {
        let entry = self
            .gateways()
            .get(&refund.organization, refund.environment, refund.gateway)
            .ok_or_else(|| PaymentError::NoAccount {
                organization: refund.organization.clone(),
                environment: refund.environment,
            })?;
        let base = &self.settings().public_base_url;
        let notify_url = match refund.gateway.shared_webhook_path() {
            Some(path) => format!("{base}{path}/refund"),
            None => refund
                .gateway
                .webhook_url(base, &refund.organization, refund.environment),
        };
        let req = RefundRequest {
            refund_id: refund.id.clone(),
            idempotency_key: format!("paylink-refund-{}", refund.id),
            payment_gateway_ref: payment.gateway_ref.clone().unwrap_or_default(),
            payment_token: payment.gateway_token.clone(),
            payment_reference: payment.reference.clone(),
            amount: refund.amount,
            receiver_email: refund.receiver.clone(),
            notify_url,
        };
        match entry.gateway.create_refund(&req).await {
            Ok(snapshot) => {
                self.apply_refund_snapshot(&mut refund, snapshot, source)
                    .await?;
                Ok(refund)
            }
            Err(GatewayError::Rejected { message, .. }) => {
                self.finish_refund(&mut refund, RefundStatus::Rejected, Some(message), source)
                    .await?;
                Ok(refund)
            }
            Err(error) => {
                let unknown = matches!(
                    error,
                    GatewayError::Unavailable {
                        outcome_unknown: true,
                        ..
                    }
                );
                let resend = !unknown || resend_is_safe(refund.gateway);
                self.update_refund(&mut refund, |r| {
                    r.outcome_unknown = !resend;
                    r.next_check_at = resend.then(|| Timestamp::now().plus_secs(60));
                })
                .await?;
                Err(PaymentError::RefundNotSent {
                    gateway: refund.gateway,
                    refund_id: refund.id.clone(),
                    will_retry: resend,
                    error,
                })
            }
        }
    }

    /// Writes `f`'s change to the stored refund (reading it again if it moved).
    pub(super) async fn update_refund(
        &self,
        refund: &mut Refund,
        f: impl Fn(&mut Refund),
    ) -> Result<(), PaymentError> {
        loop {
            let Some((mut stored, raw)) = self.refund_raw(&refund.id).await? else {
                return Err(PaymentError::NotFound(refund.id.clone()));
            };
            f(&mut stored);
            stored.updated_at = Timestamp::now();
            if self.swap_refund(&raw, &stored).await? {
                *refund = stored;
                return Ok(());
            }
        }
    }

    /// Moves a refund to a final state that frees or keeps its amount.
    async fn finish_refund(
        &self,
        refund: &mut Refund,
        to: RefundStatus,
        failure: Option<String>,
        source: Source,
    ) -> Result<(), PaymentError> {
        let now = Timestamp::now();
        self.update_refund(refund, |r| {
            if r.advance(to, source, now) {
                r.failure = failure.clone();
                r.next_check_at = None;
            }
        })
        .await?;
        if !refund.status.holds_amount() {
            self.release_refund(&refund.payment_id, &refund.id).await?;
        }
        Ok(())
    }

    /// Records what the gateway said of a refund (a create's answer or a signed read).
    pub(super) async fn apply_refund_snapshot(
        &self,
        refund: &mut Refund,
        snapshot: crate::gateway::RefundSnapshot,
        source: Source,
    ) -> Result<(), PaymentError> {
        let to = status_of(snapshot.state);
        let now = Timestamp::now();
        let recheck = self.settings().pending_check_after.as_secs() as i64;
        let before = refund.status;
        self.update_refund(refund, |r| {
            r.gateway_refund_ref = Some(snapshot.gateway_refund_ref.clone());
            if snapshot.token.is_some() {
                r.token = snapshot.token.clone();
            }
            r.outcome_unknown = false;
            r.advance(to, source, now);
            r.next_check_at = (!r.status.is_final()).then(|| now.plus_secs(recheck));
        })
        .await?;
        if let Some(token) = &refund.token {
            self.index_refund_token(token, &refund.id).await?;
        }
        if !refund.status.holds_amount() {
            self.release_refund(&refund.payment_id, &refund.id).await?;
        }
        if before != refund.status {
            tracing::info!(refund = %refund.id, status = refund.status.as_str(), "refund changed");
        }
        Ok(())
    }

    /// Runs an approved refund request (the approval page).
    pub(super) async fn run_approved_refund(
        &self,
        approval: &crate::domain::Approval,
    ) -> Result<String, PaymentError> {
        let input: RefundInput = serde_json::from_value(approval.request.clone()).map_err(|e| {
            PaymentError::Store(crate::store::StoreError::Corrupt(format!(
                "the request of an approval does not decode: {e}"
            )))
        })?;
        match self.refund(input, Source::Approval).await {
            Ok(done) => Ok(done.refund.id),
            // Recorded and reserved; the reconciler finishes sending it.
            Err(PaymentError::RefundNotSent { refund_id, .. }) => Ok(refund_id),
            Err(e) => Err(e),
        }
    }
}
