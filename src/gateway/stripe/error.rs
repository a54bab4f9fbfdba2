//! The typed error of the Stripe client, and its mapping to the neutral [`GatewayError`].
//!
//! Stripe's own JSON refusals (`{"error": {type, code, message, param, decline_code}}`)
//! are kept apart from everything that says nothing about the request: timeouts, refused
//! connections, bodies that are not Stripe's JSON. No variant carries a URL, a header or
//! a key: Stripe's messages can quote a masked key (`sk_test_****1234`), so they are
//! scrubbed of anything key-like, and 401/403 messages are paylink's own.
//!
//! Decisions:
//! - 400 `idempotency_error` (our key reused with other parameters) is `Misconfigured`:
//!   Stripe did not act on this request, but sending it again would only repeat the
//!   refusal; it is a paylink bug (or another integration using paylink's key scheme on
//!   the account). The payment stays a draft, and its next attempt asks Stripe by
//!   reference and goes on with a new key.
//! - 409 (a request with the same key still running) and 429 are `Unavailable` and
//!   retryable with `outcome_unknown: true`: the other request, or one a proxy delivers
//!   late, may still create the session.

use std::time::Duration;

use crate::gateway::{GatewayError, Refusal};

use super::amounts::AmountRefusal;

/// Stripe's code for an amount under its minimum.
pub const CODE_AMOUNT_TOO_SMALL: &str = "amount_too_small";
/// Stripe's code for a refused e-mail address.
pub const CODE_EMAIL_INVALID: &str = "email_invalid";
/// Stripe's code for an unknown object.
pub const CODE_RESOURCE_MISSING: &str = "resource_missing";
/// Stripe's error type for a reused idempotency key.
pub const TYPE_IDEMPOTENCY: &str = "idempotency_error";

/// Stripe's error JSON, with the HTTP status and `Retry-After` it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiFailure {
    pub http_status: u16,
    /// Stripe's `type`.
    pub kind: String,
    pub code: Option<String>,
    /// Scrubbed of anything key-like.
    pub message: String,
    pub param: Option<String>,
    pub decline_code: Option<String>,
    pub retry_after: Option<Duration>,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Stripe refused the request (HTTP {}, {}",
            self.http_status, self.kind
        )?;
        if let Some(c) = &self.code {
            write!(f, ", code {c}")?;
        }
        write!(f, "): {}", self.message)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StripeError {
    /// Stripe answered with its error JSON.
    #[error("{0}")]
    Api(Box<ApiFailure>),
    /// An HTTP status without Stripe's error JSON (a proxy's 502, an HTML page).
    #[error("Stripe answered HTTP {http_status}")]
    Http {
        http_status: u16,
        retry_after: Option<Duration>,
    },
    /// No answer within the client's timeout. The request may or may not have been acted on.
    #[error("Stripe did not answer within {} s", .0.as_secs_f32())]
    Timeout(Duration),
    /// The connection could not be opened: the request never reached Stripe.
    #[error("could not connect to Stripe: {0}")]
    Connect(String),
    /// The connection broke while sending or reading.
    #[error("the connection to Stripe failed: {0}")]
    Transport(String),
    /// A 2xx whose body is not the JSON Stripe sends.
    #[error("Stripe's answer could not be read: {0}")]
    Malformed(String),
    /// The client was configured with something unusable.
    #[error("Stripe client misconfigured: {0}")]
    Config(String),
    /// The amount cannot be sent to Stripe as it is; nothing was sent.
    #[error("{0}")]
    Amount(AmountRefusal),
    /// The amount is under Stripe's minimum for the currency; nothing was sent.
    #[error("the amount is below Stripe's minimum of {minimum}")]
    BelowMinimum { minimum: String },
}

impl StripeError {
    fn status(&self) -> Option<u16> {
        match self {
            StripeError::Api(a) => Some(a.http_status),
            StripeError::Http { http_status, .. } => Some(*http_status),
            _ => None,
        }
    }

    /// Whether sending the same request again may succeed.
    pub fn retryable(&self) -> bool {
        match self {
            StripeError::Timeout(_)
            | StripeError::Connect(_)
            | StripeError::Transport(_)
            | StripeError::Malformed(_) => true,
            StripeError::Api(a) => transient_status(a.http_status),
            StripeError::Http { http_status, .. } => transient_status(*http_status),
            StripeError::Config(_) | StripeError::Amount(_) | StripeError::BelowMinimum { .. } => {
                false
            }
        }
    }

    /// Whether the request certainly never reached Stripe (safe to re-send even a create).
    pub fn never_sent(&self) -> bool {
        matches!(self, StripeError::Connect(_))
    }

    /// Whether Stripe may have acted on the request, or may still act on it.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            StripeError::Timeout(_)
            | StripeError::Transport(_)
            | StripeError::Malformed(_)
            | StripeError::Http { .. } => true,
            StripeError::Api(a) => transient_status(a.http_status),
            StripeError::Connect(_)
            | StripeError::Config(_)
            | StripeError::Amount(_)
            | StripeError::BelowMinimum { .. } => false,
        }
    }

    /// How long Stripe (or a proxy) asked us to wait, from `Retry-After`.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            StripeError::Api(a) => a.retry_after,
            StripeError::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether Stripe has no such object (`resource_missing`, or a 404).
    pub fn is_not_found(&self) -> bool {
        match self {
            StripeError::Api(a) => {
                a.http_status == 404 || a.code.as_deref() == Some(CODE_RESOURCE_MISSING)
            }
            _ => false,
        }
    }

    pub(crate) fn from_reqwest(e: reqwest::Error, timeout: Duration) -> StripeError {
        let e = e.without_url();
        if e.is_timeout() {
            StripeError::Timeout(timeout)
        } else if e.is_connect() {
            StripeError::Connect(root_cause(&e))
        } else if e.is_builder() {
            StripeError::Config(root_cause(&e))
        } else {
            StripeError::Transport(root_cause(&e))
        }
    }
}

/// 409 (same key still running), 429 (rate limited) and 5xx: try again later.
fn transient_status(status: u16) -> bool {
    status == 409 || status == 429 || status >= 500
}

/// Which refusal a 400 `invalid_request_error` (or 402) is.
fn refusal(code: Option<&str>, param: Option<&str>) -> Refusal {
    let param = param.unwrap_or("");
    match code {
        Some(CODE_AMOUNT_TOO_SMALL) => Refusal::BelowMinimum,
        Some(CODE_EMAIL_INVALID) => Refusal::InvalidEmail,
        _ if param == "customer_email" => Refusal::InvalidEmail,
        Some(c) if c.contains("currency") => Refusal::CurrencyNotEnabled,
        _ if param == "currency" || param.ends_with("[currency]") => Refusal::CurrencyNotEnabled,
        _ => Refusal::Other,
    }
}

impl From<StripeError> for GatewayError {
    /// Stripe's errors in neutral terms; Stripe's codes end here (as text, for the operator).
    fn from(e: StripeError) -> GatewayError {
        let unavailable = |e: &StripeError, outcome_unknown: bool| GatewayError::Unavailable {
            detail: e.to_string(),
            retry_after: e.retry_after(),
            outcome_unknown,
        };
        match e.status() {
            Some(401) => {
                return GatewayError::Misconfigured {
                    detail: "Stripe refused paylink's API key (HTTP 401): it is wrong, expired or revoked; set the account's current secret key (sk_…) or restricted key (rk_…)".into(),
                };
            }
            Some(403) => {
                return GatewayError::Misconfigured {
                    detail: "Stripe refused the request (HTTP 403): the restricted API key lacks a permission this call needs (Checkout Sessions: write; to read: Checkout Sessions and PaymentIntents: read)".into(),
                };
            }
            _ => {}
        }
        match e {
            StripeError::Api(ref a) => {
                if a.http_status == 404 || a.code.as_deref() == Some(CODE_RESOURCE_MISSING) {
                    return GatewayError::NotFound;
                }
                if transient_status(a.http_status) {
                    return unavailable(&e, true);
                }
                if a.kind == TYPE_IDEMPOTENCY {
                    return GatewayError::Misconfigured {
                        detail: format!(
                            "Stripe refused paylink's idempotency key as reused with other parameters (a paylink bug); nothing was created by this request: {}",
                            a.message
                        ),
                    };
                }
                match a.http_status {
                    400 | 402 => GatewayError::Rejected {
                        reason: refusal(a.code.as_deref(), a.param.as_deref()),
                        code: a.code.clone(),
                        message: a.message.clone(),
                    },
                    // 424 (a dependency of Stripe failed) and anything else Stripe may add.
                    _ => unavailable(&e, true),
                }
            }
            StripeError::Amount(refusal) => GatewayError::Rejected {
                reason: Refusal::Other,
                code: Some("amount_not_representable".into()),
                message: refusal.to_string(),
            },
            StripeError::BelowMinimum { .. } => GatewayError::Rejected {
                reason: Refusal::BelowMinimum,
                code: Some(CODE_AMOUNT_TOO_SMALL.into()),
                message: e.to_string(),
            },
            StripeError::Config(detail) => GatewayError::Misconfigured {
                detail: format!("the Stripe account is misconfigured: {detail}"),
            },
            StripeError::Connect(_) => unavailable(&e, false),
            StripeError::Timeout(_)
            | StripeError::Http { .. }
            | StripeError::Malformed(_)
            | StripeError::Transport(_) => unavailable(&e, true),
        }
    }
}

/// `text` with every key-like word (`sk_…`, `rk_…`, `pk_…`, `whsec_…`, masked or not)
/// replaced by its prefix and `…`.
pub fn scrub(text: &str) -> String {
    const PREFIXES: [&str; 4] = ["sk_", "rk_", "pk_", "whsec_"];
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let at_word_start = out
            .chars()
            .last()
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
        if at_word_start && let Some(p) = PREFIXES.iter().find(|p| rest.starts_with(**p)) {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '*'))
                .unwrap_or(rest.len());
            // A key's kind (sk_test_, rk_live_) is not secret; the rest is.
            let kind_len = ["test_", "live_"]
                .iter()
                .find(|m| rest[p.len()..].starts_with(**m))
                .map_or(0, |m| m.len());
            out.push_str(&rest[..p.len() + kind_len]);
            out.push('…');
            rest = &rest[end..];
            continue;
        }
        let c = rest.chars().next().expect("rest is not empty");
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[cfg(test)]
mod tests;
