//! Retry policy as data, with a pure decision function.
//!
//! Reads (getStatus and friends) are retried when the error is retryable, with exponential
//! backoff and jitter from `backon`. Creates are never blindly re-sent: the Flow client
//! re-sends a create only when the first attempt certainly never reached Flow, or after
//! asking Flow by commerceOrder that no order exists (see `FlowClient::create`).

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

/// How many times and how patiently to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = no retry).
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(2),
        }
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    RetryAfter(Duration),
    GiveUp,
}

impl RetryPolicy {
    /// No retries at all.
    pub const NONE: RetryPolicy = RetryPolicy {
        max_attempts: 1,
        base_delay: Duration::ZERO,
        max_delay: Duration::ZERO,
    };

    /// The backoff delays between attempts (`max_attempts - 1` of them), jittered.
    pub fn delays(&self) -> impl Iterator<Item = Duration> + use<> {
        ExponentialBuilder::default()
            .with_min_delay(self.base_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.max_attempts.saturating_sub(1) as usize)
            .with_jitter()
            .build()
    }

    /// Pure decision: after attempt number `attempt` (1-based) failed with an error that
    /// is (or is not) retryable, and given the next backoff delay, retry or give up.
    pub fn decide(&self, attempt: u32, retryable: bool, next_delay: Option<Duration>) -> Decision {
        if !retryable || attempt >= self.max_attempts {
            return Decision::GiveUp;
        }
        match next_delay {
            Some(d) => Decision::RetryAfter(d),
            None => Decision::GiveUp,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_table() {
        let p = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        };
        let d = Some(Duration::from_millis(5));
        let table = [
            (1, true, d, Decision::RetryAfter(Duration::from_millis(5))),
            (2, true, d, Decision::RetryAfter(Duration::from_millis(5))),
            (3, true, d, Decision::GiveUp),
            (1, false, d, Decision::GiveUp),
            (1, true, None, Decision::GiveUp),
        ];
        for (attempt, retryable, next, want) in table {
            assert_eq!(
                p.decide(attempt, retryable, next),
                want,
                "{attempt} {retryable} {next:?}"
            );
        }
        assert_eq!(RetryPolicy::NONE.decide(1, true, d), Decision::GiveUp);
    }

    #[test]
    fn delays_grow_and_stay_under_the_cap() {
        let p = RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(400),
        };
        let delays: Vec<_> = p.delays().collect();
        assert_eq!(delays.len(), 5);
        // Jitter adds at most one more base delay on top of the capped delay.
        assert!(
            delays.iter().all(|d| *d <= Duration::from_millis(800)),
            "{delays:?}"
        );
    }
}
