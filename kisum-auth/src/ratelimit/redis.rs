//! The Redis limiter: one counter per key shared by every replica, with the in-process limiter
//! as its fallback while Redis is unavailable.

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

    /// The key cap of the in-process fallback.
    #[must_use]
    pub fn max_local_keys(&self) -> usize {
        self.max_local_keys
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
/// counter has no expiry) on the key `{prefix}ratelimit:{key}`, and the hits of one
/// [`hit_all`](RateLimiter::hit_all) share one round trip (a sign-in's per-address and
/// per-email limits); the counter expires with
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
            retry_interval: TimeDelta::from_std(config.retry_interval).unwrap_or(TimeDelta::MAX),
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

    /// One round trip for all `hits`: the hit script once per key, pipelined.
    async fn redis_hits(&self, hits: &[(&str, RateLimit)]) -> Result<Vec<RateDecision>, Failure> {
        let mut pipe = redis::pipe();
        for (key, limit) in hits {
            let window_ms = u64::try_from(limit.effective_window().as_micros().div_ceil(1_000))
                .unwrap_or(u64::MAX);
            pipe.cmd("EVAL")
                .arg(HIT_SCRIPT)
                .arg(1)
                .arg(self.redis_key(key))
                .arg(window_ms);
        }
        let mut conn = self.conn.clone();
        let call = async move {
            match pipe.query_async::<Vec<(i64, i64)>>(&mut conn).await {
                // The connection was gone before the scripts ran (a stale failed connection,
                // or a server restart): the manager is reconnecting, try once on the new one.
                Err(err)
                    if !err.is_timeout()
                        && (err.is_connection_refusal() || err.is_connection_dropped()) =>
                {
                    pipe.query_async::<Vec<(i64, i64)>>(&mut conn).await
                }
                other => other,
            }
        };
        match tokio::time::timeout(self.budget, call).await {
            Ok(Ok(answers)) if answers.len() == hits.len() => Ok(answers
                .into_iter()
                .zip(hits)
                .map(|((count, ttl_ms), (_, limit))| {
                    let until_end = Duration::from_millis(u64::try_from(ttl_ms).unwrap_or(0));
                    let count = u64::try_from(count).unwrap_or(0);
                    RateDecision::for_count(count, limit.limit, until_end)
                })
                .collect()),
            Ok(Ok(answers)) => Err(Failure::Answers(answers.len(), hits.len())),
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
        let mut decisions = self.hit_all(&[(key, limit)]).await;
        decisions
            .pop()
            .unwrap_or_else(|| self.fallback.hit_now(key, limit))
    }

    async fn hit_all(&self, hits: &[(&str, RateLimit)]) -> Vec<RateDecision> {
        if hits.is_empty() {
            return Vec::new();
        }
        if let Some(_guard) = self.may_use_redis() {
            match self.redis_hits(hits).await {
                Ok(decisions) => {
                    self.succeeded();
                    return decisions;
                }
                Err(failure) => self.failed(&failure),
            }
        }
        hits.iter()
            .map(|(key, limit)| self.fallback.hit_now(key, *limit))
            .collect()
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
    /// The pipeline answered this many results for that many hits.
    Answers(usize, usize),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Redis(err) => write!(f, "{err}"),
            Self::Timeout => f.write_str("no answer in time"),
            Self::Answers(got, sent) => write!(f, "{got} answers to {sent} hits"),
        }
    }
}
