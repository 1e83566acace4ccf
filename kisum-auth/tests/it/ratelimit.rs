//! Rate limiter tests: in process with a fixed clock, against the real Redis, and with Redis down.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta};
use kisum_auth::Email;
use kisum_auth::ratelimit::{
    LocalRateLimiter, RateDecision, RateLimit, RateLimiter, RedisRateLimiter,
    RedisRateLimiterConfig, RedisRateLimiterError, login_email_key, login_ip_key, otp_email_key,
    register_ip_key,
};
use kisum_guard::ManualClock;

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(
        DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
    ))
}

fn allowed(remaining: u32) -> RateDecision {
    RateDecision::Allowed { remaining }
}

fn limited(secs: u64) -> RateDecision {
    RateDecision::Limited {
        retry_after: Duration::from_secs(secs),
    }
}

fn ip_key(last: u8) -> String {
    login_ip_key(std::net::IpAddr::from([203, 0, 113, last]))
}

mod local {
    use super::*;

    #[tokio::test]
    async fn allows_exactly_the_limit_then_limits_until_the_window_ends() {
        let clock = clock();
        let limiter = LocalRateLimiter::new(clock.clone());
        let limit = RateLimit::new(3, Duration::from_secs(60));
        let key = ip_key(9);

        assert_eq!(limiter.hit(&key, limit).await, allowed(2));
        clock.advance(TimeDelta::seconds(5));
        assert_eq!(limiter.hit(&key, limit).await, allowed(1));
        assert_eq!(limiter.hit(&key, limit).await, allowed(0));
        clock.advance(TimeDelta::seconds(15));
        // The window opened at the first hit: 40 s are left.
        assert_eq!(limiter.hit(&key, limit).await, limited(40));
        // Refused hits neither reopen nor extend the window; a fraction of a second left is
        // rounded up to one second.
        clock.advance(TimeDelta::milliseconds(39_500));
        assert_eq!(limiter.hit(&key, limit).await, limited(1));
        // A new window starts exactly when the old one ends.
        clock.advance(TimeDelta::milliseconds(500));
        assert_eq!(limiter.hit(&key, limit).await, allowed(2));
        assert_eq!(limiter.hit(&key, limit).await, allowed(1));
    }

    #[tokio::test]
    async fn a_limit_of_zero_refuses_every_hit() {
        let limiter = LocalRateLimiter::new(clock());
        let limit = RateLimit::new(0, Duration::from_secs(30));
        assert_eq!(limiter.hit("k", limit).await, limited(30));
        assert_eq!(limiter.hit("k", limit).await, limited(30));
    }

    #[tokio::test]
    async fn keys_are_independent() {
        let clock = clock();
        let limiter = LocalRateLimiter::new(clock.clone());
        let limit = RateLimit::new(1, Duration::from_secs(60));
        let email = Email::parse("ana@example.com").unwrap();

        assert_eq!(limiter.hit(&ip_key(1), limit).await, allowed(0));
        assert_eq!(limiter.hit(&ip_key(1), limit).await, limited(60));
        assert_eq!(limiter.hit(&ip_key(2), limit).await, allowed(0));
        // The same value under another action or dimension is another counter.
        assert_eq!(
            limiter.hit(&login_email_key(&email), limit).await,
            allowed(0)
        );
        assert_eq!(limiter.hit(&otp_email_key(&email), limit).await, allowed(0));
        assert_eq!(
            limiter
                .hit(&register_ip_key([203, 0, 113, 1].into()), limit)
                .await,
            allowed(0)
        );
        assert_eq!(
            limiter.hit(&login_email_key(&email), limit).await,
            limited(60)
        );
        // Case variants of an address are one account, hence one counter.
        let shouted = Email::parse("ANA@Example.com").unwrap();
        assert_eq!(
            limiter.hit(&login_email_key(&shouted), limit).await,
            limited(60)
        );
    }

    #[tokio::test]
    async fn hit_all_counts_every_hit_and_decides_each_in_order() {
        let limiter = LocalRateLimiter::new(clock());
        let (strict, loose) = (
            RateLimit::new(1, Duration::from_secs(60)),
            RateLimit::new(5, Duration::from_secs(60)),
        );
        let (a, b) = (ip_key(1), ip_key(2));
        let hits = [(a.as_str(), strict), (b.as_str(), loose)];
        assert_eq!(limiter.hit_all(&hits).await, vec![allowed(0), allowed(4)]);
        // The first refuses; the second still counts.
        assert_eq!(limiter.hit_all(&hits).await, vec![limited(60), allowed(3)]);
        assert_eq!(limiter.hit(&b, loose).await, allowed(2));
        assert_eq!(limiter.hit_all(&[]).await, vec![]);
    }

    #[tokio::test]
    async fn closed_windows_are_forgotten() {
        let clock = clock();
        let limiter = LocalRateLimiter::new(clock.clone());
        let short = RateLimit::new(5, Duration::from_secs(10));
        let long = RateLimit::new(5, Duration::from_secs(60));
        for i in 0..100 {
            let _ = limiter.hit(&ip_key(i), short).await;
        }
        let _ = limiter.hit("long", long).await;
        assert_eq!(limiter.tracked_keys(), 101);

        clock.advance(TimeDelta::seconds(10));
        assert_eq!(
            limiter.tracked_keys(),
            1,
            "only the 60 s window is still open"
        );
        // A forgotten key starts over.
        assert_eq!(limiter.hit(&ip_key(0), short).await, allowed(4));
        assert_eq!(limiter.tracked_keys(), 2);
        clock.advance(TimeDelta::seconds(50));
        assert_eq!(limiter.tracked_keys(), 0, "every window closed by 60 s");
    }

    #[tokio::test]
    async fn at_the_cap_the_window_closest_to_its_end_is_forgotten() {
        let clock = clock();
        let limiter = LocalRateLimiter::new(clock.clone()).with_max_keys(2);
        let once_per = |secs| RateLimit::new(1, Duration::from_secs(secs));

        assert_eq!(limiter.hit("a", once_per(60)).await, allowed(0));
        assert_eq!(limiter.hit("b", once_per(30)).await, allowed(0));
        assert_eq!(limiter.hit("a", once_per(60)).await, limited(60));
        assert_eq!(limiter.hit("b", once_per(30)).await, limited(30));

        // A third key: `b` (closing first) makes room, and its count starts over.
        assert_eq!(limiter.hit("c", once_per(120)).await, allowed(0));
        assert_eq!(limiter.tracked_keys(), 2);
        assert_eq!(
            limiter.hit("a", once_per(60)).await,
            limited(60),
            "a is kept"
        );
        assert_eq!(
            limiter.hit("c", once_per(120)).await,
            limited(120),
            "c is kept"
        );
        assert_eq!(
            limiter.hit("b", once_per(30)).await,
            allowed(0),
            "b was forgotten"
        );
        // Making room for `b` again forgot `a`, now the window closest to its end.
        assert_eq!(limiter.tracked_keys(), 2);
        assert_eq!(limiter.hit("c", once_per(120)).await, limited(120));

        // Memory stays bounded however many keys a client cycles through.
        for i in 0..1_000 {
            let _ = limiter.hit(&format!("cycled:{i}"), once_per(60)).await;
        }
        assert_eq!(limiter.tracked_keys(), 2);
        assert_eq!(limiter.max_keys(), 2);
    }
}

/// A unique prefix per test, so that parallel tests (and earlier runs) never share a counter.
fn unique_prefix() -> String {
    format!("kisum-test-{:016x}:", rand::random::<u64>())
}

#[tokio::test]
async fn an_invalid_redis_url_is_refused() {
    let err = RedisRateLimiter::connect("not a url", RedisRateLimiterConfig::default(), clock())
        .await
        .unwrap_err();
    assert!(matches!(err, RedisRateLimiterError::InvalidUrl(_)), "{err}");
}

mod redis_up {
    use super::*;

    fn redis_url() -> String {
        std::env::var("KISUM_TEST_REDIS_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .expect("needs Redis: set KISUM_TEST_REDIS_URL and run with --include-ignored")
    }

    async fn connected(prefix: &str) -> RedisRateLimiter {
        let config = RedisRateLimiterConfig::default().with_prefix(prefix);
        RedisRateLimiter::connect(&redis_url(), config, clock())
            .await
            .unwrap()
    }

    async fn raw_connection() -> redis::aio::MultiplexedConnection {
        redis::Client::open(redis_url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    #[tokio::test]
    #[ignore = "needs Redis: set KISUM_TEST_REDIS_URL and run with --include-ignored"]
    async fn limits_are_enforced() {
        let prefix = unique_prefix();
        let limiter = connected(&prefix).await;
        assert!(!limiter.is_degraded());
        let limit = RateLimit::new(3, Duration::from_secs(60));
        let key = ip_key(9);

        assert_eq!(limiter.hit(&key, limit).await, allowed(2));
        assert_eq!(limiter.hit(&key, limit).await, allowed(1));
        assert_eq!(limiter.hit(&key, limit).await, allowed(0));
        let retry_after = limiter.hit(&key, limit).await.retry_after().unwrap();
        assert!(
            (Duration::from_secs(59)..=Duration::from_secs(60)).contains(&retry_after),
            "{retry_after:?}"
        );
        assert_eq!(
            limiter.hit(&ip_key(10), limit).await,
            allowed(2),
            "keys are independent"
        );
        assert!(!limiter.is_degraded());

        // The counter lives under `{prefix}ratelimit:{key}` and expires with its window.
        let redis_key = format!("{prefix}ratelimit:login:ip:203.0.113.9");
        assert_eq!(limiter.redis_key(&key), redis_key);
        let mut conn = raw_connection().await;
        let count: i64 = redis::cmd("GET")
            .arg(&redis_key)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(count, 4, "refused hits count too");
        let ttl_ms: i64 = redis::cmd("PTTL")
            .arg(&redis_key)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!((1..=60_000).contains(&ttl_ms), "{ttl_ms}");
    }

    #[tokio::test]
    #[ignore = "needs Redis: set KISUM_TEST_REDIS_URL and run with --include-ignored"]
    async fn hit_all_counts_each_key_once_in_one_pipeline() {
        let prefix = unique_prefix();
        let limiter = connected(&prefix).await;
        let (strict, loose) = (
            RateLimit::new(1, Duration::from_secs(60)),
            RateLimit::new(5, Duration::from_secs(30)),
        );
        let (a, b) = (ip_key(21), ip_key(22));
        let hits = [(a.as_str(), strict), (b.as_str(), loose)];
        assert_eq!(limiter.hit_all(&hits).await, vec![allowed(0), allowed(4)]);
        let second = limiter.hit_all(&hits).await;
        assert!(!second[0].is_allowed(), "{second:?}");
        assert_eq!(
            second[1],
            allowed(3),
            "the refused first hit does not stop the second"
        );
        // The same counters as single hits.
        assert_eq!(limiter.hit(&b, loose).await, allowed(2));
        assert!(!limiter.is_degraded());
        let mut conn = raw_connection().await;
        for (key, count, window_ms) in [(&a, 2, 60_000), (&b, 3, 30_000)] {
            let redis_key = limiter.redis_key(key);
            let stored: i64 = redis::cmd("GET")
                .arg(&redis_key)
                .query_async(&mut conn)
                .await
                .unwrap();
            assert_eq!(stored, count, "{redis_key}");
            let ttl_ms: i64 = redis::cmd("PTTL")
                .arg(&redis_key)
                .query_async(&mut conn)
                .await
                .unwrap();
            assert!(
                (1..=window_ms).contains(&ttl_ms),
                "each key keeps its own window: {ttl_ms}"
            );
        }
    }

    #[tokio::test]
    #[ignore = "needs Redis: set KISUM_TEST_REDIS_URL and run with --include-ignored"]
    async fn two_limiters_share_one_counter() {
        let prefix = unique_prefix();
        let (a, b) = (connected(&prefix).await, connected(&prefix).await);
        let limit = RateLimit::new(3, Duration::from_secs(60));
        let key = login_email_key(&Email::parse("ana@example.com").unwrap());

        assert_eq!(a.hit(&key, limit).await, allowed(2));
        assert_eq!(b.hit(&key, limit).await, allowed(1));
        assert_eq!(a.hit(&key, limit).await, allowed(0));
        assert!(!b.hit(&key, limit).await.is_allowed());
        assert!(!a.hit(&key, limit).await.is_allowed());

        // Another prefix is another deployment: its own counters.
        let other = connected(&unique_prefix()).await;
        assert_eq!(other.hit(&key, limit).await, allowed(2));
    }

    #[tokio::test]
    #[ignore = "needs Redis: set KISUM_TEST_REDIS_URL and run with --include-ignored"]
    async fn counters_expire_with_their_window() {
        let limiter = connected(&unique_prefix()).await;
        let limit = RateLimit::new(1, Duration::from_secs(1));
        let key = ip_key(1);

        assert_eq!(limiter.hit(&key, limit).await, allowed(0));
        assert_eq!(limiter.hit(&key, limit).await, limited(1));
        // This tests Redis' own expiry, so it waits on real time (bounded).
        let mut decision = limiter.hit(&key, limit).await;
        for _ in 0..50 {
            if decision.is_allowed() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            decision = limiter.hit(&key, limit).await;
        }
        assert_eq!(
            decision,
            allowed(0),
            "a new window opened after the old one expired"
        );
        assert!(!limiter.is_degraded());
    }

    /// A TCP proxy to Redis on `listen`, until the returned task is aborted (which closes every
    /// proxied connection).
    async fn proxy(listen: std::net::SocketAddr, target: String) -> tokio::task::JoinHandle<()> {
        let listener = tokio::net::TcpListener::bind(listen).await.unwrap();
        tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                connections.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        })
    }

    #[tokio::test]
    #[ignore = "needs Redis: set KISUM_TEST_REDIS_URL and run with --include-ignored"]
    async fn recovers_when_redis_comes_back_and_degrades_when_it_goes() {
        let url = redis_url();
        let target = url
            .trim_start_matches("redis://")
            .rsplit('@')
            .next()
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .to_owned();
        // A port with nothing behind it, for now.
        let listen = std::net::SocketAddr::from(([127, 0, 0, 1], kisum_core::testkit::free_port()));
        let prefix = unique_prefix();
        let clock = clock();
        let config = RedisRateLimiterConfig::default()
            .with_prefix(&prefix)
            .with_retry_interval(Duration::from_secs(1));
        let limit = RateLimit::new(5, Duration::from_secs(60));
        let key = ip_key(7);

        tokio::time::timeout(Duration::from_secs(20), async {
            let limiter =
                RedisRateLimiter::connect(&format!("redis://{listen}"), config, clock.clone())
                    .await
                    .unwrap();
            assert!(limiter.is_degraded());
            assert_eq!(
                limiter.hit(&key, limit).await,
                allowed(4),
                "answered in process"
            );

            // Redis appears; the next hit after the retry interval finds it.
            let proxy = proxy(listen, target).await;
            assert_eq!(
                limiter.hit(&key, limit).await,
                allowed(3),
                "not retried yet"
            );
            assert!(limiter.is_degraded());
            clock.advance(TimeDelta::seconds(1));
            assert_eq!(
                limiter.hit(&key, limit).await,
                allowed(4),
                "counted in Redis"
            );
            assert!(!limiter.is_degraded());
            let direct = connected(&prefix).await;
            assert_eq!(
                direct.hit(&key, limit).await,
                allowed(3),
                "one shared counter"
            );

            // Redis goes away: hits fall back at once.
            proxy.abort();
            let _ = proxy.await;
            let mut rounds = 0;
            while !limiter.is_degraded() {
                rounds += 1;
                assert!(rounds < 200, "never noticed that Redis went away");
                let _ = limiter.hit(&key, limit).await;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert!(
                limiter.hit(&key, limit).await.is_allowed(),
                "in process again"
            );
        })
        .await
        .expect("every hit returns quickly");
    }
}

mod redis_down {
    use super::*;

    /// A clock, the local limiter on it, and a Redis limiter on it whose Redis never answers.
    async fn down() -> (Arc<ManualClock>, LocalRateLimiter, RedisRateLimiter) {
        let clock = clock();
        let local = LocalRateLimiter::new(clock.clone());
        let redis = RedisRateLimiter::connect(
            "redis://127.0.0.1:1",
            RedisRateLimiterConfig::default().with_prefix(unique_prefix()),
            clock.clone(),
        )
        .await
        .unwrap();
        (clock, local, redis)
    }

    #[tokio::test]
    async fn answers_like_the_local_limiter_and_reports_degraded() {
        // Bounded by construction: a hung connection would fail this test, not stall it.
        tokio::time::timeout(Duration::from_secs(10), async {
            let (clock, local, redis) = down().await;
            assert!(redis.is_degraded());

            let email = Email::parse("ana@example.com").unwrap();
            let keys = [
                (ip_key(9), RateLimit::new(3, Duration::from_secs(60))),
                (
                    login_email_key(&email),
                    RateLimit::new(1, Duration::from_secs(30)),
                ),
            ];
            let mut decisions = Vec::new();
            // Each step lets the retry interval pass, so Redis is tried (and fails) again.
            for step in [0, 1, 10, 19, 30, 60, 61] {
                clock.advance(TimeDelta::seconds(step));
                for (key, limit) in &keys {
                    for _ in 0..4 {
                        let expected = local.hit(key, *limit).await;
                        assert_eq!(redis.hit(key, *limit).await, expected, "{key} at +{step}s");
                        decisions.push(expected);
                    }
                }
                assert!(redis.is_degraded());
            }
            // The sequence exercised both answers.
            assert!(decisions.iter().any(RateDecision::is_allowed));
            assert!(decisions.iter().any(|d| !d.is_allowed()));
        })
        .await
        .expect("every hit returns quickly");
    }

    #[tokio::test]
    async fn hit_all_falls_back_for_every_hit_while_redis_is_down() {
        tokio::time::timeout(Duration::from_secs(10), async {
            let (clock, local, redis) = down().await;
            let (a, b) = (ip_key(31), ip_key(32));
            let limit = RateLimit::new(2, Duration::from_secs(60));
            let hits = [(a.as_str(), limit), (b.as_str(), limit)];
            for step in [0, 30, 1] {
                clock.advance(TimeDelta::seconds(step));
                assert_eq!(
                    redis.hit_all(&hits).await,
                    local.hit_all(&hits).await,
                    "+{step}s"
                );
                assert!(redis.is_degraded());
            }
            assert!(
                !redis.hit(&a, limit).await.is_allowed(),
                "three hits of a limit of two"
            );
        })
        .await
        .expect("every hit returns quickly");
    }

    #[tokio::test]
    async fn a_redis_that_never_answers_is_given_up_on_within_the_timeouts() {
        // Accepts connections and never says a word: connecting and answering both time out.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let silent = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });

        tokio::time::timeout(Duration::from_secs(10), async {
            let clock = clock();
            let local = LocalRateLimiter::new(clock.clone());
            let config = RedisRateLimiterConfig::default()
                .with_prefix(unique_prefix())
                .with_connection_timeout(Duration::from_millis(100))
                .with_response_timeout(Duration::from_millis(100));
            let redis =
                RedisRateLimiter::connect(&format!("redis://{addr}"), config, clock.clone())
                    .await
                    .unwrap();
            assert!(redis.is_degraded());
            let limit = RateLimit::new(2, Duration::from_secs(60));
            for step in [0, 1, 1, 30, 30] {
                clock.advance(TimeDelta::seconds(step));
                for _ in 0..3 {
                    let expected = local.hit("k", limit).await;
                    assert_eq!(redis.hit("k", limit).await, expected, "at +{step}s");
                }
            }
            assert!(redis.is_degraded());
        })
        .await
        .expect("every hit returns within the timeouts");
        silent.abort();
    }
}
