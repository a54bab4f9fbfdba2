//! Currencies and amounts as Stripe takes them: lowercase ISO codes, integer amounts in
//! the currency's smallest unit (whole units for zero-decimal currencies such as CLP, JPY
//! and KRW), a minimum and a maximum charge.
//!
//! Minimum charges are Stripe's published table (USD 0.50, EUR 0.50, GBP 0.30, JPY 50,
//! MXN 10, BRL 0.50, …). Stripe has no fixed CLP minimum (it converts to the account's
//! settlement currency); the sandbox uses 500 CLP, about USD 0.50. Currencies without a
//! known minimum need at least 1 minor unit. The maximum is Stripe's 99,999,999 minor units.
//! Three-decimal currencies (BHD, JOD, KWD, OMR, TND) need amounts ending in 0.

use super::error::ApiError;

/// Stripe's widest amount: eight digits of minor units.
pub const MAX_AMOUNT: i64 = 99_999_999;
/// A presentment currency: lowercase code, decimals, smallest charge in minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Currency {
    pub code: &'static str,
    pub exponent: u32,
    pub minimum: i64,
}

#[rustfmt::skip]
const CURRENCIES: &[(&str, u32, i64)] = &[
    // Stripe's minimum charge table.
    ("usd", 2, 50), ("aed", 2, 200), ("aud", 2, 50), ("bgn", 2, 100), ("brl", 2, 50),
    ("cad", 2, 50), ("chf", 2, 50), ("czk", 2, 1500), ("dkk", 2, 250), ("eur", 2, 50),
    ("gbp", 2, 30), ("hkd", 2, 400), ("huf", 2, 17500), ("inr", 2, 50), ("jpy", 0, 50),
    ("mxn", 2, 1000), ("myr", 2, 200), ("nok", 2, 300), ("nzd", 2, 50), ("pln", 2, 200),
    ("ron", 2, 200), ("sek", 2, 300), ("sgd", 2, 50), ("thb", 2, 1000),
    // Zero-decimal currencies; CLP's minimum is the sandbox's approximation.
    ("clp", 0, 500), ("bif", 0, 1), ("djf", 0, 1), ("gnf", 0, 1), ("kmf", 0, 1),
    ("krw", 0, 1), ("mga", 0, 1), ("pyg", 0, 1), ("rwf", 0, 1), ("ugx", 0, 1),
    ("vnd", 0, 1), ("vuv", 0, 1), ("xaf", 0, 1), ("xof", 0, 1), ("xpf", 0, 1),
    // Three-decimal currencies: amounts must end in 0.
    ("bhd", 3, 10), ("jod", 3, 10), ("kwd", 3, 10), ("omr", 3, 10), ("tnd", 3, 10),
    // Other common two-decimal currencies.
    ("ars", 2, 1), ("cny", 2, 1), ("cop", 2, 1), ("idr", 2, 1), ("ils", 2, 1),
    ("pen", 2, 1), ("php", 2, 1), ("try", 2, 1), ("twd", 2, 1), ("uyu", 2, 1),
    ("zar", 2, 1),
];

/// The currency with this code (any case: Stripe stores it lowercase).
pub fn currency(code: &str) -> Option<Currency> {
    let lower = code.to_ascii_lowercase();
    CURRENCIES
        .iter()
        .find(|(c, _, _)| *c == lower)
        .map(|&(code, exponent, minimum)| Currency {
            code,
            exponent,
            minimum,
        })
}

/// `minor` in the currency's major units as text: `12.50`, `5000`, `1.250`.
pub fn format_amount(minor: i64, currency: Currency) -> String {
    if currency.exponent == 0 {
        return minor.to_string();
    }
    let unit = 10i64.pow(currency.exponent);
    format!(
        "{}.{:0width$}",
        minor / unit,
        minor % unit,
        width = currency.exponent as usize
    )
}

/// The total against the currency's minimum, maximum and (three-decimal) last digit.
pub fn check_amount(total: i64, currency: Currency) -> Result<(), ApiError> {
    if total < currency.minimum {
        return Err(ApiError::invalid(
            "amount_too_small",
            format!(
                "The session's total must be at least {} {}",
                format_amount(currency.minimum, currency),
                currency.code
            ),
        ));
    }
    if total > MAX_AMOUNT {
        return Err(ApiError::invalid(
            "amount_too_large",
            format!(
                "The session's total must be at most {} {}",
                format_amount(MAX_AMOUNT, currency),
                currency.code
            ),
        ));
    }
    if currency.exponent == 3 && total % 10 != 0 {
        return Err(ApiError::invalid_uncoded(format!(
            "Amounts in {} must end in 0 (Stripe rounds three-decimal currencies to two).",
            currency.code
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_formatted_in_major_units() {
        assert_eq!(format_amount(1250, currency("USD").unwrap()), "12.50");
        assert_eq!(format_amount(5000, currency("clp").unwrap()), "5000");
        assert_eq!(format_amount(1250, currency("kwd").unwrap()), "1.250");
        assert_eq!(currency("xyz"), None);
    }

    #[test]
    fn totals_are_checked_against_minimum_maximum_and_last_digit() {
        let usd = currency("usd").unwrap();
        assert_eq!(
            check_amount(49, usd).unwrap_err().code,
            Some("amount_too_small")
        );
        assert!(check_amount(50, usd).is_ok());
        assert_eq!(
            check_amount(MAX_AMOUNT + 1, usd).unwrap_err().code,
            Some("amount_too_large")
        );
        assert!(check_amount(1255, currency("kwd").unwrap()).is_err());
        assert!(check_amount(1250, currency("kwd").unwrap()).is_ok());
    }
}
