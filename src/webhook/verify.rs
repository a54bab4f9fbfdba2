//! Verifying one confirmation: the token is only a hint; the truth is the gateway's
//! signed answer, asked and applied by [`Payments`] on its one check path.
//!
//! Fast path: the ledger knows the token → the payment's own account is asked about it,
//! and its answer applies to that payment only. Fallback, for tokens the ledger does not
//! know: at most `fallback_accounts` accounts are asked, each lookup taking a token from
//! one global bucket, so a flood of random tokens cannot become a flood of gateway calls;
//! an answer applies only to the payment whose account and reference match it (see
//! [`Payments::claim_token`]). Anything else — another merchant's order, a replayed
//! token — changes nothing. Every confirmation ends as one entry in the confirmation log.

use super::log::{self, Outcome};
use super::queue::{Confirmation, TokenBucket};
use crate::domain::{Environment, Payment, PaymentStatus, Source};
use crate::gateway::{GatewayKind, Notification, Verdict};
use crate::payments::{CheckError, Checked, Payments, TokenClaim};

pub(crate) struct Verifier {
    pub payments: Payments,
    pub fallback_limit: TokenBucket,
    pub fallback_accounts: usize,
}

impl Verifier {
    /// Verifies a confirmation, counts the outcome and records it in the confirmation log.
    pub async fn handle(&self, item: &Confirmation) {
        let (outcome, payment_id) = match item {
            Confirmation::Token(token) => self.verify(token).await,
            Confirmation::Event {
                organization,
                environment,
                kind,
                notification,
            } => {
                self.verify_event(organization, *environment, *kind, notification)
                    .await
            }
        };
        let token = item.label();
        let m = self.payments.metrics();
        match &outcome {
            Outcome::Paid | Outcome::Failed(_) | Outcome::Pending | Outcome::Unchanged => {
                m.confirmations_verified.inc();
            }
            Outcome::UnknownToken | Outcome::ForeignToken | Outcome::RateLimited => {
                m.confirmations_ignored.inc();
            }
            Outcome::Duplicate => {
                m.confirmations_coalesced.inc();
            }
            Outcome::QueueFull => {
                m.confirmations_queue_full.inc();
            }
            Outcome::GatewayError(_) | Outcome::StoreError(_) => {
                m.confirmations_errors.inc();
            }
        }
        match &outcome {
            Outcome::GatewayError(e) | Outcome::StoreError(e) => {
                tracing::warn!(payment = ?payment_id, error = %e, "confirmation not verified; the reconciler will retry");
            }
            other => {
                tracing::info!(payment = ?payment_id, outcome = %other.label(), "confirmation verified")
            }
        }
        log::record(&self.payments, token, &outcome, payment_id.as_deref()).await;
    }

    async fn verify(&self, token: &str) -> (Outcome, Option<String>) {
        match self.payments.by_token(token).await {
            Err(e) => (Outcome::StoreError(e.to_string()), None),
            Ok(Some(p)) => {
                let outcome = self.verify_known(&p, token).await;
                (outcome, Some(p.id))
            }
            Ok(None) => self.fallback(token).await,
        }
    }

    /// A signed event: the payment it names, in the account it was sent to, checked with a
    /// signed read (the event itself is only a hint).
    async fn verify_event(
        &self,
        organization: &str,
        environment: Environment,
        kind: GatewayKind,
        n: &Notification,
    ) -> (Outcome, Option<String>) {
        let found = match (&n.payment_id, &n.token) {
            (Some(id), _) => self.payments.get(id).await,
            (None, Some(token)) => self.payments.by_token(token).await,
            (None, None) => Ok(None),
        };
        let p = match found {
            Err(e) => return (Outcome::StoreError(e.to_string()), None),
            Ok(Some(p))
                if p.organization == organization
                    && p.environment == environment
                    && p.gateway == kind =>
            {
                p
            }
            // Not ours, or another account's: an event about someone else's order.
            Ok(Some(_)) => return (Outcome::ForeignToken, None),
            Ok(None) => return (Outcome::UnknownToken, None),
        };
        if p.status.is_terminal() {
            return (Outcome::Unchanged, Some(p.id));
        }
        let outcome = match self.payments.check(&p, Source::Webhook).await {
            Ok(checked) => describe(&checked),
            Err(e) => failed(e),
        };
        (outcome, Some(p.id))
    }

    /// The fast path: the payment's own account, its own token.
    async fn verify_known(&self, p: &Payment, token: &str) -> Outcome {
        if p.status.is_terminal() {
            // Paid never changes: a replay costs no gateway call.
            return Outcome::Unchanged;
        }
        match self.payments.check_token(p, token, Source::Webhook).await {
            Ok(checked) => describe(&checked),
            Err(e) => failed(e),
        }
    }

    /// The slow path for tokens the ledger does not know (payments recorded without one).
    async fn fallback(&self, token: &str) -> (Outcome, Option<String>) {
        let claim = self
            .payments
            .claim_token(
                token,
                self.fallback_accounts,
                || self.fallback_limit.try_take(),
                Source::Webhook,
            )
            .await;
        match claim {
            Ok(TokenClaim::Unknown) => (Outcome::UnknownToken, None),
            Ok(TokenClaim::Foreign) => (Outcome::ForeignToken, None),
            Ok(TokenClaim::RateLimited) => (Outcome::RateLimited, None),
            Ok(TokenClaim::Checked(checked)) => {
                let id = checked.payment.id.clone();
                (describe(&checked), Some(id))
            }
            Err(e) => (failed(e), None),
        }
    }
}

fn failed(e: CheckError) -> Outcome {
    match e {
        // The gateway's order behind this token is not this payment's order.
        CheckError::Foreign { .. } => Outcome::ForeignToken,
        CheckError::Store(e) => Outcome::StoreError(e.to_string()),
        e @ (CheckError::Gateway(_)
        | CheckError::NoAccount { .. }
        | CheckError::NotAtGateway { .. }) => Outcome::GatewayError(e.to_string()),
    }
}

/// Names what a check did, from the event it recorded.
fn describe(checked: &Checked) -> Outcome {
    if matches!(checked.status.verdict, Verdict::Pending) {
        return Outcome::Pending;
    }
    let Some(event) = &checked.event else {
        return Outcome::Unchanged;
    };
    match event.to {
        PaymentStatus::Paid => Outcome::Paid,
        PaymentStatus::Failed => Outcome::Failed(
            checked
                .payment
                .failure_reason
                .map_or("unknown", |r| r.as_str()),
        ),
        PaymentStatus::Draft | PaymentStatus::Pending => Outcome::Unchanged,
    }
}
