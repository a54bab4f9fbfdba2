//! How a Checkout Session changes: the one state machine behind the pay page, the control
//! API, [`StripeSandbox::settle`](super::StripeSandbox::settle), the expire endpoint and
//! the clock.
//!
//! Invariants: a session is `open` until it is paid (`complete`/`paid`), paid by a delayed
//! method (`complete`/`unpaid`, then maybe `paid`) or expired; `complete` and `expired`
//! never change back. A session gets one PaymentIntent, at its first payment attempt, and
//! keeps it across declined attempts. An outcome is a list of steps, checked whole before
//! any is applied; each applied step returns the events it causes, with the objects as
//! they are right after it.

use super::model::{Outcome, StripeSandboxError};
use super::state::{PaymentIntent, Pending, PiStatus, SessionStatus, State};
use super::wire::new_id;

/// One change a session goes through; [`Outcome`]s are made of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Pay,
    Decline(&'static str),
    AsyncPending,
    AsyncSucceed,
    AsyncFail,
    Expire,
}

impl Step {
    fn name(self) -> &'static str {
        match self {
            Step::Pay => "paid",
            Step::Decline(_) => "declined",
            Step::AsyncPending => "async_pending",
            Step::AsyncSucceed => "async_succeeded",
            Step::AsyncFail => "async_failed",
            Step::Expire => "expired",
        }
    }
}

/// The steps of an outcome, given whether the session is still open.
pub fn steps(outcome: Outcome, open: bool) -> Vec<Step> {
    match (outcome, open) {
        (Outcome::Paid, _) => vec![Step::Pay],
        (Outcome::Declined, _) => vec![Step::Decline("generic_decline")],
        (Outcome::AsyncPending, _) => vec![Step::AsyncPending],
        (Outcome::AsyncSucceeded, true) => vec![Step::AsyncPending, Step::AsyncSucceed],
        (Outcome::AsyncSucceeded, false) => vec![Step::AsyncSucceed],
        (Outcome::AsyncFailed, true) => vec![Step::AsyncPending, Step::AsyncFail],
        (Outcome::AsyncFailed, false) => vec![Step::AsyncFail],
        (Outcome::Expired, _) => vec![Step::Expire],
    }
}

/// Where a step leads from (status, paid, PaymentIntent processing); `None` if the step is
/// not allowed there.
fn next(step: Step, at: (SessionStatus, bool, bool)) -> Option<(SessionStatus, bool, bool)> {
    use SessionStatus::{Complete, Expired, Open};
    match (step, at) {
        (Step::Pay, (Open, _, _)) => Some((Complete, true, false)),
        (Step::Decline(_), (Open, _, _)) => Some((Open, false, false)),
        (Step::Expire, (Open, _, _)) => Some((Expired, false, false)),
        (Step::AsyncPending, (Open, _, _)) => Some((Complete, false, true)),
        (Step::AsyncSucceed, (Complete, false, true)) => Some((Complete, true, false)),
        (Step::AsyncFail, (Complete, false, true)) => Some((Complete, false, false)),
        _ => None,
    }
}

impl State {
    /// Applies an outcome's steps to a session and returns the events they cause.
    pub fn apply(
        &mut self,
        id: &str,
        outcome: Outcome,
        now: i64,
    ) -> Result<Vec<Pending>, StripeSandboxError> {
        self.apply_steps(id, |open| steps(outcome, open), now)
    }

    /// Applies the steps `choose` picks (given whether the session is open), all or none.
    pub fn apply_steps(
        &mut self,
        id: &str,
        choose: impl FnOnce(bool) -> Vec<Step>,
        now: i64,
    ) -> Result<Vec<Pending>, StripeSandboxError> {
        let index = *self
            .by_id
            .get(id)
            .ok_or_else(|| StripeSandboxError::UnknownSession(id.to_string()))?;
        let steps = choose(self.sessions[index].status == SessionStatus::Open);
        // Check every step first so an outcome applies whole or not at all.
        let session = &self.sessions[index];
        let processing = session
            .payment_intent
            .as_ref()
            .and_then(|p| self.intents.get(p))
            .is_some_and(|p| p.status == PiStatus::Processing);
        let mut at = (session.status, session.paid, processing);
        for &step in &steps {
            at = next(step, at).ok_or(StripeSandboxError::NotAllowed {
                status: session.status.as_str(),
                payment_status: session.payment_status(),
                outcome: step.name(),
            })?;
        }
        let mut events = Vec::new();
        for step in steps {
            self.step(index, step, now, &mut events);
        }
        Ok(events)
    }

    /// The session's PaymentIntent, created at the first attempt.
    fn intent_of(&mut self, index: usize, now: i64) -> &mut PaymentIntent {
        let session = &mut self.sessions[index];
        let id = session
            .payment_intent
            .get_or_insert_with(|| new_id("pi_", 24))
            .clone();
        let req = &session.req;
        self.intents
            .entry(id.clone())
            .or_insert_with(|| PaymentIntent {
                id,
                created: now,
                amount: req.amount_total,
                currency: req.currency.code,
                metadata: req.pi_metadata.clone(),
                description: req.pi_description.clone(),
                status: PiStatus::RequiresPaymentMethod,
                latest_charge: None,
                last_error: None,
                payment_method_types: req.payment_method_types.clone(),
            })
    }

    /// One checked step; pushes the events it causes with the objects as they now are.
    fn step(&mut self, index: usize, step: Step, now: i64, events: &mut Vec<Pending>) {
        let session_event = |state: &State, kind: &'static str| {
            (kind, state.session_json(&state.sessions[index], false))
        };
        match step {
            Step::Pay | Step::AsyncSucceed => {
                let pi = self.intent_of(index, now);
                pi.status = PiStatus::Succeeded;
                pi.latest_charge = Some(new_id("ch_", 24));
                pi.last_error = None;
                let pi = pi.json();
                let s = &mut self.sessions[index];
                s.status = SessionStatus::Complete;
                s.paid = true;
                events.push(("payment_intent.succeeded", pi));
                let kind = if step == Step::Pay {
                    "checkout.session.completed"
                } else {
                    "checkout.session.async_payment_succeeded"
                };
                events.push(session_event(self, kind));
            }
            Step::Decline(decline_code) => {
                let pi = self.intent_of(index, now);
                pi.latest_charge = Some(new_id("ch_", 24));
                let message = match decline_code {
                    "insufficient_funds" => "Your card has insufficient funds.",
                    _ => "Your card was declined.",
                };
                pi.last_error = Some(("card_declined", Some(decline_code), message.into()));
                events.push(("payment_intent.payment_failed", pi.json()));
            }
            Step::AsyncPending => {
                let pi = self.intent_of(index, now);
                pi.status = PiStatus::Processing;
                pi.last_error = None;
                self.sessions[index].status = SessionStatus::Complete;
                events.push(session_event(self, "checkout.session.completed"));
            }
            Step::AsyncFail => {
                let pi = self.intent_of(index, now);
                pi.status = PiStatus::RequiresPaymentMethod;
                pi.latest_charge = Some(new_id("py_", 24));
                pi.last_error = Some((
                    "payment_intent_payment_attempt_failed",
                    None,
                    "The delayed payment failed.".into(),
                ));
                let pi = pi.json();
                events.push(session_event(self, "checkout.session.async_payment_failed"));
                events.push(("payment_intent.payment_failed", pi));
            }
            Step::Expire => {
                let pi = self.sessions[index].payment_intent.clone();
                if let Some(pi) = pi.and_then(|id| self.intents.get_mut(&id)) {
                    pi.status = PiStatus::Canceled;
                }
                self.sessions[index].status = SessionStatus::Expired;
                events.push(session_event(self, "checkout.session.expired"));
            }
        }
    }

    /// Expires every open session whose `expires_at` has passed on the sandbox clock.
    pub fn sweep_expired(&mut self, now: i64) -> Vec<Pending> {
        let due: Vec<usize> = (0..self.sessions.len())
            .filter(|&i| {
                let s = &self.sessions[i];
                s.status == SessionStatus::Open && s.req.expires_at <= now
            })
            .collect();
        let mut events = Vec::new();
        for index in due {
            self.step(index, Step::Expire, now, &mut events);
        }
        events
    }
}
