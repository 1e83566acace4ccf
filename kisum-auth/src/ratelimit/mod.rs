//! Rate limits: fixed-window counters, in Redis when configured, in process otherwise.
//!
//! A [`RateLimit`] allows `limit` hits per key within a window that opens at the key's first
//! hit and lasts `window`; the hit after the `limit`-th is answered
//! [`RateDecision::Limited`] with the time left until the window closes, which the HTTP edge
//! sends as `Retry-After` with a 429. Refused hits still count: a client hammering a limited key
//! does not get a fresh window any sooner.
//!
//! Two [`RateLimiter`]s keep that contract:
//!
//! - [`LocalRateLimiter`]: in-process counters, bounded in memory, read from a [`Clock`](kisum_guard::Clock). Each
//!   replica counts on its own.
//! - `RedisRateLimiter` (feature `redis`): one counter per key shared by every replica, under
//!   `{prefix}ratelimit:{key}`. When Redis fails or is slow it answers from an embedded
//!   [`LocalRateLimiter`] instead, and reports itself degraded for readiness checks.
//!
//! Neither ever fails a request: a rate limiter has no error to return.
//!
//! Keys name the action, the dimension and its value; build them with [`login_ip_key`],
//! [`login_email_key`], [`register_ip_key`], [`password_forgot_email_key`] and [`otp_email_key`].
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use chrono::{DateTime, TimeDelta};
//! use kisum_auth::ratelimit::{LocalRateLimiter, RateDecision, RateLimit, RateLimiter, login_ip_key};
//! use kisum_guard::ManualClock;
//!
//! # fn block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! # block_on(async {
//! let clock = Arc::new(ManualClock::new(DateTime::from_timestamp(1_800_000_000, 0).unwrap()));
//! let limiter = LocalRateLimiter::new(clock.clone());
//! let per_minute = RateLimit::new(2, Duration::from_secs(60));
//! let key = login_ip_key("203.0.113.9".parse().unwrap());
//! assert_eq!(key, "login:ip:203.0.113.9");
//!
//! assert_eq!(limiter.hit(&key, per_minute).await, RateDecision::Allowed { remaining: 1 });
//! assert_eq!(limiter.hit(&key, per_minute).await, RateDecision::Allowed { remaining: 0 });
//! clock.advance(TimeDelta::seconds(15));
//! assert_eq!(
//!     limiter.hit(&key, per_minute).await,
//!     RateDecision::Limited { retry_after: Duration::from_secs(45) }
//! );
//! clock.advance(TimeDelta::seconds(45));
//! assert_eq!(limiter.hit(&key, per_minute).await, RateDecision::Allowed { remaining: 1 });
//! # });
//! ```

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;

mod keys;
mod local;
#[cfg(feature = "redis")]
mod redis;

pub use self::keys::{
    address_dimension, login_email_key, login_ip_key, otp_email_key, password_forgot_email_key,
    register_ip_key,
};
pub use self::local::LocalRateLimiter;
#[cfg(feature = "redis")]
pub use self::redis::{RedisRateLimiter, RedisRateLimiterConfig, RedisRateLimiterError};

/// The shortest window a limiter keeps; shorter windows are rounded up to it.
pub const MIN_WINDOW: Duration = Duration::from_millis(1);

/// The longest window a limiter keeps (366 days); longer windows are cut down to it.
pub const MAX_WINDOW: Duration = Duration::from_secs(366 * 24 * 60 * 60);

/// A fixed-window limit: at most `limit` hits per key within `window`.
///
/// The window opens at the first hit on a key and closes `window` later; the next hit after
/// that opens a new one. A `limit` of 0 refuses every hit. A `window` is kept within
/// [`MIN_WINDOW`]`..=`[`MAX_WINDOW`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateLimit {
    /// Hits allowed per window.
    pub limit: u32,
    /// How long a window lasts.
    pub window: Duration,
}

impl RateLimit {
    /// At most `limit` hits per `window`.
    #[must_use]
    pub const fn new(limit: u32, window: Duration) -> Self {
        Self { limit, window }
    }

    /// The window as limiters keep it: within [`MIN_WINDOW`]`..=`[`MAX_WINDOW`].
    #[must_use]
    pub fn effective_window(&self) -> Duration {
        self.window.clamp(MIN_WINDOW, MAX_WINDOW)
    }
}

/// `count/window`, e.g. `30/5m`: the window in the largest whole unit of `h`, `m`, `s` (or
/// `ms`), so that the text reads back as the same limit.
///
/// ```
/// use std::time::Duration;
/// use kisum_auth::ratelimit::RateLimit;
/// let limit: RateLimit = "30/5m".parse()?;
/// assert_eq!(limit, RateLimit::new(30, Duration::from_secs(300)));
/// assert_eq!(limit.to_string(), "30/5m");
/// assert_eq!(RateLimit::new(3, Duration::from_secs(86_400)).to_string(), "3/24h");
/// # Ok::<(), kisum_auth::ratelimit::ParseRateLimitError>(())
/// ```
impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = self.window;
        let secs = w.as_secs();
        if w.subsec_nanos() != 0 || secs == 0 {
            write!(f, "{}/{}ms", self.limit, w.as_millis())
        } else if secs.is_multiple_of(3600) {
            write!(f, "{}/{}h", self.limit, secs / 3600)
        } else if secs.is_multiple_of(60) {
            write!(f, "{}/{}m", self.limit, secs / 60)
        } else {
            write!(f, "{}/{}s", self.limit, secs)
        }
    }
}

/// Why a text is not a [`RateLimit`]; the message names the offending part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseRateLimitError(String);

impl FromStr for RateLimit {
    type Err = ParseRateLimitError;

    /// Parses `count/window`: a count of hits and a duration such as `30s`, `5m`, `1h` or
    /// `1h 30m`. Surrounding spaces are ignored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (count, window) = s.split_once('/').ok_or_else(|| {
            ParseRateLimitError(format!("`{s}` is not `count/window`, e.g. `30/5m`"))
        })?;
        let count: u32 = count
            .trim()
            .parse()
            .map_err(|_| ParseRateLimitError(format!("`{count}` is not a count")))?;
        let window = window.trim();
        let window = humantime::parse_duration(window).map_err(|e| {
            ParseRateLimitError(format!(
                "`{window}` is not a duration like `30s`, `5m` or `90d`: {e}"
            ))
        })?;
        Ok(Self::new(count, window))
    }
}

/// The answer to one hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[must_use]
pub enum RateDecision {
    /// The hit is within the limit; `remaining` more hits are allowed in this window.
    Allowed {
        /// Hits still allowed in the current window.
        remaining: u32,
    },
    /// The limit is reached; retry after `retry_after`.
    Limited {
        /// The time until the window closes, rounded up to whole seconds and at least one
        /// second, as `Retry-After` wants it.
        retry_after: Duration,
    },
}

impl RateDecision {
    /// Whether the hit is within the limit.
    #[must_use]
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Allowed { .. })
    }

    /// The wait before retrying, when limited.
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Allowed { .. } => None,
            Self::Limited { retry_after } => Some(*retry_after),
        }
    }

    /// The decision for the `count`-th hit of a window that closes in `until_end`.
    fn for_count(count: u64, limit: u32, until_end: Duration) -> Self {
        match u32::try_from(count) {
            Ok(count) if count <= limit => Self::Allowed {
                remaining: limit - count,
            },
            _ => Self::Limited {
                retry_after: whole_seconds_at_least_one(until_end),
            },
        }
    }
}

/// `d` rounded up to whole seconds, at least one.
fn whole_seconds_at_least_one(d: Duration) -> Duration {
    let secs = d.as_secs().saturating_add(u64::from(d.subsec_nanos() > 0));
    Duration::from_secs(secs.max(1))
}

/// Counts hits per key and decides whether each is within its limit.
///
/// Every implementation keeps this contract:
/// - a window opens at the first hit on a key and lasts the [`RateLimit::effective_window`] of
///   that hit; the first `limit` hits of a window are allowed, every later one is limited, and
///   limited hits still count;
/// - `retry_after` is the time left in the window, rounded up to whole seconds, at least one;
/// - a hit never fails: when a backend is unavailable the limiter answers from a fallback.
///
/// Keys should be short and built by the helpers of this module (`action:dimension:value`);
/// the limiter stores them as given.
#[async_trait]
pub trait RateLimiter: Send + Sync + 'static {
    /// Counts one hit on `key` and decides whether it is within `limit`.
    async fn hit(&self, key: &str, limit: RateLimit) -> RateDecision;

    /// Counts one hit on each `(key, limit)` and decides each, in order: every hit counts,
    /// whatever the others decide. The default hits them one after the other; a shared limiter
    /// sends them at once ([`RedisRateLimiter`]: one round trip for all).
    async fn hit_all(&self, hits: &[(&str, RateLimit)]) -> Vec<RateDecision> {
        let mut decisions = Vec::with_capacity(hits.len());
        for (key, limit) in hits {
            decisions.push(self.hit(key, *limit).await);
        }
        decisions
    }
}

/// The limiter of a deployment: shared through the Redis at `redis_url` (with the in-process
/// fallback, see [`RedisRateLimiter`]) when one is given, in process only otherwise.
///
/// # Errors
/// A malformed Redis URL or inconsistent connection settings; never because Redis is down.
#[cfg(feature = "redis")]
pub async fn shared_or_local(
    redis_url: Option<&str>,
    config: RedisRateLimiterConfig,
    clock: std::sync::Arc<dyn kisum_guard::Clock>,
) -> Result<std::sync::Arc<dyn RateLimiter>, RedisRateLimiterError> {
    use std::sync::Arc;

    Ok(match redis_url {
        None => Arc::new(LocalRateLimiter::new(clock).with_max_keys(config.max_local_keys())),
        Some(url) => Arc::new(RedisRateLimiter::connect(url, config, clock).await?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_whole_seconds_rounded_up_and_at_least_one() {
        assert_eq!(
            whole_seconds_at_least_one(Duration::ZERO),
            Duration::from_secs(1)
        );
        assert_eq!(
            whole_seconds_at_least_one(Duration::from_millis(1)),
            Duration::from_secs(1)
        );
        assert_eq!(
            whole_seconds_at_least_one(Duration::from_millis(1_001)),
            Duration::from_secs(2)
        );
        assert_eq!(
            whole_seconds_at_least_one(Duration::from_secs(60)),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn decisions_count_against_the_limit() {
        let end = Duration::from_millis(2_500);
        assert_eq!(
            RateDecision::for_count(1, 2, end),
            RateDecision::Allowed { remaining: 1 }
        );
        assert_eq!(
            RateDecision::for_count(2, 2, end),
            RateDecision::Allowed { remaining: 0 }
        );
        assert_eq!(
            RateDecision::for_count(3, 2, end),
            RateDecision::Limited {
                retry_after: Duration::from_secs(3)
            }
        );
        assert!(!RateDecision::for_count(1, 0, end).is_allowed());
        assert!(!RateDecision::for_count(u64::MAX, u32::MAX, end).is_allowed());
    }

    #[test]
    fn windows_are_kept_within_bounds() {
        assert_eq!(
            RateLimit::new(1, Duration::ZERO).effective_window(),
            MIN_WINDOW
        );
        assert_eq!(
            RateLimit::new(1, Duration::MAX).effective_window(),
            MAX_WINDOW
        );
    }

    #[test]
    fn limits_read_back_from_their_text() {
        for text in [
            "30/5m", "10/15m", "10/1h", "3/24h", "0/1s", "5/90s", "2/1500ms",
        ] {
            let limit: RateLimit = text.parse().unwrap();
            assert_eq!(limit.to_string(), text);
        }
        assert_eq!(
            " 30 / 5m ".parse::<RateLimit>().unwrap(),
            RateLimit::new(30, Duration::from_secs(300))
        );
        assert_eq!(
            "30".parse::<RateLimit>().unwrap_err().to_string(),
            "`30` is not `count/window`, e.g. `30/5m`"
        );
        assert_eq!(
            "x/5m".parse::<RateLimit>().unwrap_err().to_string(),
            "`x` is not a count"
        );
        assert!(
            "3/soon"
                .parse::<RateLimit>()
                .unwrap_err()
                .to_string()
                .starts_with("`soon` is not a duration")
        );
    }
}
