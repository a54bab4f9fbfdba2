//! Tool arguments that name a key twice are refused, not silently read as the last value.
//!
//! `{"amount":5000,"amount":777777}` is valid JSON to most parsers, which keep the last
//! value; a model or a proxy that produced it did not mean 777777. The duplicate is gone by
//! the time rmcp hands the arguments over, so each transport looks at the raw message:
//! [`mark`] finds a `tools/call` whose message repeats a key and replaces its arguments
//! with `{"$duplicateKeys": [...]}`, which the tool layer answers with `invalid_arguments`
//! naming the keys. Over HTTP the `/mcp` guard applies it to the (already buffered) body;
//! over stdio [`MarkDuplicates`] applies it line by line.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use tokio::io::{AsyncRead, ReadBuf};

/// The argument key under which the repeated keys reach the tool layer.
pub const MARKER: &str = "$duplicateKeys";

/// The keys that appear twice in one object anywhere in `json`; `None` if it does not
/// parse (the transport reports that itself).
pub fn duplicate_keys(json: &[u8]) -> Option<Vec<String>> {
    let found = RefCell::new(Vec::new());
    let mut de = serde_json::Deserializer::from_slice(json);
    Walk(&found).deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(found.into_inner())
}

/// A `tools/call` message with repeated keys, rewritten so the tool layer refuses it;
/// `None` for every other message (which then goes on byte for byte).
pub fn mark(message: &[u8]) -> Option<Vec<u8>> {
    if !contains(message, b"tools/call") {
        return None;
    }
    let dups = duplicate_keys(message)?;
    if dups.is_empty() {
        return None;
    }
    let mut value: serde_json::Value = serde_json::from_slice(message).ok()?;
    if value.get("method")?.as_str()? != "tools/call" {
        return None;
    }
    let params = value.get_mut("params")?.as_object_mut()?;
    params.insert("arguments".into(), serde_json::json!({ MARKER: dups }));
    serde_json::to_vec(&value).ok()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Walks a JSON document, noting keys repeated within one object.
struct Walk<'a>(&'a RefCell<Vec<String>>);

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        // Keys borrow from the message when they hold no escapes; objects are small, so a
        // linear look beats hashing.
        let mut seen: Vec<Cow<'de, str>> = Vec::new();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            if seen.contains(&key) {
                let mut found = self.0.borrow_mut();
                if !found.iter().any(|f| f == key.as_ref()) {
                    found.push(key.to_string());
                }
            } else {
                seen.push(key);
            }
            map.next_value_seed(Walk(self.0))?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Walk(self.0))?.is_some() {}
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

/// An object key, borrowed from the input when it can be.
struct Key<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// A newline-delimited JSON-RPC reader that passes every line through [`mark`].
pub struct MarkDuplicates<R> {
    inner: R,
    /// Bytes of a line not yet complete.
    partial: Vec<u8>,
    /// Complete lines ready for the reader, from `pos`.
    ready: Vec<u8>,
    pos: usize,
}

impl<R> MarkDuplicates<R> {
    pub fn new(inner: R) -> Self {
        MarkDuplicates {
            inner,
            partial: Vec::new(),
            ready: Vec::new(),
            pos: 0,
        }
    }

    /// Moves every complete line from `partial` to `ready`, marked where needed.
    fn take_lines(&mut self) {
        let mut start = 0;
        while let Some(offset) = self.partial[start..].iter().position(|b| *b == b'\n') {
            let end = start + offset;
            match mark(&self.partial[start..end]) {
                Some(marked) => {
                    self.ready.extend_from_slice(&marked);
                    self.ready.push(b'\n');
                }
                None => self.ready.extend_from_slice(&self.partial[start..=end]),
            }
            start = end + 1;
        }
        self.partial.drain(..start);
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for MarkDuplicates<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.pos < this.ready.len() {
                let n = (this.ready.len() - this.pos).min(buf.remaining());
                buf.put_slice(&this.ready[this.pos..this.pos + n]);
                this.pos += n;
                if this.pos == this.ready.len() {
                    this.ready.clear();
                    this.pos = 0;
                }
                return Poll::Ready(Ok(()));
            }
            let mut chunk = [0u8; 16 * 1024];
            let mut read = ReadBuf::new(&mut chunk);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut read))?;
            if read.filled().is_empty() {
                // End of input: whatever is left goes as it is.
                if this.partial.is_empty() {
                    return Poll::Ready(Ok(()));
                }
                this.ready.append(&mut this.partial);
                continue;
            }
            this.partial.extend_from_slice(read.filled());
            this.take_lines();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[test]
    fn repeated_keys_are_found_at_any_depth() {
        assert_eq!(
            duplicate_keys(br#"{"a":1,"b":{"c":1,"c":2},"a":3}"#).unwrap(),
            ["c", "a"]
        );
        assert!(
            duplicate_keys(br#"{"a":[{"b":1},{"b":2}]}"#)
                .unwrap()
                .is_empty()
        );
        assert!(duplicate_keys(b"{not json").is_none());
    }

    #[test]
    fn only_a_tools_call_with_repeats_is_rewritten() {
        let call = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"payment.create","arguments":{"amount":5000,"amount":777777}}}"#;
        let marked: serde_json::Value = serde_json::from_slice(&mark(call).unwrap()).unwrap();
        assert_eq!(marked["params"]["arguments"][MARKER][0], "amount");
        assert_eq!(marked["params"]["name"], "payment.create");
        assert_eq!(marked["id"], 1);
        let fine = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"amount":5000}}}"#;
        assert!(mark(fine).is_none());
        assert!(mark(br#"{"jsonrpc":"2.0","id":1,"method":"ping","a":1,"a":2}"#).is_none());
    }

    #[tokio::test]
    async fn the_stdio_reader_marks_lines_and_passes_the_rest_unchanged() {
        let input = b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"n\",\"arguments\":{\"k\":1,\"k\":2}}}\n{\"partial\"";
        let mut r = MarkDuplicates::new(&input[..]);
        let mut out = String::new();
        r.read_to_string(&mut out).await.unwrap();
        let lines: Vec<&str> = out.split('\n').collect();
        assert_eq!(
            lines[0],
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}"
        );
        assert!(lines[1].contains(MARKER), "{}", lines[1]);
        assert_eq!(lines[2], "{\"partial\"");
    }
}
