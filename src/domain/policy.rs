//! An organization's spending policy: a maximum per payment, a maximum total per UTC day
//! (the amounts of the payments *created* that day, whatever became of them) and the
//! currencies it may charge in. Amounts are exact [`Money`] per currency; a currency with no
//! limit listed has none.
//!
//! The per-payment limit and the currencies are checked before anything is written
//! ([`SpendingPolicy::check_payment`]); the daily total is kept by the ledger and checked
//! in the transaction that records the draft, so that concurrent creates (on one replica
//! or several) can never together pass it.

use std::fmt;

use super::{Currency, Money, Timestamp};

/// The limits of one organization. Empty (the default): no limit.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpendingPolicy {
    /// At most one per currency.
    #[serde(default)]
    pub max_per_payment: Vec<Money>,
    /// At most one per currency.
    #[serde(default)]
    pub max_per_day: Vec<Money>,
    /// None: every currency; Some: only these.
    #[serde(default)]
    pub currencies: Option<Vec<Currency>>,
    /// At most one per currency: a payment above it is made only after a person approves
    /// it (elicitation in the client, or the approval link). `CLP 0`: every CLP payment.
    #[serde(default)]
    pub confirm_above: Vec<Money>,
}

/// Why the policy refuses a payment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyRefusal {
    #[error("the spending policy allows only {}, not {currency}", codes(allowed))]
    Currency {
        currency: Currency,
        allowed: Vec<Currency>,
    },
    #[error("{amount} is above the spending policy's maximum per payment of {limit}")]
    PerPayment { limit: Money, amount: Money },
    #[error(
        "{amount} would pass the spending policy's maximum per day of {limit}: {spent} is already spent today (UTC)"
    )]
    PerDay {
        limit: Money,
        spent: Money,
        amount: Money,
    },
}

fn codes(list: &[Currency]) -> String {
    list.iter().map(|c| c.code()).collect::<Vec<_>>().join(", ")
}

fn amounts(list: &[Money]) -> String {
    list.iter()
        .map(Money::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl SpendingPolicy {
    /// Whether it limits nothing.
    pub fn is_empty(&self) -> bool {
        self.max_per_payment.is_empty()
            && self.max_per_day.is_empty()
            && self.currencies.is_none()
            && self.confirm_above.is_empty()
    }

    /// The threshold `amount` is above, when a person must approve it.
    pub fn needs_confirmation(&self, amount: Money) -> Option<Money> {
        self.confirm_above
            .iter()
            .find(|m| m.currency == amount.currency && amount.minor > m.minor)
            .copied()
    }

    pub fn per_payment(&self, currency: Currency) -> Option<Money> {
        self.max_per_payment
            .iter()
            .find(|m| m.currency == currency)
            .copied()
    }

    pub fn per_day(&self, currency: Currency) -> Option<Money> {
        self.max_per_day
            .iter()
            .find(|m| m.currency == currency)
            .copied()
    }

    /// Whether payments in `currency` are allowed at all.
    pub fn check_currency(&self, currency: Currency) -> Result<(), PolicyRefusal> {
        match &self.currencies {
            Some(allowed) if !allowed.contains(&currency) => Err(PolicyRefusal::Currency {
                currency,
                allowed: allowed.clone(),
            }),
            _ => Ok(()),
        }
    }

    /// The checks that need no ledger: the currency and the per-payment limit.
    pub fn check_payment(&self, amount: Money) -> Result<(), PolicyRefusal> {
        self.check_currency(amount.currency)?;
        if let Some(limit) = self.per_payment(amount.currency)
            && amount.minor > limit.minor
        {
            return Err(PolicyRefusal::PerPayment { limit, amount });
        }
        Ok(())
    }
}

impl fmt::Display for SpendingPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let or_none = |s: String| if s.is_empty() { "no limit".into() } else { s };
        writeln!(
            f,
            "max per payment: {}",
            or_none(amounts(&self.max_per_payment))
        )?;
        writeln!(
            f,
            "max per day:     {}",
            or_none(amounts(&self.max_per_day))
        )?;
        writeln!(
            f,
            "currencies:      {}",
            self.currencies
                .as_deref()
                .map_or_else(|| "any".to_string(), codes)
        )?;
        write!(
            f,
            "confirm above:   {}",
            if self.confirm_above.is_empty() {
                "never asks a person".to_string()
            } else {
                amounts(&self.confirm_above)
            }
        )
    }
}

/// Parses `CLP 500000, USD 1000`: one limit per currency, in major units, exactly
/// (`CLP 12.5` is refused: CLP has no decimals). Empty text: no limits.
pub fn parse_limits(text: &str) -> Result<Vec<Money>, String> {
    let mut limits: Vec<Money> = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let mut parts = item.split_whitespace();
        let (Some(code), Some(amount), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!(
                "{item:?} is not a currency and an amount such as \"CLP 500000\""
            ));
        };
        let currency = parse_currency(code)?;
        let money = Money::parse_major(amount, currency).map_err(|e| format!("{item:?}: {e}"))?;
        if limits.iter().any(|m| m.currency == currency) {
            return Err(format!("{currency} is listed twice"));
        }
        limits.push(money);
    }
    Ok(limits)
}

/// Parses `CLP 100000, USD 0` like [`parse_limits`], where 0 is allowed: "every payment in
/// this currency needs a person's approval".
pub fn parse_thresholds(text: &str) -> Result<Vec<Money>, String> {
    let mut zeros = Vec::new();
    let mut rest = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let mut parts = item.split_whitespace();
        match (parts.next(), parts.next(), parts.next()) {
            (Some(code), Some(amount), None)
                if amount.contains('0') && amount.chars().all(|c| c == '0' || c == '.') =>
            {
                zeros.push(Money::from_minor(0, parse_currency(code)?));
            }
            _ => rest.push(item),
        }
    }
    let mut all = parse_limits(&rest.join(","))?;
    for z in zeros {
        if all.iter().any(|m| m.currency == z.currency) {
            return Err(format!("{} is listed twice", z.currency));
        }
        all.push(z);
    }
    Ok(all)
}

/// Parses `CLP,USD`. Empty text: None (every currency).
pub fn parse_currencies(text: &str) -> Result<Option<Vec<Currency>>, String> {
    let mut list: Vec<Currency> = Vec::new();
    for code in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let c = parse_currency(code)?;
        if !list.contains(&c) {
            list.push(c);
        }
    }
    Ok((!list.is_empty()).then_some(list))
}

fn parse_currency(code: &str) -> Result<Currency, String> {
    Currency::from_code(code).ok_or_else(|| {
        format!(
            "{code:?} is not a currency paylink knows; use one of {}",
            Currency::known_codes()
        )
    })
}

/// The UTC day of `t` as `yyyy-mm-dd`: the day a payment's amount counts against.
pub fn utc_day(t: Timestamp) -> String {
    let days = t.0.div_euclid(86_400_000);
    // 2440588 is the Julian day of 1970-01-01.
    match time::Date::from_julian_day((2_440_588 + days) as i32) {
        Ok(d) => format!("{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day()),
        Err(_) => format!("day{days}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd() -> Currency {
        Currency::from_code("USD").unwrap()
    }

    #[test]
    fn limits_parse_exactly_per_currency() {
        let l = parse_limits("CLP 2000000, USD 1000.50").unwrap();
        assert_eq!(
            l,
            [
                Money::from_minor(2_000_000, Currency::CLP),
                Money::from_minor(100_050, usd())
            ]
        );
        assert_eq!(parse_limits("  ").unwrap(), []);
    }

    #[test]
    fn a_clp_limit_with_decimals_is_refused_because_clp_has_none() {
        let e = parse_limits("CLP 12.5").unwrap_err();
        assert!(e.contains("CLP amounts have 0 decimal places"), "{e}");
    }

    #[test]
    fn unknown_currencies_negative_and_malformed_limits_are_refused() {
        let e = parse_limits("XYZ 100").unwrap_err();
        assert!(e.contains("\"XYZ\" is not a currency"), "{e}");
        let e = parse_limits("CLP -5").unwrap_err();
        assert!(e.contains("greater than zero"), "{e}");
        let e = parse_limits("CLP").unwrap_err();
        assert!(e.contains("a currency and an amount"), "{e}");
        let e = parse_limits("CLP 1, CLP 2").unwrap_err();
        assert!(e.contains("listed twice"), "{e}");
        let e = parse_currencies("CLP,EURO").unwrap_err();
        assert!(e.contains("\"EURO\" is not a currency"), "{e}");
    }

    #[test]
    fn check_payment_refuses_other_currencies_and_amounts_above_the_limit() {
        let p = SpendingPolicy {
            max_per_payment: parse_limits("CLP 500000").unwrap(),
            max_per_day: vec![],
            currencies: parse_currencies("clp").unwrap(),
            confirm_above: vec![],
        };
        assert!(
            p.check_payment(Money::from_minor(500_000, Currency::CLP))
                .is_ok()
        );
        assert!(matches!(
            p.check_payment(Money::from_minor(500_001, Currency::CLP)),
            Err(PolicyRefusal::PerPayment { .. })
        ));
        assert!(matches!(
            p.check_payment(Money::from_minor(100, usd())),
            Err(PolicyRefusal::Currency { .. })
        ));
    }

    #[test]
    fn confirmation_is_needed_strictly_above_the_threshold_and_zero_means_every_payment() {
        let p = SpendingPolicy {
            confirm_above: parse_thresholds("CLP 100000, USD 0").unwrap(),
            ..Default::default()
        };
        assert_eq!(
            p.needs_confirmation(Money::from_minor(100_000, Currency::CLP)),
            None
        );
        assert_eq!(
            p.needs_confirmation(Money::from_minor(100_001, Currency::CLP)),
            Some(Money::from_minor(100_000, Currency::CLP))
        );
        assert!(p.needs_confirmation(Money::from_minor(1, usd())).is_some());
        assert!(!p.is_empty());
        assert!(
            parse_thresholds("USD 0, USD 5")
                .unwrap_err()
                .contains("twice")
        );
        assert!(parse_thresholds("CLP -1").is_err());
    }

    #[test]
    fn utc_days_are_calendar_dates() {
        assert_eq!(utc_day(Timestamp(0)), "1970-01-01");
        assert_eq!(utc_day(Timestamp(-1)), "1969-12-31");
        // 2026-03-01T00:00:00Z
        assert_eq!(utc_day(Timestamp(1_772_323_200_000)), "2026-03-01");
        assert_eq!(utc_day(Timestamp(1_772_323_199_999)), "2026-02-28");
    }
}
