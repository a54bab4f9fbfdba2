//! Amounts as Stripe counts them, converted exactly or refused.
//!
//! Stripe takes an integer in the currency's smallest unit as *Stripe* defines it, which
//! is not always ISO 4217's: its zero-decimal currencies take whole units; its
//! three-decimal ones (BHD, JOD, KWD, OMR, TND) take thousandths whose last digit must
//! be 0; every other currency takes hundredths. paylink's [`Money`] holds minor units of
//! the ISO exponent in the currency table. Where the two exponents differ the amount is
//! converted exactly or refused: nothing is ever rounded.
//!
//! Stripe's minimum charge per currency is checked before any call
//! ([`crate::gateway::GatewayKind::minimum`]), so `payment.create` refuses a too-small
//! amount as it does for Flow. Stripe's own `amount_too_small` stays the final word (the
//! minimum also applies after conversion into the account's settlement currency).

use crate::domain::{Currency, Money};

/// Stripe's zero-decimal currencies: the amount is in whole units.
pub const ZERO_DECIMAL: [&str; 16] = [
    "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV",
    "XAF", "XOF", "XPF",
];

/// Stripe's three-decimal currencies: the amount is in thousandths, last digit 0.
pub const THREE_DECIMAL: [&str; 5] = ["BHD", "JOD", "KWD", "OMR", "TND"];

/// Stripe's minimum charge per currency, in major units, for the currencies of paylink's
/// table that Stripe's "Minimum and maximum charge amounts" table lists
/// (docs.stripe.com/currencies#minimum-and-maximum-charge-amounts). Currencies it does
/// not list have no fixed minimum here: Stripe asks for the equivalent of USD 0.50 at the
/// day's rate, which only Stripe can check (its `amount_too_small` answer).
pub const MINIMUMS: [(&str, &str); 17] = [
    ("USD", "0.50"),
    ("EUR", "0.50"),
    ("GBP", "0.30"),
    ("CAD", "0.50"),
    ("AUD", "0.50"),
    ("NZD", "0.50"),
    ("CHF", "0.50"),
    ("SGD", "0.50"),
    ("BRL", "0.50"),
    ("HKD", "4.00"),
    ("DKK", "2.50"),
    ("NOK", "3.00"),
    ("SEK", "3.00"),
    ("PLN", "2.00"),
    ("CZK", "15.00"),
    ("MXN", "10"),
    ("JPY", "50"),
];

/// Why an amount cannot be sent to Stripe as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountRefusal {
    #[error("Stripe does not take {0} (it takes three-letter ISO 4217 currency codes)")]
    UnsupportedCurrency(&'static str),
    #[error(
        "Stripe charges {currency} in whole units only; {given} has a fraction (use a whole amount)"
    )]
    Fraction {
        currency: &'static str,
        given: String,
    },
    #[error(
        "Stripe charges {currency} in steps of 0.010 (the last of its three decimals must be 0); {given} is not one"
    )]
    LastDigitNotZero {
        currency: &'static str,
        given: String,
    },
    #[error("the amount is too large for Stripe")]
    TooLarge,
}

/// How many decimals Stripe counts for a currency code (case-insensitive).
pub fn stripe_exponent(code: &str) -> u8 {
    let code = code.to_ascii_uppercase();
    if ZERO_DECIMAL.contains(&code.as_str()) {
        0
    } else if THREE_DECIMAL.contains(&code.as_str()) {
        3
    } else {
        2
    }
}

/// The currency as Stripe names it (lowercase ISO code), or why Stripe cannot take it.
pub fn stripe_currency(currency: Currency) -> Result<String, AmountRefusal> {
    let code = currency.code();
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(AmountRefusal::UnsupportedCurrency(code));
    }
    Ok(code.to_ascii_lowercase())
}

/// Why an integer amount cannot move between two exponents exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rescale {
    /// Fewer decimals would drop a non-zero digit.
    Fraction,
    /// More decimals would overflow.
    TooLarge,
}

/// `amount` counted with `from` decimals, recounted with `to` decimals, exactly.
pub fn rescale(amount: i64, from: u8, to: u8) -> Result<i64, Rescale> {
    if to >= from {
        10i64
            .checked_pow(u32::from(to - from))
            .and_then(|f| amount.checked_mul(f))
            .ok_or(Rescale::TooLarge)
    } else {
        let divisor = 10i64
            .checked_pow(u32::from(from - to))
            .ok_or(Rescale::Fraction)?;
        if amount % divisor != 0 {
            return Err(Rescale::Fraction);
        }
        Ok(amount / divisor)
    }
}

/// The amount in Stripe's integer units, exactly, or why it cannot be sent.
pub fn to_stripe(money: Money) -> Result<i64, AmountRefusal> {
    let code = money.currency.code();
    stripe_currency(money.currency)?;
    let theirs = stripe_exponent(code);
    let amount = rescale(money.minor, money.currency.exponent(), theirs).map_err(|e| match e {
        Rescale::Fraction => AmountRefusal::Fraction {
            currency: code,
            given: money.major_text(),
        },
        Rescale::TooLarge => AmountRefusal::TooLarge,
    })?;
    if theirs == 3 && amount % 10 != 0 {
        return Err(AmountRefusal::LastDigitNotZero {
            currency: code,
            given: money.major_text(),
        });
    }
    Ok(amount)
}

/// Stripe's integer amount in a currency (as Stripe writes it, `usd`) as [`Money`]; `None`
/// for a currency outside paylink's table or an amount it cannot hold exactly.
pub fn from_stripe(amount: i64, currency: &str) -> Option<Money> {
    let c = Currency::from_code(currency)?;
    stripe_currency(c).ok()?;
    let minor = rescale(amount, stripe_exponent(c.code()), c.exponent()).ok()?;
    Some(Money::from_minor(minor, c))
}

/// Stripe's minimum charge in `currency`, where [`MINIMUMS`] has one.
pub fn minimum(currency: Currency) -> Option<Money> {
    MINIMUMS
        .iter()
        .find(|(code, _)| currency.code().eq_ignore_ascii_case(code))
        .and_then(|(_, major)| Money::parse_major(major, currency).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::money::CURRENCIES;

    fn cur(code: &str) -> Currency {
        Currency::from_code(code).unwrap_or_else(|| panic!("{code} is in the table"))
    }

    fn money(major: &str, code: &str) -> Money {
        Money::parse_major(major, cur(code)).unwrap()
    }

    #[test]
    fn amounts_in_stripes_units() {
        let table: &[(&str, &str, i64)] = &[
            ("12.50", "USD", 1250),
            ("0.50", "EUR", 50),
            ("0.30", "GBP", 30),
            ("5000", "CLP", 5000),
            ("500", "JPY", 500),
            ("10000", "KRW", 10000),
            ("25000", "PYG", 25000),
            ("50000", "VND", 50000),
            ("5.120", "KWD", 5120),
            ("1", "BHD", 1000),
            ("0.010", "OMR", 10),
            ("199.99", "MXN", 19999),
            ("1234.56", "COP", 123456),
        ];
        for (major, code, want) in table {
            assert_eq!(to_stripe(money(major, code)), Ok(*want), "{major} {code}");
            assert_eq!(
                from_stripe(*want, &code.to_ascii_lowercase()),
                Some(money(major, code)),
                "{want} {code}"
            );
        }
    }

    #[test]
    fn three_decimal_amounts_must_end_in_zero() {
        let e = to_stripe(money("5.125", "KWD")).unwrap_err();
        assert!(matches!(e, AmountRefusal::LastDigitNotZero { .. }), "{e:?}");
        assert!(e.to_string().contains("5.125"), "{e}");
        assert!(to_stripe(money("0.001", "TND")).is_err());
        assert_eq!(to_stripe(money("0.01", "JOD")), Ok(10));
    }

    #[test]
    fn uf_is_not_a_stripe_currency() {
        let e = to_stripe(money("1.5", "UF")).unwrap_err();
        assert_eq!(e, AmountRefusal::UnsupportedCurrency("UF"));
        assert_eq!(from_stripe(15000, "uf"), None);
    }

    #[test]
    fn stripe_exponents() {
        for code in ZERO_DECIMAL {
            assert_eq!(stripe_exponent(code), 0, "{code}");
            assert_eq!(stripe_exponent(&code.to_ascii_lowercase()), 0, "{code}");
        }
        for code in THREE_DECIMAL {
            assert_eq!(stripe_exponent(code), 3, "{code}");
        }
        for code in ["USD", "eur", "MXN", "COP", "BRL"] {
            assert_eq!(stripe_exponent(code), 2, "{code}");
        }
    }

    #[test]
    fn every_zero_or_three_decimal_currency_of_the_table_has_stripes_exponent() {
        // Where the exponents agree nothing is ever multiplied or divided; a row added
        // with another exponent is still converted exactly (see the proptest), but the
        // table should say what ISO says, which for these is what Stripe says.
        for info in CURRENCIES {
            let code = info.code;
            if ZERO_DECIMAL.contains(&code) || THREE_DECIMAL.contains(&code) {
                assert_eq!(info.exponent, stripe_exponent(code), "{code}");
            }
        }
    }

    #[test]
    fn rescaling_is_exact_or_refused_never_rounded() {
        // A currency Stripe counts in whole units held with two decimals must have no
        // fraction; more decimals must not overflow.
        let table: &[(i64, u8, u8, Result<i64, Rescale>)] = &[
            (1250, 2, 0, Err(Rescale::Fraction)),
            (1200, 2, 0, Ok(12)),
            (5, 0, 2, Ok(500)),
            (5125, 3, 2, Err(Rescale::Fraction)),
            (5120, 3, 2, Ok(512)),
            (12, 2, 3, Ok(120)),
            (i64::MAX, 0, 2, Err(Rescale::TooLarge)),
            (7, 2, 2, Ok(7)),
        ];
        for (amount, from, to, want) in table {
            assert_eq!(rescale(*amount, *from, *to), *want, "{amount} {from}->{to}");
        }
    }

    #[test]
    fn minimums_from_stripes_table() {
        let table: &[(&str, Option<i64>)] = &[
            ("USD", Some(50)),
            ("EUR", Some(50)),
            ("GBP", Some(30)),
            ("CAD", Some(50)),
            ("AUD", Some(50)),
            ("CHF", Some(50)),
            ("JPY", Some(50)),
            ("MXN", Some(1000)),
            ("BRL", Some(50)),
            ("DKK", Some(250)),
            ("SEK", Some(300)),
            ("NOK", Some(300)),
            ("HKD", Some(400)),
            ("CZK", Some(1500)),
            ("CLP", None),
            ("KRW", None),
            ("KWD", None),
            ("UF", None),
        ];
        for (code, want) in table {
            assert_eq!(minimum(cur(code)).map(|m| m.minor), *want, "{code}");
        }
        for (code, _) in MINIMUMS {
            assert!(
                minimum(cur(code)).is_some(),
                "{code}'s minimum parses exactly"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn conversion_round_trips_or_refuses(minor in 1i64..crate::domain::money::MAX_MINOR, idx in 0usize..CURRENCIES.len()) {
            let c = Currency::from_code(CURRENCIES[idx].code).unwrap();
            let m = Money::from_minor(minor, c);
            match to_stripe(m) {
                Ok(amount) => {
                    let code = stripe_currency(c).unwrap();
                    proptest::prop_assert_eq!(from_stripe(amount, &code), Some(m));
                }
                Err(AmountRefusal::LastDigitNotZero { .. }) => {
                    proptest::prop_assert_eq!(stripe_exponent(c.code()), 3);
                    proptest::prop_assert!(minor % 10 != 0);
                }
                Err(AmountRefusal::UnsupportedCurrency(code)) => proptest::prop_assert_eq!(code, "UF"),
                Err(e) => proptest::prop_assert!(false, "unexpected refusal {e:?}"),
            }
        }
    }
}
