//! Reading a payment's status, and applying a gateway's verdict to it.
//!
//! The gateway's signed answer is the truth: paid makes the payment paid (correcting a
//! local failure), rejected and cancelled make it failed (cancelled after the order's
//! expiry reads as "expired"), pending changes nothing. The same function serves the
//! getStatus tool, the webhook and the reconciler.

use super::{PaymentError, Payments};
use crate::domain::{FailureReason, Payment, PaymentStatus, Source, Timestamp, Transition};
use crate::gateway::flow::FlowError;
use crate::gateway::{GatewayVerdict, OrderStatus, PaymentGateway};

/// A payment's status as the caller sees it.
#[derive(Debug, Clone)]
pub struct StatusOutcome {
    pub payment: Payment,
    /// The gateway's answer, when it was asked just now.
    pub gateway: Option<OrderStatus>,
    /// Set when the gateway should have been asked but could not be reached.
    pub gateway_error: Option<FlowError>,
}

/// Whether a stored payment is worth asking the gateway about.
fn worth_a_live_check(p: &Payment) -> bool {
    match p.status {
        PaymentStatus::Pending => p.flow_token.is_some(),
        // An expired order can still turn out paid; Flow's other failures are final.
        PaymentStatus::Failed => {
            p.flow_token.is_some() && p.failure_reason == Some(FailureReason::Expired)
        }
        PaymentStatus::Draft | PaymentStatus::Paid => false,
    }
}

/// The transition a verdict calls for, if any.
pub fn transition_for(p: &Payment, verdict: &GatewayVerdict, now: Timestamp) -> Option<Transition> {
    match verdict {
        GatewayVerdict::Pending => None,
        GatewayVerdict::Paid { .. } => Some(Transition::Paid { paid_at: now }),
        GatewayVerdict::Rejected => Some(Transition::Failed {
            reason: FailureReason::Rejected,
        }),
        GatewayVerdict::Cancelled => {
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

impl Payments {
    /// A payment of `organization` by id; another organization's payment is not found.
    pub fn find(&self, organization: &str, id: &str) -> Result<Payment, PaymentError> {
        match self.store().get(id)? {
            Some(p) if p.organization == organization => Ok(p),
            _ => Err(PaymentError::NotFound(id.to_string())),
        }
    }

    /// The payment's status, asking the gateway live while it may still change.
    pub async fn status(
        &self,
        organization: &str,
        id: &str,
        source: Source,
    ) -> Result<StatusOutcome, PaymentError> {
        let p = self.find(organization, id)?;
        if !worth_a_live_check(&p) {
            return Ok(StatusOutcome {
                payment: p,
                gateway: None,
                gateway_error: None,
            });
        }
        let Some(entry) = self.gateways().get(&p.organization, p.environment) else {
            return Ok(StatusOutcome {
                payment: p,
                gateway: None,
                gateway_error: None,
            });
        };
        let token = p.flow_token.clone().unwrap_or_default();
        match entry.client.status_by_token(&token).await {
            Ok(status) => {
                let payment = self.apply_verdict(&p, &status, source).await?;
                Ok(StatusOutcome {
                    payment,
                    gateway: Some(status),
                    gateway_error: None,
                })
            }
            Err(e) => {
                tracing::warn!(payment = %p.id, error = %e, "live status check failed; answering from the ledger");
                Ok(StatusOutcome {
                    payment: p,
                    gateway: None,
                    gateway_error: Some(e),
                })
            }
        }
    }

    /// Applies the gateway's verdict; returns the payment as stored afterwards.
    pub async fn apply_verdict(
        &self,
        p: &Payment,
        status: &OrderStatus,
        source: Source,
    ) -> Result<Payment, PaymentError> {
        if let (Some(reported), GatewayVerdict::Paid { .. }) = (status.amount, &status.verdict)
            && reported != p.amount
        {
            tracing::warn!(payment = %p.id, ours = %p.amount, flows = %reported, "Flow reports a different amount");
        }
        match transition_for(p, &status.verdict, Timestamp::now()) {
            None => Ok(p.clone()),
            Some(t) => self.record(&p.id, &t, source).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Currency, Environment, Money};

    fn pending(expires_at: Option<Timestamp>) -> Payment {
        Payment {
            id: "ent_x".into(),
            organization: "default".into(),
            environment: Environment::Development,
            amount: Money::from_minor(5000, Currency::CLP),
            description: "d".into(),
            status: PaymentStatus::Pending,
            provider_reference: Some("1".into()),
            commerce_order: "ent_x".into(),
            payment_link_url: None,
            flow_token: Some("T".into()),
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
            version: 2,
        }
    }

    #[test]
    fn verdicts_map_to_transitions() {
        let now = Timestamp(10_000);
        let p = pending(None);
        assert_eq!(transition_for(&p, &GatewayVerdict::Pending, now), None);
        assert_eq!(
            transition_for(&p, &GatewayVerdict::Paid { paid_at: None }, now),
            Some(Transition::Paid { paid_at: now })
        );
        assert_eq!(
            transition_for(&p, &GatewayVerdict::Rejected, now),
            Some(Transition::Failed {
                reason: FailureReason::Rejected
            })
        );
        assert_eq!(
            transition_for(&p, &GatewayVerdict::Cancelled, now),
            Some(Transition::Failed {
                reason: FailureReason::Cancelled
            })
        );
        assert_eq!(
            transition_for(
                &pending(Some(Timestamp(5_000))),
                &GatewayVerdict::Cancelled,
                now
            ),
            Some(Transition::Failed {
                reason: FailureReason::Expired
            })
        );
    }
}
