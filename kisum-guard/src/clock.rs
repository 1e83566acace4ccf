//! Time as an input: every expiry, grace period and lifetime reads a [`Clock`].

use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, TimeDelta, Timelike as _, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// The current time, in UTC, with at most microsecond precision (what databases keep).
    fn now(&self) -> DateTime<Utc>;
}

/// Truncates `t` to whole microseconds, the precision PostgreSQL and SQLite keep.
#[must_use]
pub fn to_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    // The sub-second field alone (a leap second's too): no calendar arithmetic, which the
    // clock of every guarded request would otherwise pay.
    t.with_nanosecond(t.nanosecond() / 1_000 * 1_000)
        .unwrap_or(t)
}

/// Seconds since the Unix epoch by the wall clock; only for sizing cache lifetimes, never
/// for a decision (decisions read a [`Clock`]).
#[must_use]
#[expect(
    clippy::disallowed_methods,
    reason = "cache sizing follows the wall clock, decisions follow the injected Clock"
)]
pub(crate) fn epoch_seconds() -> i64 {
    Utc::now().timestamp()
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[expect(
        clippy::disallowed_methods,
        reason = "this is the one place that reads the wall clock"
    )]
    fn now(&self) -> DateTime<Utc> {
        to_micros(Utc::now())
    }
}

/// A clock that only moves when told to; for tests and simulations.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    /// A clock stopped at `now`.
    #[must_use]
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(to_micros(now)),
        }
    }

    /// Sets the time.
    pub fn set(&self, now: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner) = to_micros(now);
    }

    /// Moves the time forward (or back, for a negative delta).
    pub fn advance(&self, by: TimeDelta) {
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        *now = now.checked_add_signed(by).unwrap_or(*now);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DurationRound as _;
    use proptest::prelude::*;

    proptest! {
        /// Truncation keeps whole microseconds exactly as chrono's `duration_trunc` does, before
        /// and after the epoch, and never moves a time forward.
        #[test]
        fn to_micros_truncates_like_duration_trunc(secs in -5_000_000_000i64..5_000_000_000, nanos in 0u32..1_000_000_000) {
            let t = DateTime::from_timestamp(secs, nanos).unwrap();
            let expected = t.duration_trunc(TimeDelta::microseconds(1)).unwrap();
            prop_assert_eq!(to_micros(t), expected);
            prop_assert!(to_micros(t) <= t);
            prop_assert_eq!(to_micros(t).timestamp_subsec_nanos() % 1_000, 0);
        }
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let clock = ManualClock::new(start);
        assert_eq!(clock.now(), start);
        clock.advance(TimeDelta::seconds(90));
        assert_eq!(clock.now(), start + TimeDelta::seconds(90));
        clock.set(start);
        assert_eq!(clock.now(), start);
    }

    #[test]
    fn system_clock_has_microsecond_precision() {
        let now = SystemClock.now();
        assert_eq!(now.timestamp_subsec_nanos() % 1_000, 0);
    }
}
