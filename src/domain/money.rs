//! Exact money: integer minor units plus a currency table.
//!
//! No floats hold an amount anywhere in paylink. A tool argument arrives as a JSON number;
//! its decimal text (the shortest text that round-trips, which is what the agent wrote for
//! any amount with at most 15 significant digits) is parsed digit by digit into minor units
//! of the currency, refusing more decimals than the currency has. CLP has no decimals, so
//! `5000` CLP is five thousand pesos and `10.5` CLP is an error, not a rounding.

use std::fmt;

/// What paylink knows of a currency: its ISO code and its exponent (decimal places).
/// Minimum charges are each gateway's own rule and live with the gateway.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CurrencyInfo {
    pub code: &'static str,
    pub exponent: u8,
    pub name: &'static str,
}

/// The currency table: CLP (the default), the other currencies of the Chilean and Latin
/// American markets paylink's gateways serve, and common ISO 4217 ones, each with its
/// ISO 4217 exponent (zero for JPY and KRW, three for the dinars of Bahrain, Jordan,
/// Kuwait and Tunisia and the Omani rial).
pub static CURRENCIES: &[CurrencyInfo] = &[
    CurrencyInfo {
        code: "CLP",
        exponent: 0,
        name: "Chilean peso",
    },
    // UF (Unidad de Fomento, ISO CLF) is quoted with four decimals.
    CurrencyInfo {
        code: "UF",
        exponent: 4,
        name: "Unidad de Fomento",
    },
    CurrencyInfo {
        code: "PEN",
        exponent: 2,
        name: "Peruvian sol",
    },
    CurrencyInfo {
        code: "MXN",
        exponent: 2,
        name: "Mexican peso",
    },
    CurrencyInfo {
        code: "COP",
        exponent: 2,
        name: "Colombian peso",
    },
    CurrencyInfo {
        code: "ARS",
        exponent: 2,
        name: "Argentine peso",
    },
    CurrencyInfo {
        code: "BRL",
        exponent: 2,
        name: "Brazilian real",
    },
    CurrencyInfo {
        code: "USD",
        exponent: 2,
        name: "US dollar",
    },
    CurrencyInfo {
        code: "EUR",
        exponent: 2,
        name: "Euro",
    },
    // Currencies Stripe charges in (ISO 4217 exponents; how Stripe counts their minor
    // units is the Stripe gateway's own rule, see gateway::stripe::amounts).
    CurrencyInfo {
        code: "GBP",
        exponent: 2,
        name: "Pound sterling",
    },
    CurrencyInfo {
        code: "CAD",
        exponent: 2,
        name: "Canadian dollar",
    },
    CurrencyInfo {
        code: "AUD",
        exponent: 2,
        name: "Australian dollar",
    },
    CurrencyInfo {
        code: "NZD",
        exponent: 2,
        name: "New Zealand dollar",
    },
    CurrencyInfo {
        code: "CHF",
        exponent: 2,
        name: "Swiss franc",
    },
    CurrencyInfo {
        code: "SEK",
        exponent: 2,
        name: "Swedish krona",
    },
    CurrencyInfo {
        code: "NOK",
        exponent: 2,
        name: "Norwegian krone",
    },
    CurrencyInfo {
        code: "DKK",
        exponent: 2,
        name: "Danish krone",
    },
    CurrencyInfo {
        code: "PLN",
        exponent: 2,
        name: "Polish zloty",
    },
    CurrencyInfo {
        code: "CZK",
        exponent: 2,
        name: "Czech koruna",
    },
    CurrencyInfo {
        code: "SGD",
        exponent: 2,
        name: "Singapore dollar",
    },
    CurrencyInfo {
        code: "HKD",
        exponent: 2,
        name: "Hong Kong dollar",
    },
    // ISO 4217 exponent 0: no minor unit in use.
    CurrencyInfo {
        code: "JPY",
        exponent: 0,
        name: "Japanese yen",
    },
    CurrencyInfo {
        code: "KRW",
        exponent: 0,
        name: "South Korean won",
    },
    CurrencyInfo {
        code: "PYG",
        exponent: 0,
        name: "Paraguayan guarani",
    },
    CurrencyInfo {
        code: "VND",
        exponent: 0,
        name: "Vietnamese dong",
    },
    // ISO 4217 exponent 3: the dinar and the rial are divided into 1000.
    CurrencyInfo {
        code: "BHD",
        exponent: 3,
        name: "Bahraini dinar",
    },
    CurrencyInfo {
        code: "JOD",
        exponent: 3,
        name: "Jordanian dinar",
    },
    CurrencyInfo {
        code: "KWD",
        exponent: 3,
        name: "Kuwaiti dinar",
    },
    CurrencyInfo {
        code: "OMR",
        exponent: 3,
        name: "Omani rial",
    },
    CurrencyInfo {
        code: "TND",
        exponent: 3,
        name: "Tunisian dinar",
    },
];

/// A currency from the table. Copy, compared by identity of its table row.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency(&'static CurrencyInfo);

impl Currency {
    pub const CLP: Currency = Currency(&CURRENCIES[0]);

    /// Looks a code up, case-insensitively (`clp` is CLP). `None` for codes not in the table.
    pub fn from_code(code: &str) -> Option<Currency> {
        let code = code.trim();
        CURRENCIES
            .iter()
            .find(|c| c.code.eq_ignore_ascii_case(code))
            .map(Currency)
    }

    pub fn code(self) -> &'static str {
        self.0.code
    }

    pub fn exponent(self) -> u8 {
        self.0.exponent
    }

    pub fn info(self) -> &'static CurrencyInfo {
        self.0
    }

    /// The list of codes, for error messages.
    pub fn known_codes() -> String {
        CURRENCIES
            .iter()
            .map(|c| c.code)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.code)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.code)
    }
}

impl serde::Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> serde::Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = String::deserialize(d)?;
        Currency::from_code(&code)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown currency {code:?}")))
    }
}

/// Why an amount was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("the amount must be a plain decimal number such as 5000 or 12.50, not {0:?}")]
    NotANumber(String),
    #[error("the amount must be greater than zero")]
    NotPositive,
    #[error("{currency} amounts have {exponent} decimal places; {given} has more")]
    TooManyDecimals {
        currency: &'static str,
        exponent: u8,
        given: String,
    },
    #[error("the amount is too large")]
    TooLarge,
}

/// An exact amount: minor units of a currency.
#[derive(Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Money {
    /// Minor units (for CLP, pesos; for USD, cents).
    pub minor: i64,
    pub currency: Currency,
}

impl Money {
    /// The amount as people read it: `CLP 5.000` (Chile groups thousands with dots and
    /// CLP has no decimals), `USD 1,234.50`, `UF 1.5000`.
    pub fn for_people(&self) -> String {
        let exp = u32::from(self.currency.exponent());
        let sign = if self.minor < 0 { "-" } else { "" };
        let minor = self.minor.unsigned_abs();
        let factor = 10u64.pow(exp);
        let (whole, frac) = (minor / factor, minor % factor);
        let thousands = if self.currency == Currency::CLP {
            '.'
        } else {
            ','
        };
        let digits = whole.to_string();
        let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
        for (i, d) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                grouped.push(thousands);
            }
            grouped.push(d);
        }
        if exp == 0 {
            format!("{} {sign}{grouped}", self.currency)
        } else {
            format!(
                "{} {sign}{grouped}.{frac:0width$}",
                self.currency,
                width = exp as usize
            )
        }
    }
}

impl Money {
    pub fn from_minor(minor: i64, currency: Currency) -> Money {
        Money { minor, currency }
    }

    /// Parses a decimal text in major units ("5000", "12.50", "1e3") exactly.
    /// Refuses signs, non-positive values, and more decimals than the currency has.
    pub fn parse_major(text: &str, currency: Currency) -> Result<Money, AmountError> {
        let not_a_number = || AmountError::NotANumber(text.to_string());
        let t = text.trim();
        if let Some(magnitude) = t.strip_prefix('-') {
            // A negative amount is a number, just not a valid one: say so plainly.
            if parse_decimal(magnitude).is_some() {
                return Err(AmountError::NotPositive);
            }
            return Err(not_a_number());
        }
        let (digits, scale) = parse_decimal(t).ok_or_else(not_a_number)?;
        // digits * 10^-scale major units == digits * 10^(exp - scale) minor units.
        let exp = i32::from(currency.exponent());
        let shift = exp - scale;
        let minor: i128 = if shift >= 0 {
            let factor = 10i128
                .checked_pow(shift as u32)
                .ok_or(AmountError::TooLarge)?;
            digits.checked_mul(factor).ok_or(AmountError::TooLarge)?
        } else {
            let divisor = 10i128
                .checked_pow((-shift) as u32)
                .ok_or(AmountError::TooLarge)?;
            if digits % divisor != 0 {
                return Err(AmountError::TooManyDecimals {
                    currency: currency.code(),
                    exponent: currency.exponent(),
                    given: t.to_string(),
                });
            }
            digits / divisor
        };
        if minor <= 0 {
            return Err(AmountError::NotPositive);
        }
        let minor = i64::try_from(minor).map_err(|_| AmountError::TooLarge)?;
        // Keep well inside what any gateway and any JSON reader can represent exactly.
        if minor > MAX_MINOR {
            return Err(AmountError::TooLarge);
        }
        Ok(Money { minor, currency })
    }

    /// The amount in major units as plain decimal text, exactly: `5000` for CLP 5000,
    /// `12.50` for USD 1250. This is what a gateway that takes major units receives.
    pub fn major_text(&self) -> String {
        let exp = u32::from(self.currency.exponent());
        if exp == 0 {
            return self.minor.to_string();
        }
        let factor = 10i64.pow(exp);
        let whole = self.minor / factor;
        let frac = (self.minor % factor).abs();
        format!("{whole}.{frac:0width$}", width = exp as usize)
    }
}

/// 2^53 - 1: the largest integer every JSON reader holds exactly.
pub const MAX_MINOR: i64 = 9_007_199_254_740_991;

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.currency, self.major_text())
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.currency, self.major_text())
    }
}

/// Parses an unsigned decimal with optional fraction and exponent into (digits, scale):
/// the value is digits × 10^-scale. `None` for anything else (NaN, inf, hex, empty).
fn parse_decimal(t: &str) -> Option<(i128, i32)> {
    let (mantissa, exp) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], t[i + 1..].parse::<i32>().ok()?),
        None => (t, 0),
    };
    let (int_part, frac_part) = match mantissa.split_once('.') {
        Some((i, f)) => (i, f),
        None => (mantissa, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    if !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let all: String = format!("{int_part}{frac_part}");
    let trimmed = all.trim_start_matches('0');
    if trimmed.len() > 30 || !(-60..=60).contains(&exp) {
        return None;
    }
    let digits: i128 = if trimmed.is_empty() {
        0
    } else {
        trimmed.parse().ok()?
    };
    let scale = frac_part.len() as i32 - exp;
    Some((digits, scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd() -> Currency {
        Currency::from_code("USD").unwrap()
    }

    #[test]
    fn clp_has_no_decimals() {
        assert_eq!(
            Money::parse_major("5000", Currency::CLP).unwrap().minor,
            5000
        );
        assert_eq!(
            Money::parse_major("5000.0", Currency::CLP).unwrap().minor,
            5000
        );
        assert!(matches!(
            Money::parse_major("10.5", Currency::CLP),
            Err(AmountError::TooManyDecimals { .. })
        ));
    }

    #[test]
    fn usd_is_parsed_into_cents_exactly() {
        assert_eq!(Money::parse_major("12.5", usd()).unwrap().minor, 1250);
        assert_eq!(Money::parse_major("0.1", usd()).unwrap().minor, 10);
        assert_eq!(Money::parse_major("1e2", usd()).unwrap().minor, 10000);
        assert!(Money::parse_major("0.001", usd()).is_err());
        assert_eq!(
            Money::parse_major("12.5", usd()).unwrap().major_text(),
            "12.50"
        );
    }

    #[test]
    fn bad_numbers_are_refused_with_their_reason() {
        assert_eq!(
            Money::parse_major("-5", Currency::CLP),
            Err(AmountError::NotPositive)
        );
        assert_eq!(
            Money::parse_major("0", Currency::CLP),
            Err(AmountError::NotPositive)
        );
        for t in ["NaN", "inf", "", "abc", "1.2.3", "0x10", "."] {
            assert!(
                matches!(
                    Money::parse_major(t, Currency::CLP),
                    Err(AmountError::NotANumber(_))
                ),
                "{t}"
            );
        }
        assert_eq!(
            Money::parse_major("1e40", Currency::CLP),
            Err(AmountError::TooLarge)
        );
    }

    #[test]
    fn iso_exponents_of_the_table() {
        let table = [
            ("CLP", 0),
            ("USD", 2),
            ("GBP", 2),
            ("CHF", 2),
            ("JPY", 0),
            ("KRW", 0),
            ("PYG", 0),
            ("VND", 0),
            ("BHD", 3),
            ("JOD", 3),
            ("KWD", 3),
            ("OMR", 3),
            ("TND", 3),
        ];
        for (code, exponent) in table {
            let c = Currency::from_code(code).unwrap_or_else(|| panic!("{code} in the table"));
            assert_eq!(c.exponent(), exponent, "{code}");
        }
        let kwd = Currency::from_code("kwd").unwrap();
        assert_eq!(Money::parse_major("5.125", kwd).unwrap().minor, 5125);
        assert_eq!(Money::from_minor(5125, kwd).major_text(), "5.125");
        assert!(Money::parse_major("1.5", Currency::from_code("JPY").unwrap()).is_err());
    }

    #[test]
    fn codes_are_unique() {
        let mut codes: Vec<_> = CURRENCIES.iter().map(|c| c.code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), CURRENCIES.len());
    }

    #[test]
    fn currency_lookup_is_case_insensitive_and_table_driven() {
        assert_eq!(Currency::from_code("clp"), Some(Currency::CLP));
        assert_eq!(Currency::from_code("XYZ"), None);
        assert_eq!(Currency::CLP.exponent(), 0);
    }

    proptest::proptest! {
        #[test]
        fn major_text_round_trips(minor in 1i64..MAX_MINOR, idx in 0usize..CURRENCIES.len()) {
            let c = Currency(&CURRENCIES[idx]);
            let m = Money::from_minor(minor, c);
            proptest::prop_assert_eq!(Money::parse_major(&m.major_text(), c), Ok(m));
        }
    }
}
