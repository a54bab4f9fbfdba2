//! Tool listing and calls: parse the arguments with the catalog's validation, call one
//! use case, shape the result (structuredContent plus the same JSON as text). For a host
//! that renders the payment card, tools and results also carry the card's `_meta`
//! ([`super::card`]).

use std::sync::Arc;

use paylink_tools::{
    CreatePaymentResult, ErrorCode, GetStatusResult, NameStyle, ToolError, ToolId, catalog,
    parse_create, parse_get_status,
};
use rmcp::ErrorData as McpError;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, JsonObject, Resource,
    Tool, ToolAnnotations,
};

use super::McpContext;
use super::card::{self, CardHost};
use super::confirm;
use super::errors::{create_error, link_gone, tool_error};
use super::resources::payment_uri;
use super::summary;
use crate::domain::{Environment, Money, Payment, PaymentStatus, Source};
use crate::gateway::{GatewayError, GatewayKind, Verdict};
use crate::payments::{CreateInput, GatewayMode, PaymentError};

/// The tools as listed in `style`; with the card's `_meta` for a card host.
pub fn list(style: NameStyle, card_host: bool) -> Vec<Tool> {
    catalog()
        .into_iter()
        .map(|spec| {
            let a = spec.annotations;
            let tool = Tool::new(
                spec.name(style),
                spec.description,
                Arc::new(spec.input_schema.clone()),
            )
            .with_title(spec.title)
            .with_raw_output_schema(Arc::new(spec.output_schema.clone()))
            .with_annotations(
                ToolAnnotations::with_title(a.title)
                    .read_only(a.read_only_hint)
                    .destructive(a.destructive_hint)
                    .idempotent(a.idempotent_hint)
                    .open_world(a.open_world_hint),
            );
            match card_host.then(|| card::tool_meta(spec.id)).flatten() {
                Some(meta) => tool.with_meta(meta),
                None => tool,
            }
        })
        .collect()
}

/// A tool by any accepted spelling of its name.
pub fn get(style: NameStyle, name: &str) -> Option<Tool> {
    let id = ToolId::from_name(name)?;
    let index = catalog().iter().position(|s| s.id == id)?;
    list(style, false).into_iter().nth(index)
}

fn error_result(e: &ToolError) -> CallToolResult {
    CallToolResult::structured_error(e.to_json())
}

pub(super) fn amount_json(m: Money) -> serde_json::Number {
    // The exact decimal text becomes a JSON number only at this boundary.
    m.major_text()
        .parse()
        .unwrap_or_else(|_| serde_json::Number::from(m.minor))
}

pub(super) fn environment_label(ctx: &McpContext, p: &Payment) -> &'static str {
    ctx.payments
        .account(&p.organization, p.environment, p.gateway)
        .map(|a| a.mode)
        .unwrap_or(match p.environment {
            Environment::Production => GatewayMode::Live,
            Environment::Development => GatewayMode::Test,
        })
        .environment_label()
}

pub async fn call(
    ctx: &McpContext,
    org: &str,
    request: CallToolRequestParams,
    channel: confirm::Channel,
    card_host: Option<CardHost>,
) -> Result<CallToolResponse, McpError> {
    let answer = confirm::Answer {
        responses: request.input_responses.clone(),
        state: request.request_state.clone(),
    };
    let Some(id) = ToolId::from_name(&request.name) else {
        return Err(McpError::invalid_params(
            format!(
                "tool not found: {}; paylink has payment.create, payment.getStatus, payment.list and payment.refund",
                request.name
            ),
            None,
        ));
    };
    let args: JsonObject = request.arguments.unwrap_or_default();
    if let Some(keys) = args.get(super::duplicates::MARKER) {
        let keys: Vec<&str> = keys
            .as_array()
            .map(|a| a.iter().filter_map(|k| k.as_str()).collect())
            .unwrap_or_default();
        let e = ToolError::new(
            ErrorCode::InvalidArguments,
            format!(
                "the request names {} more than once; paylink will not guess which value you meant",
                keys.join(", ")
            ),
            "Send each argument once, then call again.",
        );
        return Ok(error_result(&e).into());
    }
    let started = std::time::Instant::now();
    let result = match id {
        ToolId::Create => create(ctx, org, &args, channel, &answer, card_host).await,
        ToolId::GetStatus => get_status(ctx, org, &args, card_host).await.map(Into::into),
        ToolId::List => list_payments(ctx, org, &args).await.map(Into::into),
        ToolId::Refund => super::refund::call(ctx, org, &args, channel, &answer).await,
    };
    ctx.payments
        .metrics()
        .observe_tool(id.canonical_name(), result.is_ok(), started);
    Ok(match result {
        Ok(r) => r,
        Err(e) => error_result(&e).into(),
    })
}

async fn create(
    ctx: &McpContext,
    org: &str,
    args: &JsonObject,
    channel: confirm::Channel,
    answer: &confirm::Answer,
    card_host: Option<CardHost>,
) -> Result<CallToolResponse, ToolError> {
    let req = parse_create(args)?;
    let input = CreateInput {
        organization: org.to_string(),
        amount_text: req.amount_text,
        currency: req.currency,
        description: req.description,
        customer_email: req.customer_email,
        entity_id: req.entity_id,
        idempotency_key: req.idempotency_key,
        allow_paid_entity: req.allow_paid_entity,
        gateway: match req.gateway {
            None => None,
            Some(g) => Some(GatewayKind::parse(g.as_str()).ok_or_else(|| {
                ToolError::new(
                    ErrorCode::GatewayMisconfigured,
                    format!("this paylink has no {} gateway", g.as_str()),
                    "Call again without gateway.",
                )
                .field("gateway")
            })?),
        },
    };
    let requested_currency = input.currency.clone();
    let outcome = match ctx.payments.create(input.clone(), Source::Tool).await {
        // A person must approve first: ask, then go on only on a yes.
        Err(PaymentError::NeedsApproval { approval, .. }) => {
            match confirm::ask(&ctx.payments, &approval, channel, answer).await? {
                confirm::Asked::Approved => ctx.payments.create(input, Source::Tool).await,
                confirm::Asked::Declined(e) | confirm::Asked::Link(e) => return Err(e),
                confirm::Asked::InputRequired(r) => return Ok(r.into()),
            }
        }
        other => other,
    }
    .map_err(|e| create_error(&e, requested_currency.as_deref()))?;
    let p = outcome.payment;
    let next_step = match p.status {
        PaymentStatus::Paid => "This payment is already paid; nothing more to do.".to_string(),
        PaymentStatus::Failed => "This payment failed earlier; create a new one with a new idempotencyKey if the customer still wants to pay.".to_string(),
        PaymentStatus::Pending | PaymentStatus::Draft => format!(
            "Give paymentLinkUrl to the customer. Then check with payment.getStatus (entityId: {}) after they say they paid, or subscribe to resourceUri.",
            p.id
        ),
    };
    let (Some(link), Some(gateway_order)) = (p.payment_link_url.clone(), p.gateway_ref.clone())
    else {
        if p.status == PaymentStatus::Failed {
            // An earlier attempt under this key ended without a usable link.
            let reason = p.failure_reason.map(|r| r.as_str()).unwrap_or("failed");
            return Err(ToolError::new(
                ErrorCode::PaymentLinkLost,
                format!("the earlier attempt with these arguments ended without a usable link ({reason})"),
                "Create the payment again with a NEW idempotencyKey.",
            )
            .payment(p.id.clone()));
        }
        return Err(ToolError::new(
            ErrorCode::GatewayUnavailable,
            format!("payment {} has no link yet", p.id),
            "Call payment.create again with the same idempotencyKey and arguments in a moment.",
        )
        .payment(p.id.clone()));
    };
    let result = CreatePaymentResult {
        payment_link_url: link.clone(),
        flow_order_id: gateway_order,
        status: p.status.as_str().to_string(),
        amount: amount_json(p.amount),
        amount_minor: p.amount.minor,
        currency: p.amount.currency.code().to_string(),
        environment: environment_label(ctx, &p).to_string(),
        expires_at: p.expires_at.map(|t| t.rfc3339()),
        reused: outcome.reused,
        resource_uri: payment_uri(&p.id),
        next_step,
        payment_id: p.id.clone(),
    };
    let mode = ctx
        .payments
        .account(&p.organization, p.environment, p.gateway)
        .map(|a| a.mode);
    let sentence = summary::created(&p, &link, outcome.reused, mode);
    let value = serde_json::to_value(&result).map_err(|e| internal(&e))?;
    let mut r = summary::result(&sentence, value);
    r.content.push(ContentBlock::resource_link(
        Resource::new(payment_uri(&p.id), format!("payment {}", p.id))
            .with_description(format!("{} for {}", p.amount, p.description))
            .with_mime_type("application/json"),
    ));
    r.meta = card_host.map(|host| card::result_meta(host, &p));
    Ok(r.into())
}

async fn get_status(
    ctx: &McpContext,
    org: &str,
    args: &JsonObject,
    card_host: Option<CardHost>,
) -> Result<CallToolResult, ToolError> {
    let req = parse_get_status(args)?;
    let payment_id = if crate::domain::approval::is_approval_id(&req.payment_id) {
        approved_payment(ctx, org, &req.payment_id).await?
    } else {
        req.payment_id
    };
    let outcome = ctx
        .payments
        .status(org, &payment_id, Source::Tool)
        .await
        .map_err(|e| tool_error(&e))?;
    let p = &outcome.payment;
    if matches!(outcome.gateway_error, Some(GatewayError::NotFound))
        && matches!(p.status, PaymentStatus::Pending | PaymentStatus::Draft)
    {
        // The gateway has no order for it: no later check can make it payable.
        return Err(link_gone(p.gateway, &p.id));
    }
    let result = status_view(
        ctx,
        p,
        outcome.gateway.as_ref(),
        outcome.gateway_error.as_ref(),
    )
    .await;
    let sentence = summary::status(p, outcome.gateway_error.as_ref());
    let value = serde_json::to_value(&result).map_err(|e| internal(&e))?;
    let mut r = summary::result(&sentence, value);
    r.meta = card_host.map(|host| card::result_meta(host, p));
    Ok(r)
}

/// A payment as getStatus shows it — also the `payment://` resource's representation, so
/// an agent reads one shape everywhere. `gateway`: the live answer, when one was had.
pub(super) async fn status_view(
    ctx: &McpContext,
    p: &Payment,
    gateway_answer: Option<&crate::gateway::GatewayStatus>,
    gateway_error: Option<&GatewayError>,
) -> GetStatusResult {
    // The gateway's own status code (Flow's flowStatus), kept for compatibility: from its
    // live answer, else from the ledger's status where that is unambiguous.
    let verdict = match gateway_answer {
        Some(g) => Some(g.verdict.clone()),
        None => match p.status {
            PaymentStatus::Paid => Some(Verdict::Paid { paid_at: None }),
            PaymentStatus::Pending => Some(Verdict::Pending),
            PaymentStatus::Draft | PaymentStatus::Failed => None,
        },
    };
    let (status_code, status_message) = match verdict.and_then(|v| p.gateway.status_code(&v)) {
        Some((code, message)) => (Some(code), Some(message.to_string())),
        None => (None, None),
    };
    let gateway = p.gateway;
    let next_step = match (p.status, gateway_error) {
        (PaymentStatus::Paid, _) => "The customer has paid. Continue with what the payment was for.".to_string(),
        (PaymentStatus::Failed, _) => "The payment did not go through. Offer a new link with payment.create (new idempotencyKey).".to_string(),
        (_, Some(GatewayError::Misconfigured { .. })) => format!(
            "paylink cannot check with {gateway} because the integration is misconfigured; this is the last known status. Tell the operator to run `paylink doctor`."
        ),
        (_, Some(_)) => format!("{gateway} could not be reached just now; this is the last known status. Check again in a minute."),
        (PaymentStatus::Pending, None) => "Not paid yet. Remind the customer of the link, and check again after they say they paid.".to_string(),
        (PaymentStatus::Draft, None) => "The link is still being made. Call payment.create again with the same idempotencyKey to finish it.".to_string(),
    };
    let (amount_refunded, refunds) = if p.status == PaymentStatus::Paid {
        super::refund::lines(ctx, &p.id).await
    } else {
        (None, Vec::new())
    };
    GetStatusResult {
        entity_id: p.id.clone(),
        status: p.status.as_str().to_string(),
        flow_status: status_code,
        flow_status_message: status_message,
        payment_link_url: p.payment_link_url.clone(),
        amount: amount_json(p.amount),
        amount_minor: p.amount.minor,
        currency: p.amount.currency.code().to_string(),
        description: p.description.clone(),
        paid_at: p.paid_at.map(|t| t.rfc3339()),
        failure_reason: p.failure_reason.map(|r| r.as_str().to_string()),
        payment_for: p.entity_id.clone(),
        checked_live: gateway_answer.is_some(),
        live_check_error: gateway_error
            .map(|e| format!("the live check with {gateway} failed: {e}")),
        updated_at: p.updated_at.rfc3339(),
        amount_refunded,
        refunds,
        next_step,
    }
}

/// The payment an approval of `org` led to: an error while a person has not approved it
/// (or declined it, or let it expire). An approved request not yet run (the approval page
/// could not reach the gateway) runs now, idempotently.
async fn approved_payment(ctx: &McpContext, org: &str, id: &str) -> Result<String, ToolError> {
    let approval = ctx
        .payments
        .approval(org, id)
        .await
        .map_err(|e| tool_error(&e))?
        .ok_or_else(|| tool_error(&PaymentError::NotFound(id.to_string())))?;
    match approval.standing(crate::domain::Timestamp::now()) {
        crate::domain::Standing::Waiting => Err(confirm::required(
            ctx.payments.approval_url(id),
            &approval,
            Some("Nobody has answered yet."),
        )),
        crate::domain::Standing::Declined => Err(confirm::declined(&approval, false)),
        crate::domain::Standing::Expired => Err(confirm::declined(&approval, true)),
        crate::domain::Standing::Approved => match approval.outcome_id {
            Some(made) => Ok(made),
            None => {
                let made = ctx
                    .payments
                    .run_approved(&approval)
                    .await
                    .map_err(|e| create_error(&e, None))?;
                ctx.payments.note_approval_outcome(id, &made).await;
                Ok(made)
            }
        },
    }
}

/// `payment.list`: a page of the caller's organization's payments from the ledger.
async fn list_payments(
    ctx: &McpContext,
    org: &str,
    args: &JsonObject,
) -> Result<CallToolResult, ToolError> {
    let req = paylink_tools::parse_list(args)?;
    let limit = req.limit;
    let query = crate::store::ListQuery {
        // Always the caller's own: the organization comes from the session, never the call.
        organization: Some(org.to_string()),
        status: req.status.map(|s| match s {
            paylink_tools::StatusArg::Draft => PaymentStatus::Draft,
            paylink_tools::StatusArg::Pending => PaymentStatus::Pending,
            paylink_tools::StatusArg::Paid => PaymentStatus::Paid,
            paylink_tools::StatusArg::Failed => PaymentStatus::Failed,
        }),
        entity_id: req.entity_id,
        customer_email: req.customer_email,
        created_from: req.created_from_ms.map(crate::domain::Timestamp),
        created_to: req.created_to_ms.map(crate::domain::Timestamp),
        after: req
            .cursor
            .map(|c| (crate::domain::Timestamp(c.created_ms), c.payment_id)),
        // One more than asked: whether a next page exists, without a second query.
        limit: limit + 1,
    };
    let mut found = ctx
        .payments
        .query(&query)
        .await
        .map_err(|e| tool_error(&crate::payments::PaymentError::Store(e)))?;
    let next_cursor = if found.len() > limit {
        found.truncate(limit);
        found.last().map(|p| {
            paylink_tools::Cursor {
                created_ms: p.created_at.0,
                payment_id: p.id.clone(),
            }
            .encode()
        })
    } else {
        None
    };
    let payments: Vec<paylink_tools::ListedPayment> = found
        .iter()
        .map(|p| paylink_tools::ListedPayment {
            payment_id: p.id.clone(),
            status: p.status.as_str().to_string(),
            amount: amount_json(p.amount),
            currency: p.amount.currency.code().to_string(),
            description: p.description.clone(),
            customer_email: p.customer_email.clone(),
            entity_id: p.entity_id.clone(),
            created_at: p.created_at.rfc3339(),
            paid_at: p.paid_at.map(|t| t.rfc3339()),
            failure_reason: p.failure_reason.map(|r| r.as_str().to_string()),
        })
        .collect();
    let sentence = summary::listed(&found, next_cursor.is_some());
    let result = paylink_tools::ListPaymentsResult {
        payments,
        next_cursor,
    };
    let value = serde_json::to_value(&result).map_err(|e| internal(&e))?;
    Ok(summary::result(&sentence, value))
}

pub(super) fn internal(e: &dyn std::fmt::Display) -> ToolError {
    tracing::error!(error = %e, "could not shape a tool result");
    ToolError::new(
        ErrorCode::Internal,
        "paylink could not shape its answer",
        "Retry the call.",
    )
}
