//! The one retry policy for database work: capped exponential backoff with full jitter, a
//! bounded number of attempts, each retry counted and logged. Every writer (batches, imports,
//! the run bookkeeping's reconnects) retries through it; what counts as worth retrying is
//! [`super::error`]'s call, what to do between attempts (reconnect, look up the ledger) the
//! caller's.

use std::fmt::Display;
use std::time::Duration;

use anyhow::{Context, Result};
use rand::Rng;
use tokio_postgres::Client;

use super::Pg;
use crate::config::RetrySettings;

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub initial: Duration,
    pub max: Duration,
}

impl From<&RetrySettings> for RetryPolicy {
    fn from(s: &RetrySettings) -> Self {
        RetryPolicy {
            max_attempts: s.max_attempts.clamp(1, u64::from(u32::MAX)) as u32,
            initial: Duration::from_millis(s.initial_backoff_ms),
            max: Duration::from_millis(s.max_backoff_ms),
        }
    }
}

impl RetryPolicy {
    /// Full jitter: uniform in [0, min(max, initial·2^attempt)].
    pub fn backoff(&self, attempt: u32) -> Duration {
        let cap = self
            .initial
            .saturating_mul(1u32 << attempt.min(20))
            .min(self.max);
        let ms = cap.as_millis() as u64;
        Duration::from_millis(if ms == 0 {
            0
        } else {
            rand::rng().random_range(0..=ms)
        })
    }

    /// The attempts of one piece of work under this policy.
    pub fn start(&self) -> Retries {
        Retries {
            policy: self.clone(),
            retries: 0,
        }
    }
}

/// One piece of work's attempts so far.
pub struct Retries {
    policy: RetryPolicy,
    retries: u32,
}

impl Retries {
    /// Attempts after the first so far.
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// After a failure worth retrying: logs it (`what` says what is retried), waits the
    /// backoff and returns true; false, at once, when the attempts are used up.
    pub async fn pause(&mut self, what: &str, error: &(dyn Display + Sync)) -> bool {
        if self.retries + 1 >= self.policy.max_attempts {
            return false;
        }
        self.retries += 1;
        let wait = self.policy.backoff(self.retries);
        tracing::warn!(
            attempt = self.retries,
            wait_ms = wait.as_millis() as u64,
            error = %error,
            "{what}"
        );
        tokio::time::sleep(wait).await;
        true
    }
}

/// Connects with retries, for callers that need a plain connection (the run bookkeeping, an
/// import after a lost connection).
pub async fn connect(config: &Pg, policy: &RetryPolicy) -> Result<Client> {
    let mut tries = policy.start();
    loop {
        match super::connect(config).await {
            Ok(c) => return Ok(c),
            Err(e) => {
                if !tries
                    .pause("reconnecting to PostgreSQL", &format!("{e:#}"))
                    .await
                {
                    return Err(e).context("giving up on PostgreSQL");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            initial: Duration::from_millis(0),
            max: Duration::from_millis(0),
        }
    }

    #[test]
    fn backoff_is_capped_and_jittered() {
        let p = RetryPolicy {
            max_attempts: 5,
            initial: Duration::from_millis(10),
            max: Duration::from_millis(100),
        };
        for attempt in 0..30 {
            let cap = (10u64 << attempt.min(20)).min(100);
            assert!(p.backoff(attempt) <= Duration::from_millis(cap));
        }
    }

    #[tokio::test]
    async fn attempts_stop_at_the_policys_limit() {
        // max_attempts counts the first try: 3 attempts are 2 retries.
        let p = policy(3);
        let mut tries = p.start();
        assert!(tries.pause("x", &"e").await);
        assert!(tries.pause("x", &"e").await);
        assert!(!tries.pause("x", &"e").await);
        assert_eq!(tries.retries(), 2);
        assert!(!policy(1).start().pause("x", &"e").await);
    }
}
