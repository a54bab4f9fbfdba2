//! Stripe's wire formats as the sandbox speaks them: bracket-notation forms, ids, and the
//! list object (the error object is in `error.rs`).
//!
//! `serde_urlencoded` decodes a form into flat `(key, value)` pairs; [`parse_form`] folds
//! bracket keys (`line_items[0][price_data][currency]`, `enabled_events[]`) into a tree of
//! ordered maps, and [`Obj`] reads that tree against a schema, answering Stripe's
//! `parameter_unknown`, `parameter_missing`, `parameter_invalid_*` errors with the full
//! bracket path as `param`. Arrays are maps whose keys are indexes (`[]` appends).

use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::{Value, json};

use super::error::ApiError;

/// Most pairs one form may carry (Stripe's own limits are lower: 50 metadata keys, 100
/// line items); bounds the work a request can cause.
pub const MAX_PAIRS: usize = 1000;
/// Most bracket levels in one key.
const MAX_DEPTH: usize = 6;

/// A random id: `prefix` then `len` ASCII letters and digits, like Stripe's.
pub fn new_id(prefix: &str, len: usize) -> String {
    let rng = rand::rng();
    let tail: String = rng
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect();
    format!("{prefix}{tail}")
}

/// A decoded form value: text, or a map of named (or indexed) children in arrival order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Value(String),
    Map(Vec<(String, Node)>),
}

/// Splits `a[b][]` into `["a", "b", ""]`; `None` if the brackets are malformed.
fn split_key(key: &str) -> Option<Vec<&str>> {
    let (base, mut rest) = match key.find('[') {
        Some(i) => (&key[..i], &key[i..]),
        None => (key, ""),
    };
    if base.is_empty() || base.contains(']') {
        return None;
    }
    let mut segments = vec![base];
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[')?;
        let end = inner.find(']')?;
        let segment = &inner[..end];
        if segment.contains('[') {
            return None;
        }
        segments.push(segment);
        rest = &inner[end + 1..];
    }
    (segments.len() <= MAX_DEPTH).then_some(segments)
}

fn insert(
    map: &mut Vec<(String, Node)>,
    segments: &[&str],
    value: String,
    key: &str,
) -> Result<(), ApiError> {
    let Some((first, rest)) = segments.split_first() else {
        return Ok(());
    };
    let name = if first.is_empty() {
        map.len().to_string()
    } else {
        first.to_string()
    };
    let conflict = || ApiError::invalid_uncoded(format!("Invalid array or hash: {key}")).param(key);
    let index = map.iter().position(|(n, _)| *n == name);
    if rest.is_empty() {
        match index.map(|i| &mut map[i].1) {
            // Like Stripe, a repeated scalar keeps the last value.
            Some(Node::Value(v)) => *v = value,
            Some(Node::Map(_)) => return Err(conflict()),
            None => map.push((name, Node::Value(value))),
        }
        return Ok(());
    }
    let index = match index {
        Some(i) => i,
        None => {
            map.push((name, Node::Map(Vec::new())));
            map.len() - 1
        }
    };
    match &mut map[index].1 {
        Node::Map(children) => insert(children, rest, value, key),
        Node::Value(_) => Err(conflict()),
    }
}

/// Folds decoded pairs into a tree. Malformed brackets count as unknown parameters.
pub fn parse_form(pairs: &[(String, String)]) -> Result<Vec<(String, Node)>, ApiError> {
    if pairs.len() > MAX_PAIRS {
        return Err(ApiError::invalid_uncoded(format!(
            "Too many parameters: {} (the sandbox takes at most {MAX_PAIRS})",
            pairs.len()
        )));
    }
    let mut root = Vec::new();
    for (key, value) in pairs {
        let segments = split_key(key).ok_or_else(|| ApiError::unknown(key))?;
        insert(&mut root, &segments, value.clone(), key)?;
    }
    Ok(root)
}

/// A map of the form read against a schema; `path` is its bracket path (empty at the root).
#[derive(Clone, Copy)]
pub struct Obj<'a> {
    path: &'a str,
    entries: &'a [(String, Node)],
}

/// A child object with its owned path (paths are built as the reader descends).
pub struct Child<'a> {
    pub path: String,
    pub entries: &'a [(String, Node)],
}

impl<'a> Child<'a> {
    pub fn obj(&self) -> Obj<'_> {
        Obj {
            path: &self.path,
            entries: self.entries,
        }
    }
}

impl<'a> Obj<'a> {
    pub fn root(entries: &'a [(String, Node)]) -> Self {
        Obj { path: "", entries }
    }

    /// The bracket path of a child: `key` at the root, `path[key]` below.
    pub fn param(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}[{key}]", self.path)
        }
    }

    /// Refuses the first parameter not in `known`.
    pub fn only(&self, known: &[&str]) -> Result<(), ApiError> {
        match self
            .entries
            .iter()
            .find(|(n, _)| !known.contains(&n.as_str()))
        {
            Some((name, _)) => Err(ApiError::unknown(&self.param(name))),
            None => Ok(()),
        }
    }

    fn get(&self, key: &str) -> Option<&'a Node> {
        self.entries.iter().find(|(n, _)| n == key).map(|(_, v)| v)
    }

    /// A text value; empty text is Stripe's "cannot unset" error.
    pub fn string(&self, key: &str) -> Result<Option<&'a str>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Node::Value(v)) if v.is_empty() => Err(ApiError::invalid(
                "parameter_invalid_empty",
                format!(
                    "'{}' is empty, which would unset it, and it cannot be unset.",
                    self.param(key)
                ),
            )
            .param(self.param(key))),
            Some(Node::Value(v)) => Ok(Some(v)),
            Some(Node::Map(_)) => Err(ApiError::invalid_uncoded(format!(
                "Invalid string: {} is a hash, not a string",
                self.param(key)
            ))
            .param(self.param(key))),
        }
    }

    pub fn required_string(&self, key: &str) -> Result<&'a str, ApiError> {
        self.string(key)?
            .ok_or_else(|| ApiError::missing(&self.param(key)))
    }

    /// An integer value (an optional `-` and decimal digits).
    pub fn integer(&self, key: &str) -> Result<Option<i64>, ApiError> {
        let Some(text) = self.string(key)? else {
            return Ok(None);
        };
        let digits = text.strip_prefix('-').unwrap_or(text);
        let parsed = if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            text.parse::<i64>().ok()
        } else {
            None
        };
        parsed.map(Some).ok_or_else(|| {
            ApiError::invalid(
                "parameter_invalid_integer",
                format!("Invalid integer: {text}"),
            )
            .param(self.param(key))
        })
    }

    pub fn required_integer(&self, key: &str) -> Result<i64, ApiError> {
        self.integer(key)?
            .ok_or_else(|| ApiError::missing(&self.param(key)))
    }

    /// A hash value.
    pub fn object(&self, key: &str) -> Result<Option<Child<'a>>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Node::Map(entries)) => Ok(Some(Child {
                path: self.param(key),
                entries,
            })),
            Some(Node::Value(_)) => Err(ApiError::invalid_uncoded(format!(
                "Invalid object: {} must be a hash",
                self.param(key)
            ))
            .param(self.param(key))),
        }
    }

    /// An array: a hash whose keys are indexes, returned in index order.
    pub fn array(&self, key: &str) -> Result<Option<Vec<(String, &'a Node)>>, ApiError> {
        let Some(child) = self.object(key)? else {
            return Ok(None);
        };
        let mut items = Vec::with_capacity(child.entries.len());
        for (index, node) in child.entries {
            let i: usize = index.parse().map_err(|_| {
                ApiError::invalid_uncoded(format!(
                    "Invalid array: {} must be an array",
                    self.param(key)
                ))
                .param(self.param(key))
            })?;
            items.push((i, format!("{}[{index}]", child.path), node));
        }
        items.sort_by_key(|(i, _, _)| *i);
        Ok(Some(items.into_iter().map(|(_, p, n)| (p, n)).collect()))
    }

    /// An array of strings (`enabled_events[]=a&enabled_events[]=b`).
    pub fn string_array(&self, key: &str) -> Result<Option<Vec<&'a str>>, ApiError> {
        let Some(items) = self.array(key)? else {
            return Ok(None);
        };
        items
            .into_iter()
            .map(|(path, node)| match node {
                Node::Value(v) => Ok(v.as_str()),
                Node::Map(_) => {
                    Err(ApiError::invalid_uncoded(format!("Invalid string: {path}")).param(path))
                }
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// A hash of strings such as `metadata`: the pairs in arrival order. An empty value
    /// unsets a key, so on create it is left out.
    pub fn string_map(&self, key: &str) -> Result<Vec<(&'a str, &'a str)>, ApiError> {
        let Some(child) = self.object(key)? else {
            return Ok(Vec::new());
        };
        let mut pairs = Vec::new();
        for (name, node) in child.entries {
            match node {
                Node::Value(v) if v.is_empty() => {}
                Node::Value(v) => pairs.push((name.as_str(), v.as_str())),
                Node::Map(_) => {
                    let param = format!("{}[{name}]", child.path);
                    return Err(ApiError::invalid_uncoded(format!(
                        "Invalid value for {param}: metadata values must be strings"
                    ))
                    .param(param));
                }
            }
        }
        Ok(pairs)
    }
}

/// Stripe's list object; `data` newest first.
pub fn list_json(data: Vec<Value>, has_more: bool, url: &str) -> Value {
    json!({"object": "list", "data": data, "has_more": has_more, "url": url})
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn bracket_keys_fold_into_nested_maps_in_order() {
        let form = parse_form(&pairs(&[
            ("line_items[0][price_data][currency]", "usd"),
            ("line_items[0][quantity]", "1"),
            ("enabled_events[]", "a"),
            ("enabled_events[]", "b"),
            ("mode", "payment"),
        ]))
        .unwrap();
        let root = Obj::root(&form);
        let items = root.array("line_items").unwrap().unwrap();
        assert_eq!(items[0].0, "line_items[0]");
        assert_eq!(
            root.string_array("enabled_events").unwrap().unwrap(),
            ["a", "b"]
        );
        assert_eq!(root.string("mode").unwrap(), Some("payment"));
        let Node::Map(item) = items[0].1 else {
            panic!("an object")
        };
        let item = Child {
            path: items[0].0.clone(),
            entries: item,
        };
        let price = item.obj().object("price_data").unwrap().unwrap();
        assert_eq!(price.path, "line_items[0][price_data]");
        assert_eq!(price.obj().string("currency").unwrap(), Some("usd"));
        let err = price.obj().only(&["unit_amount"]).unwrap_err();
        assert_eq!(
            (err.code, err.param.as_deref()),
            (
                Some("parameter_unknown"),
                Some("line_items[0][price_data][currency]")
            )
        );
    }

    #[test]
    fn malformed_brackets_and_conflicts_are_errors_not_panics() {
        for key in [
            "a[b",
            "a]b",
            "[a]",
            "a[b]c",
            "a[[b]]",
            "a[b][c][d][e][f][g]",
            "",
        ] {
            let err = parse_form(&pairs(&[(key, "1")])).unwrap_err();
            assert_eq!(err.code, Some("parameter_unknown"), "{key:?}");
        }
        let err = parse_form(&pairs(&[("a", "1"), ("a[b]", "2")])).unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        let err = parse_form(&pairs(&[("a[b]", "1"), ("a", "2")])).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("a"));
    }

    #[test]
    fn integers_empty_strings_and_errors_carry_stripes_codes() {
        let form = parse_form(&pairs(&[("n", "12x"), ("e", ""), ("m", "-5")])).unwrap();
        let root = Obj::root(&form);
        assert_eq!(
            root.integer("n").unwrap_err().code,
            Some("parameter_invalid_integer")
        );
        assert_eq!(
            root.string("e").unwrap_err().code,
            Some("parameter_invalid_empty")
        );
        assert_eq!(root.integer("m").unwrap(), Some(-5));
        assert_eq!(
            root.required_string("x").unwrap_err().code,
            Some("parameter_missing")
        );
    }

    #[test]
    fn ids_have_the_prefix_and_length() {
        let id = new_id("cs_test_", 58);
        assert!(id.starts_with("cs_test_") && id.len() == 66);
        assert!(id[8..].bytes().all(|b| b.is_ascii_alphanumeric()));
    }
}
