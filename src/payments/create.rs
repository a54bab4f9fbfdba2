//! Creating a payment: claim, then act, then record.
//!
//! 1. Entity rules: an entity already paid gets no new payment unless allowed; an unpaid
//!    link for the same entity and amount is returned instead of a second one.
//! 2. The idempotency key (the caller's, scoped to the organization, or one derived from
//!    the arguments and valid for the window) is claimed in the same transaction that
//!    writes the draft with its reference: the draft is durable before the gateway is
//!    called.
//! 3. The gateway is called; its answer moves the draft to pending. A definitive refusal
//!    moves it to failed (`gateway_refused`); an ambiguous failure leaves the draft for the
//!    retry or for reconciliation, which first ask the gateway by our reference.
//!
//! Within this process one create per key runs at a time (striped locks), so two
//! concurrent retries never both reach the gateway.

use std::hash::{Hash, Hasher};

use sha2::{Digest, Sha256};

use super::GatewayEntry;
use super::{PaymentError, Payments};
use crate::domain::{
    Currency, Environment, FailureReason, Money, Payment, PaymentStatus, PolicyRefusal, Source,
    Timestamp, Transition, new_payment_id,
};
use crate::gateway::{CheckoutRequest, GatewayError, GatewayKind, Refusal};
use crate::store::DraftOutcome;

/// The shortest wait after a create attempt with an unknown outcome ended.
const IN_FLIGHT_MARGIN: std::time::Duration = std::time::Duration::from_secs(2);

/// A create request in domain terms (validated syntax; money not yet parsed). Kept whole
/// in an approval, to be run once a person approves it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CreateInput {
    pub organization: String,
    /// The amount's exact decimal text in major units.
    pub amount_text: String,
    /// None: the organization's default currency.
    pub currency: Option<String>,
    pub description: String,
    pub customer_email: String,
    pub entity_id: Option<String>,
    pub idempotency_key: Option<String>,
    pub allow_paid_entity: bool,
    /// The gateway the call named; None: the organization's default.
    pub gateway: Option<GatewayKind>,
}

/// A created (or returned again) payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateOutcome {
    pub payment: Payment,
    /// True when an existing payment was returned instead of a new one.
    pub reused: bool,
}

/// Parses an amount against the currency table and the gateway's minimum.
pub fn parse_money(
    amount_text: &str,
    currency: Currency,
    gateway: GatewayKind,
) -> Result<Money, PaymentError> {
    let money = Money::parse_major(amount_text, currency).map_err(PaymentError::InvalidAmount)?;
    if let Some(minimum) = gateway.minimum(currency)
        && money.minor < minimum.minor
    {
        return Err(PaymentError::BelowMinimum { gateway, minimum });
    }
    Ok(money)
}

fn fingerprint(org: &str, money: Money, input: &CreateInput) -> String {
    let mut h = Sha256::new();
    for part in [
        org,
        &money.minor.to_string(),
        money.currency.code(),
        &input.description,
        &input.customer_email.to_ascii_lowercase(),
        input.entity_id.as_deref().unwrap_or(""),
        if input.allow_paid_entity { "1" } else { "0" },
    ] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    // Only when named, so that calls without it keep the fingerprints (and the claims)
    // recorded before a call could name a gateway.
    if let Some(g) = input.gateway {
        h.update(b"gateway=");
        h.update(g.as_str().as_bytes());
        h.update([0u8]);
    }
    hex::encode(h.finalize())
}

impl Payments {
    fn lock_index(&self, key: &str) -> usize {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        (h.finish() as usize) % self.inner.create_locks.len()
    }

    /// What this process knows of the payment's last failed create: `None` if nothing,
    /// `Some(None)` if the gateway answered it, `Some(Some(t))` if it ended at `t` with an
    /// unknown outcome (a timeout, a proxy's 5xx, a broken reply) and may still arrive.
    fn last_attempt(&self, id: &str) -> Option<Option<Timestamp>> {
        let attempts = self
            .inner
            .create_attempts
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        attempts
            .get(id)
            .map(|(at, in_flight)| in_flight.then_some(*at))
    }

    /// On a shared ledger, a draft found under a claimed key that this process never tried
    /// to create is being created by another replica right now, or was left by one that
    /// died. Waits, polling the ledger, until it leaves draft or its
    /// creator's gateway call must have ended (creation + the call's timeout + a margin),
    /// so that a retry sent to another replica returns the one payment instead of making a
    /// second order or failing with "still in flight". Returns the payment as it is then.
    async fn await_other_creator(&self, p: Payment) -> Result<Payment, PaymentError> {
        // On sled one process makes every gateway call (attached processes go through the
        // owner), so a draft this process never tried was left by a dead one: no wait.
        if !self.ledger_is_shared()
            || p.status != PaymentStatus::Draft
            || self.last_attempt(&p.id).is_some()
        {
            return Ok(p);
        }
        let Some(entry) = self
            .gateways()
            .get(&p.organization, p.environment, p.gateway)
        else {
            return Ok(p);
        };
        let budget = entry.gateway.call_timeout() + IN_FLIGHT_MARGIN;
        let deadline = p.created_at.plus_millis(budget.as_millis() as i64);
        let mut latest = p;
        while Timestamp::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
            match self.store().get(&latest.id).await? {
                Some(now) if now.status != PaymentStatus::Draft => return Ok(now),
                Some(now) => latest = now,
                None => break,
            }
        }
        Ok(latest)
    }

    /// Records the outcome of an attempt that ended at `at`; a success needs no record.
    fn note_attempt(&self, id: &str, at: Timestamp, outcome: Option<bool>) {
        let mut attempts = self
            .inner
            .create_attempts
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match outcome {
            None => {
                attempts.remove(id);
            }
            Some(in_flight) => {
                // Records older than any grace period are of no use; keep the map small.
                let horizon = at.plus_secs(-3600);
                attempts.retain(|_, (t, _)| *t > horizon);
                attempts.insert(id.to_string(), (at, in_flight));
            }
        }
    }

    /// Creates a payment, or returns the one an earlier identical request made.
    pub async fn create(
        &self,
        input: CreateInput,
        source: Source,
    ) -> Result<CreateOutcome, PaymentError> {
        let org = input.organization.clone();
        let entry = match input.gateway {
            None => self.gateways().active(&org),
            Some(kind) => self.gateways().active_of(&org, kind),
        }
        .ok_or_else(|| match input.gateway {
            None => PaymentError::NotConfigured(org.clone()),
            Some(kind) => PaymentError::GatewayNotConfigured {
                organization: org.clone(),
                gateway: kind,
                available: self.kinds_of(&org),
            },
        })?;
        let currency = match &input.currency {
            None => entry.default_currency,
            Some(code) => {
                Currency::from_code(code).ok_or_else(|| PaymentError::UnsupportedCurrency {
                    code: code.clone(),
                    known: Currency::known_codes(),
                })?
            }
        };
        // The operator's policy first: a currency it forbids is refused as such, whatever
        // the gateway takes.
        let settings = self.settings();
        let policy = super::policy::effective(
            self.store(),
            &org,
            &settings.default_organization,
            &settings.default_policy,
        )
        .await?;
        policy
            .check_currency(currency)
            .map_err(PaymentError::Policy)?;
        if !entry.kind().takes_currency(currency) {
            let alternative = self
                .kinds_of(&org)
                .into_iter()
                .find(|k| *k != entry.kind() && k.takes_currency(currency));
            return Err(PaymentError::CurrencyNotTaken {
                gateway: entry.kind(),
                currency: currency.code().to_string(),
                alternative,
            });
        }
        let money = parse_money(&input.amount_text, currency, entry.kind())?;
        // Before anything is written: the per-payment limit. The daily total is the
        // ledger's to check, with the draft.
        policy.check_payment(money).map_err(PaymentError::Policy)?;
        let daily_cap = policy.per_day(currency);
        let now = Timestamp::now();

        if let Some(entity) = &input.entity_id {
            let existing = self.store().by_entity(&org, entity).await?;
            if !input.allow_paid_entity
                && let Some(paid) = existing.iter().find(|p| p.status == PaymentStatus::Paid)
            {
                return Err(PaymentError::EntityAlreadyPaid {
                    entity_id: entity.clone(),
                    payment_id: paid.id.clone(),
                });
            }
            if self.settings().reuse_pending_for_entity
                && let Some(open) = existing.iter().find(|p| {
                    p.status == PaymentStatus::Pending
                        && p.amount == money
                        && p.environment == entry.environment
                        && p.expires_at.is_none_or(|e| e > now)
                })
            {
                return Ok(CreateOutcome {
                    payment: open.clone(),
                    reused: true,
                });
            }
        }

        let fp = fingerprint(&org, money, &input);
        let (claim_key, claim_expires_at) = match &input.idempotency_key {
            Some(k) => (format!("key:{org}:{k}"), None),
            None => (
                format!("auto:{fp}"),
                Some(now.plus_millis(self.settings().idempotency_window.as_millis() as i64)),
            ),
        };
        // A person approves first when the policy says so. The approval covers this
        // claim and these arguments; a retry after it was given goes on from here.
        let approval = match policy.needs_confirmation(money) {
            None => None,
            Some(threshold) => {
                let a = self
                    .approval_for(super::approvals::ApprovalRequest {
                        organization: org.clone(),
                        claim: claim_key.clone(),
                        fingerprint: fp.clone(),
                        action: crate::domain::ApprovalAction::CreatePayment,
                        amount: money,
                        payer: input.customer_email.clone(),
                        description: input.description.clone(),
                        live: entry.mode.is_live(),
                        gateway: entry.kind().display_name().to_string(),
                        request: serde_json::to_value(&input).unwrap_or_default(),
                    })
                    .await?;
                match a.standing(now) {
                    crate::domain::Standing::Approved => Some(a.id),
                    crate::domain::Standing::Declined => {
                        return Err(PaymentError::ApprovalDeclined { approval_id: a.id });
                    }
                    crate::domain::Standing::Waiting | crate::domain::Standing::Expired => {
                        return Err(PaymentError::NeedsApproval {
                            url: self.approval_url(&a.id),
                            approval: Box::new(a),
                            threshold: Some(threshold),
                        });
                    }
                }
            }
        };
        let outcome = self
            .create_claimed(
                input,
                source,
                entry,
                money,
                fp,
                claim_key,
                claim_expires_at,
                daily_cap,
                now,
            )
            .await;
        if let (Some(approval_id), Ok(done)) = (&approval, &outcome) {
            self.note_approval_outcome(approval_id, &done.payment.id)
                .await;
        }
        outcome
    }

    /// Claims the key with a draft, then calls the gateway (see `create`).
    #[allow(clippy::too_many_arguments)]
    async fn create_claimed(
        &self,
        input: CreateInput,
        source: Source,
        entry: std::sync::Arc<GatewayEntry>,
        money: Money,
        fp: String,
        claim_key: String,
        claim_expires_at: Option<Timestamp>,
        daily_cap: Option<Money>,
        now: Timestamp,
    ) -> Result<CreateOutcome, PaymentError> {
        let org = input.organization.clone();
        let _guard = self.inner.create_locks[self.lock_index(&claim_key)]
            .lock()
            .await;

        let id = new_payment_id();
        let draft = Payment {
            reference: id.clone(),
            id,
            organization: org.clone(),
            environment: entry.environment,
            gateway: entry.kind(),
            amount: money,
            description: input.description.clone(),
            status: PaymentStatus::Draft,
            gateway_ref: None,
            payment_link_url: None,
            gateway_token: None,
            customer_email: input.customer_email.clone(),
            entity_id: input.entity_id.clone(),
            paid_at: None,
            failure_reason: None,
            created_at: now,
            updated_at: now,
            idempotency_key: claim_key,
            expires_at: None,
            // Reconciliation resolves the draft if we die before the gateway answers.
            next_check_at: Some(
                now.plus_millis(self.settings().draft_check_after.as_millis() as i64),
            ),
            check_attempts: 0,
            create_attempt: 1,
            version: 1,
        };
        let (payment, resumed) = match self
            .store()
            .create_draft_capped(&draft, &fp, claim_expires_at, source, daily_cap)
            .await?
        {
            DraftOutcome::Created(p) => (p, false),
            DraftOutcome::OverDailyLimit { limit, spent } => {
                return Err(PaymentError::Policy(PolicyRefusal::PerDay {
                    limit,
                    spent,
                    amount: money,
                }));
            }
            DraftOutcome::Conflict { existing } => {
                return Err(PaymentError::IdempotencyConflict {
                    payment_id: existing.id,
                });
            }
            DraftOutcome::Existing(p) => {
                let p = self.await_other_creator(p).await?;
                match p.status {
                    PaymentStatus::Draft => (p, true),
                    PaymentStatus::Failed
                        if p.failure_reason == Some(FailureReason::GatewayRefused) =>
                    {
                        return Err(PaymentError::Refused {
                            gateway: p.gateway,
                            payment_id: p.id.clone(),
                            error: GatewayError::Rejected {
                                reason: Refusal::Other,
                                code: None,
                                message: format!(
                                    "{} refused this exact request earlier",
                                    p.gateway
                                ),
                            },
                        });
                    }
                    PaymentStatus::Pending | PaymentStatus::Paid | PaymentStatus::Failed => {
                        return Ok(CreateOutcome {
                            payment: p,
                            reused: true,
                        });
                    }
                }
            }
        };
        self.call_gateway(payment, resumed, source)
            .await
            .map(|p| CreateOutcome {
                payment: p,
                reused: resumed,
            })
    }

    /// Opens the draft's checkout (first asking the gateway by our reference when
    /// resuming) and records the outcome.
    async fn call_gateway(
        &self,
        mut draft: Payment,
        resumed: bool,
        source: Source,
    ) -> Result<Payment, PaymentError> {
        let id = draft.id.clone();
        let gateway = draft.gateway;
        let entry = self
            .gateways()
            .get(&draft.organization, draft.environment, draft.gateway)
            .ok_or_else(|| PaymentError::NotConfigured(draft.organization.clone()))?;
        if resumed {
            match self
                .read_status(&entry, super::check::by_reference(&draft))
                .await
            {
                Ok(None) => {
                    // "Not found" proves nothing while an earlier attempt may still be in
                    // flight at the gateway: re-sending now could make a second order.
                    // Trust it only once the earlier attempt has certainly ended.
                    // Unknown to this process (it restarted): the attempt began at creation
                    // and ended at the latest when the client's timeout did.
                    let timeout = entry.gateway.call_timeout();
                    let last = self.last_attempt(&draft.id).unwrap_or(Some(
                        draft.created_at.plus_millis(timeout.as_millis() as i64),
                    ));
                    if let Some(ended) = last {
                        // Late arrivals (a proxy that delivers after answering 504, a
                        // request queued past our timeout) are covered by the settle window,
                        // counted from when the attempt ended.
                        let grace = self.settings().create_settle_window.max(IN_FLIGHT_MARGIN);
                        let settled_at = ended.plus_millis(grace.as_millis() as i64);
                        let now = Timestamp::now();
                        if now < settled_at {
                            return Err(PaymentError::StillInFlight {
                                gateway,
                                payment_id: id,
                                retry_after_secs: ((settled_at.0 - now.0) / 1000 + 1) as u64,
                            });
                        }
                    }
                    // The gateway certainly holds no order from the earlier attempt: the
                    // next one gets a new idempotency key (a gateway may replay the stored
                    // answer of the old key, an error included).
                    draft.create_attempt = self.store().next_create_attempt(&draft.id).await?;
                }
                Ok(Some(status)) => {
                    return match (status.checkout, status.verdict) {
                        // The earlier attempt made the order and the gateway can give its
                        // link again: finish with it instead of making another.
                        (Some(checkout), crate::gateway::Verdict::Pending) => {
                            let t = self.pending_transition(checkout, Timestamp::now());
                            self.record(&id, &t, source).await
                        }
                        _ => self.fail_link_lost(&draft, source).await,
                    };
                }
                Err(error) => {
                    return Err(PaymentError::Gateway {
                        gateway,
                        payment_id: id,
                        error,
                    });
                }
            }
        }
        let req = self.checkout_request(&draft, &entry);
        let now = Timestamp::now();
        let result = self.open_checkout(&entry, &req).await;
        // Only the gateway's own answer, or a request that never left, settles the
        // attempt; a timeout, a proxy's 5xx or a broken reply leaves it possibly still on
        // its way.
        let outcome = match &result {
            Ok(_) => None,
            Err(e) => Some(e.outcome_unknown()),
        };
        self.note_attempt(&id, Timestamp::now(), outcome);
        match result {
            Ok(created) => {
                let t = self.pending_transition(created, now);
                self.record(&id, &t, source).await
            }
            Err(GatewayError::LinkLost { .. }) => self.fail_link_lost(&draft, source).await,
            Err(error @ GatewayError::Rejected { .. }) => {
                self.record(
                    &id,
                    &Transition::Failed {
                        reason: FailureReason::GatewayRefused,
                    },
                    source,
                )
                .await?;
                Err(PaymentError::Refused {
                    gateway,
                    payment_id: id,
                    error,
                })
            }
            Err(error) => Err(PaymentError::Gateway {
                gateway,
                payment_id: id,
                error,
            }),
        }
    }

    /// The transition a checkout opened at `at` calls for.
    fn pending_transition(&self, created: crate::gateway::Checkout, at: Timestamp) -> Transition {
        let settings = self.settings();
        Transition::Pending {
            gateway_ref: created.gateway_ref,
            gateway_token: created.token,
            payment_link_url: created.url,
            expires_at: settings
                .order_timeout
                .map(|d| at.plus_secs(d.as_secs() as i64)),
            next_check_at: Some(at.plus_millis(settings.pending_check_after.as_millis() as i64)),
        }
    }

    fn checkout_request(&self, draft: &Payment, entry: &GatewayEntry) -> CheckoutRequest {
        let settings = self.settings();
        CheckoutRequest {
            reference: draft.reference.clone(),
            payment_id: draft.id.clone(),
            entity_id: draft.entity_id.clone(),
            idempotency_key: format!(
                "paylink-{}-{}",
                draft.reference,
                draft.create_attempt.max(1)
            ),
            subject: draft.description.clone(),
            amount: draft.amount,
            payer_email: draft.customer_email.clone(),
            notify_url: entry.kind().webhook_url(
                &settings.public_base_url,
                &draft.organization,
                draft.environment,
            ),
            return_url: entry
                .return_url
                .clone()
                .unwrap_or_else(|| settings.default_return_url.clone()),
            expires_in_secs: settings.order_timeout.map(|d| d.as_secs()),
        }
    }

    /// A checkout opened through `entry`, timed.
    async fn open_checkout(
        &self,
        entry: &GatewayEntry,
        req: &CheckoutRequest,
    ) -> Result<crate::gateway::Checkout, GatewayError> {
        let started = std::time::Instant::now();
        let result = entry.gateway.create_checkout(req).await;
        self.metrics().observe_gateway(
            entry.kind(),
            "create_checkout",
            super::check::outcome_label(&result),
            started,
        );
        result
    }

    async fn fail_link_lost(
        &self,
        draft: &Payment,
        source: Source,
    ) -> Result<Payment, PaymentError> {
        self.record(
            &draft.id,
            &Transition::Failed {
                reason: FailureReason::LinkLost,
            },
            source,
        )
        .await?;
        Err(PaymentError::LinkLost {
            gateway: draft.gateway,
            payment_id: draft.id.clone(),
        })
    }

    /// Applies a transition and publishes it when it changed something.
    pub(crate) async fn record(
        &self,
        id: &str,
        t: &Transition,
        source: Source,
    ) -> Result<Payment, PaymentError> {
        Ok(self.record_event(id, t, source).await?.0)
    }

    /// The gateways the organization has an account with in its active environment.
    fn kinds_of(&self, organization: &str) -> Vec<GatewayKind> {
        GatewayKind::ALL
            .into_iter()
            .filter(|k| self.gateways().active_of(organization, *k).is_some())
            .collect()
    }

    /// The environment a new payment of this organization would use.
    pub fn active_environment(&self, organization: &str) -> Option<Environment> {
        self.active_account(organization).map(|a| a.environment)
    }
}
