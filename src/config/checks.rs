//! The checks of single values, shared by the rows of the settings table. Each returns the
//! problem without the setting's name (the table adds it) and never repeats a secret.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::fields::Raw;
use super::{HttpTokens, MIN_HTTP_TOKEN_CHARS};

pub(super) fn url(text: &str) -> Result<String, String> {
    let u = text.trim().trim_end_matches('/');
    let parsed = reqwest::Url::parse(u).map_err(|_| {
        format!("{text:?} is not a URL; give one that starts with https:// (or http://)")
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("{text:?} must start with https:// or http://"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("{text:?} has no host"));
    }
    Ok(u.to_string())
}

pub(super) fn non_empty_path(v: Raw) -> Result<PathBuf, String> {
    let t = v.text()?;
    if t.trim().is_empty() {
        return Err("is empty; give a directory or file path".into());
    }
    Ok(PathBuf::from(t))
}

pub(super) fn organization(t: &str) -> Result<String, String> {
    let o = t.trim();
    if o.is_empty() {
        return Err("is empty; give an organization name such as acme".into());
    }
    if o.chars().any(|c| c.is_control() || c == ',' || c == '=') {
        return Err(format!(
            "{o:?} holds a control character, a comma or '='; give a plain name such as acme"
        ));
    }
    Ok(o.to_string())
}

pub(super) fn at_least_one_sec(v: Raw) -> Result<Duration, String> {
    match v.whole("a whole number of seconds")? {
        0 => Err("0 s is too short; give 1 or more seconds".into()),
        s => Ok(Duration::from_secs(s)),
    }
}

pub(super) fn count(v: Raw) -> Result<usize, String> {
    let n = v.whole("a whole number")?;
    if (1..=1_000_000).contains(&n) {
        Ok(n as usize)
    } else {
        Err(format!("{n} is out of range; give 1 to 1000000"))
    }
}

pub(super) fn timeout(v: Raw) -> Result<Duration, String> {
    let secs = v.whole("a whole number of seconds")?;
    if (1..=3600).contains(&secs) {
        Ok(Duration::from_secs(secs))
    } else {
        Err(format!("{secs} s is out of range; give 1 to 3600 seconds"))
    }
}

/// A bearer token: at least `min` characters, no spaces or control characters. The
/// message never repeats the token.
pub(super) fn bearer_token(v: &str, min: usize) -> Result<SecretString, String> {
    let t = v.trim();
    if t.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("contains spaces or control characters; use a random token such as the output of `openssl rand -hex 32`".into());
    }
    if t.chars().count() < min {
        return Err(format!(
            "is shorter than {min} characters; use a random token such as the output of `openssl rand -hex 32`"
        ));
    }
    Ok(SecretString::from(t.to_string()))
}

/// `token=organization,token2=organization2`. Entries are named by position, never by
/// their token.
pub(super) fn http_tokens(raw: &str) -> Result<HttpTokens, String> {
    let mut tokens = Vec::new();
    let mut seen = HashSet::new();
    for (i, pair) in raw
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .enumerate()
    {
        let n = i + 1;
        let (token, org) = pair.split_once('=').ok_or_else(|| {
            format!("entry {n} is not token=organization (entries are comma-separated)")
        })?;
        let token = bearer_token(token, MIN_HTTP_TOKEN_CHARS)
            .map_err(|problem| format!("the token of entry {n} {problem}"))?;
        let org = organization(org)
            .map_err(|problem| format!("the organization of entry {n} {problem}"))?;
        if !seen.insert(token.expose_secret().to_string()) {
            return Err(format!(
                "entry {n} repeats an earlier token; give each organization its own token"
            ));
        }
        tokens.push((token, org));
    }
    if tokens.is_empty() {
        return Err("is set but holds no token=organization entry; unset it or give one".into());
    }
    Ok(HttpTokens(tokens))
}

/// Host names for `http_allowed_hosts`: a name or `name:port`, no scheme or path.
pub(super) fn hosts(hosts: Vec<String>) -> Result<Vec<String>, String> {
    hosts
        .into_iter()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .map(|h| {
            if h.contains(['/', ' ', '@']) {
                Err(format!(
                    "{h:?} is not a host name; give names like pay.example.com or pay.example.com:443"
                ))
            } else {
                Ok(h)
            }
        })
        .collect()
}

/// Origins for `http_allowed_origins`: `scheme://host[:port]`, or `null`.
pub(super) fn origins(origins: Vec<String>) -> Result<Vec<String>, String> {
    origins
        .into_iter()
        .map(|o| o.trim().trim_end_matches('/').to_string())
        .filter(|o| !o.is_empty())
        .map(|o| {
            let ok = o == "null"
                || ((o.starts_with("https://") || o.starts_with("http://"))
                    && !o
                        .split_once("://")
                        .is_some_and(|(_, rest)| rest.is_empty() || rest.contains('/')));
            if ok {
                Ok(o)
            } else {
                Err(format!(
                    "{o:?} is not an origin; give scheme://host[:port], e.g. https://app.example.com"
                ))
            }
        })
        .collect()
}
