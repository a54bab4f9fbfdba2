//! The typed error of the Flow client.
//!
//! Flow's own refusals (`{code, message}` with HTTP 400/401) are kept apart from
//! everything that says nothing about the request itself: timeouts, refused connections,
//! 5xx answers and bodies that are not Flow's JSON. Only the latter are `retryable()`.
//! No variant carries a URL, a header, the apiKey or the secret: messages are safe to log
//! and to show.

use std::time::Duration;

use crate::gateway::{GatewayError, Refusal};

/// Flow's code for a bad signature (also sent for an unknown apiKey).
pub const CODE_INVALID_SIGNATURE: i64 = 108;
/// The amount is below Flow's minimum (350 CLP).
pub const CODE_BELOW_MINIMUM: i64 = 1901;
/// The payer's e-mail was refused.
pub const CODE_INVALID_EMAIL: i64 = 1620;
/// The currency is not enabled for the merchant.
pub const CODE_CURRENCY_NOT_ENABLED: i64 = 1990;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowError {
    /// Flow understood the request and refused it.
    #[error("Flow refused the request (HTTP {http_status}{}): {message}", code.map(|c| format!(", code {c}")).unwrap_or_default())]
    Api {
        http_status: u16,
        code: Option<i64>,
        message: String,
    },
    /// No answer within the client's timeout. The request may or may not have been acted on.
    #[error("Flow did not answer within {} s", .0.as_secs_f32())]
    Timeout(Duration),
    /// The connection could not be opened: the request never reached Flow.
    #[error("could not connect to Flow: {0}")]
    Connect(String),
    /// An HTTP status Flow does not use for its JSON errors (5xx, 404, 429 ...).
    #[error("Flow answered HTTP {http_status}")]
    Http { http_status: u16 },
    /// A 200/400/401 whose body is not the JSON Flow sends.
    #[error("Flow's answer could not be read: {0}")]
    Malformed(String),
    /// The connection broke while sending or reading.
    #[error("the connection to Flow failed: {0}")]
    Transport(String),
    /// A create timed out or failed ambiguously and Flow holds an order with our
    /// commerceOrder, but its token (the pay link) never reached us. Flow has no call that
    /// returns the token again, so this order cannot be offered to a payer.
    #[error(
        "Flow created order {flow_order} for this commerceOrder but its payment link was lost in transit"
    )]
    OrderExistsWithoutLink { flow_order: i64 },
    /// The client was configured with something unusable (a bad base URL, say).
    #[error("Flow client misconfigured: {0}")]
    Config(String),
}

impl FlowError {
    /// Whether sending the same request again may succeed.
    pub fn retryable(&self) -> bool {
        match self {
            FlowError::Timeout(_)
            | FlowError::Connect(_)
            | FlowError::Malformed(_)
            | FlowError::Transport(_) => true,
            FlowError::Http { http_status } => *http_status >= 500 || *http_status == 429,
            FlowError::Api { .. }
            | FlowError::OrderExistsWithoutLink { .. }
            | FlowError::Config(_) => false,
        }
    }

    /// Whether the request certainly never reached Flow (safe to re-send even a create).
    pub fn never_sent(&self) -> bool {
        matches!(self, FlowError::Connect(_))
    }

    /// Whether Flow may have acted on the request, or may still act on it: anything but a
    /// request that never left (`Connect`) or Flow's own JSON answer (`Api`). A proxy's
    /// 502/504, a timeout, a broken or unreadable reply all leave the order possibly made,
    /// possibly still on its way.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            FlowError::Connect(_) | FlowError::Api { .. } | FlowError::Config(_) => false,
            FlowError::OrderExistsWithoutLink { .. } => false,
            FlowError::Timeout(_)
            | FlowError::Http { .. }
            | FlowError::Malformed(_)
            | FlowError::Transport(_) => true,
        }
    }

    /// Flow's code, when Flow answered with one.
    pub fn code(&self) -> Option<i64> {
        match self {
            FlowError::Api { code, .. } => *code,
            _ => None,
        }
    }

    /// Whether this is Flow's "Transaction not found".
    pub fn is_not_found(&self) -> bool {
        match self {
            FlowError::Api { message, .. } => message.to_ascii_lowercase().contains("not found"),
            _ => false,
        }
    }

    /// Whether Flow refused our credentials (bad signature or unknown apiKey).
    pub fn is_auth(&self) -> bool {
        matches!(
            self,
            FlowError::Api {
                http_status: 401,
                ..
            }
        ) || self.code() == Some(CODE_INVALID_SIGNATURE)
    }

    pub(crate) fn from_reqwest(e: reqwest::Error, timeout: Duration) -> FlowError {
        // Never keep the URL: GET URLs carry the apiKey and the signature.
        let e = e.without_url();
        if e.is_timeout() {
            FlowError::Timeout(timeout)
        } else if e.is_connect() {
            FlowError::Connect(root_cause(&e))
        } else if e.is_builder() {
            FlowError::Config(root_cause(&e))
        } else {
            FlowError::Transport(root_cause(&e))
        }
    }
}

impl From<FlowError> for GatewayError {
    /// Flow's errors in neutral terms; Flow's codes end here.
    fn from(e: FlowError) -> GatewayError {
        if e.is_auth() {
            return GatewayError::Misconfigured {
                detail: format!("Flow refused paylink's credentials: {e}"),
            };
        }
        match e {
            FlowError::Api { code, message, .. } => {
                if message.to_ascii_lowercase().contains("not found") {
                    return GatewayError::NotFound;
                }
                let reason = match code {
                    Some(CODE_BELOW_MINIMUM) => Refusal::BelowMinimum,
                    Some(CODE_INVALID_EMAIL) => Refusal::InvalidEmail,
                    Some(CODE_CURRENCY_NOT_ENABLED) => Refusal::CurrencyNotEnabled,
                    _ => Refusal::Other,
                };
                GatewayError::Rejected {
                    reason,
                    code: code.map(|c| c.to_string()),
                    message,
                }
            }
            FlowError::OrderExistsWithoutLink { flow_order } => GatewayError::LinkLost {
                gateway_ref: flow_order.to_string(),
            },
            FlowError::Config(detail) => GatewayError::Misconfigured {
                detail: format!("the Flow account is misconfigured: {detail}"),
            },
            FlowError::Connect(_) => GatewayError::Unavailable {
                detail: e.to_string(),
                retry_after: None,
                outcome_unknown: false,
            },
            FlowError::Timeout(_)
            | FlowError::Http { .. }
            | FlowError::Malformed(_)
            | FlowError::Transport(_) => GatewayError::Unavailable {
                detail: e.to_string(),
                retry_after: None,
                outcome_unknown: true,
            },
        }
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_is_decided_by_kind() {
        let table: &[(FlowError, bool)] = &[
            (FlowError::Timeout(Duration::from_secs(30)), true),
            (FlowError::Connect("refused".into()), true),
            (FlowError::Http { http_status: 500 }, true),
            (FlowError::Http { http_status: 503 }, true),
            (FlowError::Http { http_status: 429 }, true),
            (FlowError::Http { http_status: 404 }, false),
            (FlowError::Malformed("eof".into()), true),
            (FlowError::Transport("reset".into()), true),
            (
                FlowError::Api {
                    http_status: 400,
                    code: Some(1901),
                    message: "min".into(),
                },
                false,
            ),
            (
                FlowError::Api {
                    http_status: 401,
                    code: Some(108),
                    message: "sig".into(),
                },
                false,
            ),
            (FlowError::OrderExistsWithoutLink { flow_order: 1 }, false),
        ];
        for (e, want) in table {
            assert_eq!(e.retryable(), *want, "{e:?}");
        }
    }

    #[test]
    fn messages_name_the_code() {
        let e = FlowError::Api {
            http_status: 400,
            code: Some(1901),
            message: "The minimum amount is 350 CLP".into(),
        };
        assert_eq!(
            e.to_string(),
            "Flow refused the request (HTTP 400, code 1901): The minimum amount is 350 CLP"
        );
        assert!(
            FlowError::Api {
                http_status: 400,
                code: None,
                message: "Transaction not found".into()
            }
            .is_not_found()
        );
    }
}
