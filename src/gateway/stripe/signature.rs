//! Stripe's webhook signature: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]`.
//!
//! `v1` is the lowercase hex HMAC-SHA256 of the exact bytes `"{t}." + body`, keyed with
//! the endpoint's signing secret (`whsec_…`, the whole text). The header may carry several
//! `v1` (Stripe signs with every secret of an endpoint while one rotates) and other
//! schemes (`v0`, test signatures), which are ignored. A signature counts when any `v1`
//! matches any configured secret (compared in constant time by `verify_slice`) and `t` is
//! within [`TOLERANCE_SECS`] of now, in either direction. The body is checked as
//! received, never re-serialized.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use crate::gateway::NotificationError;

type HmacSha256 = Hmac<Sha256>;

/// The header Stripe signs events in.
pub const HEADER: &str = "stripe-signature";
/// How far `t` may be from now, either way (Stripe's libraries' default).
pub const TOLERANCE_SECS: i64 = 300;
/// The one scheme paylink checks.
pub const SCHEME: &str = "v1";

fn mac(secret: &[u8], t: &str, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `v1` signature of `body` sent at `t` (for tests and paylink's own Stripe emulator).
pub fn sign(secret: &[u8], t: i64, body: &[u8]) -> String {
    hex::encode(mac(secret, &t.to_string(), body).finalize().into_bytes())
}

/// A whole `Stripe-Signature` header value for `body`, signed with each of `secrets`.
pub fn header_value(secrets: &[&[u8]], t: i64, body: &[u8]) -> String {
    let mut v = format!("t={t}");
    for s in secrets {
        v.push_str(",v1=");
        v.push_str(&sign(s, t, body));
    }
    v
}

/// Checks a `Stripe-Signature` header value against `body` and the endpoint's secrets.
pub fn verify(
    header: &str,
    body: &[u8],
    secrets: &[SecretString],
    now_unix: i64,
) -> Result<(), NotificationError> {
    if secrets.is_empty() {
        return Err(NotificationError::NotConfigured);
    }
    let mut t: Option<&str> = None;
    let mut signatures: Vec<Vec<u8>> = Vec::new();
    for item in header.split(',') {
        let Some((name, value)) = item.trim().split_once('=') else {
            continue;
        };
        match name {
            // Two timestamps make it unclear what was signed.
            "t" if t.replace(value).is_some() => return Err(NotificationError::BadSignature),
            "t" => {}
            SCHEME => {
                // A SHA-256 MAC is 32 bytes; anything else cannot match.
                if let Ok(bytes) = hex::decode(value)
                    && bytes.len() == 32
                {
                    signatures.push(bytes);
                }
            }
            _ => {}
        }
    }
    let t = t.ok_or(NotificationError::BadSignature)?;
    if t.is_empty() || t.len() > 12 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(NotificationError::BadSignature);
    }
    let sent: i64 = t.parse().map_err(|_| NotificationError::BadSignature)?;
    if (now_unix - sent).abs() > TOLERANCE_SECS {
        return Err(NotificationError::BadSignature);
    }
    for secret in secrets {
        let expected = mac(secret.expose_secret().as_bytes(), t, body);
        for sig in &signatures {
            if expected.clone().verify_slice(sig).is_ok() {
                return Ok(());
            }
        }
    }
    Err(NotificationError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;
    const BODY: &[u8] = br#"{"id":"evt_1","type":"checkout.session.completed"}"#;

    fn secrets(list: &[&str]) -> Vec<SecretString> {
        list.iter()
            .map(|s| SecretString::from(s.to_string()))
            .collect()
    }

    #[test]
    fn the_signature_is_hmac_sha256_over_t_dot_body_in_lowercase_hex() {
        let mut m = HmacSha256::new_from_slice(b"whsec_test").unwrap();
        m.update(b"1700000000.");
        m.update(BODY);
        let want = hex::encode(m.finalize().into_bytes());
        assert_eq!(sign(b"whsec_test", NOW, BODY), want);
        assert!(want.bytes().all(|b| !b.is_ascii_uppercase()));
    }

    #[test]
    fn headers_are_checked_against_every_secret_and_every_v1() {
        let s = secrets(&["whsec_old", "whsec_new"]);
        let old = sign(b"whsec_old", NOW, BODY);
        let new = sign(b"whsec_new", NOW, BODY);
        let other = sign(b"whsec_other", NOW, BODY);
        let ok = |h: &str| verify(h, BODY, &s, NOW);
        let table: Vec<(String, bool)> = vec![
            (format!("t={NOW},v1={old}"), true),
            (format!("t={NOW},v1={new}"), true),
            (format!("t={NOW},v1={other},v1={new}"), true),
            (format!("v1={new},t={NOW}"), true),
            (format!("t={NOW}, v1={new}, v0={other}"), true),
            (format!("t={NOW},v1={other}"), false),
            (format!("t={NOW},v0={new}"), false),
            (format!("t={NOW}"), false),
            (format!("v1={new}"), false),
            (format!("t={NOW},v1={}", new.to_uppercase()), true),
            (format!("t={NOW},v1={}", &new[..62]), false),
            (format!("t={NOW},t={NOW},v1={new}"), false),
            (format!("t=+{NOW},v1={new}"), false),
            (format!("t={},v1={new}", NOW + 1), false),
            (String::new(), false),
            ("garbage".into(), false),
        ];
        for (header, want) in table {
            assert_eq!(ok(&header).is_ok(), want, "{header}");
        }
    }

    #[test]
    fn the_timestamp_must_be_within_five_minutes_either_way() {
        let s = secrets(&["whsec_k"]);
        for (sent, want) in [
            (NOW, true),
            (NOW - 300, true),
            (NOW + 300, true),
            (NOW - 301, false),
            (NOW + 301, false),
            (0, false),
        ] {
            let h = header_value(&[b"whsec_k"], sent, BODY);
            assert_eq!(verify(&h, BODY, &s, NOW).is_ok(), want, "t={sent}");
        }
    }

    #[test]
    fn a_changed_body_fails_and_no_secret_is_not_configured() {
        let s = secrets(&["whsec_k"]);
        let h = header_value(&[b"whsec_k"], NOW, BODY);
        let mut changed = BODY.to_vec();
        changed.push(b' ');
        assert_eq!(
            verify(&h, &changed, &s, NOW),
            Err(NotificationError::BadSignature)
        );
        assert_eq!(
            verify(&h, BODY, &[], NOW),
            Err(NotificationError::NotConfigured)
        );
    }
}
