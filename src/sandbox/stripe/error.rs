//! Stripe's error object: `{"error": {"type", "code", "message", "param"?,
//! "decline_code"?, "doc_url"?}}` with Stripe's HTTP statuses.
//!
//! Where Stripe's error has no `code` (bad API key, idempotency mismatch, a value outside
//! an enum), the sandbox repeats the `type` as `code`, so `code` is always present;
//! `doc_url` accompanies only codes that Stripe documents.

use axum::http::StatusCode;
use serde_json::{Value, json};

/// Stripe's error types (`card_error` appears only in a PaymentIntent's
/// `last_payment_error`: the sandbox's API charges no cards).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    Api,
    Idempotency,
    InvalidRequest,
}

impl ErrorType {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::Api => "api_error",
            ErrorType::Idempotency => "idempotency_error",
            ErrorType::InvalidRequest => "invalid_request_error",
        }
    }
}

/// A Stripe error answer: HTTP status plus the `{"error": {...}}` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: ErrorType,
    /// `None`: Stripe sends no code; the body repeats the type.
    pub code: Option<&'static str>,
    pub message: String,
    pub param: Option<String>,
    pub decline_code: Option<String>,
    /// The endpoint had begun executing. Only such answers are kept for an idempotency
    /// key: Stripe keeps nothing for a request that failed validation.
    pub executed: bool,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: ErrorType, code: Option<&'static str>) -> Self {
        ApiError {
            status,
            kind,
            code,
            message: String::new(),
            param: None,
            decline_code: None,
            executed: false,
        }
    }

    /// A 400 `invalid_request_error` with this code.
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            ErrorType::InvalidRequest,
            Some(code),
        )
        .message(message)
    }

    /// A 400 `invalid_request_error` for which Stripe sends no code.
    pub fn invalid_uncoded(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorType::InvalidRequest, None).message(message)
    }

    pub fn message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    pub fn param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    pub fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    pub fn executed(mut self) -> Self {
        self.executed = true;
        self
    }

    pub fn unknown(param: &str) -> Self {
        Self::invalid(
            "parameter_unknown",
            format!("Received unknown parameter: {param}"),
        )
        .param(param)
    }

    pub fn missing(param: &str) -> Self {
        Self::invalid(
            "parameter_missing",
            format!("Missing required param: {param}."),
        )
        .param(param)
    }

    /// 404 `resource_missing` for `param`, e.g. `No such checkout.session: 'cs_…'`.
    pub fn no_such(object: &str, id: &str, param: &str) -> Self {
        Self::invalid("resource_missing", format!("No such {object}: '{id}'"))
            .status(StatusCode::NOT_FOUND)
            .param(param)
    }

    /// The code as sent: Stripe's, or the type where Stripe has none.
    pub fn code_str(&self) -> &'static str {
        self.code.unwrap_or(self.kind.as_str())
    }

    pub fn body(&self) -> Value {
        let mut error = json!({
            "type": self.kind.as_str(),
            "code": self.code_str(),
            "message": self.message,
        });
        if let Some(param) = &self.param {
            error["param"] = json!(param);
        }
        if let Some(decline_code) = &self.decline_code {
            error["decline_code"] = json!(decline_code);
        }
        if let Some(code) = self.code {
            error["doc_url"] = json!(format!(
                "https://docs.stripe.com/error-codes/{}",
                code.replace('_', "-")
            ));
        }
        json!({ "error": error })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_carry_param_and_doc_url_only_for_stripes_codes() {
        let body = ApiError::unknown("foo").body();
        assert_eq!(body["error"]["param"], "foo");
        assert_eq!(body["error"]["code"], "parameter_unknown");
        assert_eq!(
            body["error"]["doc_url"],
            "https://docs.stripe.com/error-codes/parameter-unknown"
        );
        let uncoded = ApiError::invalid_uncoded("x").body();
        assert_eq!(uncoded["error"]["type"], "invalid_request_error");
        assert_eq!(uncoded["error"]["code"], "invalid_request_error");
        assert!(uncoded["error"].get("doc_url").is_none());
        assert!(uncoded["error"].get("param").is_none());
    }
}
