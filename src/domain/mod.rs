//! The payment domain: exact money, payments, their status machine and their events.

pub mod approval;
pub mod money;
pub mod payment;
pub mod policy;
pub mod refund;
pub mod status;

pub use approval::{Approval, ApprovalAction, ApprovalState, DecidedVia, Standing};
pub use money::{AmountError, Currency, Money};
pub use payment::{
    Applied, Environment, FailureReason, PAYMENT_FOR, Payment, PaymentEvent, Source, Timestamp,
    Transition, new_payment_id,
};
pub use policy::{PolicyRefusal, SpendingPolicy};
pub use refund::{Refund, RefundEvent, RefundStatus};
pub use status::{Change, EventKind, PaymentStatus, TransitionError};
