//! Flow's request rules as the emulator enforces them: the
//! error bodies, the order of checks for `payment/create`, amounts, e-mails and currencies.
//!
//! Pure functions over decoded parameters, so the rules are unit-tested without HTTP.
//! Amounts stay decimal text plus integer minor units; no float ever holds one.
//! Inferred (not observed at Flow) and documented as such: code 1902 for decimals,
//! code 102 for an over-long subject or a bad `timeout`, HTTP 401 for signature errors.

use axum::http::StatusCode;

use super::Merchant;

/// A Flow error answer: HTTP status plus the `{"code", "message"}` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub http: StatusCode,
    pub code: i64,
    pub message: String,
}

impl ApiError {
    fn new(http: StatusCode, code: i64, message: impl Into<String>) -> Self {
        ApiError {
            http,
            code,
            message: message.into(),
        }
    }
    pub fn missing_params() -> Self {
        Self::new(StatusCode::BAD_REQUEST, 100, "There's some missing params")
    }
    pub fn invalid_signature() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, 108, "Invalid Signature")
    }
    pub fn not_found() -> Self {
        Self::new(StatusCode::BAD_REQUEST, 404, "Transaction not found")
    }
    pub fn refund_not_found() -> Self {
        Self::new(StatusCode::BAD_REQUEST, 404, "Refund not found")
    }
    pub fn business(code: i64, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn unknown_service(endpoint: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            404,
            format!("Unknown service {endpoint}"),
        )
    }
    pub fn method_not_allowed() -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, 405, "Method not allowed")
    }
}

/// The first value of `name`, if present and not empty.
pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// Like [`param`], but absent or empty is "There's some missing params".
pub fn required<'a>(params: &'a [(String, String)], name: &str) -> Result<&'a str, ApiError> {
    param(params, name).ok_or_else(ApiError::missing_params)
}

/// An order amount: the text received and its value in minor units of its currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Amount {
    pub text: String,
    pub minor: i128,
    pub exponent: u32,
}

impl Amount {
    /// The amount as a JSON number (e.g. `5000`, `12.5`).
    pub fn json(&self) -> serde_json::Value {
        number_json(&self.text)
    }
}

/// Formats minor units with `exponent` decimals as a JSON number.
pub fn minor_json(minor: i128, exponent: u32) -> serde_json::Value {
    number_json(&minor_text(minor, exponent))
}

/// Minor units as decimal text with `exponent` decimals (`1250`, 2 → `12.50`).
pub fn minor_text(minor: i128, exponent: u32) -> String {
    if exponent == 0 {
        return minor.to_string();
    }
    let unit = 10i128.pow(exponent);
    format!(
        "{}.{:0width$}",
        minor / unit,
        minor % unit,
        width = exponent as usize
    )
}

/// A plain decimal text as a JSON number (leading zeros removed, as JSON requires).
fn number_json(text: &str) -> serde_json::Value {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let whole = whole.trim_start_matches('0');
    let whole = if whole.is_empty() { "0" } else { whole };
    let normal = if frac.is_empty() {
        whole.to_string()
    } else {
        format!("{whole}.{frac}")
    };
    serde_json::from_str(&normal).unwrap_or(serde_json::Value::Null)
}

/// Decimal places the emulator allows per currency: CLP none, UF four, others two.
pub fn exponent_of(currency: &str) -> u32 {
    match currency {
        "CLP" => 0,
        "UF" => 4,
        _ => 2,
    }
}

/// Parses an amount for `currency`: 107 if not a plain positive decimal, 1902 if it has
/// more decimals than the currency (`5000.0` is fine for CLP), 1901 below 350 CLP.
pub fn parse_amount(text: &str, currency: &str) -> Result<Amount, ApiError> {
    let amount = parse_decimal_amount(text, currency)?;
    if currency == "CLP" && amount.minor < 350 {
        return Err(ApiError::business(1901, "The minimum amount is 350 CLP"));
    }
    Ok(amount)
}

/// [`parse_amount`] without the payment minimum (a refund may be of any positive amount).
pub fn parse_decimal_amount(text: &str, currency: &str) -> Result<Amount, ApiError> {
    let not_numeric = || ApiError::business(107, "Amount is not numeric");
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits_ok = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty()
        || !digits_ok(whole)
        || !digits_ok(frac)
        || (text.contains('.') && frac.is_empty())
        || whole.trim_start_matches('0').len() > 15
    {
        return Err(not_numeric());
    }
    let exponent = exponent_of(currency);
    let significant = frac.trim_end_matches('0');
    if significant.len() > exponent as usize {
        return Err(if exponent == 0 {
            ApiError::business(1902, "Amount can not contain decimals")
        } else {
            ApiError::business(
                1902,
                format!("Amount can not contain more than {exponent} decimals"),
            )
        });
    }
    let padded = format!("{significant:0<width$}", width = exponent as usize);
    let minor: i128 = format!("{whole}{padded}")
        .parse()
        .map_err(|_| not_numeric())?;
    if minor <= 0 {
        return Err(not_numeric());
    }
    Ok(Amount {
        text: text.to_string(),
        minor,
        exponent,
    })
}

/// Flow's fee: 3.19 % rounded half up, in integer minor units.
pub fn fee_minor(amount_minor: i128) -> i128 {
    (amount_minor * 319 + 5000) / 10000
}

/// Whether Flow would accept this payer e-mail: syntax (dot-atom or quoted local part,
/// a dotted DNS domain with an alphabetic TLD) and not a reserved domain
/// (example.com/.org/.net, `.example`, `.invalid`, `.test`, `.localhost`).
pub fn email_is_valid(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    email.len() <= 254 && local_part_ok(local) && domain_ok(domain) && !domain_reserved(domain)
}

fn local_part_ok(local: &str) -> bool {
    if local.is_empty() || local.len() > 64 {
        return false;
    }
    if let Some(inner) = local.strip_prefix('"').and_then(|l| l.strip_suffix('"')) {
        let mut escaped = false;
        for c in inner.chars() {
            match (escaped, c) {
                (true, ' '..='~') => escaped = false,
                (true, _) => return false,
                (false, '\\') => escaped = true,
                (false, '"') => return false,
                (false, ' '..='~') => {}
                (false, _) => return false,
            }
        }
        return !escaped;
    }
    let atom_char = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c);
    local
        .split('.')
        .all(|atom| !atom.is_empty() && atom.chars().all(atom_char))
}

fn domain_ok(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    let tld_ok = labels
        .last()
        .is_some_and(|t| t.len() >= 2 && t.chars().all(|c| c.is_ascii_alphabetic()));
    domain.len() <= 253 && labels.len() >= 2 && labels.iter().all(label_ok) && tld_ok
}

fn domain_reserved(domain: &str) -> bool {
    let d = domain.to_ascii_lowercase();
    let is_or_under = |name: &str| d == name || d.ends_with(&format!(".{name}"));
    [
        "example.com",
        "example.org",
        "example.net",
        "example",
        "invalid",
        "test",
        "localhost",
    ]
    .iter()
    .any(|r| is_or_under(r))
}

/// A `payment/create` request that passed every rule.
#[derive(Debug, Clone)]
pub struct CreateOrder {
    pub commerce_order: String,
    pub subject: String,
    pub currency: String,
    pub amount: Amount,
    pub email: String,
    pub url_confirmation: String,
    pub url_return: String,
    /// The `optional` parameter when it was a JSON object.
    pub optional: Option<serde_json::Value>,
    pub timeout_seconds: Option<i64>,
}

/// Checks `payment/create`'s (already signature-verified) params in Flow's observed order:
/// required params → amount (107, 1902, 1901) → e-mail (1620) → currency (1990) →
/// timeout and subject (102).
pub fn validate_create(
    params: &[(String, String)],
    merchant: &Merchant,
) -> Result<CreateOrder, ApiError> {
    let commerce_order = required(params, "commerceOrder")?;
    let subject = required(params, "subject")?;
    let amount_text = required(params, "amount")?;
    let email = required(params, "email")?;
    let url_confirmation = required(params, "urlConfirmation")?;
    let url_return = required(params, "urlReturn")?;
    let currency = param(params, "currency").unwrap_or("CLP");

    let amount = parse_amount(amount_text, currency)?;
    if !email_is_valid(email) {
        return Err(ApiError::business(
            1620,
            format!("The userEmail: {email} is not valid."),
        ));
    }
    if !merchant.currencies.iter().any(|c| c == currency) {
        return Err(ApiError::business(
            1990,
            format!("Commerce has not this currency pay '{currency}'"),
        ));
    }
    let timeout_seconds = match param(params, "timeout") {
        None => None,
        Some(t) => match t.parse::<i64>() {
            Ok(secs) if secs > 0 && t.bytes().all(|b| b.is_ascii_digit()) => Some(secs),
            _ => return Err(ApiError::business(102, "Invalid timeout")),
        },
    };
    if subject.chars().count() > 255 {
        return Err(ApiError::business(102, "Invalid subject"));
    }
    let optional = param(params, "optional")
        .and_then(|o| serde_json::from_str::<serde_json::Value>(o).ok())
        .filter(serde_json::Value::is_object);
    Ok(CreateOrder {
        commerce_order: commerce_order.to_string(),
        subject: subject.to_string(),
        currency: currency.to_string(),
        amount,
        email: email.to_string(),
        url_confirmation: url_confirmation.to_string(),
        url_return: url_return.to_string(),
        optional,
        timeout_seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_checked_in_flows_order() {
        assert_eq!(parse_amount("5000", "CLP").unwrap().minor, 5000);
        assert_eq!(parse_amount("5000.00", "CLP").unwrap().minor, 5000);
        assert_eq!(parse_amount("350", "CLP").unwrap().minor, 350);
        assert_eq!(parse_amount("12.5", "USD").unwrap().minor, 1250);
        assert_eq!(parse_amount("100", "CLP").unwrap_err().code, 1901);
        assert_eq!(parse_amount("5000.5", "CLP").unwrap_err().code, 1902);
        assert_eq!(parse_amount("1.234", "USD").unwrap_err().code, 1902);
        for bad in [
            "",
            "abc",
            "-5000",
            "5e3",
            "1.",
            ".5",
            "0",
            "0.00",
            " 5000",
            "9999999999999999",
        ] {
            assert_eq!(parse_amount(bad, "CLP").unwrap_err().code, 107, "{bad:?}");
        }
    }

    #[test]
    fn amounts_become_json_numbers() {
        assert_eq!(
            parse_amount("5000", "CLP").unwrap().json(),
            serde_json::json!(5000)
        );
        assert_eq!(
            parse_amount("0012.50", "USD").unwrap().json(),
            serde_json::json!(12.50)
        );
        assert_eq!(minor_json(1250, 2), serde_json::json!(12.5));
        assert_eq!(minor_json(160, 0), serde_json::json!(160));
    }

    #[test]
    fn fee_is_three_point_one_nine_percent_rounded_half_up() {
        assert_eq!(fee_minor(5000), 160); // 159.5 → 160
        assert_eq!(fee_minor(12000), 383);
        assert_eq!(fee_minor(350), 11);
    }

    #[test]
    fn emails_flow_accepts_and_rejects() {
        for ok in [
            "a@gmail.com",
            "a+b@gmail.com",
            "\"john doe\"@gmail.com",
            "o'neil@mail.cl",
            "x.y@sub.domain.cl",
        ] {
            assert!(email_is_valid(ok), "{ok}");
        }
        for bad in [
            "laboratorio@example.com",
            "a@EXAMPLE.org",
            "a@mail.example.net",
            "a@foo.invalid",
            "a@foo.test",
            "plain",
            "a@b",
            "a@@gmail.com",
            ".a@gmail.com",
            "a..b@gmail.com",
            "a b@gmail.com",
            "a@-x.com",
            "a@gmail.c0m",
            "",
        ] {
            assert!(!email_is_valid(bad), "{bad}");
        }
    }
}
