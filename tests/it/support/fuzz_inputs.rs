//! Generators of hostile inputs for the `fuzz` tests: arbitrary bytes, arbitrary JSON,
//! JSON shaped like Flow's answers and like tool arguments with hostile values, form
//! bodies around the webhook's body limit, amount texts, and signed parameter lists.
//! Also the run configuration (small default case counts, raised by `PROPTEST_CASES`) and
//! two helpers of the oracles: the exact value of a decimal text, and parameter pairs.

use proptest::collection::{hash_map, vec};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

/// The webhook's body limit (`DefaultBodyLimit` in `src/webhook/mod.rs`).
pub const WEBHOOK_BODY_LIMIT: usize = 16 * 1024;

/// A runner with `default_cases` cases, or `PROPTEST_CASES` when set.
pub fn runner(default_cases: u32) -> TestRunner {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    TestRunner::new(Config {
        cases,
        max_shrink_iters: 4_096,
        ..Config::default()
    })
}

/// Text that looks like a number, often is not one, and is sometimes huge.
pub fn numeric_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[-+ ]?[0-9]{0,25}(\\.[0-9]{0,25})?([eE][-+]?[0-9]{1,4})?[ ]?",
        "[0-9]{1,6}",
        "[0-9]{0,8}\\.[0-9]{0,6}",
        "[0-9]{1,4}[eE]-?[0-9]{1,2}",
        Just("NaN".to_string()),
        Just("-0".to_string()),
        Just("1e400".to_string()),
        Just("9007199254740993".to_string()),
        Just("0.0000000000000000000000000000000000001".to_string()),
    ]
}

/// Any JSON value, nested up to four levels.
pub fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        ".{0,24}".prop_map(Value::String),
        numeric_text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..8).prop_map(Value::Array),
            hash_map(".{0,10}", inner, 0..8).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An object whose keys are drawn from `keys` (plus, now and then, any key).
pub fn object_with(keys: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        9 => proptest::sample::select(keys).prop_map(str::to_string),
        1 => ".{0,12}",
    ];
    hash_map(key, json_value(), 0..keys.len() + 2)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
}

const FLOW_STATUS_KEYS: &[&str] = &[
    "flowOrder",
    "commerceOrder",
    "requestDate",
    "status",
    "subject",
    "currency",
    "amount",
    "payer",
    "optional",
    "pending_info",
    "paymentData",
    "merchantId",
    "url",
    "token",
    "code",
    "message",
];

/// A body Flow might send, or something that only pretends to be one.
pub fn flow_body() -> impl Strategy<Value = Vec<u8>> {
    let near_miss = (
        numeric_text(),
        prop_oneof![Just(1i64), Just(2), Just(3), Just(4), any::<i64>()],
        numeric_text(),
        json_value(),
    )
        .prop_map(|(order, status, amount, extra)| {
            json!({"flowOrder": order, "commerceOrder": "ent_x", "status": status,
                   "amount": amount, "currency": "CLP", "paymentData": extra,
                   "url": "http://x/pay", "token": "T", "message": "m", "code": status})
        });
    // What Flow documents, in its lenient variants (numbers as text, nulls, JSON in a string).
    let well_formed = (
        1i64..100_000_000,
        1i64..=4,
        "[0-9]{1,7}(\\.[0-9]{1,2})?",
        any::<bool>(),
    )
        .prop_map(|(order, status, amount, as_text)| {
            let order = if as_text {
                json!(order.to_string())
            } else {
                json!(order)
            };
            json!({"flowOrder": order, "commerceOrder": "ent_x", "status": status,
                   "amount": amount, "currency": "CLP", "url": "http://x/pay", "token": "T",
                   "optional": "{\"rut\":\"1-9\"}", "pending_info": null,
                   "paymentData": {"date": null, "fee": "", "amount": amount}})
        });
    prop_oneof![
        2 => vec(any::<u8>(), 0..512),
        2 => well_formed.prop_map(|v| v.to_string().into_bytes()),
        2 => json_value().prop_map(|v| v.to_string().into_bytes()),
        3 => object_with(FLOW_STATUS_KEYS).prop_map(|v| v.to_string().into_bytes()),
        2 => near_miss.prop_map(|v| v.to_string().into_bytes()),
        // Numbers written raw, so that serde_json meets them as number tokens.
        1 => (numeric_text(), numeric_text(), numeric_text()).prop_map(|(o, s, a)| {
            format!(r#"{{"flowOrder":{o},"status":{s},"amount":{a},"token":"T","url":"u"}}"#)
                .into_bytes()
        }),
        // Truncated JSON, like the sandbox's malformed_body fault.
        1 => (object_with(FLOW_STATUS_KEYS), any::<prop::sample::Index>()).prop_map(|(v, at)| {
            let text = v.to_string().into_bytes();
            let cut = at.index(text.len() + 1);
            text[..cut].to_vec()
        }),
    ]
}

const TOOL_KEYS: &[&str] = &[
    "amount",
    "description",
    "currency",
    "customerEmail",
    "entityId",
    "idempotencyKey",
    "allowPaidEntity",
    "paymentId",
];

fn hostile_string() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,40}",
        "[a-z0-9.+_-]{1,20}@[a-z0-9-]{1,12}\\.[a-z]{2,4}",
        "[\\x00-\\x1f ]{0,8}",
        (0usize..600).prop_map(|n| "x".repeat(n)),
        numeric_text(),
    ]
}

/// Tool arguments: mostly well-formed create requests with hostile values, or any object.
pub fn tool_args() -> impl Strategy<Value = serde_json::Map<String, Value>> {
    let hostile = prop_oneof![3 => hostile_string().prop_map(Value::String), 2 => json_value()];
    let plausible = (
        prop_oneof![
            any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
                .map(Value::Number)),
            (1i64..10_000_000).prop_map(|n| json!(n)),
            json_value(),
        ],
        hostile_string(),
        prop_oneof![Just("ana@gmail.com".to_string()), hostile_string()],
        hash_map(proptest::sample::select(TOOL_KEYS), hostile, 0..4),
    )
        .prop_map(|(amount, description, email, extra)| {
            let mut m = serde_json::Map::new();
            m.insert("amount".into(), amount);
            m.insert("description".into(), Value::String(description));
            m.insert("customerEmail".into(), Value::String(email));
            for (k, v) in extra {
                m.insert(k.to_string(), v);
            }
            m
        });
    let any_object = object_with(TOOL_KEYS).prop_map(|v| match v {
        Value::Object(m) => m,
        _ => unreachable!("object_with makes objects"),
    });
    prop_oneof![3 => plausible, 2 => any_object]
}

/// Bodies for POST /webhook/flow: random bytes, forms (encoded or not) with and without a
/// token, and bodies just under and over the limit.
pub fn webhook_body() -> impl Strategy<Value = Vec<u8>> {
    let key = prop_oneof![3 => Just("token".to_string()), 2 => "[a-zA-Z_]{0,8}", 1 => ".{0,8}"];
    let value = prop_oneof![
        3 => "[A-Za-z0-9]{0,140}",
        1 => "[A-F0-9]{39}[G-Z]",
        2 => ".{0,40}",
        1 => "%[0-9A-Fa-f]{0,2}[%+&=]{0,4}",
    ];
    let pairs = vec((key, value), 0..6);
    prop_oneof![
        3 => vec(any::<u8>(), 0..2_048),
        3 => pairs.clone().prop_map(|p| serde_urlencoded::to_string(&p).unwrap().into_bytes()),
        2 => pairs.prop_map(|p| {
            let raw: Vec<String> = p.iter().map(|(k, v)| format!("{k}={v}")).collect();
            raw.join("&").into_bytes()
        }),
        1 => (WEBHOOK_BODY_LIMIT - 32..WEBHOOK_BODY_LIMIT + 32, "[A-Za-z0-9]{1,40}").prop_map(
            |(len, token)| {
                let mut body = format!("token={token}&pad=").into_bytes();
                body.resize(len.max(body.len()), b'x');
                body
            }
        ),
        1 => vec(any::<u8>(), WEBHOOK_BODY_LIMIT..4 * WEBHOOK_BODY_LIMIT),
    ]
}

/// Content types the webhook may be sent, valid or not.
pub fn content_type() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some("application/x-www-form-urlencoded".to_string())),
        Just(Some(
            "application/x-www-form-urlencoded; charset=utf-8".to_string()
        )),
        Just(Some("application/json".to_string())),
        Just(Some("multipart/form-data; boundary=xyz".to_string())),
        "[!-~]{0,40}".prop_map(Some),
    ]
}

/// How to tamper with a signed parameter list.
#[derive(Debug, Clone)]
pub enum Tamper {
    /// Give the parameter at this index (modulo the length) another value.
    Value(prop::sample::Index, String),
    /// Add a parameter with a non-empty name.
    Add(String, String),
    /// Remove the parameter at this index (modulo the length).
    Remove(prop::sample::Index),
}

pub fn tamper() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        (any::<prop::sample::Index>(), ".{0,20}").prop_map(|(i, v)| Tamper::Value(i, v)),
        (".{1,12}", ".{0,20}").prop_map(|(n, v)| Tamper::Add(n, v)),
        any::<prop::sample::Index>().prop_map(Tamper::Remove),
    ]
}

/// Parameter lists as Flow signs them (any names and values, `s` included now and then).
pub fn params() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = prop_oneof![
        4 => "[a-zA-Z_]{1,14}",
        1 => Just("s".to_string()),
        1 => ".{0,8}",
    ];
    vec((name, ".{0,40}"), 0..12)
}

/// The exact value of a decimal text the parser accepted: (significant digits, power of 10).
pub fn exact_value(text: &str) -> (String, i64) {
    let (mantissa, exp) = match text.find(['e', 'E']) {
        Some(i) => (&text[..i], text[i + 1..].parse::<i64>().unwrap()),
        None => (text, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{int}{frac}");
    let digits = digits.trim_start_matches('0');
    let significant = digits.trim_end_matches('0');
    let power = exp - frac.len() as i64 + (digits.len() - significant.len()) as i64;
    (significant.to_string(), power)
}

/// The pairs as the signing functions take them.
pub fn pairs(p: &[(String, String)]) -> impl Iterator<Item = (&str, &str)> {
    p.iter().map(|(k, v)| (k.as_str(), v.as_str()))
}
