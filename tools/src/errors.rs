//! Stable error codes and the error body every failed tool call returns.
//!
//! A failed call is an `isError` result whose JSON says what went wrong (`code`, stable
//! across releases), what to change (`message`), whether the same call may succeed later
//! (`retryable`), and what to do next (`nextStep`). Nothing internal reaches it: no
//! secret, header, URL with credentials, or stack trace.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// An argument is missing, of the wrong type, or unknown.
    InvalidArguments,
    InvalidAmount,
    AmountBelowMinimum,
    InvalidEmail,
    InvalidDescription,
    InvalidIdempotencyKey,
    UnsupportedCurrency,
    EntityAlreadyPaid,
    IdempotencyConflict,
    NotFound,
    /// Flow did not answer, answered 5xx, or answered garbage. Retrying later helps.
    GatewayUnavailable,
    /// Flow refused the order for a reason not covered by a more specific code.
    GatewayRejected,
    /// Flow refused paylink's credentials: an operator must fix the integration.
    GatewayMisconfigured,
    /// The payment's link can never be paid: the gateway created the order but its link
    /// was lost in transit, or the gateway no longer has the order at all ("Transaction
    /// not found"). Final: start a new payment with a new idempotencyKey.
    PaymentLinkLost,
    /// The ledger cannot write (a full disk, an I/O error): nothing was recorded. Retrying
    /// later with the same idempotencyKey helps once the operator frees space.
    StorageUnavailable,
    /// The organization's spending policy refuses the payment (its maximum per payment, its
    /// maximum per day, or its currencies): nothing was recorded and nothing reached the
    /// gateway. Not retryable: only an operator can change the policy.
    PolicyLimit,
    /// A person must approve this request first (the policy's confirmation threshold, or a
    /// refund): nothing reached the gateway. `approval` carries the link a person opens.
    /// Retryable: the same call, after approval, goes on.
    ConfirmationRequired,
    /// A person declined this request, or did not answer in time: nothing was made.
    ConfirmationDeclined,
    /// Spelled `internal_error` on the wire, as documented; `snake_case` alone would give
    /// `internal`.
    #[serde(rename = "internal_error")]
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidArguments => "invalid_arguments",
            ErrorCode::InvalidAmount => "invalid_amount",
            ErrorCode::AmountBelowMinimum => "amount_below_minimum",
            ErrorCode::InvalidEmail => "invalid_email",
            ErrorCode::InvalidDescription => "invalid_description",
            ErrorCode::InvalidIdempotencyKey => "invalid_idempotency_key",
            ErrorCode::UnsupportedCurrency => "unsupported_currency",
            ErrorCode::EntityAlreadyPaid => "entity_already_paid",
            ErrorCode::IdempotencyConflict => "idempotency_conflict",
            ErrorCode::NotFound => "not_found",
            ErrorCode::GatewayUnavailable => "gateway_unavailable",
            ErrorCode::GatewayRejected => "gateway_rejected",
            ErrorCode::GatewayMisconfigured => "gateway_misconfigured",
            ErrorCode::PaymentLinkLost => "payment_link_lost",
            ErrorCode::StorageUnavailable => "storage_unavailable",
            ErrorCode::PolicyLimit => "policy_limit",
            ErrorCode::ConfirmationRequired => "confirmation_required",
            ErrorCode::ConfirmationDeclined => "confirmation_declined",
            ErrorCode::Internal => "internal_error",
        }
    }

    /// Whether the same call may succeed later without changing anything.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            ErrorCode::GatewayUnavailable
                | ErrorCode::StorageUnavailable
                | ErrorCode::ConfirmationRequired
                | ErrorCode::Internal
        )
    }

    /// Every code, in the order the README lists them.
    pub const ALL: [ErrorCode; 19] = [
        ErrorCode::InvalidArguments,
        ErrorCode::InvalidAmount,
        ErrorCode::AmountBelowMinimum,
        ErrorCode::InvalidEmail,
        ErrorCode::InvalidDescription,
        ErrorCode::InvalidIdempotencyKey,
        ErrorCode::UnsupportedCurrency,
        ErrorCode::EntityAlreadyPaid,
        ErrorCode::IdempotencyConflict,
        ErrorCode::NotFound,
        ErrorCode::GatewayUnavailable,
        ErrorCode::GatewayRejected,
        ErrorCode::GatewayMisconfigured,
        ErrorCode::PaymentLinkLost,
        ErrorCode::StorageUnavailable,
        ErrorCode::PolicyLimit,
        ErrorCode::ConfirmationRequired,
        ErrorCode::ConfirmationDeclined,
        ErrorCode::Internal,
    ];
}

/// The JSON body of a failed tool call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToolError {
    pub code: ErrorCode,
    /// What was wrong and how to fix it.
    pub message: String,
    /// Whether calling again unchanged may succeed.
    pub retryable: bool,
    /// What the agent should do next.
    pub next_step: String,
    /// The argument at fault, when one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The payment concerned, when one exists (e.g. the already-paid one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
    /// The approval a person must give (with `confirmation_required`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Box<PendingApproval>>,
}

/// Where a person approves a request, and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PendingApproval {
    /// Pass it as entityId to payment.getStatus to learn the outcome.
    pub approval_id: String,
    /// The page a person opens to approve or decline; give it to the user.
    pub approval_url: String,
    /// RFC 3339; after it the approval can no longer be given.
    pub expires_at: String,
}

impl ToolError {
    pub fn new(
        code: ErrorCode,
        message: impl Into<String>,
        next_step: impl Into<String>,
    ) -> ToolError {
        ToolError {
            code,
            message: message.into(),
            retryable: code.retryable(),
            next_step: next_step.into(),
            field: None,
            payment_id: None,
            approval: None,
        }
    }

    pub fn field(mut self, field: &str) -> ToolError {
        self.field = Some(field.to_string());
        self
    }

    pub fn payment(mut self, id: impl Into<String>) -> ToolError {
        self.payment_id = Some(id.into());
        self
    }

    /// The error as `{"error": {...}}`, the shape every failed call returns.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "error": self })
    }
}

impl std::fmt::Display for ToolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn every_code_goes_on_the_wire_as_its_documented_name() {
        for code in ErrorCode::ALL {
            let wire = serde_json::to_value(code).unwrap();
            assert_eq!(wire, code.as_str(), "{code:?} serializes differently");
            let back: ErrorCode = serde_json::from_value(wire).unwrap();
            assert_eq!(back, code);
        }
    }

    #[test]
    fn the_readme_lists_exactly_the_codes_paylink_returns() {
        let readme = include_str!("../../README.md");
        let section = readme
            .split("### Errors")
            .nth(1)
            .and_then(|rest| rest.split("\n##").next())
            .expect("README.md has an ### Errors section");
        let listed: Vec<&str> = section
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|s| s.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
            .collect();
        let codes: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            listed, codes,
            "README's ### Errors list and ErrorCode::ALL differ"
        );
    }
}
