//! Fault tests of the invalidation stream (issue 13, decision 0015), multi-process: `kisum core`,
//! two `kisum auth` replicas and `kisum module --name finance` on PostgreSQL and a private
//! `redis-server` that the tests kill, restart, flush and trim. They print the figures of
//! docs/benchmarks.md ("Invalidation"); run them alone with
//!
//! ```text
//! KISUM_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//! KISUM_TEST_REDIS_URL=redis://127.0.0.1:6379 \
//! cargo nextest run -p kisum-servers --run-ignored all --no-capture -E 'test(/^freshness::/)'
//! ```
//!
//! They run one at a time (the nextest group `freshness` of `.config/nextest.toml`, and a lock
//! here for `cargo test`): each starts five processes, and timing is what they check.

mod observe;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::separate::{Deployment, Options, Which};
use observe::{Figures, Rng, Write, until, watch, write};

/// One test of this module at a time under `cargo test` too.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const NEEDS: &str = "needs PostgreSQL and Redis: set KISUM_TEST_DATABASE_URL and KISUM_TEST_REDIS_URL (redis-server installed) and run with --include-ignored";

/// The bound after Redis returns and for a guard that catches up.
const SECOND: Duration = Duration::from_secs(1);

fn needs_backends() {
    assert!(
        std::env::var("KISUM_TEST_REDIS_URL").is_ok_and(|u| !u.is_empty()),
        "{NEEDS}"
    );
}

/// A deployment (`o`) with the member signed in at Auth replica 0 (the token response) and
/// answered 200 by the finance backend, which has cached the context; the guard keeps the
/// other tests of this module out until dropped.
async fn member_served(
    o: Options,
) -> (
    tokio::sync::MutexGuard<'static, ()>,
    Deployment,
    serde_json::Value,
) {
    needs_backends();
    let serial = SERIAL.lock().await;
    let d = Deployment::start(o).await;
    let first = d.login(0).await;
    let token = first["access_token"].as_str().unwrap();
    until(&d, &d.module_url, token, 200, Duration::from_secs(10)).await;
    (serial, d, first)
}

/// Thaws the frozen finance backend: the member's answer turns 403 within a second (`what`
/// names the figure printed).
async fn thaw_until_denied(d: &Deployment, token: &str, what: &str) {
    d.module.thaw();
    let back = Instant::now();
    let seen = watch(d, &d.module_url, token, (200, 403), back, SECOND).await;
    println!("freshness: {what} in {:?}", seen.propagation);
}

/// The finance backend answers `token` with 503 `access_unavailable` (`why`: the situation).
async fn assert_unavailable(d: &Deployment, token: &str, why: &str) {
    let a = d.guarded_at(&d.module_url, token).await;
    assert_eq!(
        (a.status, a.body["code"].as_str()),
        (503, Some("access_unavailable")),
        "{why}: {}",
        a.body
    );
}

/// The finance backend serves `token` the context it cached, when that was resolved after
/// `before` and within `ttl` of now (otherwise nothing is checked).
async fn assert_cached(d: &Deployment, token: &str, before: Instant, ttl: Duration) {
    let a = d.guarded_at(&d.module_url, token).await;
    if before.elapsed() < ttl {
        assert_eq!(
            a.status, 200,
            "a cached context is served within the TTL: {}",
            a.body
        );
    }
}

/// The state of the private Redis, shared with the thread that kills and restarts it.
#[derive(Default)]
struct Chaos {
    stop: AtomicBool,
    up: AtomicBool,
    kills: AtomicU64,
    restarts: AtomicU64,
}

/// Redis killed and restarted at random moments (seeded) during 1,000 mixed writes at both
/// Auth replicas and at Core, while the finance backend's guard serves the member: every change
/// shows, none is served older than the TTL, with Redis up the p99 is within 100 ms, and after
/// Redis returns a logout reaches the backend within a second.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL and Redis: set KISUM_TEST_DATABASE_URL and KISUM_TEST_REDIS_URL (redis-server installed) and run with --include-ignored"]
async fn redis_killed_and_restarted_during_1000_writes_never_serves_past_the_ttl() {
    let started = Instant::now();
    let ttl = Duration::from_secs(5);
    let (_serial, mut d, first) = member_served(Options {
        ttl,
        ..Options::default()
    })
    .await;
    let mut token = first["access_token"].as_str().unwrap().to_owned();
    let module = d.module_url.clone();
    let mut rng = Rng::seeded();
    let chaos = Arc::new(Chaos::default());
    chaos.up.store(true, Ordering::SeqCst);
    let mut redis = d.redis.take().unwrap();
    let mut schedule = Rng::from_seed(rng.next());
    let killer = std::thread::spawn({
        let chaos = Arc::clone(&chaos);
        move || {
            while !chaos.stop.load(Ordering::SeqCst) {
                std::thread::sleep(schedule.millis(1_500, 4_000));
                if chaos.stop.load(Ordering::SeqCst) {
                    break;
                }
                chaos.up.store(false, Ordering::SeqCst);
                chaos.kills.fetch_add(1, Ordering::SeqCst);
                redis.down();
                std::thread::sleep(schedule.millis(200, 2_000));
                redis.up();
                chaos.restarts.fetch_add(1, Ordering::SeqCst);
                chaos.up.store(true, Ordering::SeqCst);
            }
            redis
        }
    });

    let (mut with_redis, mut outage, mut after_restart) = (Vec::new(), Vec::new(), Vec::new());
    let mut worst = Duration::ZERO;
    let mut off: Option<Write> = None;
    let mut restarts_seen = 0;
    for i in 0..1_000 {
        let restarts = chaos.restarts.load(Ordering::SeqCst);
        let kills = chaos.kills.load(Ordering::SeqCst);
        let up = chaos.up.load(Ordering::SeqCst);
        let just_back = up && restarts > restarts_seen;
        let w = match off {
            Some(Write::RoleOff) => Write::RoleOn,
            Some(_) => Write::AddonOn,
            None if just_back || rng.one_in(25) => Write::Logout,
            None if rng.one_in(2) => Write::RoleOff,
            None => Write::AddonOff,
        };
        let old = off.map_or(200, Write::answer);
        let done = write(&d, w, &token, i % 2).await;
        let seen = watch(&d, &module, &token, (old, w.answer()), done, ttl).await;
        worst = worst.max(seen.staleness);
        let undisturbed = up && chaos.kills.load(Ordering::SeqCst) == kills;
        if w == Write::Logout && just_back {
            restarts_seen = restarts;
            assert!(
                seen.propagation <= SECOND,
                "after Redis returned, a logout took {:?} to reach the backend\n{}",
                seen.propagation,
                d.logs()
            );
            after_restart.push(seen.propagation);
        } else if undisturbed {
            with_redis.push(seen.propagation);
        } else {
            outage.push(seen.propagation);
        }
        off = match w {
            Write::RoleOff | Write::AddonOff => Some(w),
            Write::Logout => {
                let replica = usize::from(rng.one_in(2));
                token = d.login(replica).await["access_token"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                until(&d, &module, &token, 200, ttl).await;
                None
            }
            Write::RoleOn | Write::AddonOn => None,
        };
    }
    chaos.stop.store(true, Ordering::SeqCst);
    d.redis = Some(killer.join().unwrap());
    let kills = chaos.kills.load(Ordering::SeqCst);
    let (r, o, a) = (
        Figures::of(&with_redis),
        Figures::of(&outage),
        Figures::of(&after_restart),
    );
    println!("freshness: redis killed {kills} times during 1000 writes (ttl {ttl:?})");
    println!("freshness: propagation with redis up:            {r}");
    println!("freshness: propagation of writes during an outage: {o}");
    println!("freshness: logout right after redis returned:     {a}");
    println!(
        "freshness: worst staleness observed: {:.1} ms (bound: the ttl, {ttl:?})",
        worst.as_secs_f64() * 1000.0
    );
    println!(
        "freshness: wall time {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        kills >= 1,
        "Redis was never killed: the test proved nothing"
    );
    assert!(
        !after_restart.is_empty(),
        "no logout right after a restart was measured"
    );
    assert!(
        worst < ttl,
        "a state older than the TTL was served: {worst:?}"
    );
    assert!(
        r.p99 <= 100.0,
        "with Redis up, propagation p99 must be within 100 ms: {r}"
    );
}

/// Without Redis, guards follow Auth's long poll: every change shows within a second (p99),
/// far within the TTL.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL and Redis: set KISUM_TEST_DATABASE_URL and KISUM_TEST_REDIS_URL (redis-server installed) and run with --include-ignored"]
async fn without_redis_the_long_poll_delivers_changes_within_a_second() {
    let started = Instant::now();
    let ttl = Duration::from_secs(30);
    let (_serial, d, first) = member_served(Options {
        redis: false,
        ttl,
        ..Options::default()
    })
    .await;
    let token = first["access_token"].as_str().unwrap().to_owned();
    let module = d.module_url.clone();
    let mut all = Vec::new();
    for i in 0..200 {
        let w = [
            Write::RoleOff,
            Write::RoleOn,
            Write::AddonOff,
            Write::AddonOn,
        ][i % 4];
        let old = if matches!(w, Write::RoleOn | Write::AddonOn) {
            403
        } else {
            200
        };
        let done = write(&d, w, &token, (i / 2) % 2).await;
        let seen = watch(&d, &module, &token, (old, w.answer()), done, ttl).await;
        all.push(seen.propagation);
    }
    let f = Figures::of(&all);
    println!("freshness: propagation over the long poll (no redis): {f}");
    println!(
        "freshness: wall time {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        f.p99 <= 1000.0,
        "long-poll propagation p99 must be within 1 s: {f}"
    );
}

/// A guard cut off from the stream for a while (frozen, its Redis connection killed) catches
/// up from the last event it applied when it returns: the change made meanwhile shows within a
/// second although its cached context would live for a minute, and it flushed nothing.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL and Redis: set KISUM_TEST_DATABASE_URL and KISUM_TEST_REDIS_URL (redis-server installed) and run with --include-ignored"]
async fn a_disconnected_guard_catches_up_from_its_last_event_without_a_flush() {
    let (_serial, d, first) = member_served(Options {
        ttl: Duration::from_secs(60),
        ..Options::default()
    })
    .await;
    let token = first["access_token"].as_str().unwrap().to_owned();
    let module = d.module_url.clone();
    let missed = d.metric(&module, "kisum_events_missed_total").await;

    d.module.freeze();
    for (i, w) in [Write::AddonOff, Write::AddonOn, Write::RoleOff]
        .into_iter()
        .enumerate()
    {
        write(&d, w, &token, i % 2).await;
    }
    let redis = d.redis.as_ref().unwrap();
    let _: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("normal")
        .arg("SKIPME")
        .arg("yes")
        .query_async(&mut redis.conn().await)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    thaw_until_denied(&d, &token, "a guard back after 2 s away caught up").await;
    assert_eq!(
        d.metric(&module, "kisum_events_missed_total").await,
        missed,
        "catching up must not flush"
    );
}

/// A stream trimmed past a guard's position (a tiny `KISUM_EVENTS_STREAM_MAX_LEN`) makes the
/// guard flush when it returns: the change it missed shows at once, and the gap is counted.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL and Redis: set KISUM_TEST_DATABASE_URL and KISUM_TEST_REDIS_URL (redis-server installed) and run with --include-ignored"]
async fn a_stream_trimmed_past_a_guard_makes_it_flush() {
    let (_serial, d, first) = member_served(Options {
        ttl: Duration::from_secs(60),
        stream_max_len: Some(4),
        // Small stream nodes, so that `MAXLEN ~ 4` trims close to 4.
        redis_args: &["--stream-node-max-entries", "2"],
        ..Options::default()
    })
    .await;
    let token = first["access_token"].as_str().unwrap().to_owned();
    let module = d.module_url.clone();
    let gaps = d
        .metric(&module, "kisum_events_missed_total{why=\"gap\"}")
        .await;

    d.module.freeze();
    // The role off first, then 20 more events: the role-off event is trimmed away.
    write(&d, Write::RoleOff, &token, 0).await;
    for i in 0..10 {
        write(&d, Write::AddonOff, &token, i % 2).await;
        write(&d, Write::AddonOn, &token, i % 2).await;
    }
    let redis = d.redis.as_ref().unwrap();
    let mut conn = redis.conn().await;
    let len: u64 = redis::cmd("XLEN")
        .arg("kisum:events:auth")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(len < 21, "the stream was not trimmed ({len} entries)");
    thaw_until_denied(
        &d,
        &token,
        "a guard behind a trimmed stream flushed and showed the change",
    )
    .await;
    assert!(
        d.metric(&module, "kisum_events_missed_total{why=\"gap\"}")
            .await
            > gaps,
        "the gap must be counted"
    );
}

/// Redis emptied without a restart (`FLUSHALL`): the relay writes the stream's epoch again, so
/// a guard started afterwards follows the stream, and every guard sees changes at once.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL and Redis: set KISUM_TEST_DATABASE_URL and KISUM_TEST_REDIS_URL (redis-server installed) and run with --include-ignored"]
async fn after_flushall_the_stream_is_established_again_for_new_guards() {
    needs_backends();
    let _serial = SERIAL.lock().await;
    let mut d = Deployment::start(Options {
        ttl: Duration::from_secs(60),
        ..Options::default()
    })
    .await;
    let mut conn = d.redis.as_ref().unwrap().conn().await;
    let _: () = redis::cmd("FLUSHALL").query_async(&mut conn).await.unwrap();
    let flushed = Instant::now();
    loop {
        let epoch: Option<String> = redis::cmd("GET")
            .arg("kisum:events:auth:epoch")
            .query_async(&mut conn)
            .await
            .unwrap();
        if epoch.is_some() {
            break;
        }
        assert!(
            flushed.elapsed() < Duration::from_secs(3),
            "the relay did not write the stream's epoch again\n{}",
            d.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "freshness: stream re-established {:?} after FLUSHALL",
        flushed.elapsed()
    );
    let (second, url) = d.another_module().await;
    let token = d.login(1).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    until(&d, &url, &token, 200, Duration::from_secs(10)).await;
    until(&d, &d.module_url, &token, 200, Duration::from_secs(10)).await;
    let done = write(&d, Write::RoleOff, &token, 1).await;
    watch(&d, &url, &token, (200, 403), done, SECOND).await;
    watch(&d, &d.module_url, &token, (200, 403), done, SECOND).await;
    drop(second);
}

/// Core down and Auth down behave as docs/operations.md's runbooks say. Core down: sign-in,
/// refresh and logout work (a logout reaches the guard at once), a guard serves what it cached
/// until the TTL and then answers 503 `access_unavailable`, as Auth's `/v1/auth/me/access`
/// answers 503. Auth down: a guard serves what it cached until the TTL, then 503
/// `access_unavailable`. Both recover by themselves when the component returns.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL and Redis: set KISUM_TEST_DATABASE_URL and KISUM_TEST_REDIS_URL (redis-server installed) and run with --include-ignored"]
async fn core_down_and_auth_down_behave_as_the_runbooks_say() {
    use reqwest::Method;
    needs_backends();
    let _serial = SERIAL.lock().await;
    let ttl = Duration::from_secs(3);
    let mut d = Deployment::start(Options {
        ttl,
        ..Options::default()
    })
    .await;
    let module = d.module_url.clone();
    let first = d.login(0).await;
    let token = first["access_token"].as_str().unwrap().to_owned();
    // Every context the guard caches from here on was resolved after `before`.
    let before = Instant::now();
    until(&d, &module, &token, 200, Duration::from_secs(10)).await;

    // Core down.
    d.core.kill();
    assert_cached(&d, &token, before, ttl).await;
    let cached_at = Instant::now();
    let other = d.login(1).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let refreshed = d
        .call(
            Method::POST,
            &format!("{}/v1/auth/refresh", d.auth_urls[0]),
            None,
            Some(serde_json::json!({"refresh_token": first["refresh_token"]})),
        )
        .await;
    assert_eq!(
        refreshed.status, 200,
        "refresh with Core down: {}",
        refreshed.body
    );
    assert_unavailable(&d, &other, "a context not cached, without Core").await;
    let done = write(&d, Write::Logout, &other, 1).await;
    watch(&d, &module, &other, (503, 401), done, SECOND).await;
    tokio::time::sleep(ttl.saturating_sub(cached_at.elapsed()) + Duration::from_millis(200)).await;
    assert_unavailable(&d, &token, "past the TTL without Core").await;
    let access = d
        .call(
            Method::GET,
            &format!("{}/v1/auth/me/access", d.auth_urls[0]),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(access.status, 503, "{}", access.body);
    d.core.start();
    let core = d.core_url.clone();
    d.healthy(&core, Which::Core).await;
    let before = Instant::now();
    until(&d, &module, &token, 200, Duration::from_secs(10)).await;

    // Auth down (both replicas).
    d.auth[0].kill();
    d.auth[1].kill();
    assert_cached(&d, &token, before, ttl).await;
    tokio::time::sleep(ttl + Duration::from_millis(200)).await;
    assert_unavailable(&d, &token, "past the TTL without Auth").await;
    d.auth[0].start();
    let a = d.auth_urls[0].clone();
    d.healthy(&a, Which::Auth(0)).await;
    until(&d, &module, &token, 200, Duration::from_secs(10)).await;
}
