//! Flow's server-to-server confirmation: a form POST whose only field is `token`. It is
//! unsigned, so it is only a hint: the truth is a signed `payment/getStatus` by that token.

use crate::gateway::NotificationHint;

/// The longest token accepted (Flow's are 40 characters).
pub const MAX_TOKEN_LEN: usize = 128;

/// Whether `token` looks like a token at all: 1..=128 ASCII letters and digits.
pub fn valid_token(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= MAX_TOKEN_LEN
        && token.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The token of a confirmation body, or why there is none.
pub fn read(body: &[u8]) -> Result<NotificationHint, &'static str> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()
        .and_then(|fields| fields.into_iter().find(|(k, _)| k == "token"))
        .map(|(_, token)| token)
        .filter(|t| valid_token(t))
        .map(|token| NotificationHint { token })
        .ok_or("a form field token of 1 to 128 letters and digits is required")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_letters_and_digits_of_bounded_length() {
        assert!(valid_token("0123456789ABCDEF0123456789ABCDEF0123456H"));
        assert!(!valid_token(""));
        assert!(!valid_token("a b"));
        assert!(!valid_token("a%00"));
        assert!(!valid_token("ñ"));
        assert!(!valid_token(&"A".repeat(129)));
        assert!(valid_token(&"A".repeat(128)));
    }

    #[test]
    fn a_body_gives_its_token_or_a_reason() {
        assert_eq!(read(b"token=ABC123").unwrap().token, "ABC123");
        assert!(read(b"tok=ABC").is_err());
        assert!(read(b"token=a%20b").is_err());
        assert!(read(&[0xff, 0xfe]).is_err());
    }
}
