//! The service's bounds and timings ([`LicenseConfig`]) and the per-licence limiter of
//! activation attempts built from them ([`RateLimiter`]).

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

/// The service's bounds and timings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseConfig {
    /// How late a floating activation's heartbeat may be before it is culled, on top of the
    /// licence's interval (default 60 s: a client's timer, clock and network delays).
    pub heartbeat_drift: TimeDelta,
    /// The heartbeat interval of a floating licence created without one (default 300 s).
    pub default_heartbeat_interval: u32,
    /// The largest seat limit (default 100,000).
    pub max_seats: u32,
    /// Activate and deactivate attempts allowed per licence within `attempt_window`
    /// (default 30).
    pub max_attempts: u32,
    /// The sliding window of `max_attempts` (default 60 s).
    pub attempt_window: TimeDelta,
}

impl Default for LicenseConfig {
    fn default() -> Self {
        Self {
            heartbeat_drift: TimeDelta::seconds(60),
            default_heartbeat_interval: 300,
            max_seats: 100_000,
            max_attempts: 30,
            attempt_window: TimeDelta::seconds(60),
        }
    }
}

/// A per-licence sliding-window limiter of activation attempts, in this process's memory
/// (each replica limits on its own: with N replicas a licence gets at most N times the
/// budget; see decision 0018).
#[derive(Debug)]
pub struct RateLimiter {
    max: usize,
    window: TimeDelta,
    attempts: Mutex<HashMap<Uuid, VecDeque<DateTime<Utc>>>>,
}

impl RateLimiter {
    /// At most `max` attempts per licence within any `window`.
    #[must_use]
    pub fn new(max: u32, window: TimeDelta) -> Self {
        Self {
            max: usize::try_from(max).unwrap_or(usize::MAX),
            window,
            attempts: Mutex::new(HashMap::new()),
        }
    }

    /// Counts an attempt on `license` at `now`; when over the budget, refuses it (it is not
    /// counted) with how long until the next one may go.
    ///
    /// # Errors
    /// The wait, when over the budget.
    pub fn attempt(&self, license: Uuid, now: DateTime<Utc>) -> Result<(), Duration> {
        let mut map = self.attempts.lock().unwrap_or_else(PoisonError::into_inner);
        let start = now - self.window;
        map.retain(|_, q| q.back().is_some_and(|t| *t > start));
        let q = map.entry(license).or_default();
        while q.front().is_some_and(|t| *t <= start) {
            q.pop_front();
        }
        if q.len() >= self.max {
            let wait = q
                .front()
                .map_or(self.window, |oldest| *oldest + self.window - now);
            return Err(wait.to_std().unwrap_or(Duration::from_secs(1)));
        }
        q.push_back(now);
        Ok(())
    }
}
