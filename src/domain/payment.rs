//! The payment entity and its append-only event log.
//!
//! A payment is written as a `draft` (with its commerceOrder) before any gateway is called,
//! becomes `pending` once the gateway hands back a link, and ends `paid` or `failed`.
//! [`Payment::apply`] is the only way its status changes: it consults the status machine
//! and yields the new payment together with the event that records the change.

use serde::{Deserialize, Serialize};

use super::money::Money;
use super::status::{Change, EventKind, PaymentStatus, TransitionError};
use crate::gateway::GatewayKind;

/// Milliseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn now() -> Timestamp {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(d.as_millis() as i64)
    }

    pub fn plus_secs(self, secs: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(secs.saturating_mul(1000)))
    }

    pub fn plus_millis(self, ms: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(ms))
    }

    /// RFC 3339 in UTC, e.g. `2026-11-22T10:00:00.123Z`.
    pub fn rfc3339(self) -> String {
        let nanos = i128::from(self.0) * 1_000_000;
        match time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
            Ok(t) => t
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_else(|_| self.0.to_string()),
            Err(_) => self.0.to_string(),
        }
    }
}

/// Which of an organization's accounts a payment lives in: a test mode (development) or
/// live (production).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Development,
    Production,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Development => "development",
            Environment::Production => "production",
        }
    }

    pub fn parse(s: &str) -> Option<Environment> {
        match s.trim().to_ascii_lowercase().as_str() {
            "development" | "dev" | "sandbox" | "test" => Some(Environment::Development),
            "production" | "prod" | "live" => Some(Environment::Production),
            _ => None,
        }
    }
}

/// Who caused a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Tool,
    Webhook,
    Reconciler,
    Cli,
    /// The approval page, running a request a person approved.
    Approval,
}

/// Why a payment failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    /// The gateway rejected the payment.
    Rejected,
    /// The payer or the gateway cancelled it before its timeout.
    Cancelled,
    /// The order's timeout passed without payment.
    Expired,
    /// The gateway refused to create the order.
    GatewayRefused,
    /// The order exists at the gateway but its link never reached paylink.
    LinkLost,
    /// The gateway call never completed and the gateway holds no such order.
    NotCreated,
}

impl FailureReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::Rejected => "rejected",
            FailureReason::Cancelled => "cancelled",
            FailureReason::Expired => "expired",
            FailureReason::GatewayRefused => "gateway_refused",
            FailureReason::LinkLost => "link_lost",
            FailureReason::NotCreated => "not_created",
        }
    }
}

/// A requested change to a payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// The gateway created the order and gave a link.
    Pending {
        gateway_ref: String,
        gateway_token: String,
        payment_link_url: String,
        /// When the gateway order stops being payable.
        expires_at: Option<Timestamp>,
        /// When reconciliation should first look at the pending payment.
        next_check_at: Option<Timestamp>,
    },
    /// The gateway reported the payment paid.
    Paid { paid_at: Timestamp },
    /// The payment failed.
    Failed { reason: FailureReason },
}

impl Transition {
    pub fn target(&self) -> PaymentStatus {
        match self {
            Transition::Pending { .. } => PaymentStatus::Pending,
            Transition::Paid { .. } => PaymentStatus::Paid,
            Transition::Failed { .. } => PaymentStatus::Failed,
        }
    }
}

/// The payment entity. Its `Debug` redacts the payer's e-mail, so a
/// payment in a log line or an error shows `a***@gmail.com`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    /// Opaque id, `ent_` followed by 20 lowercase letters and digits.
    pub id: String,
    pub organization: String,
    pub environment: Environment,
    pub amount: Money,
    pub description: String,
    pub status: PaymentStatus,
    /// The gateway that holds the payment's order. With `organization` and `environment`
    /// it names the account. Ledgers written before there was a choice hold Flow payments.
    #[serde(default = "flow")]
    pub gateway: GatewayKind,
    /// The gateway's own reference for the order (Flow's flowOrder).
    #[serde(alias = "providerReference")]
    pub gateway_ref: Option<String>,
    /// Our reference at the gateway (Flow's commerceOrder); written before the gateway is
    /// called, reused by every retry.
    #[serde(alias = "commerceOrder")]
    pub reference: String,
    pub payment_link_url: Option<String>,
    /// The token the gateway's notifications carry (Flow's token).
    #[serde(alias = "flowToken")]
    pub gateway_token: Option<String>,
    pub customer_email: String,
    /// The entity this payment is `payment_for`.
    pub entity_id: Option<String>,
    pub paid_at: Option<Timestamp>,
    pub failure_reason: Option<FailureReason>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub idempotency_key: String,
    /// When the gateway order stops being payable, if it has a timeout.
    pub expires_at: Option<Timestamp>,
    /// When reconciliation should next look at this payment (None once final).
    pub next_check_at: Option<Timestamp>,
    /// How many reconciliation checks found nothing new (drives per-payment backoff).
    #[serde(default)]
    pub check_attempts: u32,
    /// Which attempt at creating the gateway's order this is (1 for the first; 0 in
    /// ledgers written before it was counted, read as 1). A new attempt, with a new
    /// idempotency key at the gateway, starts only once the last one certainly made none.
    #[serde(default)]
    pub create_attempt: u32,
    /// The number of events recorded for this payment; also its optimistic version.
    pub version: u64,
}

fn flow() -> GatewayKind {
    GatewayKind::Flow
}

impl std::fmt::Debug for Payment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Payment")
            .field("id", &self.id)
            .field("organization", &self.organization)
            .field("environment", &self.environment)
            .field("amount", &self.amount)
            .field("description", &self.description)
            .field("status", &self.status)
            .field("gateway", &self.gateway)
            .field("gateway_ref", &self.gateway_ref)
            .field("reference", &self.reference)
            .field("payment_link_url", &self.payment_link_url)
            .field("gateway_token", &self.gateway_token)
            .field(
                "customer_email",
                &paylink_tools::validate::redact_email(&self.customer_email),
            )
            .field("entity_id", &self.entity_id)
            .field("paid_at", &self.paid_at)
            .field("failure_reason", &self.failure_reason)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .field("idempotency_key", &self.idempotency_key)
            .field("expires_at", &self.expires_at)
            .field("next_check_at", &self.next_check_at)
            .field("check_attempts", &self.check_attempts)
            .field("create_attempt", &self.create_attempt)
            .field("version", &self.version)
            .finish()
    }
}

/// The relation name between a payment and its entity (`paymentFor` in tool results).
pub const PAYMENT_FOR: &str = "payment_for";

/// One entry of a payment's append-only log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentEvent {
    pub payment_id: String,
    /// 1 for `created`, then one more per change.
    pub seq: u64,
    pub kind: EventKind,
    pub source: Source,
    pub at: Timestamp,
    pub from: Option<PaymentStatus>,
    pub to: PaymentStatus,
    /// A short note: the failure reason, the gateway status, the correction.
    pub detail: Option<String>,
}

/// What applying a transition did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    Changed {
        payment: Box<Payment>,
        event: PaymentEvent,
    },
    /// Already in that status: nothing to write.
    Unchanged,
}

/// A fresh payment id: `ent_` and 20 characters of [a-z0-9].
pub fn new_payment_id() -> String {
    random_id("ent_", 20)
}

/// `prefix` and `len` random lowercase letters and digits (about 5.17 bits each): the ids
/// of payments, approvals and refunds.
pub fn random_id(prefix: &str, len: usize) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let mut id = String::with_capacity(prefix.len() + len);
    id.push_str(prefix);
    id.extend((0..len).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char));
    id
}

impl Payment {
    /// The `created` event of a new draft.
    pub fn created_event(&self, source: Source) -> PaymentEvent {
        PaymentEvent {
            payment_id: self.id.clone(),
            seq: 1,
            kind: EventKind::Created,
            source,
            at: self.created_at,
            from: None,
            to: self.status,
            detail: None,
        }
    }

    /// Applies `t` at `now`, by the status machine. The returned payment has its
    /// version bumped and the event carries the matching sequence number.
    pub fn apply(
        &self,
        t: &Transition,
        source: Source,
        now: Timestamp,
    ) -> Result<Applied, TransitionError> {
        let kind = match self.status.change_to(t.target())? {
            Change::AlreadyThere => return Ok(Applied::Unchanged),
            Change::Apply(kind) => kind,
        };
        let mut p = self.clone();
        p.status = t.target();
        p.updated_at = now;
        p.version += 1;
        let detail = match t {
            Transition::Pending {
                gateway_ref,
                gateway_token,
                payment_link_url,
                expires_at,
                next_check_at,
            } => {
                p.expires_at = *expires_at;
                p.next_check_at = *next_check_at;
                p.check_attempts = 0;
                p.gateway_ref = Some(gateway_ref.clone());
                p.gateway_token = Some(gateway_token.clone());
                p.payment_link_url = Some(payment_link_url.clone());
                Some(format!("gateway order {gateway_ref}"))
            }
            Transition::Paid { paid_at } => {
                p.paid_at = Some(*paid_at);
                let previous = p.failure_reason.take();
                p.next_check_at = None;
                match (kind, previous) {
                    (EventKind::Corrected, Some(r)) => Some(format!(
                        "was failed ({}); the gateway reports it paid",
                        r.as_str()
                    )),
                    _ => None,
                }
            }
            Transition::Failed { reason } => {
                p.failure_reason = Some(*reason);
                p.next_check_at = None;
                Some(reason.as_str().to_string())
            }
        };
        let event = PaymentEvent {
            payment_id: p.id.clone(),
            seq: p.version,
            kind,
            source,
            at: now,
            from: Some(self.status),
            to: p.status,
            detail,
        };
        Ok(Applied::Changed {
            payment: Box::new(p),
            event,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::Currency;

    pub fn draft() -> Payment {
        Payment {
            id: new_payment_id(),
            organization: "default".into(),
            environment: Environment::Development,
            amount: Money::from_minor(5000, Currency::CLP),
            description: "Clase de matemáticas".into(),
            status: PaymentStatus::Draft,
            gateway: GatewayKind::Flow,
            gateway_ref: None,
            reference: "PL-1".into(),
            payment_link_url: None,
            gateway_token: None,
            customer_email: "a+b@gmail.com".into(),
            entity_id: Some("session_1".into()),
            paid_at: None,
            failure_reason: None,
            created_at: Timestamp(1_000),
            updated_at: Timestamp(1_000),
            idempotency_key: "k".into(),
            expires_at: None,
            next_check_at: Some(Timestamp(2_000)),
            check_attempts: 0,
            create_attempt: 1,
            version: 1,
        }
    }

    #[test]
    fn debug_output_of_a_payment_shows_no_full_email() {
        let mut p = draft();
        p.customer_email = "zoe.quintana+pay@gmail.com".into();
        let shown = format!("{p:?} {p:#?}");
        assert!(!shown.contains("zoe.quintana"), "{shown}");
        assert!(
            shown.contains("z***@gmail.com") && shown.contains(&p.id),
            "{shown}"
        );
    }

    #[test]
    fn failed_then_paid_is_a_correction_that_clears_the_reason() {
        let p = draft();
        let Applied::Changed {
            payment: failed, ..
        } = p
            .apply(
                &Transition::Failed {
                    reason: FailureReason::Expired,
                },
                Source::Reconciler,
                Timestamp(5),
            )
            .unwrap()
        else {
            panic!("should change")
        };
        let Applied::Changed {
            payment: paid,
            event,
        } = failed
            .apply(
                &Transition::Paid {
                    paid_at: Timestamp(9),
                },
                Source::Webhook,
                Timestamp(10),
            )
            .unwrap()
        else {
            panic!("should change")
        };
        assert_eq!(event.kind, EventKind::Corrected);
        assert_eq!(paid.failure_reason, None);
        assert_eq!(paid.paid_at, Some(Timestamp(9)));
        assert_eq!(paid.version, 3);
        assert_eq!(event.seq, 3);
    }

    #[test]
    fn replaying_paid_changes_nothing_and_failing_a_paid_payment_is_refused() {
        let p = draft();
        let Applied::Changed { payment: paid, .. } = p
            .apply(
                &Transition::Paid {
                    paid_at: Timestamp(9),
                },
                Source::Webhook,
                Timestamp(10),
            )
            .unwrap()
        else {
            panic!()
        };
        assert_eq!(
            paid.apply(
                &Transition::Paid {
                    paid_at: Timestamp(11)
                },
                Source::Webhook,
                Timestamp(12)
            ),
            Ok(Applied::Unchanged)
        );
        assert_eq!(
            paid.apply(
                &Transition::Failed {
                    reason: FailureReason::Cancelled
                },
                Source::Reconciler,
                Timestamp(12)
            ),
            Err(TransitionError::AlreadyPaid)
        );
    }

    #[test]
    fn timestamps_format_as_rfc3339() {
        assert_eq!(Timestamp(0).rfc3339(), "1970-01-01T00:00:00Z");
        assert!(new_payment_id().starts_with("ent_"));
        assert_eq!(new_payment_id().len(), 24);
    }
}
