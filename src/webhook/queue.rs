//! The bounded confirmation queue between the HTTP handler and the verification workers.
//!
//! Invariants:
//! - The handler never waits: [`Queue::offer`] either queues the token, folds it into the
//!   one already queued or in flight (coalescing), or reports the queue full. The gateway gets
//!   its 200 at once in every case; a dropped confirmation is caught by the reconciler.
//! - A token is tracked from the moment it is queued until its worker is done with it, so
//!   at most one verification per token runs at a time. A duplicate that arrives while its
//!   token is being verified asks for one more verification afterwards (the first may have
//!   read the gateway just before the order changed); any number of such duplicates ask
//!   for just one.
//! - The tracking lock is a `std::sync::Mutex` held only for map updates, never across an
//!   `.await`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::verify::Verifier;
use crate::domain::Environment;
use crate::gateway::{GatewayKind, Notification};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Track {
    Queued,
    InFlight { again: bool },
}

/// What became of an offered token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offer {
    Queued,
    Coalesced,
    Full,
}

/// One confirmation waiting for verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Confirmation {
    /// An unsigned token (Flow's): verified by a signed read of that token.
    Token(String),
    /// A signed event of one account (Stripe's): verified by a signed read of the payment
    /// it names, in that account.
    Event {
        organization: String,
        environment: Environment,
        kind: GatewayKind,
        notification: Notification,
    },
}

impl Confirmation {
    /// What folds duplicates together: the token, or the payment an event is about.
    pub fn key(&self) -> String {
        match self {
            Confirmation::Token(t) => t.clone(),
            Confirmation::Event {
                organization,
                environment,
                kind,
                notification,
            } => format!(
                "{}\u{0}{organization}\u{0}{}\u{0}{}",
                kind.as_str(),
                environment.as_str(),
                notification
                    .payment_id
                    .as_deref()
                    .or(notification.token.as_deref())
                    .unwrap_or_default()
            ),
        }
    }

    /// What the confirmation log records it by: the token, else the event id.
    pub fn label(&self) -> &str {
        match self {
            Confirmation::Token(t) => t,
            Confirmation::Event { notification, .. } => notification
                .token
                .as_deref()
                .or(notification.event_id.as_deref())
                .or(notification.payment_id.as_deref())
                .unwrap_or_default(),
        }
    }
}

pub(crate) struct Queue {
    tx: mpsc::Sender<Confirmation>,
    tracked: Mutex<HashMap<String, Track>>,
}

impl Queue {
    /// A queue of `capacity` tokens and its receiving end.
    pub fn new(capacity: usize) -> (Queue, mpsc::Receiver<Confirmation>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (
            Queue {
                tx,
                tracked: Mutex::new(HashMap::new()),
            },
            rx,
        )
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Track>> {
        self.tracked.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `token` unless it is already queued or in flight. Never waits.
    pub fn offer(&self, item: Confirmation) -> Offer {
        let key = item.key();
        let mut tracked = self.lock();
        match tracked.get_mut(&key) {
            Some(Track::Queued) => return Offer::Coalesced,
            Some(Track::InFlight { again }) => {
                *again = true;
                return Offer::Coalesced;
            }
            None => {}
        }
        // Under the lock, so a worker cannot start on the token before it is tracked.
        match self.tx.try_send(item) {
            Ok(()) => {
                tracked.insert(key, Track::Queued);
                Offer::Queued
            }
            Err(_) => Offer::Full,
        }
    }

    fn start(&self, token: &str) {
        self.lock()
            .insert(token.to_string(), Track::InFlight { again: false });
    }

    /// Whether the token must be verified once more; if not, it is no longer tracked.
    fn finish(&self, token: &str) -> bool {
        let mut tracked = self.lock();
        match tracked.get_mut(token) {
            Some(Track::InFlight { again }) if *again => {
                *again = false;
                true
            }
            _ => {
                tracked.remove(token);
                false
            }
        }
    }

    /// Tokens queued or being verified.
    pub fn pending(&self) -> usize {
        self.lock().len()
    }
}

/// Spawns `n` workers that verify queued tokens until `shutdown` is cancelled. A token
/// being verified when shutdown comes is abandoned; the reconciler covers it.
pub(crate) fn spawn_workers(
    n: usize,
    queue: Arc<Queue>,
    rx: mpsc::Receiver<Confirmation>,
    verifier: Arc<Verifier>,
    shutdown: CancellationToken,
) {
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    for _ in 0..n.max(1) {
        let (queue, rx, verifier, shutdown) = (
            queue.clone(),
            rx.clone(),
            verifier.clone(),
            shutdown.clone(),
        );
        tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    next = async { rx.lock().await.recv().await } => next,
                };
                let Some(item) = next else { return };
                let token = item.key();
                queue.start(&token);
                loop {
                    let started = Instant::now();
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = verifier.handle(&item) => {}
                    }
                    tracing::debug!(
                        ms = started.elapsed().as_millis() as u64,
                        "confirmation verified"
                    );
                    if !queue.finish(&token) {
                        break;
                    }
                }
            }
        });
    }
}

/// A token bucket: `rate` takes per second, bursts up to `rate` (at least 1).
pub(crate) struct TokenBucket {
    rate: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    pub fn new(per_second: u32) -> TokenBucket {
        let rate = f64::from(per_second);
        let burst = rate.max(1.0);
        TokenBucket {
            rate,
            burst,
            state: Mutex::new((if rate > 0.0 { burst } else { 0.0 }, Instant::now())),
        }
    }

    /// Takes one token if there is one.
    pub fn try_take(&self) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let refill = now.duration_since(s.1).as_secs_f64() * self.rate;
        s.0 = (s.0 + refill).min(self.burst);
        s.1 = now;
        if s.0 >= 1.0 {
            s.0 -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(t: &str) -> Confirmation {
        Confirmation::Token(t.to_string())
    }

    fn event(id: &str, payment: &str) -> Confirmation {
        Confirmation::Event {
            organization: "acme".into(),
            environment: Environment::Development,
            kind: GatewayKind::Flow,
            notification: Notification {
                event_id: Some(id.into()),
                kind: "checkout.session.completed".into(),
                token: None,
                payment_id: Some(payment.into()),
                refund_ref: None,
                refund_id: None,
            },
        }
    }

    #[test]
    fn a_token_is_queued_once_and_a_duplicate_in_flight_asks_for_one_more_check() {
        let (q, mut rx) = Queue::new(8);
        assert_eq!(q.offer(token("A")), Offer::Queued);
        assert_eq!(q.offer(token("A")), Offer::Coalesced);
        assert_eq!(rx.try_recv(), Ok(token("A")));
        assert!(rx.try_recv().is_err());
        q.start("A");
        assert_eq!(q.offer(token("A")), Offer::Coalesced);
        assert_eq!(q.offer(token("A")), Offer::Coalesced);
        assert!(q.finish("A"), "one more check after a duplicate in flight");
        assert!(!q.finish("A"));
        assert_eq!(q.pending(), 0);
        assert_eq!(q.offer(token("A")), Offer::Queued);
    }

    #[test]
    fn events_about_one_payment_fold_together_whatever_their_ids() {
        let (q, _rx) = Queue::new(8);
        assert_eq!(q.offer(event("evt_1", "ent_a")), Offer::Queued);
        assert_eq!(q.offer(event("evt_2", "ent_a")), Offer::Coalesced);
        assert_eq!(q.offer(event("evt_3", "ent_b")), Offer::Queued);
        assert_eq!(q.pending(), 2);
    }

    #[test]
    fn a_full_queue_refuses_without_tracking() {
        let (q, _rx) = Queue::new(1);
        assert_eq!(q.offer(token("A")), Offer::Queued);
        assert_eq!(q.offer(token("B")), Offer::Full);
        assert_eq!(q.pending(), 1);
    }

    #[test]
    fn the_bucket_allows_a_burst_then_refuses() {
        let b = TokenBucket::new(3);
        assert!((0..3).all(|_| b.try_take()));
        assert!(!b.try_take());
        assert!(!TokenBucket::new(0).try_take());
    }
}
