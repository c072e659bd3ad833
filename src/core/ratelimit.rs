//! Fixed-window counters keyed by string (client IP, account), with time passed in so tests can
//! move the clock instead of sleeping.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use super::clock::Timestamp;

/// Allows `limit` events per `window` per key.
#[derive(Debug)]
pub struct RateLimiter {
    limit: u32,
    window_ms: i64,
    buckets: Mutex<HashMap<String, (i64, u32)>>,
}

/// A refusal: retry after this many seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

impl RateLimiter {
    /// `limit` events per `window`.
    pub fn new(limit: u32, window: Duration) -> Self {
        RateLimiter {
            limit,
            window_ms: i64::try_from(window.as_millis()).unwrap_or(i64::MAX).max(1),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (i64, u32)>> {
        match self.buckets.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn window_of(&self, now: Timestamp) -> i64 {
        now.as_millis().div_euclid(self.window_ms)
    }

    fn retry_after(&self, now: Timestamp) -> RetryAfter {
        let end = (self.window_of(now) + 1) * self.window_ms;
        let ms = (end - now.as_millis()).max(1);
        RetryAfter(u64::try_from((ms + 999) / 1000).unwrap_or(1))
    }

    /// Counts one event for `key`; refuses once the window's budget is spent.
    pub fn hit(&self, key: &str, now: Timestamp) -> Result<(), RetryAfter> {
        let w = self.window_of(now);
        let mut b = self.lock();
        if b.len() > 100_000 {
            b.retain(|_, (win, _)| *win == w);
        }
        let e = b.entry(key.to_owned()).or_insert((w, 0));
        if e.0 != w {
            *e = (w, 0);
        }
        if e.1 >= self.limit {
            return Err(self.retry_after(now));
        }
        e.1 += 1;
        Ok(())
    }

    /// Whether `key` is over budget, without counting.
    pub fn check(&self, key: &str, now: Timestamp) -> Result<(), RetryAfter> {
        let w = self.window_of(now);
        let b = self.lock();
        match b.get(key) {
            Some((win, n)) if *win == w && *n >= self.limit => Err(self.retry_after(now)),
            _ => Ok(()),
        }
    }

    /// Counts one event without refusing (failures are counted after the fact).
    pub fn record(&self, key: &str, now: Timestamp) {
        let w = self.window_of(now);
        let mut b = self.lock();
        if b.len() > 100_000 {
            b.retain(|_, (win, _)| *win == w);
        }
        let e = b.entry(key.to_owned()).or_insert((w, 0));
        if e.0 != w {
            *e = (w, 0);
        }
        e.1 = e.1.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_after_limit_and_recovers_next_window() {
        let rl = RateLimiter::new(3, Duration::from_secs(60));
        let t = Timestamp::from_millis(120_000);
        for _ in 0..3 {
            assert!(rl.hit("a", t).is_ok());
        }
        let RetryAfter(s) = rl
            .hit("a", t.plus(Duration::from_secs(10)))
            .expect_err("limited");
        assert_eq!(s, 50);
        assert!(rl.hit("b", t).is_ok(), "keys are independent");
        assert!(rl.hit("a", t.plus(Duration::from_secs(60))).is_ok());
    }
}
