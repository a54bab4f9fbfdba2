//! The one plain sentence that opens each successful tool result's text, for the user.
//!
//! Clients that ignore `structuredContent` show the text block, and a model repeats what it
//! reads there; so the text starts with a sentence a person can take as it is ("Payment
//! link for CLP 5.000 created: <url>; not paid yet."), then a blank line, then the JSON,
//! which stays exactly the `structuredContent`.
//!
//! Amounts are written from integer minor units with the currency's exponent from the money
//! table, never through a float: CLP as Chile writes it (no decimals, `.` between
//! thousands: `CLP 5.000`); every other currency with its exponent's decimals after a `.`
//! and `,` between thousands (`USD 1,234.50`), the way the amounts in the JSON are written.
//! A link that only works on this machine (the built-in offline sandbox, a local
//! Flow-compatible server, or any loopback URL) is said to be a test link that must not
//! reach a real customer.

use rmcp::model::{CallToolResult, ContentBlock};

use crate::domain::{FailureReason, Money, Payment, PaymentStatus};
use crate::gateway::GatewayError;
use crate::payments::GatewayMode;

/// `CLP 5.000`, `USD 12.50`, `UF 1.5000` (see [`Money::for_people`]).
pub fn amount(m: Money) -> String {
    m.for_people()
}

/// Whether `url` points at this machine (127.0.0.0/8, localhost, [::1]).
pub fn is_loopback_url(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    let host = host.to_ascii_lowercase();
    host == "localhost" || host.ends_with(".localhost") || host == "::1" || host.starts_with("127.")
}

/// The warning for a link that must not be sent to a real customer, if it is one.
pub fn local_link_warning(mode: Option<GatewayMode>, url: &str) -> Option<&'static str> {
    match mode {
        Some(GatewayMode::OfflineSandbox) => {
            Some("This is a local test link (offline sandbox): do not send it to a real customer.")
        }
        _ if mode == Some(GatewayMode::Local) || is_loopback_url(url) => Some(
            "This is a local test link (a test server on this machine): do not send it to a real customer.",
        ),
        _ => None,
    }
}

/// What `payment.create` did, in one sentence (plus the local-link warning).
pub fn created(p: &Payment, link: &str, reused: bool, mode: Option<GatewayMode>) -> String {
    let money = amount(p.amount);
    let mut s = match p.status {
        PaymentStatus::Paid => format!("Payment {} of {money} is already paid.", p.id),
        PaymentStatus::Failed => format!(
            "Payment {} of {money} was not paid: {}.",
            p.id,
            failure_words(p.failure_reason)
        ),
        PaymentStatus::Pending | PaymentStatus::Draft if reused => {
            format!(
                "Payment link for {money} (made earlier for this same request): {link}; not paid yet."
            )
        }
        PaymentStatus::Pending | PaymentStatus::Draft => {
            format!("Payment link for {money} created: {link}; not paid yet.")
        }
    };
    if p.status != PaymentStatus::Paid
        && let Some(w) = local_link_warning(mode, link)
    {
        s.push(' ');
        s.push_str(w);
    }
    s
}

/// A payment's status, in one sentence.
pub fn status(p: &Payment, gateway_error: Option<&GatewayError>) -> String {
    let money = amount(p.amount);
    let id = &p.id;
    match p.status {
        PaymentStatus::Paid => match p.paid_at {
            Some(t) => format!("Payment {id} of {money} is paid ({}).", utc_minute(t.0)),
            None => format!("Payment {id} of {money} is paid."),
        },
        PaymentStatus::Failed => format!(
            "Payment {id} of {money} was not paid: {}.",
            failure_words(p.failure_reason)
        ),
        PaymentStatus::Pending if gateway_error.is_some() => format!(
            "Payment {id} of {money} was not paid when last known; {} could not be asked just now.",
            p.gateway
        ),
        PaymentStatus::Pending => format!("Payment {id} of {money} is not paid yet."),
        PaymentStatus::Draft => format!("Payment {id} of {money} has no payment link yet."),
    }
}

fn failure_words(reason: Option<FailureReason>) -> &'static str {
    match reason {
        Some(FailureReason::Rejected) => "the payment was rejected",
        Some(FailureReason::Cancelled) => "it was cancelled",
        Some(FailureReason::Expired) => "the link expired",
        Some(FailureReason::GatewayRefused) => "the payment gateway refused it",
        Some(FailureReason::LinkLost) => "its payment link was lost",
        Some(FailureReason::NotCreated) => "the payment gateway never made it",
        None => "it failed",
    }
}

/// `2026-12-02 10:00 UTC` for unix milliseconds.
fn utc_minute(unix_ms: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| unix_ms.to_string())
}

/// A successful result: `value` as `structuredContent`, and as text the sentence, a blank
/// The sentence of a `payment.list` page: how many, how many paid, and whether there is more.
pub fn listed(found: &[Payment], more: bool) -> String {
    if found.is_empty() {
        return "No payments match.".to_string();
    }
    let paid = found
        .iter()
        .filter(|p| p.status == PaymentStatus::Paid)
        .count();
    let n = found.len();
    let noun = if n == 1 { "payment" } else { "payments" };
    let more = if more {
        " More match: call payment.list again with nextCursor."
    } else {
        ""
    };
    format!("{n} {noun}, newest first; {paid} of them paid.{more}")
}

/// line, then the same JSON.
pub fn result(sentence: &str, value: serde_json::Value) -> CallToolResult {
    let text = format!("{sentence}\n\n{value}");
    let mut r = CallToolResult::structured(value);
    r.content = vec![ContentBlock::text(text)];
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Currency;

    fn money(minor: i64, code: &str) -> Money {
        Money::from_minor(minor, Currency::from_code(code).unwrap())
    }

    #[test]
    fn amounts_use_the_currencys_exponent_and_chiles_separator_for_clp() {
        let table: &[(i64, &str, &str)] = &[
            (5000, "CLP", "CLP 5.000"),
            (350, "CLP", "CLP 350"),
            (1_234_567, "CLP", "CLP 1.234.567"),
            (1250, "USD", "USD 12.50"),
            (123_450, "USD", "USD 1,234.50"),
            (5, "EUR", "EUR 0.05"),
            (15_000, "UF", "UF 1.5000"),
        ];
        for (minor, code, want) in table {
            assert_eq!(amount(money(*minor, code)), *want);
        }
    }

    #[test]
    fn loopback_links_are_recognized() {
        for local in [
            "http://127.0.0.1:9100/app/web/pay.php?token=x",
            "http://localhost:3000/pay",
            "http://[::1]:8080/pay",
            "https://user@127.0.0.2/x",
        ] {
            assert!(is_loopback_url(local), "{local}");
        }
        for remote in [
            "https://www.flow.cl/app/web/pay.php?token=x",
            "https://sandbox.flow.cl/app/web/pay.php?token=127.0.0.1",
            "https://checkout.stripe.com/c/pay/cs_test_1",
        ] {
            assert!(!is_loopback_url(remote), "{remote}");
        }
        assert_eq!(
            local_link_warning(Some(GatewayMode::OfflineSandbox), "http://127.0.0.1/x"),
            Some("This is a local test link (offline sandbox): do not send it to a real customer.")
        );
        assert!(local_link_warning(Some(GatewayMode::Test), "http://localhost/x").is_some());
        assert!(local_link_warning(Some(GatewayMode::Live), "https://www.flow.cl/x").is_none());
    }

    #[test]
    fn times_are_written_to_the_minute_in_utc() {
        // 2026-12-02T10:00:30Z
        assert_eq!(utc_minute(1_796_205_630_000), "2026-12-02 10:00 UTC");
    }
}
