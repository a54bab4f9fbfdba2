//! The one place where use-case errors become tool errors a model can act on.
//! Internal detail (store errors, transport causes) is logged, never shown.

use paylink_tools::{ErrorCode, ToolError};

use crate::domain::{AmountError, PolicyRefusal};
use crate::gateway::{GatewayError, GatewayKind, Refusal};
use crate::payments::PaymentError;
use crate::store::StoreError;

pub fn tool_error(e: &PaymentError) -> ToolError {
    use ErrorCode as C;
    match e {
        PaymentError::InvalidAmount(a) => {
            let next = match a {
                AmountError::TooManyDecimals { currency, .. } if *currency == "CLP" => {
                    "CLP has no decimals: round to whole pesos (e.g. 5000, not 5000.5) and call again."
                }
                AmountError::TooManyDecimals { .. } => "Round the amount to the currency's decimals and call again.",
                AmountError::NotPositive => "Ask the customer for the amount to charge; it must be greater than zero.",
                AmountError::NotANumber(_) | AmountError::TooLarge => {
                    "Send the amount as a plain JSON number in ordinary units, e.g. 5000 for CLP 5.000."
                }
            };
            ToolError::new(C::InvalidAmount, a.to_string(), next).field("amount")
        }
        PaymentError::BelowMinimum { gateway, minimum } => ToolError::new(
            C::AmountBelowMinimum,
            format!("the amount is below {gateway}'s minimum of {minimum}"),
            format!("Charge at least {minimum}; amounts are in ordinary units (350 means CLP 350)."),
        )
        .field("amount"),
        PaymentError::UnsupportedCurrency { code, known } => ToolError::new(
            C::UnsupportedCurrency,
            format!("currency {code:?} is not supported; paylink knows {known}"),
            "Use CLP (or leave currency out) unless the merchant's account enables another currency.",
        )
        .field("currency"),
        PaymentError::EntityAlreadyPaid { entity_id, payment_id } => ToolError::new(
            C::EntityAlreadyPaid,
            format!("entity {entity_id:?} is already paid by payment {payment_id}; no new payment was made"),
            "Tell the customer it is already paid. Only if they really mean to pay again, call again with allowPaidEntity: true.",
        )
        .field("entityId")
        .payment(payment_id.clone()),
        PaymentError::IdempotencyConflict { payment_id } => ToolError::new(
            C::IdempotencyConflict,
            format!("this idempotencyKey was already used for payment {payment_id} with different arguments"),
            "Retry with exactly the original arguments, or use a new idempotencyKey for a different payment.",
        )
        .field("idempotencyKey")
        .payment(payment_id.clone()),
        PaymentError::NotFound(id) => ToolError::new(
            C::NotFound,
            format!("no payment {id:?} exists for this account"),
            "Check the id: it is the paymentId that payment.create returned (it starts with ent_).",
        )
        .field("entityId"),
        PaymentError::NotConfigured(org) => ToolError::new(
            C::GatewayMisconfigured,
            format!("organization {org:?} has no payment gateway configured"),
            "Tell the operator to set up an integration (`paylink integration flow ...`); payments cannot be taken until then.",
        ),
        PaymentError::GatewayNotConfigured { organization, gateway, available } => {
            let have = available.iter().map(|g| g.as_str()).collect::<Vec<_>>().join(", ");
            ToolError::new(
                C::GatewayMisconfigured,
                format!("organization {organization:?} has no {gateway} account; it has: {}", if have.is_empty() { "none" } else { &have }),
                if available.is_empty() {
                    "Tell the operator to set up an integration; payments cannot be taken until then.".to_string()
                } else {
                    format!("Call again without gateway (or with gateway: \"{}\").", available[0].as_str())
                },
            )
            .field("gateway")
        }
        PaymentError::CurrencyNotTaken { gateway, currency, alternative } => ToolError::new(
            C::UnsupportedCurrency,
            format!("{gateway} does not take {currency}"),
            match alternative {
                Some(a) => format!("Call again with gateway: \"{}\", which takes {currency}.", a.as_str()),
                None => format!("Charge in a currency {gateway} takes (CLP for Flow), or ask the operator to connect a gateway that takes {currency}."),
            },
        )
        .field("currency"),
        PaymentError::NoAccount { organization, environment } => ToolError::new(
            C::GatewayMisconfigured,
            format!(
                "the {} account this payment was made in is no longer configured for organization {organization:?}",
                environment.as_str()
            ),
            "Tell the operator to restore that integration (`paylink doctor` lists them); the payment is kept.",
        ),
        PaymentError::Refused { gateway, payment_id, error } => refused(*gateway, payment_id, error),
        PaymentError::Gateway { gateway, payment_id, error } => gateway_failed(*gateway, payment_id, error),
        PaymentError::StillInFlight { gateway, payment_id, retry_after_secs } => {
            let mut e = ToolError::new(
                C::GatewayUnavailable,
                format!("the earlier attempt to create payment {payment_id} at {gateway} has an unknown outcome and may still arrive there; paylink has not sent it again, because sending now could make a second order"),
                format!(
                    "Wait {retry_after_secs} seconds, then call payment.create again with the SAME idempotencyKey and arguments."
                ),
            )
            .payment(payment_id.clone());
            e.retryable = true;
            e
        }
        PaymentError::LinkLost { gateway, payment_id } => ToolError::new(
            C::PaymentLinkLost,
            format!("{gateway} created the order, but its payment link was lost in transit and cannot be recovered; nobody can pay that order"),
            "Create the payment again with a NEW idempotencyKey; the lost order expires by itself.",
        )
        .payment(payment_id.clone()),
        PaymentError::Policy(refusal) => policy_limit(refusal),
        PaymentError::NeedsApproval { approval, url, .. } => {
            super::confirm::required(url.clone(), approval, None)
        }
        PaymentError::NotRefundable { payment_id, status } => ToolError::new(
            C::InvalidArguments,
            format!("payment {payment_id} is {}, not paid: only a paid payment can be refunded", status.as_str()),
            "Check the paymentId (payment.list finds the customer's paid payments). An unpaid link needs no refund.",
        )
        .field("paymentId")
        .payment(payment_id.clone()),
        PaymentError::NothingToRefund { payment_id } => ToolError::new(
            C::InvalidAmount,
            format!("payment {payment_id} is already refunded in full (or its refunds in progress cover it)"),
            "Nothing more can be refunded; payment.getStatus lists its refunds.",
        )
        .payment(payment_id.clone()),
        PaymentError::RefundTooLarge { payment_id, remaining } => ToolError::new(
            C::InvalidAmount,
            format!("the refund is more than remains refundable on payment {payment_id}: at most {}", remaining.for_people()),
            format!("Refund at most {} (leave amount out to refund all of it).", remaining.for_people()),
        )
        .field("amount")
        .payment(payment_id.clone()),
        PaymentError::RefundNotSent { gateway, refund_id, will_retry, error } => {
            let mut e = ToolError::new(
                C::GatewayUnavailable,
                format!("refund {refund_id} is recorded, but {gateway} did not answer its request ({error})"),
                if *will_retry {
                    "paylink sends it again by itself; call payment.refund again with the same idempotencyKey later to see where it stands.".to_string()
                } else {
                    format!("Do NOT ask for it again: {gateway} may have received it. Tell the operator to look for refund {refund_id} in {gateway}'s dashboard.")
                },
            );
            e.retryable = *will_retry;
            e
        }
        PaymentError::ApprovalDeclined { approval_id } => ToolError::new(
            C::ConfirmationDeclined,
            format!("a person declined this exact request (approval {approval_id}); nothing was made"),
            "Do not retry it. If the user changes their mind, call again with a NEW idempotencyKey: a person is asked again.",
        ),
        // The cause was logged once when the streak of failures began.
        PaymentError::Store(StoreError::Unavailable) => ToolError::new(
            C::StorageUnavailable,
            "paylink's ledger cannot write to disk right now (the disk is full or failing), so \
             nothing was recorded and no payment was made; the operator must free disk space",
            "Tell the user payments are paused for a moment, then call again in a minute with the \
             SAME idempotencyKey and arguments; paylink resumes by itself once it can write.",
        ),
        PaymentError::Store(StoreError::Unreachable(_)) => ToolError::new(
            C::StorageUnavailable,
            "paylink's ledger database cannot be reached right now, so nothing was recorded \
             and no payment was made",
            "Tell the user payments are paused for a moment, then call again in a minute with the \
             SAME idempotencyKey and arguments; paylink resumes by itself once its database is back.",
        ),
        PaymentError::Store(inner) => {
            tracing::error!(error = %inner, "ledger error during a tool call");
            ToolError::new(
                C::Internal,
                "paylink could not read or write its ledger",
                "Retry in a moment with the same idempotencyKey; if it persists, tell the operator.",
            )
        }
    }
}

/// The spending policy refused the payment: say which limit and its value, and send the
/// agent to a human, because retrying (or splitting the amount) must not get around it.
fn policy_limit(refusal: &PolicyRefusal) -> ToolError {
    let (message, field) = match refusal {
        PolicyRefusal::Currency { currency, allowed } => (
            format!(
                "the organization's spending policy allows payments only in {}; {currency} is \
                 not allowed, so no payment was made",
                allowed
                    .iter()
                    .map(|c| c.code())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "currency",
        ),
        PolicyRefusal::PerPayment { limit, amount } => (
            format!(
                "the organization's spending policy allows at most {limit} per payment \
                 (max per payment); {amount} is above it, so no payment was made"
            ),
            "amount",
        ),
        PolicyRefusal::PerDay {
            limit,
            spent,
            amount,
        } => (
            format!(
                "the organization's spending policy allows at most {limit} per day (max per \
                 day, UTC); {spent} is already spent today, so {amount} more would pass it and \
                 no payment was made"
            ),
            "amount",
        ),
    };
    ToolError::new(
        ErrorCode::PolicyLimit,
        message,
        "Do NOT retry, split the amount or change the currency to get around this limit. Tell \
         the user the payment needs a human's approval and ask the operator, who can change the \
         limit with `paylink integration policy` or the PAYLINK_POLICY_* settings.",
    )
    .field(field)
}

/// A failed `payment.create`, knowing the currency the call asked for (`None`: it left
/// currency out, so the account's default was charged). A gateway's refusal of the currency
/// is explained with that currency and what to do; everything else is [`tool_error`].
pub fn create_error(e: &PaymentError, requested_currency: Option<&str>) -> ToolError {
    match e {
        PaymentError::Refused {
            gateway,
            payment_id,
            error:
                error @ GatewayError::Rejected {
                    reason: Refusal::CurrencyNotEnabled,
                    ..
                },
        } => {
            tracing::warn!(payment = payment_id, %gateway, error = %error, "the gateway refused the currency");
            currency_not_enabled(*gateway, payment_id, requested_currency)
        }
        other => tool_error(other),
    }
}

fn currency_not_enabled(
    gateway: GatewayKind,
    payment_id: &str,
    currency: Option<&str>,
) -> ToolError {
    let e = match currency {
        Some(code) => ToolError::new(
            ErrorCode::UnsupportedCurrency,
            format!(
                "the merchant's {gateway} account does not take {code}: {code} is not enabled \
                 on that account, so no payment link was made"
            ),
            format!(
                "Charge in the account's default currency instead (leave currency out; CLP \
                 unless the operator chose another) with a new idempotencyKey. If the customer \
                 must pay in {code}, the operator has to enable {code} on the {gateway} \
                 account first."
            ),
        ),
        None => ToolError::new(
            ErrorCode::UnsupportedCurrency,
            format!(
                "the merchant's {gateway} account does not take its own default currency: \
                 that currency is not enabled on the account, so no payment link was made"
            ),
            format!(
                "Tell the operator to enable the default currency on the {gateway} account or \
                 to set the integration's currency to one the account takes (`paylink \
                 doctor`). Retrying will not help until then."
            ),
        ),
    };
    e.field("currency").payment(payment_id)
}

/// `payment.getStatus` of a payment whose order the gateway no longer has ("Transaction
/// not found"): its link can never be paid. Final, not retryable.
pub fn link_gone(gateway: GatewayKind, payment_id: &str) -> ToolError {
    ToolError::new(
        ErrorCode::PaymentLinkLost,
        format!(
            "{gateway} has no order for payment {payment_id} any more, so its payment link \
             cannot be paid; checking again will not change that"
        ),
        "Do not check this payment again. Tell the customer the old link no longer works, \
         then create a new payment with payment.create and a NEW idempotencyKey.",
    )
    .payment(payment_id)
}

fn refused(gateway: GatewayKind, payment_id: &str, error: &GatewayError) -> ToolError {
    use ErrorCode as C;
    let reason = match error {
        GatewayError::Rejected { reason, .. } => *reason,
        _ => Refusal::Other,
    };
    let (code, field, next) = match reason {
        Refusal::BelowMinimum => (
            C::AmountBelowMinimum,
            Some("amount"),
            "Charge at least the gateway's minimum (CLP 350 at Flow), then call again with a new idempotencyKey.",
        ),
        Refusal::InvalidEmail => (
            C::InvalidEmail,
            Some("customerEmail"),
            "The gateway refused this e-mail address: ask the customer for another one and call again with a new idempotencyKey.",
        ),
        Refusal::CurrencyNotEnabled => (
            C::UnsupportedCurrency,
            Some("currency"),
            "This currency is not enabled on the merchant's account: use CLP, or ask the operator to enable it.",
        ),
        // Refunds' refusals; a payment's create never gets them.
        Refusal::RefundExceedsAvailable | Refusal::NotRefundable | Refusal::Other => (
            C::GatewayRejected,
            None,
            "Check the arguments, then call again with a new idempotencyKey.",
        ),
    };
    let e = ToolError::new(
        code,
        format!("{gateway} refused the payment: {error}"),
        next,
    )
    .payment(payment_id);
    match field {
        Some(f) => e.field(f),
        None => e,
    }
}

fn gateway_failed(gateway: GatewayKind, payment_id: &str, error: &GatewayError) -> ToolError {
    use ErrorCode as C;
    if let GatewayError::Misconfigured { detail } = error {
        tracing::error!(payment = payment_id, error = %detail, "the gateway account is misconfigured");
        return ToolError::new(
            C::GatewayMisconfigured,
            format!("{gateway} refused paylink's credentials or its account settings; no payment link could be made"),
            "Tell the operator to check the integration (`paylink doctor`). Retrying will not help until then.",
        )
        .payment(payment_id);
    }
    let mut e = ToolError::new(
        C::GatewayUnavailable,
        if error.outcome_unknown() {
            format!("{gateway}'s answer did not arrive ({error}); the payment {payment_id} is saved, and paylink will not send it to {gateway} again until it has checked whether this attempt arrived")
        } else {
            format!("{gateway} could not be reached ({error}); the payment {payment_id} is saved and nothing reached {gateway}")
        },
        "Call payment.create again in a little while with the SAME idempotencyKey and arguments; paylink will finish this payment instead of making a new one.",
    )
    .payment(payment_id);
    e.retryable = true;
    e
}
