//! Asking a payment's gateway about it, and applying the answer: the one path that
//! `payment.getStatus`, the confirmation listener and the reconciler all take.
//!
//! The gateway's signed answer is the truth, but only for the payment it is about: an
//! answer whose reference is not the payment's changes nothing. Paid makes the payment
//! paid (correcting a local failure), rejected and cancelled make it failed (cancelled
//! after the order's expiry reads as "expired"), pending changes nothing. A check returns
//! what it did: the gateway's answer, the payment as stored afterwards, and the event
//! when it changed something.

use std::time::Instant;

use super::{GatewayEntry, PaymentError, Payments};
use crate::domain::{
    Environment, FailureReason, Payment, PaymentEvent, PaymentStatus, Source, Timestamp, Transition,
};
use crate::gateway::{GatewayError, GatewayStatus, Lookup, Verdict};
use crate::store::{ApplyOutcome, StoreError};

/// What a check did.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The payment as stored after the check.
    pub payment: Payment,
    /// The gateway's answer.
    pub status: GatewayStatus,
    /// The change the answer made, if it made one.
    pub event: Option<PaymentEvent>,
}

/// Why a check could not be completed. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("no {} account is configured for organization {organization:?}", environment.as_str())]
    NoAccount {
        organization: String,
        environment: Environment,
    },
    #[error("{0}")]
    Gateway(GatewayError),
    /// The gateway holds no order for this payment.
    #[error("the gateway holds no order {reference} for this payment")]
    NotAtGateway { reference: String },
    /// The gateway's order is another one than the payment's.
    #[error("the gateway's order is for reference {theirs:?}, not {ours:?}")]
    Foreign { ours: String, theirs: String },
    #[error("the ledger failed: {0}")]
    Store(#[from] StoreError),
}

/// What a token the ledger does not know turned out to be.
#[derive(Debug)]
pub enum TokenClaim {
    /// No account asked knows it.
    Unknown,
    /// An account knows it, but not for a payment of that account with that reference.
    Foreign,
    /// The lookup budget is spent; nothing was asked.
    RateLimited,
    /// It was one of our payments, now checked.
    Checked(Box<Checked>),
}

/// A payment's status as the caller sees it.
#[derive(Debug, Clone)]
pub struct StatusOutcome {
    pub payment: Payment,
    /// The gateway's answer, when it was asked just now.
    pub gateway: Option<GatewayStatus>,
    /// Set when the gateway should have been asked but the check failed.
    pub gateway_error: Option<GatewayError>,
}

/// Whether a stored payment is worth asking the gateway about.
fn worth_a_live_check(p: &Payment) -> bool {
    match p.status {
        PaymentStatus::Pending => p.gateway_token.is_some(),
        // An expired order can still turn out paid; the gateway's other failures are final.
        PaymentStatus::Failed => {
            p.gateway_token.is_some() && p.failure_reason == Some(FailureReason::Expired)
        }
        PaymentStatus::Draft | PaymentStatus::Paid => false,
    }
}

/// The transition a verdict calls for, if any.
pub fn transition_for(p: &Payment, verdict: &Verdict, now: Timestamp) -> Option<Transition> {
    match verdict {
        Verdict::Pending => None,
        Verdict::Paid { .. } => Some(Transition::Paid { paid_at: now }),
        Verdict::Rejected => Some(Transition::Failed {
            reason: FailureReason::Rejected,
        }),
        Verdict::Cancelled => {
            let expired = p.expires_at.is_some_and(|e| e <= now);
            let reason = if expired {
                FailureReason::Expired
            } else {
                FailureReason::Cancelled
            };
            Some(Transition::Failed { reason })
        }
    }
}

/// A lookup by the payment's reference, among orders made since just before it was.
pub(super) fn by_reference(p: &Payment) -> Lookup<'_> {
    Lookup::Reference {
        reference: &p.reference,
        created_after: p.created_at.plus_secs(-300),
    }
}

/// The outcome label of a gateway call, for the latency metric.
pub(super) fn outcome_label<T>(r: &Result<T, GatewayError>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(GatewayError::Unavailable { .. }) => "unavailable",
        Err(GatewayError::Rejected { .. }) => "rejected",
        Err(GatewayError::Misconfigured { .. }) => "misconfigured",
        Err(GatewayError::NotFound) => "not_found",
        Err(GatewayError::LinkLost { .. }) => "link_lost",
    }
}

impl Payments {
    /// A payment of `organization` by id; another organization's payment is not found.
    pub async fn find(&self, organization: &str, id: &str) -> Result<Payment, PaymentError> {
        match self.store().get(id).await? {
            Some(p) if p.organization == organization => Ok(p),
            _ => Err(PaymentError::NotFound(id.to_string())),
        }
    }

    /// The account a payment was made in.
    pub(super) fn account_of(
        &self,
        p: &Payment,
    ) -> Result<std::sync::Arc<GatewayEntry>, CheckError> {
        self.gateways()
            .get(&p.organization, p.environment, p.gateway)
            .ok_or_else(|| CheckError::NoAccount {
                organization: p.organization.clone(),
                environment: p.environment,
            })
    }

    /// A status read through `entry`, timed.
    pub(super) async fn read_status(
        &self,
        entry: &GatewayEntry,
        lookup: Lookup<'_>,
    ) -> Result<Option<GatewayStatus>, GatewayError> {
        let started = Instant::now();
        let answer = entry.gateway.status(lookup).await;
        self.metrics().observe_gateway(
            entry.kind(),
            lookup.label(),
            match &answer {
                Ok(None) => "not_found",
                other => outcome_label(other),
            },
            started,
        );
        answer
    }

    /// The payment's status, asking the gateway live while it may still change.
    pub async fn status(
        &self,
        organization: &str,
        id: &str,
        source: Source,
    ) -> Result<StatusOutcome, PaymentError> {
        let p = self.find(organization, id).await?;
        if !worth_a_live_check(&p) {
            return Ok(StatusOutcome {
                payment: p,
                gateway: None,
                gateway_error: None,
            });
        }
        let error = match self.check(&p, source).await {
            Ok(c) => {
                return Ok(StatusOutcome {
                    payment: c.payment,
                    gateway: Some(c.status),
                    gateway_error: None,
                });
            }
            Err(CheckError::Store(e)) => return Err(PaymentError::Store(e)),
            Err(CheckError::Gateway(e)) => e,
            Err(CheckError::NotAtGateway { .. }) => GatewayError::NotFound,
            Err(e @ CheckError::NoAccount { .. }) => GatewayError::Misconfigured {
                detail: e.to_string(),
            },
            Err(e @ CheckError::Foreign { .. }) => {
                tracing::error!(payment = %p.id, error = %e, "the gateway answered about another order; ignored");
                GatewayError::Unavailable {
                    detail: "the gateway's answer was about another order and was ignored".into(),
                    retry_after: None,
                    outcome_unknown: false,
                }
            }
        };
        tracing::warn!(payment = %p.id, error = %error, "live status check failed; answering from the ledger");
        Ok(StatusOutcome {
            payment: p,
            gateway: None,
            gateway_error: Some(error),
        })
    }

    /// Asks the payment's own account about it (by its token, else the gateway's
    /// reference, else ours) and applies the answer.
    pub async fn check(&self, p: &Payment, source: Source) -> Result<Checked, CheckError> {
        self.check_at(p, source, Timestamp::now()).await
    }

    /// [`Payments::check`] as of `now` (which decides whether a cancelled order counts as
    /// expired); the reconciler passes its own clock.
    pub async fn check_at(
        &self,
        p: &Payment,
        source: Source,
        now: Timestamp,
    ) -> Result<Checked, CheckError> {
        let lookup = match (&p.gateway_token, &p.gateway_ref) {
            (Some(token), _) => Lookup::Token(token),
            (None, Some(r)) => Lookup::GatewayRef(r),
            (None, None) => by_reference(p),
        };
        self.check_by(p, lookup, source, now).await
    }

    /// Asks the payment's own account about `token` (a confirmation's) and applies the
    /// answer if it is about this payment.
    pub async fn check_token(
        &self,
        p: &Payment,
        token: &str,
        source: Source,
    ) -> Result<Checked, CheckError> {
        self.check_by(p, Lookup::Token(token), source, Timestamp::now())
            .await
    }

    async fn check_by(
        &self,
        p: &Payment,
        lookup: Lookup<'_>,
        source: Source,
        now: Timestamp,
    ) -> Result<Checked, CheckError> {
        let entry = self.account_of(p)?;
        let status = self
            .read_status(&entry, lookup)
            .await
            .map_err(CheckError::Gateway)?
            .ok_or_else(|| CheckError::NotAtGateway {
                reference: p.reference.clone(),
            })?;
        self.apply_status(p, status, source, now).await
    }

    /// Applies the gateway's answer to `p`, once it is known to be about `p`'s order.
    async fn apply_status(
        &self,
        p: &Payment,
        status: GatewayStatus,
        source: Source,
        now: Timestamp,
    ) -> Result<Checked, CheckError> {
        if status.reference != p.reference {
            return Err(CheckError::Foreign {
                ours: p.reference.clone(),
                theirs: status.reference,
            });
        }
        if let (Some(reported), Verdict::Paid { .. }) = (status.amount, &status.verdict)
            && reported != p.amount
        {
            tracing::warn!(payment = %p.id, ours = %p.amount, theirs = %reported, "the gateway reports a different amount");
        }
        let (payment, event) = match transition_for(p, &status.verdict, now) {
            None => (p.clone(), None),
            Some(t) => self.record_event(&p.id, &t, source).await?,
        };
        Ok(Checked {
            payment,
            status,
            event,
        })
    }

    /// A token the ledger does not know (a payment recorded without one, or a stranger's):
    /// asks at most `max_accounts` accounts, each lookup first taking a permit, and applies
    /// the answer only to the payment whose account and reference match and whose stored
    /// token, if any, is this one.
    pub async fn claim_token(
        &self,
        token: &str,
        max_accounts: usize,
        mut permit: impl FnMut() -> bool,
        source: Source,
    ) -> Result<TokenClaim, CheckError> {
        let mut last_error: Option<GatewayError> = None;
        for (organization, entry) in self.gateways().all().into_iter().take(max_accounts) {
            if !permit() {
                return Ok(TokenClaim::RateLimited);
            }
            let status = match self.read_status(&entry, Lookup::Token(token)).await {
                Ok(Some(status)) => status,
                // This account does not know the token.
                Ok(None) | Err(GatewayError::NotFound | GatewayError::Rejected { .. }) => {
                    continue;
                }
                Err(e) => {
                    last_error = Some(e);
                    continue;
                }
            };
            return match self.store().by_reference(&status.reference).await? {
                Some(p)
                    if p.organization == organization
                        && p.environment == entry.environment
                        && p.gateway == entry.kind()
                        && p.gateway_token.as_deref().is_none_or(|t| t == token) =>
                {
                    let checked = self
                        .apply_status(&p, status, source, Timestamp::now())
                        .await?;
                    Ok(TokenClaim::Checked(Box::new(checked)))
                }
                _ => Ok(TokenClaim::Foreign),
            };
        }
        match last_error {
            Some(e) => Err(CheckError::Gateway(e)),
            None => Ok(TokenClaim::Unknown),
        }
    }

    /// Resolves a draft whose create never finished, by asking the gateway for an order
    /// under its reference: none → failed `not_created`; one still pending → failed
    /// `link_lost` (its link never reached us, so nobody can pay it); paid → paid;
    /// rejected or cancelled → failed.
    pub async fn resolve_draft(
        &self,
        p: &Payment,
        source: Source,
        now: Timestamp,
    ) -> Result<Payment, CheckError> {
        let entry = self.account_of(p)?;
        let answer = self
            .read_status(&entry, by_reference(p))
            .await
            .map_err(CheckError::Gateway)?;
        let t = match answer {
            None => Transition::Failed {
                reason: FailureReason::NotCreated,
            },
            Some(status) if status.reference != p.reference => {
                return Err(CheckError::Foreign {
                    ours: p.reference.clone(),
                    theirs: status.reference,
                });
            }
            Some(status) => match transition_for(p, &status.verdict, now) {
                Some(t) => t,
                None => Transition::Failed {
                    reason: FailureReason::LinkLost,
                },
            },
        };
        Ok(self.record_event(&p.id, &t, source).await?.0)
    }

    /// Looks for a second gateway order under this payment's reference (a create that
    /// arrived twice, say through a proxy that delivered a request it had answered 504 to).
    /// Its link was never recorded, so nobody can be shown it; the operator is told so it
    /// can be cancelled. Returns the second order's reference when there is one.
    pub async fn look_for_second_order(&self, p: &Payment) -> Option<String> {
        let ours = p.gateway_ref.as_deref()?;
        let entry = self.account_of(p).ok()?;
        let other = self
            .read_status(&entry, by_reference(p))
            .await
            .ok()
            .flatten()?;
        if other.gateway_ref == ours || other.reference != p.reference {
            return None;
        }
        self.metrics().duplicate_orders.inc();
        tracing::error!(
            payment = %p.id,
            reference = %p.reference,
            our_order = %ours,
            second_order = %other.gateway_ref,
            gateway = %entry.kind(),
            "the gateway holds a second order for this payment; its link was never shown to anyone; cancel it in the gateway's dashboard"
        );
        Some(other.gateway_ref)
    }

    /// Applies a transition; returns the payment as stored and the event when it changed.
    pub(super) async fn record_event(
        &self,
        id: &str,
        t: &Transition,
        source: Source,
    ) -> Result<(Payment, Option<PaymentEvent>), StoreError> {
        match self.store().apply(id, t, source, Timestamp::now()).await? {
            ApplyOutcome::Changed { payment, event } => {
                self.publish(payment.clone(), event.clone());
                Ok((payment, Some(event)))
            }
            ApplyOutcome::Unchanged(p) => Ok((p, None)),
            ApplyOutcome::Refused { payment, error } => {
                tracing::info!(payment = %payment.id, %error, "transition refused; acknowledged and ignored");
                Ok((payment, None))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Currency, Money};
    use crate::gateway::GatewayKind;

    fn pending(expires_at: Option<Timestamp>) -> Payment {
        Payment {
            id: "ent_x".into(),
            organization: "default".into(),
            environment: Environment::Development,
            amount: Money::from_minor(5000, Currency::CLP),
            description: "d".into(),
            status: PaymentStatus::Pending,
            gateway: GatewayKind::Flow,
            gateway_ref: Some("1".into()),
            reference: "ent_x".into(),
            payment_link_url: None,
            gateway_token: Some("T".into()),
            customer_email: "a@gmail.com".into(),
            entity_id: None,
            paid_at: None,
            failure_reason: None,
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
            idempotency_key: "k".into(),
            expires_at,
            next_check_at: None,
            check_attempts: 0,
            create_attempt: 1,
            version: 2,
        }
    }

    #[test]
    fn verdicts_map_to_transitions() {
        let now = Timestamp(10_000);
        let p = pending(None);
        assert_eq!(transition_for(&p, &Verdict::Pending, now), None);
        assert_eq!(
            transition_for(&p, &Verdict::Paid { paid_at: None }, now),
            Some(Transition::Paid { paid_at: now })
        );
        assert_eq!(
            transition_for(&p, &Verdict::Rejected, now),
            Some(Transition::Failed {
                reason: FailureReason::Rejected
            })
        );
        assert_eq!(
            transition_for(&p, &Verdict::Cancelled, now),
            Some(Transition::Failed {
                reason: FailureReason::Cancelled
            })
        );
        assert_eq!(
            transition_for(&pending(Some(Timestamp(5_000))), &Verdict::Cancelled, now),
            Some(Transition::Failed {
                reason: FailureReason::Expired
            })
        );
    }
}
