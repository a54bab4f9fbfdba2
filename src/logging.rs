//! Logs on stderr, with payer e-mails redacted.
//!
//! At `-vv` (debug) and RUST_LOG=trace, rmcp logs every request and response it handles
//! in full, and those carry `customerEmail` and, in `resources/read`, whole payments.
//! paylink cannot change what its dependencies log, so the one writer every log line goes
//! through replaces anything shaped like an e-mail address with its redacted form
//! (`ana@gmail.com` → `a***@gmail.com`, see [`paylink_tools::validate::redact_email`]).
//! paylink's own types also redact in `Debug` ([`crate::domain::Payment`]); this writer is
//! the net under everything else.

use std::borrow::Cow;
use std::io::Write;

use paylink_tools::validate::redact_email;

/// Characters of an unquoted local part (RFC 5322 atext and dots).
fn is_local_char(c: char) -> bool {
    c.is_alphanumeric() || ".!#$%&'*+/=?^_`{|}~-".contains(c)
}

fn is_domain_char(c: char) -> bool {
    c.is_alphanumeric() || c == '.' || c == '-'
}

/// `text` with every e-mail-shaped substring (`local@domain.tld`, quoted local parts
/// included) redacted.
pub fn redact_emails(text: &str) -> Cow<'_, str> {
    if !text.contains('@') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut copied = 0; // bytes of `text` already in `out`
    for (at, _) in text.match_indices('@') {
        if at < copied {
            continue;
        }
        let before = &text[copied..at];
        let start = if let Some(quoted) = before.strip_suffix('"') {
            // A quoted local part, perhaps Debug-escaped (`\"ana maría\"`).
            match quoted.rfind('"') {
                Some(q) if before[..q].ends_with('\\') => copied + q - 1,
                Some(q) => copied + q,
                None => continue,
            }
        } else {
            let run = before
                .char_indices()
                .rev()
                .take_while(|(_, c)| is_local_char(*c))
                .last()
                .map(|(i, _)| i);
            match run {
                Some(i) => copied + i,
                None => continue,
            }
        };
        let after = &text[at + 1..];
        let domain_len = after
            .char_indices()
            .take_while(|(_, c)| is_domain_char(*c))
            .last()
            .map(|(i, c)| i + c.len_utf8())
            .unwrap_or(0);
        let domain = after[..domain_len].trim_end_matches(['.', '-']);
        if !domain.contains('.') || domain.starts_with('.') {
            continue;
        }
        let end = at + 1 + domain.len();
        out.push_str(&text[copied..start]);
        out.push_str(&redact_email(&text[start..end]));
        copied = end;
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// The log writer: stderr, with e-mails redacted. tracing's fmt layer formats each event
/// into one buffer and writes it in one call, so an address is never split across writes.
#[derive(Debug, Clone, Copy, Default)]
pub struct RedactingStderr;

impl Write for RedactingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        std::io::stderr().write_all(redact_emails(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RedactingStderr {
    type Writer = RedactingStderr;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingStderr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_in_log_lines_are_redacted_and_the_rest_kept() {
        let cases = [
            (
                r#"received request "customerEmail": String("zoe.quintana+pay@gmail.com"), x"#,
                r#"received request "customerEmail": String("z***@gmail.com"), x"#,
            ),
            ("to ana@sub.dominio.cl.", "to a***@sub.dominio.cl."),
            (
                r#"{\"customerEmail\":\"o'brien@x.io\",\"b\":\"c@d.cl\"}"#,
                r#"{\"customerEmail\":\"o***@x.io\",\"b\":\"c***@d.cl\"}"#,
            ),
            (
                r#"String("\"ana maría\"@gmail.com")"#,
                r#"String("a***@gmail.com")"#,
            ),
            (
                "no address @ here, user@localhost, @twitter",
                "no address @ here, user@localhost, @twitter",
            ),
            ("", ""),
        ];
        for (raw, want) in cases {
            assert_eq!(redact_emails(raw), want, "{raw}");
        }
    }
}
