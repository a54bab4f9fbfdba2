//! Stripe's request rules as the sandbox enforces them: the parameters of a Checkout
//! Session create, `expires_at` bounds, and the field rules every endpoint shares
//! (metadata limits, URLs, e-mails, `expand[]`). Amounts and currencies are in
//! `currency.rs`; the list and webhook endpoint parameters in `params.rs`.
//!
//! Pure functions over the decoded form ([`Obj`]), so the rules are unit-tested without
//! HTTP. Parameters outside the schema answer `parameter_unknown`, including real Stripe
//! parameters the sandbox does not emulate (say, `discounts`).

use serde_json::{Value, json};

use super::currency::{Currency, check_amount, currency};
use super::error::ApiError;
use super::wire::{Child, Node, Obj};

/// `expires_at` must be this many seconds after creation, at least…
pub const MIN_EXPIRY_SECONDS: i64 = 30 * 60;
/// …and at most (also the default).
pub const MAX_EXPIRY_SECONDS: i64 = 24 * 60 * 60;

/// Locales Checkout accepts.
const LOCALES: &[&str] = &[
    "auto", "bg", "cs", "da", "de", "el", "en", "en-GB", "es", "es-419", "et", "fi", "fil", "fr",
    "fr-CA", "hr", "hu", "id", "it", "ja", "ko", "lt", "lv", "ms", "mt", "nb", "nl", "pl", "pt",
    "pt-BR", "ro", "ru", "sk", "sl", "sv", "th", "tr", "vi", "zh", "zh-HK", "zh-TW",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineItem {
    pub name: String,
    pub description: Option<String>,
    pub unit_amount: i64,
    pub quantity: i64,
}

/// A Checkout Session create request that passed every rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    pub line_items: Vec<LineItem>,
    pub currency: Currency,
    pub amount_total: i64,
    pub client_reference_id: Option<String>,
    pub customer_email: Option<String>,
    pub metadata: Vec<(String, String)>,
    pub expires_at: i64,
    pub success_url: Option<String>,
    pub cancel_url: Option<String>,
    pub locale: Option<String>,
    pub payment_method_types: Vec<String>,
    pub pi_metadata: Vec<(String, String)>,
    pub pi_description: Option<String>,
}

pub fn owned(s: Option<&str>) -> Option<String> {
    s.map(str::to_string)
}

/// Stripe's metadata limits: 50 keys, keys up to 40 characters, values up to 500.
pub fn read_metadata(obj: &Obj, key: &str) -> Result<Vec<(String, String)>, ApiError> {
    let pairs = obj.string_map(key)?;
    let param = obj.param(key);
    if pairs.len() > 50 {
        return Err(ApiError::invalid_uncoded(format!(
            "You can specify up to 50 keys in {param}; you passed {}.",
            pairs.len()
        ))
        .param(param));
    }
    for (k, v) in &pairs {
        if k.chars().count() > 40 {
            return Err(ApiError::invalid_uncoded(format!(
                "Metadata keys can have up to 40 characters; '{k}' is longer."
            ))
            .param(format!("{param}[{k}]")));
        }
        if v.chars().count() > 500 {
            return Err(ApiError::invalid_uncoded(format!(
                "Metadata values can have up to 500 characters; the value of '{k}' is longer."
            ))
            .param(format!("{param}[{k}]")));
        }
    }
    Ok(pairs
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect())
}

/// A metadata list as a JSON object.
pub fn metadata_json(pairs: &[(String, String)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// An absolute http(s) URL without spaces or control characters (Stripe: `url_invalid`).
pub fn url(obj: &Obj, key: &str) -> Result<Option<String>, ApiError> {
    let Some(text) = obj.string(key)? else {
        return Ok(None);
    };
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"));
    let host_ok = rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'));
    if !host_ok || text.len() > 5000 || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ApiError::invalid("url_invalid", "Not a valid URL").param(obj.param(key)));
    }
    Ok(Some(text.to_string()))
}

/// A plausible e-mail address (Stripe: `email_invalid`).
fn email(obj: &Obj, key: &str) -> Result<Option<String>, ApiError> {
    let Some(text) = obj.string(key)? else {
        return Ok(None);
    };
    let valid = text.rsplit_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !text.chars().any(|c| c.is_whitespace() || c.is_control())
    }) && text.len() <= 512;
    if !valid {
        return Err(
            ApiError::invalid("email_invalid", format!("Invalid email address: {text}"))
                .param(obj.param(key)),
        );
    }
    Ok(Some(text.to_string()))
}

fn line_item(path: &str, node: &Node) -> Result<(LineItem, Currency), ApiError> {
    let Node::Map(entries) = node else {
        return Err(ApiError::invalid_uncoded(format!("Invalid object: {path}")).param(path));
    };
    let item = Child {
        path: path.to_string(),
        entries,
    };
    let item = item.obj();
    item.only(&["price_data", "quantity", "price"])?;
    if let Some(price) = item.string("price")? {
        return Err(ApiError::no_such("price", price, &item.param("price"))
            .status(axum::http::StatusCode::BAD_REQUEST)
            .message(format!(
                "No such price: '{price}' (the sandbox knows no Prices; send price_data)"
            )));
    }
    let price = item
        .object("price_data")?
        .ok_or_else(|| ApiError::missing(&item.param("price_data")))?;
    let price = price.obj();
    price.only(&["currency", "unit_amount", "product_data"])?;
    let code = price.required_string("currency")?;
    let currency = currency(code).ok_or_else(|| {
        ApiError::invalid_uncoded(format!("Invalid currency: {code}"))
            .param(price.param("currency"))
    })?;
    let unit_amount = price.required_integer("unit_amount")?;
    if unit_amount < 0 {
        return Err(
            ApiError::invalid_uncoded("This value must be greater than or equal to 0.")
                .param(price.param("unit_amount")),
        );
    }
    let product = price
        .object("product_data")?
        .ok_or_else(|| ApiError::missing(&price.param("product_data")))?;
    let product = product.obj();
    product.only(&["name", "description"])?;
    let name = product.required_string("name")?;
    let description = owned(product.string("description")?);
    let quantity = item.required_integer("quantity")?;
    if !(1..=999_999).contains(&quantity) {
        return Err(
            ApiError::invalid_uncoded("Quantity must be between 1 and 999999.")
                .param(item.param("quantity")),
        );
    }
    let line = LineItem {
        name: name.to_string(),
        description,
        unit_amount,
        quantity,
    };
    Ok((line, currency))
}

/// Checks a `POST /v1/checkout/sessions` form at sandbox time `now` (unix seconds):
/// unknown parameters, then each parameter in turn, then the total against the currency's
/// minimum and maximum.
pub fn validate_create(form: &Obj, now: i64) -> Result<NewSession, ApiError> {
    form.only(&[
        "mode",
        "line_items",
        "client_reference_id",
        "customer_email",
        "metadata",
        "expires_at",
        "success_url",
        "cancel_url",
        "locale",
        "payment_intent_data",
        "payment_method_types",
        "expand",
    ])?;
    match form.required_string("mode")? {
        "payment" => {}
        "subscription" | "setup" => {
            return Err(ApiError::invalid_uncoded(
                "The offline sandbox emulates mode=payment only.",
            )
            .param("mode"));
        }
        other => {
            return Err(ApiError::invalid_uncoded(format!(
                "Invalid mode: must be one of payment, setup, or subscription (got {other})"
            ))
            .param("mode"));
        }
    }
    let items = form
        .array("line_items")?
        .filter(|items| !items.is_empty())
        .ok_or_else(|| ApiError::missing("line_items"))?;
    if items.len() > 100 {
        return Err(ApiError::invalid_uncoded("At most 100 line items.").param("line_items"));
    }
    let mut line_items = Vec::with_capacity(items.len());
    let mut currency: Option<Currency> = None;
    for (path, node) in &items {
        let (item, item_currency) = line_item(path, node)?;
        if currency.is_some_and(|c| c != item_currency) {
            return Err(
                ApiError::invalid_uncoded("All line items must use the same currency.")
                    .param(format!("{path}[price_data][currency]")),
            );
        }
        currency = Some(item_currency);
        line_items.push(item);
    }
    let Some(currency) = currency else {
        return Err(ApiError::missing("line_items"));
    };
    let client_reference_id = owned(form.string("client_reference_id")?);
    if client_reference_id
        .as_ref()
        .is_some_and(|c| c.chars().count() > 200)
    {
        return Err(ApiError::invalid_uncoded(
            "client_reference_id can have up to 200 characters.",
        )
        .param("client_reference_id"));
    }
    let customer_email = email(form, "customer_email")?;
    let metadata = read_metadata(form, "metadata")?;
    let expires_at = match form.integer("expires_at")? {
        None => now + MAX_EXPIRY_SECONDS,
        Some(t) if t < now + MIN_EXPIRY_SECONDS || t > now + MAX_EXPIRY_SECONDS => {
            return Err(ApiError::invalid(
                "parameter_invalid_integer",
                format!(
                    "The `expires_at` timestamp must be between 30 minutes and 24 hours after \
                     Checkout Session creation (the sandbox clock reads {now}; got {t})."
                ),
            )
            .param("expires_at"));
        }
        Some(t) => t,
    };
    let success_url = url(form, "success_url")?;
    let cancel_url = url(form, "cancel_url")?;
    let locale = owned(form.string("locale")?);
    if let Some(l) = &locale
        && !LOCALES.contains(&l.as_str())
    {
        return Err(ApiError::invalid_uncoded(format!(
            "Invalid locale: {l} is not a locale Checkout supports"
        ))
        .param("locale"));
    }
    let (pi_metadata, pi_description) = match form.object("payment_intent_data")? {
        None => (Vec::new(), None),
        Some(pi) => {
            let pi = pi.obj();
            pi.only(&["metadata", "description"])?;
            (
                read_metadata(&pi, "metadata")?,
                owned(pi.string("description")?),
            )
        }
    };
    let payment_method_types = form
        .string_array("payment_method_types")?
        .map(|t| t.into_iter().map(str::to_string).collect())
        .unwrap_or_else(|| vec!["card".to_string()]);
    expand(form, &["payment_intent"])?;

    let mut amount_total: i64 = 0;
    for item in &line_items {
        amount_total = item
            .unit_amount
            .checked_mul(item.quantity)
            .and_then(|a| a.checked_add(amount_total))
            .unwrap_or(i64::MAX);
    }
    check_amount(amount_total, currency)?;
    Ok(NewSession {
        line_items,
        currency,
        amount_total,
        client_reference_id,
        customer_email,
        metadata,
        expires_at,
        success_url,
        cancel_url,
        locale,
        payment_method_types,
        pi_metadata,
        pi_description,
    })
}

/// The `expand[]` values, each of which must be in `allowed`.
pub fn expand(form: &Obj, allowed: &[&str]) -> Result<Vec<String>, ApiError> {
    let values = form.string_array("expand")?.unwrap_or_default();
    for v in &values {
        if !allowed.contains(v) {
            return Err(
                ApiError::invalid_uncoded(format!("'{v}' cannot be expanded here."))
                    .param("expand"),
            );
        }
    }
    Ok(values.into_iter().map(str::to_string).collect())
}

/// The line items as Stripe's `line_items` list (for the pay page and expansion).
pub fn line_items_json(session: &NewSession) -> Value {
    let data: Vec<Value> = session
        .line_items
        .iter()
        .map(|item| {
            json!({
                "object": "item",
                "description": item.name,
                "quantity": item.quantity,
                "currency": session.currency.code,
                "amount_subtotal": item.unit_amount * item.quantity,
                "amount_total": item.unit_amount * item.quantity,
                "price": {"object": "price", "unit_amount": item.unit_amount,
                          "currency": session.currency.code},
            })
        })
        .collect();
    super::wire::list_json(data, false, "/v1/checkout/sessions/line_items")
}

#[cfg(test)]
mod tests {
    use super::super::wire::parse_form;
    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn create(extra: &[(&str, &str)], without: &[&str]) -> Result<NewSession, ApiError> {
        let mut pairs: Vec<(String, String)> = [
            ("mode", "payment"),
            ("line_items[0][price_data][currency]", "usd"),
            ("line_items[0][price_data][unit_amount]", "1250"),
            ("line_items[0][price_data][product_data][name]", "Clase"),
            ("line_items[0][quantity]", "1"),
        ]
        .iter()
        .filter(|(k, _)| !without.contains(k))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let form = parse_form(&pairs)?;
        validate_create(&Obj::root(&form), NOW)
    }

    fn code(r: Result<NewSession, ApiError>) -> (&'static str, Option<String>) {
        let e = r.unwrap_err();
        (e.code_str(), e.param)
    }

    #[test]
    fn a_minimal_session_gets_defaults() {
        let s = create(&[], &[]).unwrap();
        assert_eq!((s.amount_total, s.currency.code), (1250, "usd"));
        assert_eq!(s.expires_at, NOW + MAX_EXPIRY_SECONDS);
        assert_eq!(s.payment_method_types, ["card"]);
    }

    #[test]
    fn minimums_follow_stripes_table() {
        for (cur, below, at) in [
            ("usd", "49", "50"),
            ("eur", "49", "50"),
            ("gbp", "29", "30"),
            ("jpy", "49", "50"),
            ("mxn", "999", "1000"),
            ("brl", "49", "50"),
            ("clp", "499", "500"),
        ] {
            let with = |amount: &str| {
                create(
                    &[
                        ("line_items[0][price_data][currency]", cur),
                        ("line_items[0][price_data][unit_amount]", amount),
                    ],
                    &[
                        "line_items[0][price_data][currency]",
                        "line_items[0][price_data][unit_amount]",
                    ],
                )
            };
            assert_eq!(code(with(below)).0, "amount_too_small", "{cur}");
            assert_eq!(with(at).unwrap().amount_total.to_string(), at, "{cur}");
        }
    }

    #[test]
    fn errors_name_the_parameter() {
        assert_eq!(
            code(create(&[("foo", "1")], &[])),
            ("parameter_unknown", Some("foo".into()))
        );
        assert_eq!(
            code(create(&[("line_items[0][price_data][colour]", "red")], &[])),
            (
                "parameter_unknown",
                Some("line_items[0][price_data][colour]".into())
            )
        );
        assert_eq!(
            code(create(&[], &["mode"])),
            ("parameter_missing", Some("mode".into()))
        );
        assert_eq!(
            code(create(&[], &["line_items[0][quantity]"])),
            ("parameter_missing", Some("line_items[0][quantity]".into()))
        );
        let soon = (NOW + 60).to_string();
        assert_eq!(
            code(create(&[("expires_at", &soon)], &[])),
            ("parameter_invalid_integer", Some("expires_at".into()))
        );
        let ok = (NOW + 1800).to_string();
        assert!(create(&[("expires_at", &ok)], &[]).is_ok());
        assert_eq!(
            code(create(&[("success_url", "javascript:alert(1)")], &[])).0,
            "url_invalid"
        );
        assert_eq!(
            code(create(&[("customer_email", "nope")], &[])).0,
            "email_invalid"
        );
        let long_key = "k".repeat(41);
        let param = format!("metadata[{long_key}]");
        assert_eq!(
            code(create(&[(&param, "v")], &[])),
            ("invalid_request_error", Some(param.clone()))
        );
    }
}
