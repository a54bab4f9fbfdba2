//! Asking a person inside the MCP client before money moves.
//!
//! When the use case answers `NeedsApproval`, the tool asks through the best channel the
//! client offers:
//! - a 2026-07-28 client that can elicit gets an `input_required` result carrying a form
//!   (the multi-round-trip request): its retry brings the person's answer in
//!   `inputResponses`, with the approval's id echoed as `requestState`;
//! - a 2025-11-25 client that can elicit is sent `elicitation/create` (form mode) and the
//!   call waits for the answer;
//! - any other client — or one that does not answer in time — gets `confirmation_required`
//!   with the approval link a person opens on the side listener.
//!
//! The answer only ever decides the approval already stored for this exact request, and
//! nothing a model writes into tool arguments can: approval travels outside them.

use std::time::Duration;

use paylink_tools::{ErrorCode, PendingApproval, ToolError};
use rmcp::model::{
    ElicitRequest, ElicitRequestParams, ElicitResult, ElicitationAction, ElicitationSchema,
    InputRequest, InputRequiredResult, InputResponses, ProtocolVersion,
};
use rmcp::service::RequestContext;
use rmcp::{Peer, RoleServer};

use crate::domain::{Approval, ApprovalState, DecidedVia};
use crate::payments::Payments;
use crate::payments::approvals::NotDecided;

/// The key of paylink's form among `inputRequests` / `inputResponses`.
pub const INPUT_KEY: &str = "paylink_approval";

/// The form's one field.
const FIELD: &str = "approve";

/// How long a 2025-11-25 client may take to answer before the call returns the link.
const ELICIT_TIMEOUT: Duration = Duration::from_secs(300);

/// How a client can be asked.
pub enum Channel {
    /// Send `elicitation/create` and wait (2025-11-25 sessions).
    Elicit(Peer<RoleServer>),
    /// Return `input_required` (2026-07-28).
    InputRequest,
    /// Only the approval link.
    Link,
}

/// What came of asking.
pub enum Asked {
    Approved,
    Declined(ToolError),
    /// Return this to the client; its retry carries the answer.
    InputRequired(InputRequiredResult),
    /// Nobody could be asked here: the person approves through the link.
    Link(ToolError),
}

/// What the call brought for an answer (a 2026-07-28 retry).
#[derive(Default, Clone)]
pub struct Answer {
    pub responses: Option<InputResponses>,
    pub state: Option<String>,
}

/// The channel the client behind `rc` offers.
pub fn channel(rc: &RequestContext<RoleServer>) -> Channel {
    let can_form = rc
        .client_capabilities()
        .and_then(|c| c.elicitation)
        // An empty elicitation capability means form mode (the 2025-06-18 meaning).
        .is_some_and(|e| e.form.is_some() || e.url.is_none());
    if !can_form {
        return Channel::Link;
    }
    match rc.protocol_version() {
        Some(v) if v >= ProtocolVersion::V_2026_07_28 => Channel::InputRequest,
        _ => Channel::Elicit(rc.peer.clone()),
    }
}

fn schema() -> ElicitationSchema {
    ElicitationSchema::builder()
        .required_bool_with(FIELD, |b| {
            b.title("Approve").description(
                "Yes to let paylink go ahead; no to stop it. Nothing happens unless you say yes.",
            )
        })
        .build()
        .expect("a one-field form is a valid schema")
}

fn form(approval: &Approval) -> ElicitRequestParams {
    ElicitRequestParams::FormElicitationParams {
        meta: None,
        message: approval.question(),
        requested_schema: schema(),
    }
}

/// Whether an answer says yes: accepted, with `approve: true`.
fn says_yes(r: &ElicitResult) -> bool {
    r.action == ElicitationAction::Accept
        && r.content
            .as_ref()
            .and_then(|c| c.get(FIELD))
            .and_then(|v| v.as_bool())
            == Some(true)
}

/// Asks for `approval` through `channel`, or reads the answer the call brought.
pub async fn ask(
    payments: &Payments,
    approval: &Approval,
    channel: Channel,
    answer: &Answer,
) -> Result<Asked, ToolError> {
    // A retry that carries the person's answer to this very approval.
    if answer.state.as_deref() == Some(approval.id.as_str())
        && let Some(raw) = answer.responses.as_ref().and_then(|r| r.get(INPUT_KEY))
    {
        let yes = serde_json::from_value::<ElicitResult>(raw.clone())
            .map(|r| says_yes(&r))
            .unwrap_or(false);
        return decide(payments, approval, yes).await;
    }
    match channel {
        Channel::Link => Ok(Asked::Link(required(
            payments.approval_url(&approval.id),
            approval,
            None,
        ))),
        Channel::InputRequest => {
            let mut input = rmcp::model::InputRequests::new();
            input.insert(
                INPUT_KEY.to_string(),
                InputRequest::Elicitation(ElicitRequest::new(form(approval))),
            );
            Ok(Asked::InputRequired(InputRequiredResult::new(
                Some(input),
                Some(approval.id.clone()),
            )))
        }
        Channel::Elicit(peer) => {
            match peer
                .create_elicitation_with_timeout(form(approval), Some(ELICIT_TIMEOUT))
                .await
            {
                Ok(r) => decide(payments, approval, says_yes(&r)).await,
                Err(e) => {
                    tracing::info!(error = %e, "the client did not answer the approval; giving the link instead");
                    Ok(Asked::Link(required(
                        payments.approval_url(&approval.id),
                        approval,
                        Some("The client could not ask the person just now."),
                    )))
                }
            }
        }
    }
}

async fn decide(payments: &Payments, approval: &Approval, yes: bool) -> Result<Asked, ToolError> {
    let decided = payments
        .decide_approval(
            Some(&approval.organization),
            &approval.id,
            yes,
            DecidedVia::Elicitation,
        )
        .await
        .map_err(|e| super::tool_error(&e))?;
    Ok(match decided {
        Ok(a) if a.state == ApprovalState::Approved => Asked::Approved,
        Ok(_) => Asked::Declined(declined(approval, false)),
        Err(NotDecided::AlreadyDecided(ApprovalState::Approved)) => Asked::Approved,
        Err(NotDecided::AlreadyDecided(_)) => Asked::Declined(declined(approval, false)),
        Err(NotDecided::Expired) => Asked::Declined(declined(approval, true)),
        Err(NotDecided::NotFound) => Asked::Link(required(
            payments.approval_url(&approval.id),
            approval,
            None,
        )),
    })
}

/// `confirmation_required`, with the approval link.
pub fn required(url: String, approval: &Approval, why: Option<&str>) -> ToolError {
    let what = match approval.action {
        crate::domain::ApprovalAction::CreatePayment => "payment",
        crate::domain::ApprovalAction::Refund => "refund",
    };
    let mut e = ToolError::new(
        ErrorCode::ConfirmationRequired,
        format!(
            "a person must approve this {what} of {} before paylink makes it; nothing was sent to the gateway{}",
            approval.amount.for_people(),
            why.map(|w| format!(". {w}")).unwrap_or_default()
        ),
        format!(
            "Give the user approval.approvalUrl and ask them to approve it there (it works once, until {}). Then call payment.getStatus with entityId {} to get the result, or repeat this call with the same arguments and idempotencyKey. You cannot approve it yourself.",
            approval.expires_at.rfc3339(),
            approval.id
        ),
    );
    e.approval = Some(Box::new(PendingApproval {
        approval_id: approval.id.clone(),
        approval_url: url,
        expires_at: approval.expires_at.rfc3339(),
    }));
    e
}

/// `confirmation_declined`.
pub fn declined(approval: &Approval, expired: bool) -> ToolError {
    let mut e = ToolError::new(
        ErrorCode::ConfirmationDeclined,
        if expired {
            format!(
                "nobody approved this request of {} before its approval expired; nothing was made",
                approval.amount.for_people()
            )
        } else {
            format!(
                "the person declined this request of {}; nothing was made",
                approval.amount.for_people()
            )
        },
        if expired {
            "If the user still wants it, call again with the same arguments: a new approval is asked."
        } else {
            "Do not retry it. If the user changes their mind, they must ask again, and you call with a NEW idempotencyKey."
        },
    );
    e.approval = None;
    e
}
