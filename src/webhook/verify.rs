//! Verifying one confirmation: the token is only a hint; the truth is a signed getStatus.
//!
//! Fast path (seed 000): the ledger knows the token → ask the payment's own organization and
//! environment → apply the verdict to that payment only. Fallback, for tokens the ledger
//! does not know: ask at most `fallback_accounts` configured accounts, each lookup taking a
//! token from one global bucket, so a flood of random tokens cannot become a flood of calls
//! to Flow. A token Flow knows is applied only to the payment whose organization,
//! environment and commerceOrder match Flow's answer and whose stored token (if any) is
//! this token; anything else — another merchant's order, a replayed token — changes
//! nothing. Every confirmation ends as one entry in the confirmation log.

use std::sync::Arc;
use std::time::Instant;

use super::log::{self, Outcome};
use super::metrics::Metrics;
use super::queue::TokenBucket;
use crate::domain::{Environment, Payment, PaymentStatus, Source};
use crate::gateway::flow::FlowError;
use crate::gateway::{GatewayVerdict, OrderStatus, PaymentGateway};
use crate::payments::Payments;

pub(crate) struct Verifier {
    pub payments: Payments,
    pub metrics: Arc<Metrics>,
    pub fallback_limit: TokenBucket,
    pub fallback_accounts: usize,
}

impl Verifier {
    /// Verifies `token`, counts the outcome and records it in the confirmation log.
    pub async fn handle(&self, token: &str) {
        let (outcome, payment_id) = self.verify(token).await;
        let m = &self.metrics;
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
        log::record(
            self.payments.store(),
            token,
            &outcome,
            payment_id.as_deref(),
        );
    }

    async fn verify(&self, token: &str) -> (Outcome, Option<String>) {
        match self.payments.store().by_token(token) {
            Err(e) => (Outcome::StoreError(e.to_string()), None),
            Ok(Some(p)) => {
                let outcome = self.verify_known(&p, token).await;
                (outcome, Some(p.id))
            }
            Ok(None) => self.fallback(token).await,
        }
    }

    /// The fast path: the payment's own account, its own token.
    async fn verify_known(&self, p: &Payment, token: &str) -> Outcome {
        if p.status.is_terminal() {
            // Paid never changes: a replay costs no call to Flow.
            return Outcome::Unchanged;
        }
        let Some(entry) = self.payments.gateways().get(&p.organization, p.environment) else {
            return Outcome::GatewayError(format!(
                "no Flow account is configured for organization {:?} ({})",
                p.organization,
                p.environment.as_str()
            ));
        };
        let started = Instant::now();
        let answer = entry.client.status_by_token(token).await;
        self.metrics
            .observe_gateway("status_by_token", "webhook", started);
        match answer {
            Ok(status) => self.apply(p, &status).await,
            Err(e) => Outcome::GatewayError(e.to_string()),
        }
    }

    /// The slow path for tokens the ledger does not know (payments recorded without one).
    async fn fallback(&self, token: &str) -> (Outcome, Option<String>) {
        let mut last_error: Option<FlowError> = None;
        for (organization, entry) in self
            .payments
            .gateways()
            .all()
            .into_iter()
            .take(self.fallback_accounts)
        {
            if !self.fallback_limit.try_take() {
                return (Outcome::RateLimited, None);
            }
            let started = Instant::now();
            let answer = entry.client.status_by_token(token).await;
            self.metrics
                .observe_gateway("status_by_token", "webhook", started);
            match answer {
                Ok(status) => {
                    return self
                        .claim(&organization, entry.environment, token, &status)
                        .await;
                }
                // Flow's own refusal ("not found"): this account does not know the token.
                Err(e @ FlowError::Api { .. }) if !e.is_auth() => {}
                Err(e) => last_error = Some(e),
            }
        }
        match last_error {
            Some(e) => (Outcome::GatewayError(e.to_string()), None),
            None => (Outcome::UnknownToken, None),
        }
    }

    /// Flow knows `token` in this account: apply it only to the payment it really is.
    async fn claim(
        &self,
        organization: &str,
        environment: Environment,
        token: &str,
        status: &OrderStatus,
    ) -> (Outcome, Option<String>) {
        let found = match self
            .payments
            .store()
            .by_commerce_order(&status.commerce_order)
        {
            Ok(found) => found,
            Err(e) => return (Outcome::StoreError(e.to_string()), None),
        };
        match found {
            Some(p)
                if p.organization == organization
                    && p.environment == environment
                    && p.flow_token.as_deref().is_none_or(|t| t == token) =>
            {
                let outcome = self.apply(&p, status).await;
                (outcome, Some(p.id))
            }
            _ => (Outcome::ForeignToken, None),
        }
    }

    async fn apply(&self, before: &Payment, status: &OrderStatus) -> Outcome {
        if status.commerce_order != before.commerce_order {
            // Flow's order behind this token is not this payment's order.
            return Outcome::ForeignToken;
        }
        match self
            .payments
            .apply_verdict(before, status, Source::Webhook)
            .await
        {
            Err(e) => Outcome::StoreError(e.to_string()),
            Ok(after) => describe(before, &status.verdict, &after),
        }
    }
}

/// Names what applying a verdict did, comparing the payment before and after.
fn describe(before: &Payment, verdict: &GatewayVerdict, after: &Payment) -> Outcome {
    if matches!(verdict, GatewayVerdict::Pending) {
        return Outcome::Pending;
    }
    if after.status == before.status && after.version == before.version {
        return Outcome::Unchanged;
    }
    match after.status {
        PaymentStatus::Paid if before.status != PaymentStatus::Paid => Outcome::Paid,
        PaymentStatus::Failed if before.status != PaymentStatus::Failed => {
            Outcome::Failed(after.failure_reason.map_or("unknown", |r| r.as_str()))
        }
        PaymentStatus::Draft
        | PaymentStatus::Pending
        | PaymentStatus::Paid
        | PaymentStatus::Failed => Outcome::Unchanged,
    }
}
