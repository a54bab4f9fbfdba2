//! What can go wrong in a use case, in domain terms. `crate::mcp` maps these to tool
//! error codes in one place; the CLI prints their messages.

use crate::domain::{AmountError, Environment, Money, PolicyRefusal};
use crate::gateway::{GatewayError, GatewayKind};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    #[error("{0}")]
    InvalidAmount(AmountError),
    #[error("the amount is below {gateway}'s minimum of {minimum}")]
    BelowMinimum {
        gateway: GatewayKind,
        minimum: Money,
    },
    #[error("currency {code:?} is not supported; use one of {known}")]
    UnsupportedCurrency { code: String, known: String },
    #[error("entity {entity_id:?} is already paid (payment {payment_id})")]
    EntityAlreadyPaid {
        entity_id: String,
        payment_id: String,
    },
    #[error(
        "this idempotencyKey was already used for payment {payment_id} with different arguments"
    )]
    IdempotencyConflict { payment_id: String },
    #[error("no payment {0:?}")]
    NotFound(String),
    #[error("organization {0:?} has no payment gateway configured")]
    NotConfigured(String),
    /// The call named a gateway the organization has no account with.
    #[error("organization {organization:?} has no {gateway} account")]
    GatewayNotConfigured {
        organization: String,
        gateway: GatewayKind,
        /// The gateways it does have.
        available: Vec<GatewayKind>,
    },
    /// The gateway cannot take this currency.
    #[error("{gateway} does not take {currency}")]
    CurrencyNotTaken {
        gateway: GatewayKind,
        currency: String,
        /// Another gateway of the organization that takes it, if any.
        alternative: Option<GatewayKind>,
    },
    /// The account a payment was made in is no longer configured.
    #[error("no {environment:?} account is configured for organization {organization:?}")]
    NoAccount {
        organization: String,
        environment: Environment,
    },
    /// The gateway refused to create this payment (or did so earlier for the same request).
    #[error("{gateway} refused payment {payment_id}: {error}")]
    Refused {
        gateway: GatewayKind,
        payment_id: String,
        error: GatewayError,
    },
    /// The gateway failed otherwise; the payment is saved and can be finished.
    #[error("payment {payment_id}: {error}")]
    Gateway {
        gateway: GatewayKind,
        payment_id: String,
        error: GatewayError,
    },
    #[error(
        "payment {payment_id}: an earlier attempt may still be in flight at the gateway; retry in {retry_after_secs} s"
    )]
    StillInFlight {
        gateway: GatewayKind,
        payment_id: String,
        retry_after_secs: u64,
    },
    #[error("payment {payment_id}: the gateway created the order but its link was lost in transit")]
    LinkLost {
        gateway: GatewayKind,
        payment_id: String,
    },
    /// A person must approve this request first; nothing was sent to the gateway.
    #[error("a person must approve this first (approval {})", approval.id)]
    NeedsApproval {
        approval: Box<crate::domain::Approval>,
        /// The approval page a person opens.
        url: String,
        /// The policy's threshold the amount is above (None: always asked, as refunds).
        threshold: Option<Money>,
    },
    /// A person declined this exact request; it will not be made.
    #[error("a person declined this request (approval {approval_id})")]
    ApprovalDeclined { approval_id: String },
    /// Only a paid payment can be refunded.
    #[error("payment {payment_id} is {status:?}, not paid: there is nothing to refund")]
    NotRefundable {
        payment_id: String,
        status: crate::domain::PaymentStatus,
    },
    /// Its refunds already hold the whole amount.
    #[error("payment {payment_id} is already refunded in full")]
    NothingToRefund { payment_id: String },
    #[error("the refund is more than remains refundable on payment {payment_id} ({remaining})")]
    RefundTooLarge {
        payment_id: String,
        remaining: Money,
    },
    /// The refund is recorded, but the gateway did not answer its create.
    #[error("refund {refund_id}: {error}")]
    RefundNotSent {
        gateway: GatewayKind,
        refund_id: String,
        /// Whether paylink sends it again by itself (false: an operator must check the
        /// gateway's dashboard, since sending again could refund twice).
        will_retry: bool,
        error: GatewayError,
    },
    /// The organization's spending policy refuses the payment: nothing was written.
    #[error("{0}")]
    Policy(PolicyRefusal),
    #[error("the ledger failed: {0}")]
    Store(#[from] StoreError),
}
