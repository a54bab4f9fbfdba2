//! What can go wrong in a use case, in domain terms. `crate::mcp` maps these to tool
//! error codes in one place; the CLI prints their messages.

use crate::domain::{AmountError, Money};
use crate::gateway::flow::FlowError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    #[error("{0}")]
    InvalidAmount(AmountError),
    #[error("the amount is below Flow's minimum of {minimum}")]
    BelowMinimum { minimum: Money },
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
    #[error("organization {0:?} has no Flow integration configured")]
    NotConfigured(String),
    #[error("Flow refused payment {payment_id}: {error}")]
    Refused {
        payment_id: String,
        error: FlowError,
    },
    #[error("payment {payment_id}: {error}")]
    Gateway {
        payment_id: String,
        error: FlowError,
    },
    #[error(
        "payment {payment_id}: an earlier attempt may still be in flight at Flow; retry in {retry_after_secs} s"
    )]
    StillInFlight {
        payment_id: String,
        retry_after_secs: u64,
    },
    #[error("payment {payment_id}: Flow created the order but its link was lost in transit")]
    LinkLost { payment_id: String },
    #[error("the ledger failed: {0}")]
    Store(#[from] StoreError),
}
