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
        crate::core::sync::lock(&self.buckets)
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

/// Progressive delays after repeated failures for one key (an account seen from one client
/// network): the first `free` failures within `window` cost nothing, then each further failure
/// makes the key wait 1 s, 2 s, 4 s, … up to `max_delay` before the next attempt. Keyed by
/// network, so someone who knows an admin's email can slow that admin down only from their own
/// network, never lock the owner out from another.
#[derive(Debug)]
pub struct FailureDelay {
    free: u32,
    window_ms: i64,
    max_delay_ms: i64,
    /// key → (failures in the current run, last failure, next attempt allowed at), all ms.
    keys: Mutex<HashMap<String, (u32, i64, i64)>>,
}

impl FailureDelay {
    /// `free` failures per `window` without delay, then doubling delays up to `max_delay`.
    pub fn new(free: u32, window: Duration, max_delay: Duration) -> Self {
        FailureDelay {
            free,
            window_ms: i64::try_from(window.as_millis()).unwrap_or(i64::MAX).max(1),
            max_delay_ms: i64::try_from(max_delay.as_millis())
                .unwrap_or(i64::MAX)
                .max(1000),
            keys: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u32, i64, i64)>> {
        crate::core::sync::lock(&self.keys)
    }

    /// Refuses while `key` must still wait after its last failure.
    pub fn check(&self, key: &str, now: Timestamp) -> Result<(), RetryAfter> {
        let now = now.as_millis();
        match self.lock().get(key) {
            Some(&(_, _, until)) if until > now => Err(RetryAfter(
                u64::try_from((until - now + 999) / 1000).unwrap_or(1),
            )),
            _ => Ok(()),
        }
    }

    /// Counts a failure; past the free ones, sets the wait before the next attempt.
    pub fn fail(&self, key: &str, now: Timestamp) {
        let now = now.as_millis();
        let mut m = self.lock();
        if m.len() > 100_000 {
            let (w, max) = (self.window_ms, self.max_delay_ms);
            m.retain(|_, (_, last, until)| now - *last < w || *until > now - max);
        }
        let e = m.entry(key.to_owned()).or_insert((0, now, now));
        if now - e.1 >= self.window_ms {
            *e = (0, now, now);
        }
        e.0 = e.0.saturating_add(1);
        e.1 = now;
        if e.0 > self.free {
            let doublings = (e.0 - self.free - 1).min(30);
            let delay = 1000i64
                .saturating_mul(1 << doublings)
                .min(self.max_delay_ms);
            e.2 = now + delay;
        }
    }

    /// Forgets `key`'s failures (a success from that network).
    pub fn succeed(&self, key: &str) {
        self.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_per_key_and_reset_on_success_or_quiet() {
        let d = FailureDelay::new(2, Duration::from_secs(3600), Duration::from_secs(900));
        let t = Timestamp::from_millis(1_000_000);
        for _ in 0..2 {
            assert!(d.check("a|net1", t).is_ok());
            d.fail("a|net1", t);
        }
        assert!(d.check("a|net1", t).is_ok(), "two free failures");
        d.fail("a|net1", t);
        assert_eq!(d.check("a|net1", t), Err(RetryAfter(1)));
        let t1 = t.plus(Duration::from_secs(1));
        assert!(d.check("a|net1", t1).is_ok());
        d.fail("a|net1", t1);
        assert_eq!(d.check("a|net1", t1), Err(RetryAfter(2)));
        assert!(
            d.check("a|net2", t1).is_ok(),
            "another network is not delayed"
        );
        // Doubling stops at the maximum.
        let mut now = t1;
        for _ in 0..20 {
            now = now.plus(Duration::from_secs(900));
            d.fail("a|net1", now);
        }
        assert_eq!(d.check("a|net1", now), Err(RetryAfter(900)));
        d.succeed("a|net1");
        assert!(d.check("a|net1", now).is_ok());
        // A quiet window forgets the run.
        d.fail("b|net1", t);
        d.fail("b|net1", t);
        let later = t.plus(Duration::from_secs(3600));
        d.fail("b|net1", later);
        assert!(d.check("b|net1", later).is_ok(), "counted from 1 again");
    }

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
