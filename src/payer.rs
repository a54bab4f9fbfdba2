//! What a payer reads: the language of the pages a payer's browser lands on, amounts
//! written the way payers read them, and the merchant those pages name.
//!
//! Payers are Chilean by default, so Spanish is the default language; English is used
//! only when the browser's `Accept-Language` prefers it. The header is parsed here (a few
//! lines, with q-values; the crates for it match whole tags, so `es-CL` would still need
//! matching to `es` by hand) and tested in a table.

use crate::domain::Money;

/// A language the payer pages are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Es,
    En,
}

impl Lang {
    /// The value of `<html lang>`.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::Es => "es",
            Lang::En => "en",
        }
    }

    /// The language for a browser's `Accept-Language` header: English when the browser
    /// ranks English above Spanish (by q-value, then by order), else Spanish. `q=0` means
    /// "not this one"; `*` stands for any language not named; malformed entries are skipped.
    pub fn from_accept_language(header: Option<&str>) -> Lang {
        let Some(header) = header else {
            return Lang::Es;
        };
        // (quality in thousandths, position) of each language: higher quality wins, then
        // the earlier entry.
        let (mut es, mut en, mut any): (Option<Ranked>, Option<Ranked>, Option<Ranked>) =
            (None, None, None);
        for (pos, item) in header.split(',').enumerate() {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or("").trim();
            let mut q = Some(1000);
            for param in parts {
                if let Some((k, v)) = param.split_once('=')
                    && k.trim().eq_ignore_ascii_case("q")
                {
                    q = quality(v.trim());
                }
            }
            let Some(q) = q else { continue };
            let primary = tag.split('-').next().unwrap_or("");
            let slot = if primary.eq_ignore_ascii_case("es") {
                &mut es
            } else if primary.eq_ignore_ascii_case("en") {
                &mut en
            } else if tag == "*" {
                &mut any
            } else {
                continue;
            };
            // The first (most specific, as browsers write them) entry of a language counts.
            if slot.is_none() {
                *slot = Some((q, pos));
            }
        }
        let (es, en) = (es.or(any), en.or(any));
        let rank = |x: Option<Ranked>| match x {
            Some((q, pos)) if q > 0 => Some((q, std::cmp::Reverse(pos))),
            _ => None,
        };
        match (rank(es), rank(en)) {
            (Some(s), Some(e)) if e > s => Lang::En,
            (None, Some(_)) => Lang::En,
            _ => Lang::Es,
        }
    }
}

/// An `Accept-Language` entry's quality (thousandths) and position in the header.
type Ranked = (u16, usize);

/// A q-value (`0`, `0.5`, `1.000`) in thousandths; None when it is not one.
fn quality(text: &str) -> Option<u16> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac_value = format!("{frac:0<3}").parse::<u16>().ok()?;
    match whole {
        "0" => Some(frac_value),
        "1" if frac_value == 0 => Some(1000),
        _ => None,
    }
}

/// An amount as a payer reads it. Chilean pesos as Chileans write them (`$15.990`; in
/// English `CLP $15,990`, so `$` is not taken for dollars); US dollars `US$12,50` in
/// Spanish and `$12.50` in English; any other currency as its code and the amount with
/// the currency's decimals, grouped the language's way (`EUR 1.234,50` / `EUR 1,234.50`).
pub fn amount_for_payer(money: &Money, lang: Lang) -> String {
    let (thousands, decimal) = match lang {
        Lang::Es => ('.', ','),
        Lang::En => (',', '.'),
    };
    let exp = u32::from(money.currency.exponent());
    let magnitude = money.minor.unsigned_abs();
    let factor = 10u64.pow(exp);
    let digits = (magnitude / factor).to_string();
    let mut number = String::with_capacity(digits.len() + digits.len() / 3 + 6);
    if money.minor < 0 {
        number.push('-');
    }
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            number.push(thousands);
        }
        number.push(d);
    }
    if exp > 0 {
        number.push(decimal);
        number.push_str(&format!(
            "{:0width$}",
            magnitude % factor,
            width = exp as usize
        ));
    }
    match (money.currency.code(), lang) {
        ("CLP", Lang::Es) => format!("${number}"),
        ("CLP", Lang::En) => format!("CLP ${number}"),
        ("USD", Lang::Es) => format!("US${number}"),
        ("USD", Lang::En) => format!("${number}"),
        (code, _) => format!("{code} {number}"),
    }
}

/// The merchant a payer page names, with a link back to the merchant's site. Both parts
/// are optional: without a name the page shows a neutral text, without a URL no link.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Merchant {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// An `http(s)://` URL, checked when the setting was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// Longest merchant name accepted (it is a heading line on a phone).
pub const MAX_MERCHANT_NAME_CHARS: usize = 80;

/// Checks a merchant name: trimmed, not empty, at most [`MAX_MERCHANT_NAME_CHARS`]
/// characters, no control characters.
pub fn merchant_name(text: &str) -> Result<String, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err(
            "is empty; give the name payers know the merchant by, e.g. Academia Sol".into(),
        );
    }
    if t.chars().count() > MAX_MERCHANT_NAME_CHARS {
        return Err(format!(
            "is longer than {MAX_MERCHANT_NAME_CHARS} characters; give a shorter name"
        ));
    }
    if t.chars().any(char::is_control) {
        return Err("contains control characters; give plain text".into());
    }
    Ok(t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Currency;

    #[test]
    fn the_language_follows_the_browsers_preference_with_spanish_by_default() {
        let cases: &[(Option<&str>, Lang)] = &[
            (None, Lang::Es),
            (Some(""), Lang::Es),
            (Some("es-CL"), Lang::Es),
            (Some("es-CL,es;q=0.9,en;q=0.8"), Lang::Es),
            (Some("en"), Lang::En),
            (Some("en-US,en;q=0.9"), Lang::En),
            (Some("EN-gb"), Lang::En),
            (Some("en-US,en;q=0.9,es;q=0.8"), Lang::En),
            (Some("es;q=0.5,en;q=0.8"), Lang::En),
            (Some("en;q=0.5,es;q=0.8"), Lang::Es),
            // Equal quality: the first one named wins.
            (Some("en;q=0.7,es;q=0.7"), Lang::En),
            (Some("es,en"), Lang::Es),
            // q=0 refuses a language.
            (Some("es;q=0,en;q=0.1"), Lang::En),
            (Some("en;q=0"), Lang::Es),
            // Neither offered: Spanish; only English acceptable: English.
            (Some("fr-FR,fr;q=0.9"), Lang::Es),
            (Some("fr,en;q=0.5"), Lang::En),
            (Some("de,*;q=0.5"), Lang::Es),
            (Some("*;q=0.5,en;q=0.4"), Lang::Es),
            (Some("*;q=0.5,es;q=0.4"), Lang::En),
            // Malformed q-values are skipped, not trusted.
            (Some("es;q=2,en;q=0.3"), Lang::En),
            (Some("es;q=abc,en;q=0.3"), Lang::En),
            (Some("es;q=0.1234,en"), Lang::En),
            (Some(" en ; q = 0.9 , es ; q = 0.8 "), Lang::En),
            (Some(",,;;=,"), Lang::Es),
        ];
        for (header, want) in cases {
            assert_eq!(
                Lang::from_accept_language(*header),
                *want,
                "Accept-Language: {header:?}"
            );
        }
    }

    #[test]
    fn amounts_are_written_as_payers_read_them() {
        let cur = |c| Currency::from_code(c).unwrap();
        let cases: &[(i64, &str, &str, &str)] = &[
            (15990, "CLP", "$15.990", "CLP $15,990"),
            (500, "CLP", "$500", "CLP $500"),
            (1_234_567, "CLP", "$1.234.567", "CLP $1,234,567"),
            (1250, "USD", "US$12,50", "$12.50"),
            (5, "USD", "US$0,05", "$0.05"),
            (123_456_789, "USD", "US$1.234.567,89", "$1,234,567.89"),
            (123_450, "EUR", "EUR 1.234,50", "EUR 1,234.50"),
            (15_000, "UF", "UF 1,5000", "UF 1.5000"),
            (1000, "JPY", "JPY 1.000", "JPY 1,000"),
            (1_234_567, "KWD", "KWD 1.234,567", "KWD 1,234.567"),
            (-1250, "USD", "US$-12,50", "$-12.50"),
        ];
        for &(minor, code, es, en) in cases {
            let m = Money::from_minor(minor, cur(code));
            assert_eq!(amount_for_payer(&m, Lang::Es), es, "{minor} {code} es");
            assert_eq!(amount_for_payer(&m, Lang::En), en, "{minor} {code} en");
        }
    }

    #[test]
    fn merchant_names_are_checked() {
        assert_eq!(merchant_name("  Academia Sol ").unwrap(), "Academia Sol");
        assert!(merchant_name("   ").unwrap_err().contains("empty"));
        assert!(merchant_name(&"x".repeat(81)).unwrap_err().contains("80"));
        assert!(merchant_name("a\nb").unwrap_err().contains("control"));
    }
}
