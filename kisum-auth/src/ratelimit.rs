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
//! - [`LocalRateLimiter`]: in-process counters, bounded in memory, read from a [`Clock`]. Each
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

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use kisum_guard::Clock;

use crate::identity::Email;

#[cfg(feature = "redis")]
pub use self::redis_backend::{RedisRateLimiter, RedisRateLimiterConfig, RedisRateLimiterError};

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
}

/// The address as a rate-limit dimension: IPv4 (and IPv4-mapped IPv6) as the IPv4 address,
/// other IPv6 addresses as their /64 network — one subscriber usually holds a whole /64, so
/// counting single IPv6 addresses would let a client rotate through 2^64 of them.
#[must_use]
pub fn address_dimension(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let network = u128::from(v6) & !u128::from(u64::MAX);
            format!("{}/64", std::net::Ipv6Addr::from(network))
        }
    }
}

/// The key limiting logins from one address: `login:ip:{ip}`.
///
/// IPv4-mapped IPv6 addresses are keyed as the IPv4 address they map, so one client is counted
/// once whichever way its address reaches us; IPv6 addresses by their /64
/// ([`address_dimension`]).
#[must_use]
pub fn login_ip_key(ip: IpAddr) -> String {
    format!("login:ip:{}", address_dimension(ip))
}

/// The key limiting logins to one account: `login:email:{email}` (the normalized address).
#[must_use]
pub fn login_email_key(email: &Email) -> String {
    format!("login:email:{}", email.as_str())
}

/// The key limiting registrations from one address: `register:ip:{ip}`.
///
/// IPv4-mapped IPv6 addresses are keyed as the IPv4 address they map; IPv6 addresses by their
/// /64 ([`address_dimension`]).
#[must_use]
pub fn register_ip_key(ip: IpAddr) -> String {
    format!("register:ip:{}", address_dimension(ip))
}

/// The key limiting password-reset requests for one address: `password-forgot:email:{email}`.
#[must_use]
pub fn password_forgot_email_key(email: &Email) -> String {
    format!("password-forgot:email:{}", email.as_str())
}

/// The key limiting one-time-code requests for one address: `otp:email:{email}`.
#[must_use]
pub fn otp_email_key(email: &Email) -> String {
    format!("otp:email:{}", email.as_str())
}

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

#[cfg(feature = "redis")]
mod redis_backend {
    use std::fmt;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
    use std::time::Duration;

    use async_trait::async_trait;
    use chrono::{DateTime, TimeDelta, Utc};
    use kisum_guard::Clock;
    use redis::aio::{ConnectionManager, ConnectionManagerConfig};

    use super::{LocalRateLimiter, RateDecision, RateLimit, RateLimiter};

    /// Counts a hit and reads the time left in the window, in one atomic step.
    ///
    /// The expiry is set whenever the key has none, not only on its first hit: a counter never
    /// outlives its window, whatever happened to it before.
    const HIT_SCRIPT: &str = r"
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  ttl = tonumber(ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return {count, ttl}
";

    /// Settings of a [`RedisRateLimiter`].
    #[derive(Debug, Clone)]
    pub struct RedisRateLimiterConfig {
        prefix: String,
        connection_timeout: Duration,
        response_timeout: Duration,
        retry_interval: Duration,
        max_local_keys: usize,
    }

    impl Default for RedisRateLimiterConfig {
        /// No prefix, 250 ms to connect, 250 ms to answer, a retry every second while
        /// degraded, [`LocalRateLimiter::DEFAULT_MAX_KEYS`] keys in the fallback.
        fn default() -> Self {
            Self {
                prefix: String::new(),
                connection_timeout: Duration::from_millis(250),
                response_timeout: Duration::from_millis(250),
                retry_interval: Duration::from_secs(1),
                max_local_keys: LocalRateLimiter::DEFAULT_MAX_KEYS,
            }
        }
    }

    impl RedisRateLimiterConfig {
        /// Prepends `prefix` to every Redis key, as is (include a separator: `kisum:`).
        #[must_use]
        pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
            self.prefix = prefix.into();
            self
        }

        /// How long one connection attempt may take before Redis counts as unavailable.
        #[must_use]
        pub fn with_connection_timeout(mut self, timeout: Duration) -> Self {
            self.connection_timeout = timeout;
            self
        }

        /// How long Redis may take to answer one hit before it counts as unavailable.
        #[must_use]
        pub fn with_response_timeout(mut self, timeout: Duration) -> Self {
            self.response_timeout = timeout;
            self
        }

        /// While degraded, how often one hit tries Redis again (the others use the fallback).
        #[must_use]
        pub fn with_retry_interval(mut self, interval: Duration) -> Self {
            self.retry_interval = interval;
            self
        }

        /// The key cap of the in-process fallback (see [`LocalRateLimiter::with_max_keys`]).
        #[must_use]
        pub fn with_max_local_keys(mut self, max_keys: usize) -> Self {
            self.max_local_keys = max_keys;
            self
        }

        /// The key prefix.
        #[must_use]
        pub fn prefix(&self) -> &str {
            &self.prefix
        }
    }

    /// Why a [`RedisRateLimiter`] cannot be built.
    #[derive(Debug, thiserror::Error)]
    #[non_exhaustive]
    pub enum RedisRateLimiterError {
        /// The connection URL is malformed or uses an unsupported scheme.
        #[error("invalid redis url")]
        InvalidUrl(#[source] Box<dyn std::error::Error + Send + Sync>),
        /// The connection settings are inconsistent.
        #[error("invalid redis connection settings")]
        InvalidSettings(#[source] Box<dyn std::error::Error + Send + Sync>),
    }

    /// Rate limiting shared by every replica through Redis, falling back to in-process counters
    /// while Redis is unavailable.
    ///
    /// Each hit is one round trip (a small Lua script: `INCR`, `PTTL`, and `PEXPIRE` when the
    /// counter has no expiry) on the key `{prefix}ratelimit:{key}`; the counter expires with
    /// its window, so Redis holds nothing longer than a window.
    ///
    /// **When Redis fails** — an error, a refused or dropped connection, or no answer within
    /// the connection and response timeouts — the hit is answered by an embedded
    /// [`LocalRateLimiter`] and the limiter becomes degraded ([`is_degraded`](Self::is_degraded)),
    /// which is logged once as a warning. While degraded, hits go straight to the fallback
    /// except one per retry interval, which tries Redis again; the first success ends the
    /// degradation. A hit therefore never waits for Redis longer than the connection timeout plus
    /// the response timeout, and while Redis is down only one hit per retry interval waits at
    /// all. Counts are not carried over either way: an outage starts the in-process counters
    /// from zero, and Redis' counters resume (if their windows are still open) when it answers.
    ///
    /// Hits need a Tokio runtime with time enabled (the timeouts run on it).
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use kisum_auth::ratelimit::{RateLimit, RateLimiter, RedisRateLimiter, RedisRateLimiterConfig, login_ip_key};
    /// use kisum_guard::SystemClock;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let config = RedisRateLimiterConfig::default().with_prefix("kisum:");
    /// let limiter = RedisRateLimiter::connect("redis://127.0.0.1:6379", config, Arc::new(SystemClock)).await?;
    /// let decision = limiter
    ///     .hit(&login_ip_key("203.0.113.9".parse()?), RateLimit::new(10, Duration::from_secs(60)))
    ///     .await;
    /// if let Some(retry_after) = decision.retry_after() {
    ///     // answer 429 with `Retry-After: {retry_after.as_secs()}`
    /// #   let _ = retry_after;
    /// }
    /// // For `/ready`: Redis is degraded, not failed.
    /// let redis_degraded = limiter.is_degraded();
    /// # let _ = redis_degraded;
    /// # Ok(())
    /// # }
    /// ```
    pub struct RedisRateLimiter {
        conn: ConnectionManager,
        prefix: String,
        budget: Duration,
        retry_interval: TimeDelta,
        fallback: LocalRateLimiter,
        clock: Arc<dyn Clock>,
        degraded: AtomicBool,
        /// When degraded, the earliest instant (µs since the epoch) to try Redis again.
        next_try_micros: AtomicI64,
        /// Whether one hit is trying Redis while degraded.
        trying: AtomicBool,
    }

    impl RedisRateLimiter {
        /// A limiter on the Redis server at `url` (`redis://[user:password@]host[:port][/db]`,
        /// `rediss://` where TLS is built in), time read from `clock` for the fallback.
        ///
        /// Returns even when Redis is unreachable: it tries once (within the timeouts of
        /// `config`) and, failing that, starts degraded and falls back until Redis answers.
        /// Must be called within a Tokio runtime with time enabled; the connection lives on it.
        ///
        /// # Errors
        /// [`RedisRateLimiterError::InvalidUrl`] when `url` cannot be parsed,
        /// [`RedisRateLimiterError::InvalidSettings`] when the connection cannot be configured.
        /// Never because Redis is down.
        pub async fn connect(
            url: &str,
            config: RedisRateLimiterConfig,
            clock: Arc<dyn Clock>,
        ) -> Result<Self, RedisRateLimiterError> {
            let client = redis::Client::open(url)
                .map_err(|err| RedisRateLimiterError::InvalidUrl(Box::new(err)))?;
            let manager_config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(config.connection_timeout))
                .set_response_timeout(Some(config.response_timeout))
                // No reconnection loop inside a hit: the retry interval paces new attempts.
                .set_number_of_retries(0);
            let conn = ConnectionManager::new_lazy_with_config(client, manager_config)
                .map_err(|err| RedisRateLimiterError::InvalidSettings(Box::new(err)))?;
            let limiter = Self {
                conn,
                prefix: config.prefix,
                budget: config
                    .connection_timeout
                    .saturating_add(config.response_timeout),
                retry_interval: TimeDelta::from_std(config.retry_interval)
                    .unwrap_or(TimeDelta::MAX),
                fallback: LocalRateLimiter::new(clock.clone()).with_max_keys(config.max_local_keys),
                clock,
                degraded: AtomicBool::new(false),
                next_try_micros: AtomicI64::new(i64::MIN),
                trying: AtomicBool::new(false),
            };
            match limiter.ping().await {
                Ok(()) => tracing::debug!("rate limiter connected to redis"),
                Err(err) => limiter.failed(&err),
            }
            Ok(limiter)
        }

        /// Whether hits are being answered in process because Redis failed; for readiness
        /// checks, which report Redis as degraded rather than failed.
        #[must_use]
        pub fn is_degraded(&self) -> bool {
            self.degraded.load(Ordering::Acquire)
        }

        /// The Redis key holding the counter of `key`: `{prefix}ratelimit:{key}`.
        #[must_use]
        pub fn redis_key(&self, key: &str) -> String {
            format!("{}ratelimit:{key}", self.prefix)
        }

        async fn ping(&self) -> Result<(), Failure> {
            let mut conn = self.conn.clone();
            let ping = async move { redis::cmd("PING").query_async::<()>(&mut conn).await };
            match tokio::time::timeout(self.budget, ping).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(err)) => Err(Failure::Redis(err)),
                Err(_) => Err(Failure::Timeout),
            }
        }

        async fn redis_hit(&self, key: &str, limit: RateLimit) -> Result<RateDecision, Failure> {
            let redis_key = self.redis_key(key);
            let window = limit.effective_window();
            let window_ms = u64::try_from(window.as_micros().div_ceil(1_000)).unwrap_or(u64::MAX);
            let mut conn = self.conn.clone();
            let call = async move {
                let mut script = redis::cmd("EVAL");
                script.arg(HIT_SCRIPT).arg(1).arg(&redis_key).arg(window_ms);
                match script.query_async::<(i64, i64)>(&mut conn).await {
                    // The connection was gone before the script ran (a stale failed connection,
                    // or a server restart): the manager is reconnecting, try once on the new one.
                    Err(err)
                        if !err.is_timeout()
                            && (err.is_connection_refusal() || err.is_connection_dropped()) =>
                    {
                        script.query_async::<(i64, i64)>(&mut conn).await
                    }
                    other => other,
                }
            };
            match tokio::time::timeout(self.budget, call).await {
                Ok(Ok((count, ttl_ms))) => {
                    let until_end = Duration::from_millis(u64::try_from(ttl_ms).unwrap_or(0));
                    let count = u64::try_from(count).unwrap_or(0);
                    Ok(RateDecision::for_count(count, limit.limit, until_end))
                }
                Ok(Err(err)) => Err(Failure::Redis(err)),
                Err(_) => Err(Failure::Timeout),
            }
        }

        /// Whether this hit may use Redis: always when healthy; when degraded, one hit at a time
        /// once the retry interval has passed. The guard ends the attempt when dropped.
        fn may_use_redis(&self) -> Option<TryGuard<'_>> {
            if !self.is_degraded() {
                return Some(TryGuard(None));
            }
            if self.clock.now().timestamp_micros() < self.next_try_micros.load(Ordering::Acquire) {
                return None;
            }
            self.trying
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .ok()
                .map(|_| TryGuard(Some(&self.trying)))
        }

        fn succeeded(&self) {
            if self.degraded.swap(false, Ordering::AcqRel) {
                tracing::info!("redis answers again: rate limits are shared again");
            }
        }

        fn failed(&self, failure: &Failure) {
            let next_try = self
                .clock
                .now()
                .checked_add_signed(self.retry_interval)
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
            self.next_try_micros
                .store(next_try.timestamp_micros(), Ordering::Release);
            // Keys name people (emails): only the failure is logged, never the key.
            if self.degraded.swap(true, Ordering::AcqRel) {
                tracing::debug!(error = %failure, "redis still unavailable for rate limiting");
            } else {
                tracing::warn!(
                    error = %failure,
                    "redis unavailable: rate limits fall back to in-process counters"
                );
            }
        }
    }

    impl fmt::Debug for RedisRateLimiter {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            // The URL may hold a password: not printed.
            f.debug_struct("RedisRateLimiter")
                .field("prefix", &self.prefix)
                .field("degraded", &self.is_degraded())
                .finish_non_exhaustive()
        }
    }

    #[async_trait]
    impl RateLimiter for RedisRateLimiter {
        async fn hit(&self, key: &str, limit: RateLimit) -> RateDecision {
            if let Some(_guard) = self.may_use_redis() {
                match self.redis_hit(key, limit).await {
                    Ok(decision) => {
                        self.succeeded();
                        return decision;
                    }
                    Err(failure) => self.failed(&failure),
                }
            }
            self.fallback.hit_now(key, limit)
        }
    }

    /// Clears the "trying Redis" flag when a degraded-mode attempt ends, even if cancelled.
    struct TryGuard<'a>(Option<&'a AtomicBool>);

    impl Drop for TryGuard<'_> {
        fn drop(&mut self) {
            if let Some(trying) = self.0 {
                trying.store(false, Ordering::Release);
            }
        }
    }

    /// Why Redis could not answer a hit.
    enum Failure {
        Redis(redis::RedisError),
        Timeout,
    }

    impl fmt::Display for Failure {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                Self::Redis(err) => write!(f, "{err}"),
                Self::Timeout => f.write_str("no answer in time"),
            }
        }
    }
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
    fn keys_follow_the_design() {
        let email = Email::parse(" Ana@Example.COM ").unwrap();
        assert_eq!(login_email_key(&email), "login:email:ana@example.com");
        assert_eq!(
            password_forgot_email_key(&email),
            "password-forgot:email:ana@example.com"
        );
        assert_eq!(otp_email_key(&email), "otp:email:ana@example.com");
        let mapped: IpAddr = "::ffff:203.0.113.9".parse().unwrap();
        assert_eq!(login_ip_key(mapped), "login:ip:203.0.113.9");
        assert_eq!(
            register_ip_key("2001:db8::1".parse().unwrap()),
            "register:ip:2001:db8::/64"
        );
        assert_eq!(
            login_ip_key("2001:db8:0:0:ffff:1:2:3".parse().unwrap()),
            login_ip_key("2001:db8::9".parse().unwrap()),
            "one /64, one client"
        );
        assert_ne!(
            login_ip_key("2001:db8:0:1::1".parse().unwrap()),
            login_ip_key("2001:db8::1".parse().unwrap())
        );
    }
}
