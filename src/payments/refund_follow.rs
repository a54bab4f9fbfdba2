//! Following refunds after they were made: a signed read of the refund (after a
//! gateway's callback, a signed event, a getStatus or the reconciler) moves it on; the
//! reconciler alone sends again a refund the gateway never acknowledged, and only when
//! that cannot refund twice (see [`super::refunds`]).

use super::refunds::resend_is_safe;
use super::{PaymentError, Payments};
use crate::domain::{Refund, RefundStatus, Source, Timestamp};
use crate::gateway::RefundLookup;

impl Payments {
    /// Asks the gateway where a refund stands (a signed read) and records it.
    pub async fn check_refund(
        &self,
        refund: &Refund,
        source: Source,
    ) -> Result<Refund, PaymentError> {
        let mut refund = refund.clone();
        if refund.status == RefundStatus::Requested
            && refund.gateway_refund_ref.is_none()
            && refund.token.is_none()
        {
            // Never acknowledged. Only the reconciler acts, and only once the create that
            // made it has certainly ended (it is due): a callback racing the creator's own
            // answer must not send it twice.
            let due = refund.next_check_at.is_some_and(|t| t <= Timestamp::now());
            if source != Source::Reconciler || !due || refund.outcome_unknown {
                return Ok(refund);
            }
            if !refund.never_left && !resend_is_safe(refund.gateway) {
                // Its create may have reached a gateway that cannot tell: an operator looks.
                self.update_refund(&mut refund, |r| {
                    r.outcome_unknown = true;
                    r.next_check_at = None;
                })
                .await?;
                tracing::warn!(refund = %refund.id, gateway = %refund.gateway, "a refund's create may have reached the gateway; not sending it again (check the gateway's dashboard)");
                return Ok(refund);
            }
            let payment = self.find(&refund.organization, &refund.payment_id).await?;
            return match self.send_refund(refund.clone(), &payment, source).await {
                Ok(r) => Ok(r),
                Err(PaymentError::RefundNotSent { .. }) => Ok(self
                    .refund_raw(&refund.id)
                    .await?
                    .map(|(r, _)| r)
                    .unwrap_or(refund)),
                Err(e) => Err(e),
            };
        }
        let entry = self
            .gateways()
            .get(&refund.organization, refund.environment, refund.gateway)
            .ok_or_else(|| PaymentError::NoAccount {
                organization: refund.organization.clone(),
                environment: refund.environment,
            })?;
        let lookup = match (&refund.token, &refund.gateway_refund_ref) {
            (Some(t), _) => RefundLookup::Token(t),
            (None, Some(g)) => RefundLookup::GatewayRef(g),
            (None, None) => return Ok(refund),
        };
        match entry.gateway.refund_status(lookup).await {
            Ok(Some(snapshot)) => {
                self.apply_refund_snapshot(&mut refund, snapshot, source)
                    .await?;
                Ok(refund)
            }
            Ok(None) => Ok(refund),
            Err(error) => Err(PaymentError::Gateway {
                gateway: refund.gateway,
                payment_id: refund.payment_id.clone(),
                error,
            }),
        }
    }

    /// A refund of `organization`.
    pub async fn refund_of(&self, organization: &str, id: &str) -> Result<Refund, PaymentError> {
        match self.refund_raw(id).await? {
            Some((r, _)) if r.organization == organization => Ok(r),
            _ => Err(PaymentError::NotFound(id.to_string())),
        }
    }

    /// A gateway's callback named `token`: follow the refund it belongs to. Unknown tokens
    /// change nothing.
    pub async fn refund_callback(&self, token: &str) -> Result<Option<Refund>, PaymentError> {
        match self.refund_by_token(token).await? {
            None => Ok(None),
            Some(r) => self.check_refund(&r, Source::Webhook).await.map(Some),
        }
    }

    /// A signed event of `organization`'s account named refund `id` (paylink's): follow
    /// it. Another organization's refund is not followed.
    pub async fn refund_event(
        &self,
        organization: &str,
        id: &str,
    ) -> Result<Option<Refund>, PaymentError> {
        match self.refund_raw(id).await? {
            Some((r, _)) if r.organization == organization => {
                self.check_refund(&r, Source::Webhook).await.map(Some)
            }
            _ => Ok(None),
        }
    }

    /// One reconciliation step over refunds: every open refund that is due is checked
    /// (or, never acknowledged and safe to resend, sent again). How many changed.
    pub async fn reconcile_refunds(&self, now: Timestamp) -> Result<usize, PaymentError> {
        let mut changed = 0;
        for r in self.open_refunds().await? {
            if r.next_check_at.is_none_or(|t| t > now) {
                continue;
            }
            match self.check_refund(&r, Source::Reconciler).await {
                Ok(after) if after.status != r.status => changed += 1,
                Ok(_) => {}
                Err(e) => tracing::warn!(refund = %r.id, error = %e, "could not follow a refund"),
            }
        }
        Ok(changed)
    }
}
