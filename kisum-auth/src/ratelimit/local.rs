//! The in-process limiter: counters in this process's memory, bounded, read from a clock.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use kisum_guard::Clock;

use super::{RateDecision, RateLimit, RateLimiter};

/// In-process rate limiting: one counter per key, time read from a [`Clock`].
///
/// Memory is bounded. Each hit first forgets the windows that have closed (cheaply: windows are
/// indexed by their end, so pruning touches only the closed ones). The number of keys tracked at
/// once is capped ([`LocalRateLimiter::DEFAULT_MAX_KEYS`] unless set with
/// [`with_max_keys`](Self::with_max_keys)).
///
/// **At the cap**, a hit on a new key forgets the open window closest to its end to make room,
/// so that key's count starts again at its next hit. This is deliberate: refusing new keys
/// instead would let one client that cycles keys lock every other user out, while forgetting
/// costs an attacker `max_keys` fresh keys within a single window to reset one counter once.
/// Choose a cap well above the number of keys expected per window; reaching it is logged as a
/// warning.
///
/// Counters live in this process only: behind several replicas each counts on its own (use the
/// Redis limiter to share them).
pub struct LocalRateLimiter {
    clock: Arc<dyn Clock>,
    max_keys: usize,
    windows: Mutex<Windows>,
}

impl LocalRateLimiter {
    /// The default cap on keys tracked at once (about 20 MB with keys of 60 bytes).
    pub const DEFAULT_MAX_KEYS: usize = 100_000;

    /// A limiter reading time from `clock`, tracking at most [`Self::DEFAULT_MAX_KEYS`] keys.
    #[must_use]
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            max_keys: Self::DEFAULT_MAX_KEYS,
            windows: Mutex::new(Windows::default()),
        }
    }

    /// Caps the number of keys tracked at once (at least 1); see the type's documentation for
    /// what happens at the cap.
    #[must_use]
    pub fn with_max_keys(mut self, max_keys: usize) -> Self {
        self.max_keys = max_keys.max(1);
        self
    }

    /// The cap on keys tracked at once.
    #[must_use]
    pub fn max_keys(&self) -> usize {
        self.max_keys
    }

    /// The number of keys with an open window, after forgetting the closed ones.
    #[must_use]
    pub fn tracked_keys(&self) -> usize {
        let now = self.clock.now();
        let mut windows = self.lock();
        windows.prune(now);
        windows.by_key.len()
    }

    /// Counts one hit on `key` now; what [`RateLimiter::hit`] does, without awaiting.
    pub fn hit_now(&self, key: &str, limit: RateLimit) -> RateDecision {
        let now = self.clock.now();
        self.lock().hit(key, limit, now, self.max_keys)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Windows> {
        // Nothing under this lock panics; recovering from poison keeps limiting anyway.
        self.windows.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for LocalRateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Keys hold addresses and emails: never printed.
        f.debug_struct("LocalRateLimiter")
            .field("max_keys", &self.max_keys)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl RateLimiter for LocalRateLimiter {
    async fn hit(&self, key: &str, limit: RateLimit) -> RateDecision {
        self.hit_now(key, limit)
    }
}

/// The open windows, by key and by end (to prune and evict without scanning).
#[derive(Default)]
struct Windows {
    by_key: HashMap<Arc<str>, Window>,
    /// `(end, sequence)` → key; the sequence tells apart windows ending at the same instant.
    by_end: BTreeMap<(DateTime<Utc>, u64), Arc<str>>,
    next_seq: u64,
    /// Whether the cap was reached since the map was last below half of it (to warn once).
    saturated: bool,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    count: u32,
    ends_at: DateTime<Utc>,
}

impl Windows {
    fn hit(
        &mut self,
        key: &str,
        limit: RateLimit,
        now: DateTime<Utc>,
        max_keys: usize,
    ) -> RateDecision {
        self.prune(now);
        if self.by_key.len() <= max_keys / 2 {
            self.saturated = false;
        }
        let window = match self.by_key.get_mut(key) {
            Some(window) => {
                window.count = window.count.saturating_add(1);
                *window
            }
            None => self.open(key, limit, now, max_keys),
        };
        let until_end = (window.ends_at - now).to_std().unwrap_or(Duration::ZERO);
        RateDecision::for_count(u64::from(window.count), limit.limit, until_end)
    }

    /// Opens a window for `key`, first making room under the cap.
    fn open(&mut self, key: &str, limit: RateLimit, now: DateTime<Utc>, max_keys: usize) -> Window {
        while self.by_key.len() >= max_keys {
            let Some((_, evicted)) = self.by_end.pop_first() else {
                break;
            };
            self.by_key.remove(&evicted);
            if !self.saturated {
                self.saturated = true;
                tracing::warn!(
                    max_keys,
                    "in-process rate limiter full: forgetting the windows closest to their end"
                );
            }
        }
        let length = TimeDelta::from_std(limit.effective_window()).unwrap_or(TimeDelta::MAX);
        let ends_at = now
            .checked_add_signed(length)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        let key: Arc<str> = Arc::from(key);
        let window = Window { count: 1, ends_at };
        self.by_end.insert((ends_at, seq), key.clone());
        self.by_key.insert(key, window);
        window
    }

    /// Forgets every window closed at `now`.
    fn prune(&mut self, now: DateTime<Utc>) {
        while let Some(entry) = self.by_end.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let key = entry.remove();
            self.by_key.remove(&key);
        }
    }
}
