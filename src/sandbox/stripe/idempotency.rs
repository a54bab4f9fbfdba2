//! Idempotency keys as claim, act, record: a POST with `Idempotency-Key` claims the key
//! (per API key) with a fingerprint of its method, path and parameters; the answer is then
//! kept for replay, or the claim released when nothing is to be kept (a request that
//! failed validation, as Stripe documents).
//!
//! The fingerprint orders parameters by name but keeps the order of repeated names, so
//! `enabled_events[]=a&enabled_events[]=b` differs from the reverse while a client that
//! sends the same parameters in another order is still recognised.

use axum::http::Method;

use super::state::{Idem, State};

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key was free and is now held by this request.
    Claimed,
    /// The key holds this answer for the same parameters.
    Replay { status: u16, body: Vec<u8> },
    /// The key was first used with other parameters (or another endpoint).
    Mismatch,
    /// Another request with the key and the same parameters is still running.
    InFlight,
}

/// What makes two requests "the same request" for an idempotency key.
pub fn fingerprint(method: &Method, path: &str, pairs: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = pairs.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let params = serde_urlencoded::to_string(sorted).unwrap_or_default();
    format!("{method} {path}?{params}")
}

impl State {
    pub fn claim(&mut self, api_key: &str, key: &str, print: String) -> Claim {
        let slot = (api_key.to_string(), key.to_string());
        match self.idempotency.get(&slot) {
            None => {
                self.idempotency
                    .insert(slot, Idem::InFlight { fingerprint: print });
                Claim::Claimed
            }
            Some(Idem::InFlight { fingerprint }) if *fingerprint == print => Claim::InFlight,
            Some(Idem::Done {
                fingerprint,
                status,
                body,
            }) if *fingerprint == print => Claim::Replay {
                status: *status,
                body: body.clone(),
            },
            Some(_) => Claim::Mismatch,
        }
    }

    /// Keeps the answer for the key, or (with `None`) releases the claim.
    pub fn finish(&mut self, api_key: &str, key: &str, kept: Option<(u16, Vec<u8>)>) {
        let slot = (api_key.to_string(), key.to_string());
        let Some(Idem::InFlight { fingerprint }) = self.idempotency.remove(&slot) else {
            return;
        };
        if let Some((status, body)) = kept {
            self.idempotency.insert(
                slot,
                Idem::Done {
                    fingerprint,
                    status,
                    body,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn claim_replay_mismatch_in_flight_and_release() {
        let mut state = State::default();
        let print = |p: &[(&str, &str)]| fingerprint(&Method::POST, "/v1/x", &pairs(p));
        let a = print(&[("a", "1"), ("b", "2")]);
        assert_eq!(a, print(&[("b", "2"), ("a", "1")]));
        assert_ne!(
            print(&[("e[]", "1"), ("e[]", "2")]),
            print(&[("e[]", "2"), ("e[]", "1")])
        );
        assert_eq!(state.claim("sk", "k", a.clone()), Claim::Claimed);
        assert_eq!(state.claim("sk", "k", a.clone()), Claim::InFlight);
        assert_eq!(state.claim("sk", "k", print(&[])), Claim::Mismatch);
        assert_eq!(state.claim("rk", "k", a.clone()), Claim::Claimed);
        state.finish("sk", "k", Some((200, b"{}".to_vec())));
        assert_eq!(
            state.claim("sk", "k", a.clone()),
            Claim::Replay {
                status: 200,
                body: b"{}".to_vec()
            }
        );
        state.finish("rk", "k", None);
        assert_eq!(state.claim("rk", "k", print(&[])), Claim::Claimed);
    }
}
