//! The on-disk layout: tree names and key encodings, in one place.
//!
//! Read this file during an incident: every key in the ledger is built here.
//!
//! | tree | key | value |
//! |---|---|---|
//! | `meta` | `schema_version` | JSON `u32` |
//! | `meta` | `write_probe` | u64 BE: when the ledger last proved it writes again |
//! | `payments` | payment id | JSON [`Payment`](crate::domain::Payment) |
//! | `events` | id `00` seq (u64 BE) | JSON [`PaymentEvent`](crate::domain::PaymentEvent) |
//! | `claims` | organization `00` idempotency key | JSON claim (payment id, fingerprint, expiry) |
//! | `idx_token` | gateway token (what notifications carry) `00` id | empty |
//! | `idx_provider_reference` | gateway reference (the gateway's order id) `00` id | empty |
//! | `idx_commerce_order` | our reference at the gateway `00` id | empty |
//! | `idx_entity` | organization `00` entity `00` id | empty |
//! | `idx_created` | created_at (8 bytes) id | empty |
//! | `idx_due` | next_check_at (8 bytes) id | empty |
//! | `spend` | organization `00` UTC day (`yyyy-mm-dd`) `00` currency | JSON `i64`: minor units created that day |
//! | `configs` | organization `00` environment | opaque bytes (encrypted by the caller) |
//! | `confirmations` | monotonic id (u64 BE) | opaque JSON bytes |
//!
//! `00` is a single NUL byte. No string that goes into a key may contain NUL (checked by
//! [`check_part`]), so every separator is unambiguous: a prefix scan for entity `a` is a
//! scan for `org 00 a 00`, which `org 00 ab 00 ...` never matches. Payment ids are UTF-8 and
//! so never contain the byte `FF`, which serves as an upper bound after a time prefix.
//!
//! Times are milliseconds as big-endian `i64` with the sign bit flipped, so byte order is
//! time order for every value, negative ones included.
//!
//! Lookup indexes hold `value 00 id` rather than `value -> id`: two payments may share a
//! reference or a gateway reference (two organizations, or a gateway's test and live accounts
//! numbering orders independently), and an index must never lose one of them.

use crate::domain::Timestamp;
use crate::store::StoreError;

pub const META: &str = "meta";
pub const PAYMENTS: &str = "payments";
pub const EVENTS: &str = "events";
pub const CLAIMS: &str = "claims";
pub const TOKEN_INDEX: &str = "idx_token";
pub const GATEWAY_REF_INDEX: &str = "idx_provider_reference";
pub const REFERENCE_INDEX: &str = "idx_commerce_order";
pub const ENTITY_INDEX: &str = "idx_entity";
pub const CREATED_INDEX: &str = "idx_created";
pub const DUE_INDEX: &str = "idx_due";
pub const CONFIGS: &str = "configs";
pub const SPEND: &str = "spend";
pub const CONFIRMATIONS: &str = "confirmations";
pub const RECORDS: &str = "records";

/// The key in `meta` that holds the schema version.
pub const SCHEMA_VERSION_KEY: &[u8] = b"schema_version";

/// The key in `meta` the ledger writes to prove it can write again after a storage
/// failure (big-endian nanoseconds of the last probe).
pub const WRITE_PROBE_KEY: &[u8] = b"write_probe";

const SEP: u8 = 0;

/// Refuses a key part that contains NUL (or an empty payment id), naming the field.
pub(crate) fn check_part(what: &str, value: &str) -> Result<(), StoreError> {
    if value.as_bytes().contains(&SEP) {
        return Err(StoreError::InvalidInput(format!(
            "{what} must not contain a NUL character"
        )));
    }
    Ok(())
}

/// Parts joined with NUL separators.
pub(crate) fn joined(parts: &[&str]) -> Vec<u8> {
    let len = parts.iter().map(|p| p.len() + 1).sum();
    let mut key = Vec::with_capacity(len);
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            key.push(SEP);
        }
        key.extend_from_slice(part.as_bytes());
    }
    key
}

/// Parts each followed by NUL: the prefix that selects exactly these leading parts.
pub(crate) fn prefix(parts: &[&str]) -> Vec<u8> {
    let mut key = joined(parts);
    key.push(SEP);
    key
}

/// Splits `head 00 tail` at the last NUL: the tail is the payment id of an index key.
pub(crate) fn split_last(key: &[u8]) -> Option<(&[u8], &str)> {
    let at = key.iter().rposition(|b| *b == SEP)?;
    let tail = std::str::from_utf8(&key[at + 1..]).ok()?;
    Some((&key[..at], tail))
}

/// Splits `head 00 tail` at the first NUL, both as text.
pub(crate) fn split_first(key: &[u8]) -> Option<(&str, &str)> {
    let at = key.iter().position(|b| *b == SEP)?;
    let head = std::str::from_utf8(&key[..at]).ok()?;
    let tail = std::str::from_utf8(&key[at + 1..]).ok()?;
    Some((head, tail))
}

/// A time as 8 bytes whose byte order is time order.
pub(crate) fn time_bytes(t: Timestamp) -> [u8; 8] {
    ((t.0 as u64) ^ (1 << 63)).to_be_bytes()
}

fn time_from_bytes(b: [u8; 8]) -> Timestamp {
    Timestamp((u64::from_be_bytes(b) ^ (1 << 63)) as i64)
}

/// `time ++ id`: the key of the created and due indexes.
pub(crate) fn timed(t: Timestamp, id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(8 + id.len());
    key.extend_from_slice(&time_bytes(t));
    key.extend_from_slice(id.as_bytes());
    key
}

/// The inverse of [`timed`].
pub(crate) fn split_timed(key: &[u8]) -> Option<(Timestamp, &str)> {
    let (time, id) = key.split_first_chunk::<8>()?;
    Some((time_from_bytes(*time), std::str::from_utf8(id).ok()?))
}

/// The exclusive upper bound of every `timed` key at or before `t`.
pub(crate) fn timed_upper_bound(t: Timestamp) -> Vec<u8> {
    let mut key = time_bytes(t).to_vec();
    key.push(0xFF);
    key
}

/// `id 00 seq`: an event's key; the events of one payment sort by seq.
pub(crate) fn event_key(id: &str, seq: u64) -> Vec<u8> {
    let mut key = prefix(&[id]);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// The inverse of [`event_key`].
pub(crate) fn split_event_key(key: &[u8]) -> Option<(&str, u64)> {
    let (head, seq) = key.split_last_chunk::<8>()?;
    let (&sep, id) = head.split_last()?;
    if sep != SEP {
        return None;
    }
    Some((std::str::from_utf8(id).ok()?, u64::from_be_bytes(*seq)))
}

/// A key as text for messages: NUL shown as `\0`, other bytes lossily.
pub(crate) fn show(key: &[u8]) -> String {
    String::from_utf8_lossy(key).replace('\0', "\\0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_keys_sort_like_times_including_negative_ones() {
        let times = [i64::MIN, -5, -1, 0, 1, 1_700_000_000_000, i64::MAX];
        for w in times.windows(2) {
            assert!(time_bytes(Timestamp(w[0])) < time_bytes(Timestamp(w[1])));
        }
        let key = timed(Timestamp(-5), "ent_x");
        assert_eq!(split_timed(&key), Some((Timestamp(-5), "ent_x")));
        assert!(key < timed_upper_bound(Timestamp(-5)));
        assert!(timed(Timestamp(-4), "") > timed_upper_bound(Timestamp(-5)));
    }

    #[test]
    fn event_keys_round_trip_and_sort_by_seq() {
        let k = event_key("ent_a", 3);
        assert_eq!(split_event_key(&k), Some(("ent_a", 3)));
        assert!(event_key("ent_a", 2) < event_key("ent_a", 256));
    }

    #[test]
    fn a_prefix_for_one_entity_never_selects_a_longer_one() {
        let key_ab = joined(&["org", "ab", "ent_1"]);
        assert!(!key_ab.starts_with(&prefix(&["org", "a"])));
        assert!(key_ab.starts_with(&prefix(&["org", "ab"])));
        assert_eq!(split_last(&key_ab).map(|(_, id)| id), Some("ent_1"));
        assert!(check_part("entity id", "a\0b").is_err());
    }
}
