//! Reconciliation: asking the gateway about payments whose outcome we may have missed.
//!
//! A gateway's confirmation may never arrive, and a crash can leave a draft whose order the
//! gateway did or did not create. [`reconcile_once`] reads only what is due
//! (`Store::due`: pending payments from `pending_check_after` after creation, drafts from
//! `draft_check_after`), asks the gateway with bounded concurrency, and records what it says
//! through the payments' one check path ([`Payments::check`], [`Payments::resolve_draft`]),
//! so MCP subscribers and outbound notifications hear of it.
//! [`run`] is only the loop around it; tests drive `reconcile_once` with their own clock.
//!
//! # Invariants
//!
//! - A pending payment that is still pending is rescheduled with per-payment exponential
//!   backoff ([`Backoff::next_check`]), never later than just after its order expires, so
//!   an expiry is noticed promptly.
//! - A draft is resolved by our reference: no order → failed `not_created`; an order still
//!   pending → failed `link_lost` (its token never reached us, so nobody can pay it); paid →
//!   paid; rejected or cancelled → failed.
//! - A gateway or ledger error is counted and the payment rescheduled with backoff; it
//!   never stops the pass.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::domain::{Payment, PaymentStatus, Source, Timestamp};
use crate::gateway::Verdict;
use crate::payments::{PaymentError, Payments};
use crate::telemetry::Metrics;

/// Per-payment backoff between checks of a payment that stays pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The delay after the first check that found nothing new; doubled after each one.
    pub base: Duration,
    /// The longest delay between two checks.
    pub cap: Duration,
    /// How long after the order's expiry the last check happens.
    pub after_expiry: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_secs(300),
            cap: Duration::from_secs(6 * 3600),
            after_expiry: Duration::from_secs(60),
        }
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Backoff {
    /// When to look again after `attempts` checks found nothing new: `base × 2^attempts`
    /// (capped), but no later than `after_expiry` past an expiry still ahead.
    pub fn next_check(
        &self,
        now: Timestamp,
        attempts: u32,
        expires_at: Option<Timestamp>,
    ) -> Timestamp {
        let factor = 1u32.checked_shl(attempts.min(31)).unwrap_or(u32::MAX);
        let delay = self.base.saturating_mul(factor).min(self.cap);
        let next = now.plus_millis(millis(delay));
        match expires_at.map(|e| e.plus_millis(millis(self.after_expiry))) {
            Some(just_after) if just_after > now && just_after < next => just_after,
            _ => next,
        }
    }
}

/// What the reconciler needs; cheap to clone.
#[derive(Clone)]
pub struct Reconciler {
    pub payments: Payments,
    /// Gateway checks in flight at once.
    pub concurrency: usize,
    /// Payments read per pass.
    pub batch_limit: usize,
    pub backoff: Backoff,
}

impl Reconciler {
    fn metrics(&self) -> &Arc<Metrics> {
        self.payments.metrics()
    }

    /// Defaults: 8 checks at once, 500 payments per pass, 5 min backoff base capped at 6 h.
    pub fn new(payments: Payments) -> Reconciler {
        Reconciler {
            payments,
            concurrency: 8,
            batch_limit: 500,
            backoff: Backoff::default(),
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReconcileReport {
    pub checked: usize,
    pub changed: usize,
    pub still_pending: usize,
    pub errors: usize,
    /// Refunds whose state changed.
    pub refunds_changed: usize,
}

/// What checking one payment came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Checked {
    /// The status changed (to the payment's current status).
    Changed,
    /// Still pending; looked at again at the payment's `nextCheckAt`.
    StillPending,
    /// Nothing to do (already final, or the gateway confirms what we have).
    Unchanged,
    /// The gateway or the ledger failed; retried later with backoff.
    Error { message: String },
}

/// One payment reconciled on request (`paylink payments reconcile --id`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reconciled {
    pub payment: Payment,
    #[serde(flatten)]
    pub checked: Checked,
}

/// A pass by hand (`paylink payments reconcile`): every payment that is not final counts
/// as due, whenever its next check was scheduled.
pub async fn reconcile_all_open(deps: &Reconciler) -> ReconcileReport {
    let now = Timestamp::now();
    let far = now.plus_secs(100 * 365 * 24 * 3600);
    // Due by `far`, but checked (and rescheduled) as of `now`: a payment still open is
    // looked at again after its backoff from now, not a century from now.
    pass(deps, far, now).await
}

/// One pass over the payments due at `now`.
pub async fn reconcile_once(deps: &Reconciler, now: Timestamp) -> ReconcileReport {
    pass(deps, now, now).await
}

/// One pass over the payments due by `due_by`, checked as of `now`.
async fn pass(deps: &Reconciler, due_by: Timestamp, now: Timestamp) -> ReconcileReport {
    deps.metrics().reconciler_runs.inc();
    let mut report = ReconcileReport::default();
    let due = match deps.payments.due(due_by, deps.batch_limit).await {
        Ok(due) => due,
        Err(e) => {
            tracing::error!(error = %e, "reconciler: cannot read the due payments");
            report.errors += 1;
            deps.metrics().reconciler_errors.inc();
            return report;
        }
    };
    let mut results = futures::stream::iter(due)
        .map(|p| async move { check(deps, &p, now, true).await })
        .buffer_unordered(deps.concurrency.max(1));
    while let Some((_, checked)) = results.next().await {
        report.checked += 1;
        match checked {
            Checked::Changed => report.changed += 1,
            Checked::StillPending => report.still_pending += 1,
            Checked::Unchanged => {}
            Checked::Error { .. } => report.errors += 1,
        }
    }
    // Refunds still open: followed by a signed read (or sent again where that is safe).
    // (Refunds as before: a manual pass follows every open one.)
    match deps.payments.reconcile_refunds(due_by).await {
        Ok(changed) => report.refunds_changed += changed,
        Err(e) => {
            tracing::warn!(error = %e, "reconciler: cannot follow the open refunds");
            report.errors += 1;
        }
    }
    if report.checked > 0 || report.refunds_changed > 0 {
        tracing::info!(?report, "reconciliation pass");
    }
    report
}

/// Checks one payment now, due or not. Returns `NotFound` for an unknown id.
pub async fn reconcile_one(
    deps: &Reconciler,
    id: &str,
    now: Timestamp,
) -> Result<Reconciled, PaymentError> {
    let p = deps
        .payments
        .get(id)
        .await?
        .ok_or_else(|| PaymentError::NotFound(id.to_string()))?;
    let (payment, checked) = check(deps, &p, now, false).await;
    Ok(Reconciled { payment, checked })
}

/// The loop: a pass, then a sleep of `interval`, until `shutdown`. A pass that filled its
/// batch is followed by another at once (a backlog drains without waiting intervals).
pub async fn run(reconciler: Reconciler, interval: Duration, shutdown: CancellationToken) {
    loop {
        let report = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = reconcile_once(&reconciler, Timestamp::now()) => r,
        };
        let pause = if report.checked >= reconciler.batch_limit {
            Duration::from_millis(100)
        } else {
            interval
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

/// Checks `p` and records the result; `scheduled` says the check came from the due scan
/// (so a payment still pending must be rescheduled).
async fn check(
    deps: &Reconciler,
    p: &Payment,
    now: Timestamp,
    scheduled: bool,
) -> (Payment, Checked) {
    deps.metrics().reconciler_checked.inc();
    let result = match p.status {
        PaymentStatus::Draft => check_draft(deps, p, now).await,
        PaymentStatus::Pending => check_pending(deps, p, now).await,
        PaymentStatus::Failed if !scheduled && p.gateway_token.is_some() => {
            check_pending(deps, p, now).await
        }
        PaymentStatus::Paid | PaymentStatus::Failed => {
            if p.next_check_at.is_some() {
                // A final payment has nothing left to check.
                if let Err(e) = deps
                    .payments
                    .reschedule(&p.id, None, p.check_attempts)
                    .await
                {
                    tracing::warn!(payment = %p.id, error = %e, "cannot unschedule a final payment");
                }
            }
            Ok((p.clone(), Checked::Unchanged))
        }
    };
    let (payment, checked) = match result {
        Ok(done) => done,
        Err(message) => {
            tracing::warn!(payment = %p.id, error = %message, "reconciler: check failed; retrying later");
            (p.clone(), Checked::Error { message })
        }
    };
    if checked == Checked::Changed {
        deps.metrics().reconciler_changed.inc();
    } else if matches!(checked, Checked::Error { .. }) {
        deps.metrics().reconciler_errors.inc();
    }
    let open = matches!(
        payment.status,
        PaymentStatus::Draft | PaymentStatus::Pending
    );
    if scheduled && open {
        // Still open after a scheduled check: look again later, backing off.
        let attempts = payment.check_attempts.saturating_add(1);
        let next = deps
            .backoff
            .next_check(now, payment.check_attempts, payment.expires_at);
        if let Err(e) = deps
            .payments
            .reschedule(&payment.id, Some(next), attempts)
            .await
        {
            tracing::warn!(payment = %payment.id, error = %e, "cannot reschedule the payment");
        }
    }
    (payment, checked)
}

/// A pending payment (or, on request, a failed one with a token): the one check path,
/// then a look for a second order under the same reference.
async fn check_pending(
    deps: &Reconciler,
    p: &Payment,
    now: Timestamp,
) -> Result<(Payment, Checked), String> {
    let checked = deps
        .payments
        .check_at(p, Source::Reconciler, now)
        .await
        .map_err(|e| e.to_string())?;
    deps.payments.look_for_second_order(p).await;
    Ok(match (checked.event, checked.status.verdict) {
        (Some(_), _) => (checked.payment, Checked::Changed),
        (None, Verdict::Pending) => (checked.payment, Checked::StillPending),
        (None, _) => (checked.payment, Checked::Unchanged),
    })
}

/// A draft: did the gateway create its order?
async fn check_draft(
    deps: &Reconciler,
    p: &Payment,
    now: Timestamp,
) -> Result<(Payment, Checked), String> {
    let after = deps
        .payments
        .resolve_draft(p, Source::Reconciler, now)
        .await
        .map_err(|e| e.to_string())?;
    let checked = if after.status != p.status {
        Checked::Changed
    } else {
        Checked::Unchanged
    };
    Ok((after, checked))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_never_passes_just_after_expiry() {
        let b = Backoff::default();
        let now = Timestamp(0);
        let min = |m: i64| Timestamp(m * 60_000);
        let table = [
            (0, None, min(5)),
            (1, None, min(10)),
            (2, None, min(20)),
            (6, None, min(320)),
            (7, None, min(360)),
            (40, None, min(360)),
            (3, Some(min(10)), min(11)),
            (0, Some(min(60)), min(5)),
            // An expiry already past does not pull the next check into the past.
            (2, Some(min(-10)), min(20)),
        ];
        for (attempts, expires_at, want) in table {
            assert_eq!(
                b.next_check(now, attempts, expires_at),
                want,
                "attempts {attempts}, expires {expires_at:?}"
            );
        }
    }
}
