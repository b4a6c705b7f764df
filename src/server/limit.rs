//! Rate limits per API key: a token bucket for each key that authenticated (so the number of
//! buckets is bounded by the number of keys), refilled at `server.rate_limit_per_key` requests a
//! second up to a burst of as many. Off when the rate is 0. And [`Slots`]: a bounded number of
//! requests of one kind at once (event streams, writes), the rest turned away at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::auth::KeyId;
use super::error::ApiError;

/// At most `max` requests of one kind at once; one more is 503 + `Retry-After` (never a wait:
/// what is turned away holds no memory, connection or database session), counted in `refused`.
pub struct Slots {
    free: Arc<Semaphore>,
    max: usize,
    refused: &'static str,
    /// What is full, for the message: "event streams are open (server.max_event_streams);
    /// poll the API instead".
    full: &'static str,
}

impl Slots {
    pub fn new(max: usize, refused: &'static str, full: &'static str) -> Slots {
        Slots {
            free: Arc::new(Semaphore::new(max)),
            max,
            refused,
            full,
        }
    }

    /// A place, held until the permit drops; or the 503 saying what is full.
    pub fn take(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.take_many(1)
    }

    /// `n` places at once (no more than all of them: a request bigger than the whole budget
    /// runs alone).
    pub fn take_many(&self, n: usize) -> Result<OwnedSemaphorePermit, ApiError> {
        let n = u32::try_from(n.clamp(1, self.max)).unwrap_or(u32::MAX);
        self.free.clone().try_acquire_many_owned(n).map_err(|_| {
            metrics::counter!(self.refused).increment(1);
            ApiError::Busy(format!("all {} {}", self.max, self.full))
        })
    }
}

pub struct RateLimits {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<KeyId, (f64, Instant)>>,
}

impl RateLimits {
    pub fn new(per_second: u64) -> RateLimits {
        RateLimits {
            per_second: per_second as f64,
            burst: per_second.max(1) as f64,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// `Ok` when `key` may make a request at `now`, else how long until it may.
    pub fn check(&self, key: KeyId, now: Instant) -> Result<(), Duration> {
        if self.per_second <= 0.0 {
            return Ok(());
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, last) = buckets.entry(key).or_insert((self.burst, now));
        *tokens =
            (*tokens + now.duration_since(*last).as_secs_f64() * self.per_second).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / self.per_second))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate_and_each_key_its_own() {
        let (a, b) = (KeyId([1; 32]), KeyId([2; 32]));
        let l = RateLimits::new(5);
        let now = Instant::now();
        for _ in 0..5 {
            assert!(l.check(a, now).is_ok());
        }
        let wait = l.check(a, now).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(200),
            "{wait:?}"
        );
        assert!(l.check(b, now).is_ok());
        assert!(RateLimits::new(0).check(a, now).is_ok());
        // A second on, the bucket holds the rate again.
        let later = now + Duration::from_secs(1);
        for _ in 0..5 {
            assert!(l.check(a, later).is_ok());
        }
        assert!(l.check(a, later).is_err());
    }
}
