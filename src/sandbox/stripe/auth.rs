//! API keys as Stripe reads them: `Authorization: Bearer <key>` or HTTP Basic with the key
//! as user name. Only keys in the sandbox's configuration pass; live keys
//! (`sk_live_`, `rk_live_`) are refused (401 `livemode_mismatch`), publishable keys too
//! (401 `secret_key_required`). Errors and logs show keys masked, as Stripe does.

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::error::{ApiError, ErrorType};
use super::{StripeSandbox, is_live_key};

/// The API key in `Authorization: Bearer <key>` or `Basic base64(<key>:)`.
pub fn api_key(authorization: Option<&str>) -> Option<String> {
    let value = authorization?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    let key = if scheme.eq_ignore_ascii_case("bearer") {
        rest.trim().to_string()
    } else if scheme.eq_ignore_ascii_case("basic") {
        let decoded = BASE64.decode(rest.trim()).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        text.split(':').next().unwrap_or("").to_string()
    } else {
        return None;
    };
    (!key.is_empty()).then_some(key)
}

/// A key as Stripe shows it in errors: its prefix, stars, its last four characters.
pub fn mask(key: &str) -> String {
    let prefixes = [
        "sk_test_", "sk_live_", "rk_test_", "rk_live_", "pk_test_", "pk_live_",
    ];
    let prefix = prefixes.iter().find(|p| key.starts_with(*p)).unwrap_or(&"");
    let chars: Vec<char> = key.chars().collect();
    let tail: String = if chars.len() >= prefix.len() + 8 {
        chars[chars.len() - 4..].iter().collect()
    } else {
        String::new()
    };
    format!("{prefix}****{tail}")
}

/// The configured key the request carries, or Stripe's 401.
pub fn authenticate(sb: &StripeSandbox, authorization: Option<&str>) -> Result<String, ApiError> {
    let unauthorized = |code, message: String| {
        ApiError::new(StatusCode::UNAUTHORIZED, ErrorType::InvalidRequest, code).message(message)
    };
    let Some(key) = api_key(authorization) else {
        return Err(unauthorized(
            None,
            "No API key: send one as 'Authorization: Bearer <secret key>'.".into(),
        ));
    };
    if is_live_key(&key) {
        return Err(unauthorized(
            Some("livemode_mismatch"),
            format!(
                "The offline sandbox takes test keys only; {} is a live key.",
                mask(&key)
            ),
        ));
    }
    if key.starts_with("pk_") {
        return Err(unauthorized(
            Some("secret_key_required"),
            "Publishable keys cannot call this endpoint; use a secret or restricted key.".into(),
        ));
    }
    if !sb.inner.api_keys.contains(&key) {
        return Err(unauthorized(
            None,
            format!("Invalid API Key provided: {}", mask(&key)),
        ));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_read_from_bearer_and_basic_and_masked() {
        assert_eq!(
            api_key(Some("Bearer sk_test_abc")).as_deref(),
            Some("sk_test_abc")
        );
        let basic = format!("Basic {}", BASE64.encode("sk_test_abc:"));
        assert_eq!(api_key(Some(&basic)).as_deref(), Some("sk_test_abc"));
        for bad in ["", "Bearer", "Bearer ", "Token x", "Basic %%%"] {
            assert_eq!(api_key(Some(bad)), None, "{bad:?}");
        }
        assert_eq!(mask("sk_test_paylink_sandbox"), "sk_test_****dbox");
        assert_eq!(mask("sk_live_1"), "sk_live_****");
        assert_eq!(mask("ñññññññññññ"), "****ññññ");
    }
}
