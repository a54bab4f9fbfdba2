//! `payment.refund`: a person approves (see [`super::confirm`]), then the refund is made
//! once however often the call is retried; and a paid payment's refunds as
//! `payment.getStatus` lists them.

use paylink_tools::ToolError;
use rmcp::model::{CallToolResponse, JsonObject};

use super::McpContext;
use super::confirm;
use super::errors::tool_error;
use super::summary;
use super::tools::{amount_json, internal};
use crate::domain::{Money, Source};
use crate::payments::PaymentError;

/// `payment.refund`: asks a person, then refunds (once, however often it is retried).
pub(super) async fn call(
    ctx: &McpContext,
    org: &str,
    args: &JsonObject,
    channel: confirm::Channel,
    answer: &confirm::Answer,
) -> Result<CallToolResponse, ToolError> {
    let req = paylink_tools::parse_refund(args)?;
    let input = crate::payments::RefundInput {
        organization: org.to_string(),
        payment_id: req.payment_id,
        amount_text: req.amount_text,
        idempotency_key: req.idempotency_key,
    };
    let outcome = match ctx.payments.refund(input.clone(), Source::Tool).await {
        Err(PaymentError::NeedsApproval { approval, .. }) => {
            match confirm::ask(&ctx.payments, &approval, channel, answer).await? {
                confirm::Asked::Approved => ctx.payments.refund(input, Source::Tool).await,
                confirm::Asked::Declined(e) | confirm::Asked::Link(e) => return Err(e),
                confirm::Asked::InputRequired(r) => return Ok(r.into()),
            }
        }
        other => other,
    }
    .map_err(|e| tool_error(&e))?;
    let r = &outcome.refund;
    let next_step = match r.status {
        crate::domain::RefundStatus::Refunded => {
            "The money is back with the payer. Nothing more to do.".to_string()
        }
        crate::domain::RefundStatus::Rejected | crate::domain::RefundStatus::Canceled => format!(
            "The refund did not go through{}. Tell the user; a new refund needs a new idempotencyKey.",
            r.failure
                .as_deref()
                .map(|f| format!(" ({f})"))
                .unwrap_or_default()
        ),
        _ => format!(
            "The refund is under way at {}; payment.getStatus (entityId {}) shows when it is refunded.",
            r.gateway, r.payment_id
        ),
    };
    let result = paylink_tools::RefundResult {
        refund_id: r.id.clone(),
        payment_id: r.payment_id.clone(),
        status: r.status.as_str().to_string(),
        amount: amount_json(r.amount),
        currency: r.amount.currency.code().to_string(),
        amount_refunded: amount_json(outcome.held),
        reused: outcome.reused,
        next_step,
    };
    let sentence = format!(
        "Refund of {} for payment {}: {}.",
        r.amount.for_people(),
        r.payment_id,
        r.status.as_str()
    );
    let value = serde_json::to_value(&result).map_err(|e| internal(&e))?;
    Ok(summary::result(&sentence, value).into())
}

/// A payment's refunds as getStatus shows them, with open ones checked live (a failed
/// check keeps the stored state).
pub(super) async fn lines(
    ctx: &McpContext,
    payment_id: &str,
) -> (Option<serde_json::Number>, Vec<paylink_tools::RefundLine>) {
    let Ok(refunds) = ctx.payments.refunds_of(payment_id).await else {
        return (None, Vec::new());
    };
    let mut lines = Vec::new();
    let mut held: Option<Money> = None;
    for r in refunds {
        let r = if r.status.is_final() {
            r
        } else {
            ctx.payments
                .check_refund(&r, Source::Tool)
                .await
                .unwrap_or(r)
        };
        if r.status.holds_amount() {
            let sum = held.map_or(r.amount.minor, |h| h.minor + r.amount.minor);
            held = Some(Money::from_minor(sum, r.amount.currency));
        }
        lines.push(paylink_tools::RefundLine {
            refund_id: r.id.clone(),
            status: r.status.as_str().to_string(),
            amount: amount_json(r.amount),
        });
    }
    (held.map(amount_json), lines)
}
