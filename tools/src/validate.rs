//! Validation of raw tool arguments.
//!
//! Arguments arrive as a JSON object from a model. Each check names the argument at fault
//! and says how to fix it. This layer checks shape and syntax (types, required fields,
//! lengths, e-mail syntax, key alphabet); the server then checks money against its currency
//! table and minimums, because those rules belong to the ledger's domain.

use serde_json::{Map, Value};

use crate::errors::{ErrorCode, ToolError};

/// Flow's subject is a free-text field; paylink keeps it to 255 characters.
pub const MAX_DESCRIPTION_CHARS: usize = 255;
pub const MAX_EMAIL_CHARS: usize = 254;
pub const MAX_KEY_CHARS: usize = 128;
pub const MAX_ENTITY_CHARS: usize = 128;

/// A create request that passed the syntax checks. Its `Debug` redacts the e-mail.
#[derive(Clone, PartialEq, Eq)]
pub struct CreateRequest {
    /// The amount as the exact decimal text of the JSON number.
    pub amount_text: String,
    pub currency: Option<String>,
    pub description: String,
    pub customer_email: String,
    pub entity_id: Option<String>,
    pub idempotency_key: Option<String>,
    pub allow_paid_entity: bool,
    /// The gateway the call named, if any.
    pub gateway: Option<crate::args::GatewayArg>,
}

impl std::fmt::Debug for CreateRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateRequest")
            .field("amount_text", &self.amount_text)
            .field("currency", &self.currency)
            .field("description", &self.description)
            .field("customer_email", &redact_email(&self.customer_email))
            .field("entity_id", &self.entity_id)
            .field("idempotency_key", &self.idempotency_key)
            .field("allow_paid_entity", &self.allow_paid_entity)
            .field("gateway", &self.gateway)
            .finish()
    }
}

/// A payer's e-mail as logs and debug output may show it: the first character of the
/// local part, `***`, and the domain (`ana@gmail.com` → `a***@gmail.com`). Enough to
/// tell two payers apart when debugging, not enough to contact or identify one.
pub fn redact_email(email: &str) -> String {
    match email.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local
                .trim_start_matches(['\\', '"'])
                .chars()
                .take(1)
                .filter(|c| !is_unsafe_char(*c))
                .collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_string(),
    }
}

/// A status request that passed the syntax checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRequest {
    pub payment_id: String,
}

const CREATE_FIELDS: &[&str] = &[
    "amount",
    "description",
    "currency",
    "customerEmail",
    "entityId",
    "idempotencyKey",
    "allowPaidEntity",
    "gateway",
];

pub(crate) fn invalid(field: &str, message: impl Into<String>) -> ToolError {
    ToolError::new(
        ErrorCode::InvalidArguments,
        message,
        "Fix the argument named in `field` and call again.",
    )
    .field(field)
}

pub(crate) fn unknown_field(name: &str, known: &[&str]) -> ToolError {
    let hint = match name {
        "email" | "customer_email" | "payerEmail" | "customer" => " Did you mean customerEmail?",
        "subject" | "memo" | "title" => " Did you mean description?",
        "id" | "payment_id" | "entity_id" => " Did you mean entityId?",
        "idempotency_key" | "key" => " Did you mean idempotencyKey?",
        _ => "",
    };
    invalid(
        name,
        format!(
            "unknown argument {name:?}; accepted arguments are {}.{hint}",
            known.join(", ")
        ),
    )
}

pub(crate) fn optional_string<'a>(
    args: &'a Map<String, Value>,
    field: &str,
) -> Result<Option<&'a str>, ToolError> {
    match args.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(other) => Err(invalid(
            field,
            format!("{field} must be a string, not {}", kind(other)),
        )),
    }
}

pub(crate) fn required_string<'a>(
    args: &'a Map<String, Value>,
    field: &str,
) -> Result<&'a str, ToolError> {
    optional_string(args, field)?.ok_or_else(|| invalid(field, format!("{field} is required")))
}

pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A plausible e-mail address: one `@`, a non-empty local part without spaces or control
/// characters (quoted local parts allowed), and a domain of dot-separated labels.
pub fn email_is_plausible(email: &str) -> bool {
    if email.len() > MAX_EMAIL_CHARS || email.chars().any(is_unsafe_char) {
        return false;
    }
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    let local_ok = if local.len() >= 2 && local.starts_with('"') && local.ends_with('"') {
        true
    } else {
        !local.is_empty()
            && local.len() <= 64
            && !local.contains([
                '@', ' ', '"', '(', ')', ',', ':', ';', '<', '>', '[', ']', '\\',
            ])
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
    };
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.chars().all(|c| c.is_alphabetic()) && tld.len() >= 2);
    local_ok && domain_ok
}

/// Whether `c` must never reach stored free text: control characters (Unicode category
/// Cc: NUL, BEL, ESC, CR, LF, DEL, C1), bidirectional formatting controls (U+061C, U+200E,
/// U+200F, U+202A–U+202E, U+2066–U+2069), which reorder what a terminal or page shows,
/// and tag characters (U+E0000–U+E007F), which are invisible and can smuggle text. Every
/// free-text argument is checked with this one rule, and the operator CLI escapes the
/// same characters on output.
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
                | '\u{E0000}'..='\u{E007F}'
        )
}

/// The first character of `s` that [`is_unsafe_char`] refuses, with its position (counted
/// in characters from 1) and a name for error messages such as "U+001B (a control
/// character)".
pub fn first_unsafe_char(s: &str) -> Option<(usize, String)> {
    s.chars()
        .enumerate()
        .find(|(_, c)| is_unsafe_char(*c))
        .map(|(i, c)| {
            let kind = if c.is_control() {
                "a control character"
            } else if ('\u{E0000}'..='\u{E007F}').contains(&c) {
                "an invisible tag character"
            } else {
                "a bidirectional text control"
            };
            (i + 1, format!("U+{:04X} ({kind})", c as u32))
        })
}

pub(crate) fn check_id(field: &str, value: &str, max: usize) -> Result<String, ToolError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(invalid(
            field,
            format!("{field} must not be empty; leave it out instead"),
        ));
    }
    if v.chars().count() > max {
        return Err(invalid(
            field,
            format!("{field} is longer than {max} characters"),
        ));
    }
    if let Some((at, what)) = first_unsafe_char(v) {
        return Err(invalid(
            field,
            format!(
                "{field} contains {what} at character {at}; control, bidirectional and tag \
                 characters are not allowed"
            ),
        ));
    }
    Ok(v.to_string())
}

/// The optional `idempotencyKey`, checked.
pub(crate) fn idempotency_key(args: &Map<String, Value>) -> Result<Option<String>, ToolError> {
    match optional_string(args, "idempotencyKey")? {
        None => Ok(None),
        Some(k) => {
            let ok = !k.is_empty()
                && k.len() <= MAX_KEY_CHARS
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
            if !ok {
                return Err(ToolError::new(
                    ErrorCode::InvalidIdempotencyKey,
                    format!("idempotencyKey must be 1 to {MAX_KEY_CHARS} characters of letters, digits, '-', '_', '.', ':'"),
                    "Use a simple key such as a UUID or 'booking-42-attempt-1' and reuse it on retries.",
                )
                .field("idempotencyKey"));
            }
            Ok(Some(k.to_string()))
        }
    }
}

/// Validates `payment.create`'s arguments.
pub fn parse_create(args: &Map<String, Value>) -> Result<CreateRequest, ToolError> {
    if let Some(name) = args.keys().find(|k| !CREATE_FIELDS.contains(&k.as_str())) {
        return Err(unknown_field(name, CREATE_FIELDS));
    }
    let amount_text = match args.get("amount") {
        None | Some(Value::Null) => {
            return Err(ToolError::new(
                ErrorCode::InvalidAmount,
                "amount is required: a JSON number in the currency's ordinary units, e.g. 5000 for CLP 5.000",
                "Call again with amount as a number.",
            )
            .field("amount"));
        }
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => {
            return Err(ToolError::new(
                ErrorCode::InvalidAmount,
                format!(
                    "amount must be a JSON number such as 5000, not {}",
                    kind(other)
                ),
                "Send the amount as a number without quotes or currency symbols, e.g. 5000.",
            )
            .field("amount"));
        }
    };
    let description = required_string(args, "description")
        .map_err(|_| {
            ToolError::new(
                ErrorCode::InvalidDescription,
                "description is required: say what the customer pays for (1 to 255 characters)",
                "Call again with a short description.",
            )
            .field("description")
        })?
        .trim()
        .to_string();
    if description.is_empty() {
        return Err(ToolError::new(
            ErrorCode::InvalidDescription,
            "description is empty: it must say what the customer pays for (1 to \
             255 characters), because Flow shows it on the payment page",
            "Call again with a description of what is paid for, e.g. \"Clase de \
             matemáticas, martes 10:00\".",
        )
        .field("description"));
    }
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(ToolError::new(
            ErrorCode::InvalidDescription,
            format!(
                "description is too long: at most {MAX_DESCRIPTION_CHARS} characters; this one has {}",
                description.chars().count()
            ),
            "Shorten the description (Flow shows it on the payment page) and call again.",
        )
        .field("description"));
    }
    if let Some((at, what)) = first_unsafe_char(&description) {
        return Err(ToolError::new(
            ErrorCode::InvalidDescription,
            format!(
                "description contains {what} at character {at}; control characters (line \
                 breaks, tabs, escape sequences), bidirectional controls and tag characters \
                 are not allowed"
            ),
            "Write the description as one line of plain text, without line breaks or special \
             formatting characters, and call again.",
        )
        .field("description"));
    }
    let currency = optional_string(args, "currency")?.map(|c| c.trim().to_ascii_uppercase());
    let customer_email = required_string(args, "customerEmail")
        .map_err(|_| {
            ToolError::new(
                ErrorCode::InvalidEmail,
                "customerEmail is required: Flow needs the payer's e-mail address",
                "Ask the customer for their e-mail address and call again.",
            )
            .field("customerEmail")
        })?
        .trim()
        .to_string();
    if !email_is_plausible(&customer_email) {
        return Err(ToolError::new(
            ErrorCode::InvalidEmail,
            format!("{customer_email:?} is not a valid e-mail address"),
            "Ask the customer to confirm their e-mail address and call again.",
        )
        .field("customerEmail"));
    }
    let entity_id = optional_string(args, "entityId")?
        .map(|e| check_id("entityId", e, MAX_ENTITY_CHARS))
        .transpose()?;
    let idempotency_key = idempotency_key(args)?;
    let allow_paid_entity = match args.get("allowPaidEntity") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(invalid(
                "allowPaidEntity",
                format!("allowPaidEntity must be true or false, not {}", kind(other)),
            ));
        }
    };
    let gateway = match args.get("gateway") {
        None | Some(Value::Null) => None,
        Some(Value::String(g)) => match g.trim().to_ascii_lowercase().as_str() {
            "flow" => Some(crate::args::GatewayArg::Flow),
            "stripe" => Some(crate::args::GatewayArg::Stripe),
            _ => {
                return Err(invalid(
                    "gateway",
                    format!("gateway must be \"flow\" or \"stripe\", not {g:?}"),
                ));
            }
        },
        Some(other) => {
            return Err(invalid(
                "gateway",
                format!(
                    "gateway must be the string \"flow\" or \"stripe\", not {}",
                    kind(other)
                ),
            ));
        }
    };
    Ok(CreateRequest {
        amount_text,
        currency,
        description,
        customer_email,
        entity_id,
        idempotency_key,
        allow_paid_entity,
        gateway,
    })
}

/// Validates `payment.getStatus`'s arguments.
pub fn parse_get_status(args: &Map<String, Value>) -> Result<StatusRequest, ToolError> {
    const FIELDS: &[&str] = &["entityId", "paymentId"];
    if let Some(name) = args.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(unknown_field(name, FIELDS));
    }
    let entity = optional_string(args, "entityId")?;
    let payment = optional_string(args, "paymentId")?;
    let id = match (entity, payment) {
        (Some(a), Some(b)) if a.trim() != b.trim() => {
            return Err(invalid(
                "entityId",
                "entityId and paymentId name different payments; give one of them",
            ));
        }
        (Some(a), _) => a,
        (None, Some(b)) => b,
        (None, None) => {
            return Err(invalid(
                "entityId",
                "entityId is required: the paymentId returned by payment.create",
            ));
        }
    };
    Ok(StatusRequest {
        payment_id: check_id("entityId", id, MAX_ENTITY_CHARS)?,
    })
}

/// A validated `payment.list` call. Times are milliseconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRequest {
    pub entity_id: Option<String>,
    pub customer_email: Option<String>,
    pub status: Option<crate::args::StatusArg>,
    pub created_from_ms: Option<i64>,
    pub created_to_ms: Option<i64>,
    pub limit: usize,
    pub cursor: Option<Cursor>,
}

/// Where a page of `payment.list` starts: after the payment created at `created_ms` with
/// this id. Written as opaque text (`c1.<created_ms>.<id>` in URL-safe base64) so that a
/// model passes it back rather than building one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub created_ms: i64,
    pub payment_id: String,
}

impl Cursor {
    pub fn encode(&self) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(format!("c1.{}.{}", self.created_ms, self.payment_id))
    }

    pub fn decode(text: &str) -> Option<Cursor> {
        use base64::Engine as _;
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text.trim())
            .ok()?;
        let raw = String::from_utf8(raw).ok()?;
        let rest = raw.strip_prefix("c1.")?;
        let (ms, id) = rest.split_once('.')?;
        let id_ok = !id.is_empty()
            && id.len() <= MAX_ENTITY_CHARS
            && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !id_ok {
            return None;
        }
        Some(Cursor {
            created_ms: ms.parse().ok()?,
            payment_id: id.to_owned(),
        })
    }
}

/// The most payments one `payment.list` page holds.
pub const MAX_LIST_LIMIT: usize = 100;
/// A page's size when `limit` is left out.
pub const DEFAULT_LIST_LIMIT: usize = 20;

fn rfc3339_ms(field: &str, text: &str) -> Result<i64, ToolError> {
    let t = time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
        .map_err(|_| {
            invalid(
                field,
                format!("{field} must be an RFC 3339 date and time such as 2026-11-24T00:00:00Z, not {text:?}"),
            )
        })?;
    Ok((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// Validates `payment.list`'s arguments.
pub fn parse_list(args: &Map<String, Value>) -> Result<ListRequest, ToolError> {
    const FIELDS: &[&str] = &[
        "entityId",
        "customerEmail",
        "status",
        "createdFrom",
        "createdTo",
        "limit",
        "cursor",
    ];
    if let Some(name) = args.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(unknown_field(name, FIELDS));
    }
    let entity_id = optional_string(args, "entityId")?
        .map(|e| check_id("entityId", e, MAX_ENTITY_CHARS))
        .transpose()?;
    let customer_email = match optional_string(args, "customerEmail")? {
        Some(e) if !email_is_plausible(e.trim()) => {
            return Err(invalid(
                "customerEmail",
                format!("{e:?} is not an e-mail address such as ana@gmail.com"),
            ));
        }
        Some(e) => Some(e.trim().to_owned()),
        None => None,
    };
    let status = match optional_string(args, "status")? {
        None => None,
        Some(s) => Some(match s.trim() {
            "draft" => crate::args::StatusArg::Draft,
            "pending" => crate::args::StatusArg::Pending,
            "paid" => crate::args::StatusArg::Paid,
            "failed" => crate::args::StatusArg::Failed,
            other => {
                return Err(invalid(
                    "status",
                    format!("status must be draft, pending, paid or failed, not {other:?}"),
                ));
            }
        }),
    };
    let created_from_ms = optional_string(args, "createdFrom")?
        .map(|t| rfc3339_ms("createdFrom", t))
        .transpose()?;
    let created_to_ms = optional_string(args, "createdTo")?
        .map(|t| rfc3339_ms("createdTo", t))
        .transpose()?;
    if let (Some(from), Some(to)) = (created_from_ms, created_to_ms)
        && from >= to
    {
        return Err(invalid(
            "createdTo",
            "createdTo must be later than createdFrom",
        ));
    }
    let limit = match args.get("limit") {
        None | Some(Value::Null) => DEFAULT_LIST_LIMIT,
        Some(Value::Number(n)) => match n.as_u64() {
            Some(n) if (1..=MAX_LIST_LIMIT as u64).contains(&n) => n as usize,
            _ => {
                return Err(invalid(
                    "limit",
                    format!("limit must be a whole number from 1 to {MAX_LIST_LIMIT}, not {n}"),
                ));
            }
        },
        Some(other) => {
            return Err(invalid(
                "limit",
                format!("limit must be a number, not {}", kind(other)),
            ));
        }
    };
    let cursor = match optional_string(args, "cursor")? {
        None => None,
        Some(c) => Some(Cursor::decode(c).ok_or_else(|| {
            invalid(
                "cursor",
                "cursor is not one payment.list returned: pass the nextCursor of the previous page exactly, or leave it out for the first page",
            )
        })?),
    };
    Ok(ListRequest {
        entity_id,
        customer_email,
        status,
        created_from_ms,
        created_to_ms,
        limit,
        cursor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn list_arguments_are_checked_and_a_cursor_round_trips() {
        let ok = parse_list(&obj(json!({
            "customerEmail": "Ana@Gmail.com", "status": "paid",
            "createdFrom": "2026-11-24T00:00:00Z", "createdTo": "2026-12-01T00:00:00-03:00",
            "limit": 5
        })))
        .unwrap();
        assert_eq!(ok.limit, 5);
        assert_eq!(ok.status, Some(crate::args::StatusArg::Paid));
        assert_eq!(ok.created_from_ms, Some(1_795_478_400_000));
        assert_eq!(parse_list(&Map::new()).unwrap().limit, DEFAULT_LIST_LIMIT);
        for (args, field) in [
            (json!({"limit": 0}), "limit"),
            (json!({"limit": 101}), "limit"),
            (json!({"limit": 2.5}), "limit"),
            (json!({"status": "refunded"}), "status"),
            (json!({"createdFrom": "last week"}), "createdFrom"),
            (
                json!({"createdFrom": "2026-12-02T00:00:00Z", "createdTo": "2026-12-01T00:00:00Z"}),
                "createdTo",
            ),
            (json!({"customerEmail": "ana"}), "customerEmail"),
            (json!({"cursor": "not-a-cursor"}), "cursor"),
            (json!({"organization": "acme"}), "organization"),
        ] {
            let e = parse_list(&obj(args.clone())).unwrap_err();
            assert_eq!(e.field.as_deref(), Some(field), "{args}");
        }
        let c = Cursor {
            created_ms: 1_764_000_000_123,
            payment_id: "ent_abc123".into(),
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c.clone()));
        let forged = {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("c1.5.ent_x' OR 1=1")
        };
        assert_eq!(Cursor::decode(&forged), None);
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn base() -> Value {
        json!({"amount": 5000, "description": "Clase", "customerEmail": "ana@gmail.com"})
    }

    #[test]
    fn a_good_request_passes_and_keeps_the_amount_text() {
        let r = parse_create(&obj(base())).unwrap();
        assert_eq!(r.amount_text, "5000");
        assert_eq!(r.currency, None);
        let mut v = base();
        v["amount"] = json!(12.5);
        v["currency"] = json!("usd");
        let r = parse_create(&obj(v)).unwrap();
        assert_eq!(
            (r.amount_text.as_str(), r.currency.as_deref()),
            ("12.5", Some("USD"))
        );
    }

    #[test]
    fn each_bad_argument_gets_its_code_and_field() {
        let cases: Vec<(Value, ErrorCode, &str)> = vec![
            (
                json!({"amount": "5000", "description": "x", "customerEmail": "a@gmail.com"}),
                ErrorCode::InvalidAmount,
                "amount",
            ),
            (
                json!({"description": "x", "customerEmail": "a@gmail.com"}),
                ErrorCode::InvalidAmount,
                "amount",
            ),
            (
                json!({"amount": 5000, "customerEmail": "a@gmail.com"}),
                ErrorCode::InvalidDescription,
                "description",
            ),
            (
                json!({"amount": 5000, "description": "  ", "customerEmail": "a@gmail.com"}),
                ErrorCode::InvalidDescription,
                "description",
            ),
            (
                json!({"amount": 5000, "description": "x".repeat(256), "customerEmail": "a@gmail.com"}),
                ErrorCode::InvalidDescription,
                "description",
            ),
            (
                json!({"amount": 5000, "description": "x", "customerEmail": "not-an-email"}),
                ErrorCode::InvalidEmail,
                "customerEmail",
            ),
            (
                json!({"amount": 5000, "description": "x"}),
                ErrorCode::InvalidEmail,
                "customerEmail",
            ),
            (
                json!({"amount": 5000, "description": "x", "customerEmail": "a@gmail.com", "email": "b"}),
                ErrorCode::InvalidArguments,
                "email",
            ),
            (
                json!({"amount": 5000, "description": "x", "customerEmail": "a@gmail.com", "idempotencyKey": "has space"}),
                ErrorCode::InvalidIdempotencyKey,
                "idempotencyKey",
            ),
            (
                json!({"amount": 5000, "description": "x", "customerEmail": "a@gmail.com", "currency": 5}),
                ErrorCode::InvalidArguments,
                "currency",
            ),
        ];
        for (args, code, field) in cases {
            let e = parse_create(&obj(args.clone())).unwrap_err();
            assert_eq!((e.code, e.field.as_deref()), (code, Some(field)), "{args}");
            assert!(!e.next_step.is_empty());
        }
    }

    #[test]
    fn an_empty_description_is_called_empty_not_too_long() {
        for empty in ["", "   "] {
            let mut v = base();
            v["description"] = json!(empty);
            let e = parse_create(&obj(v)).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidDescription);
            assert!(
                e.message
                    .starts_with("description is empty: it must say what the customer pays for"),
                "{}",
                e.message
            );
            assert!(!e.next_step.contains("Shorten"), "{}", e.next_step);
        }
        let mut v = base();
        v["description"] = json!("x".repeat(256));
        let e = parse_create(&obj(v)).unwrap_err();
        assert!(
            e.message.starts_with("description is too long"),
            "{}",
            e.message
        );
        assert!(e.next_step.starts_with("Shorten"), "{}", e.next_step);
    }

    #[test]
    fn descriptions_with_control_bidi_or_tag_characters_are_refused() {
        let cases: &[(&str, &str)] = &[
            ("Clase\u{1b}[31m roja", "U+001B"),
            ("Clase\nID  paid  CLP 1", "U+000A"),
            ("Clase\rX", "U+000D"),
            ("Clase\0", "U+0000"),
            ("Clase\u{7}", "U+0007"),
            ("Clase\tde yoga", "U+0009"),
            ("Clase\u{7f}", "U+007F"),
            ("Cla\u{85}se", "U+0085"),
            ("Clase \u{202E}fdp.exe", "U+202E"),
            ("Clase \u{202A}x", "U+202A"),
            ("Clase \u{2066}x", "U+2066"),
            ("Clase \u{2069}x", "U+2069"),
            ("Clase \u{200E}x", "U+200E"),
            ("Clase \u{200F}x", "U+200F"),
            ("Clase \u{61C}x", "U+061C"),
            ("Clase \u{E0041}\u{E007F}", "U+E0041"),
            ("Clase \u{E0000}", "U+E0000"),
        ];
        for (description, named) in cases {
            let mut v = base();
            v["description"] = json!(description);
            let e = parse_create(&obj(v)).unwrap_err();
            assert_eq!(
                (e.code, e.field.as_deref()),
                (ErrorCode::InvalidDescription, Some("description")),
                "{description:?}"
            );
            assert!(e.message.contains(named), "{description:?}: {}", e.message);
            assert!(
                !e.message.chars().any(is_unsafe_char),
                "the error must not echo the character: {:?}",
                e.message
            );
            assert!(!e.next_step.is_empty());
        }
        // Ordinary text, accents, emoji and zero-width joiners in emoji stay accepted.
        for ok in [
            "Clase de matemáticas",
            "Café ☕ para 2 — 50% off",
            "👩‍💻 taller",
            "עברית ועוד",
        ] {
            let mut v = base();
            v["description"] = json!(ok);
            assert_eq!(parse_create(&obj(v)).unwrap().description, ok);
        }
    }

    #[test]
    fn entity_ids_use_the_same_character_rule() {
        for bad in ["ent\u{1b}x", "ent\u{202E}x", "ent\u{E0041}"] {
            let mut v = base();
            v["entityId"] = json!(bad);
            let e = parse_create(&obj(v)).unwrap_err();
            assert_eq!(e.field.as_deref(), Some("entityId"), "{bad:?}");
            let e = parse_get_status(&obj(json!({ "entityId": bad }))).unwrap_err();
            assert_eq!(e.field.as_deref(), Some("entityId"), "{bad:?}");
        }
    }

    #[test]
    fn debug_output_of_a_request_shows_no_full_email() {
        let mut v = base();
        v["customerEmail"] = json!("zoe.quintana+pay@gmail.com");
        let r = parse_create(&obj(v)).unwrap();
        let shown = format!("{r:?} {r:#?}");
        assert!(!shown.contains("zoe.quintana"), "{shown}");
        assert!(shown.contains("z***@gmail.com"), "{shown}");
        assert_eq!(redact_email("\"ana maría\"@x.cl"), "a***@x.cl");
        assert_eq!(redact_email("no-at-sign"), "***");
    }

    #[test]
    fn email_plausibility() {
        for ok in [
            "a@gmail.com",
            "a+b@gmail.com",
            "o'brien+pay&co@gmail.com",
            "\"ana maría\"@gmail.com",
            "x@sub.dominio.cl",
        ] {
            assert!(email_is_plausible(ok), "{ok}");
        }
        for bad in [
            "",
            "a",
            "a@",
            "@b.com",
            "a@b",
            "a b@gmail.com",
            "a@@b.com",
            "a@b..com",
            "a@-b.com",
            "a@b.c0m",
        ] {
            assert!(!email_is_plausible(bad), "{bad}");
        }
    }

    #[test]
    fn get_status_takes_either_name() {
        assert_eq!(
            parse_get_status(&obj(json!({"entityId": "ent_1"})))
                .unwrap()
                .payment_id,
            "ent_1"
        );
        assert_eq!(
            parse_get_status(&obj(json!({"paymentId": "ent_1"})))
                .unwrap()
                .payment_id,
            "ent_1"
        );
        let e = parse_get_status(&obj(json!({}))).unwrap_err();
        assert_eq!(
            (e.code, e.field.as_deref()),
            (ErrorCode::InvalidArguments, Some("entityId"))
        );
        assert!(e.message.contains("entityId is required"), "{}", e.message);
        assert!(parse_get_status(&obj(json!({"entityId": null, "paymentId": null}))).is_err());
        assert!(parse_get_status(&obj(json!({"entityId": "a", "paymentId": "b"}))).is_err());
    }
}
