//! The neutral gateway error: what the core and the tools need to decide, and nothing of
//! any gateway's wire format. Each gateway maps its own errors into it inside its folder.
//! Messages carry no URL, header or secret: they are safe to log and to show.

use std::time::Duration;

/// Why a gateway refused a request it understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The amount is below the gateway's minimum for the currency.
    BelowMinimum,
    /// The payer's e-mail address was refused.
    InvalidEmail,
    /// The merchant's account does not take this currency.
    CurrencyNotEnabled,
    /// A refund asks for more than remains refundable of the payment (its amount less what
    /// earlier refunds hold). A smaller amount may still be refunded.
    RefundExceedsAvailable,
    /// The payment cannot be refunded at all: it is not paid, or already fully refunded.
    NotRefundable,
    /// Anything else the gateway refused.
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// No usable answer: the gateway could not be reached, timed out, answered 5xx or 429,
    /// or sent something unreadable. `outcome_unknown`: the request may have reached the
    /// gateway and may still be acted on (so a create must not simply be sent again).
    #[error("{detail}")]
    Unavailable {
        detail: String,
        retry_after: Option<Duration>,
        outcome_unknown: bool,
    },
    /// The gateway understood the request and refused it.
    #[error("{message}")]
    Rejected {
        reason: Refusal,
        /// The gateway's own code, as text, for the operator.
        code: Option<String>,
        message: String,
    },
    /// The gateway refused our credentials, or the account's configuration is unusable.
    #[error("{detail}")]
    Misconfigured { detail: String },
    /// The gateway has no such order.
    #[error("the gateway has no such order")]
    NotFound,
    /// A create's outcome was unknown, and the gateway holds an order for our reference
    /// whose pay link never reached us and cannot be fetched again.
    #[error("the gateway created order {gateway_ref} but its payment link was lost in transit")]
    LinkLost { gateway_ref: String },
}

impl GatewayError {
    /// Whether the request may have been acted on, or may still be.
    pub fn outcome_unknown(&self) -> bool {
        matches!(
            self,
            GatewayError::Unavailable {
                outcome_unknown: true,
                ..
            }
        )
    }

    /// Whether asking again later may succeed.
    pub fn retryable(&self) -> bool {
        matches!(self, GatewayError::Unavailable { .. })
    }
}
