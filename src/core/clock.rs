//! Time as a value passed into the domain, so business rules are testable and deterministic.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A UTC instant with millisecond precision; the only time type stored or sent on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The Unix epoch, useful as a lower bound in scans.
    pub const EPOCH: Timestamp = Timestamp(0);

    /// Builds a timestamp from milliseconds since the Unix epoch (the storage representation).
    pub const fn from_millis(ms: i64) -> Self {
        Timestamp(ms)
    }

    /// Milliseconds since the Unix epoch, for ordered keys and arithmetic.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// The instant `d` later, saturating instead of overflowing.
    pub fn plus(self, d: Duration) -> Self {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        Timestamp(self.0.saturating_add(ms))
    }

    /// Time elapsed since `earlier`, zero if `earlier` is in the future.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(u64::try_from(self.0.saturating_sub(earlier.0)).unwrap_or(0))
    }

    /// RFC 3339 UTC rendering used on the wire (`2026-11-24T18:09:53Z`, millis when non-zero).
    pub fn to_rfc3339(self) -> String {
        let nanos = i128::from(self.0) * 1_000_000;
        match time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
            Ok(t) => {
                let fmt = if self.0 % 1000 == 0 {
                    time::macros::format_description!(
                        "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
                    )
                } else {
                    time::macros::format_description!(
                        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
                    )
                };
                t.format(&fmt).unwrap_or_else(|_| self.0.to_string())
            }
            Err(_) => self.0.to_string(),
        }
    }

    /// The UTC (year, month) of the instant: card expiry is a month.
    pub fn year_month(self) -> (u32, u32) {
        let nanos = i128::from(self.0) * 1_000_000;
        time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .map(|t| {
                (
                    u32::try_from(t.year()).unwrap_or(0),
                    u32::from(u8::from(t.month())),
                )
            })
            .unwrap_or((1970, 1))
    }

    /// Parses an RFC 3339 string (any offset) into UTC milliseconds.
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        let t =
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
        let ms = t.unix_timestamp_nanos() / 1_000_000;
        i64::try_from(ms).ok().map(Timestamp)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&self.to_rfc3339())
        } else {
            s.serialize_i64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            Timestamp::parse_rfc3339(&s)
                .ok_or_else(|| serde::de::Error::custom("expected an RFC 3339 timestamp"))
        } else {
            i64::deserialize(d).map(Timestamp)
        }
    }
}

/// Source of the current time; production uses [`SystemClock`], tests a [`TestClock`].
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current instant.
    fn now(&self) -> Timestamp;
}

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Timestamp(ms)
    }
}

/// A clock tests move by hand, so expiry, backoff and schedules run without sleeping.
#[derive(Debug, Clone)]
pub struct TestClock {
    ms: Arc<AtomicI64>,
}

impl TestClock {
    /// Starts the clock at `start`.
    pub fn new(start: Timestamp) -> Self {
        TestClock {
            ms: Arc::new(AtomicI64::new(start.0)),
        }
    }

    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: Duration) {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        self.ms.fetch_add(ms, Ordering::SeqCst);
    }

    /// Sets the clock to `t`.
    pub fn set(&self, t: Timestamp) {
        self.ms.store(t.0, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.ms.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trip() {
        let t = Timestamp::from_millis(1_795_543_793_000);
        assert_eq!(t.to_rfc3339(), "2026-11-24T18:09:53Z");
        assert_eq!(Timestamp::parse_rfc3339(&t.to_rfc3339()), Some(t));
        let t2 = Timestamp::from_millis(1_795_543_793_123);
        assert_eq!(t2.to_rfc3339(), "2026-11-24T18:09:53.123Z");
        assert_eq!(Timestamp::parse_rfc3339(&t2.to_rfc3339()), Some(t2));
    }

    #[test]
    fn test_clock_advances() {
        let c = TestClock::new(Timestamp::from_millis(1000));
        c.advance(Duration::from_secs(2));
        assert_eq!(c.now().as_millis(), 3000);
    }
}
