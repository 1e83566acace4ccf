//! Against the real local Redis (`KISUM_TEST_REDIS_URL`); the Redis-down test needs no server.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use kisum_guard::redis::{RedisTier, spawn_follower};
use kisum_guard::{InvalidationEvent, SystemClock};

use crate::support::*;

fn prefix() -> String {
    format!("test-{}:", uuid::Uuid::now_v7())
}

fn url() -> String {
    std::env::var("KISUM_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .expect("needs Redis: set KISUM_TEST_REDIS_URL and run with --include-ignored")
}

fn tier(url: &str, prefix: &str) -> Arc<RedisTier> {
    Arc::new(
        RedisTier::new(
            url,
            prefix,
            Duration::from_secs(30),
            Duration::from_millis(200),
            Arc::new(SystemClock),
        )
        .unwrap(),
    )
}

/// Appends `event` to Auth's stream under `prefix` as a relay does: the next number, the
/// stream's epoch (created on first use).
async fn publish(prefix: &str, event: &InvalidationEvent) {
    let client = redis::Client::open(url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let epoch_key = kisum_guard::stream_epoch_key(prefix, "auth");
    let _: bool = redis::cmd("SET")
        .arg(&epoch_key)
        .arg("test-epoch")
        .arg("NX")
        .query_async(&mut conn)
        .await
        .unwrap_or(false);
    let seq: u64 = redis::cmd("INCR")
        .arg(format!("{prefix}test-seq"))
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: String = redis::cmd("XADD")
        .arg(kisum_guard::stream_key(prefix, "auth"))
        .arg(format!("{seq}-0"))
        .arg("epoch")
        .arg("test-epoch")
        .arg("event")
        .arg(serde_json::to_string(event).unwrap())
        .query_async(&mut conn)
        .await
        .unwrap();
}

/// Follows Auth's stream under `prefix` into `guard`, the stream created first (so the
/// follower starts at its head).
async fn follow(
    url: &str,
    prefix: &str,
    guard: &kisum_guard::AccessGuard,
) -> tokio::task::JoinHandle<()> {
    if let Ok(client) = redis::Client::open(url)
        && let Ok(mut conn) = client.get_multiplexed_async_connection().await
    {
        let _: Result<bool, _> = redis::cmd("SET")
            .arg(kisum_guard::stream_epoch_key(prefix, "auth"))
            .arg("test-epoch")
            .arg("NX")
            .query_async(&mut conn)
            .await;
    }
    spawn_follower(url, prefix, "auth", Arc::new(guard.clone())).unwrap()
}

/// A world whose guard shares contexts in Redis under `prefix`, the member's context resolved
/// once (and shared).
async fn shared_world(prefix: &str) -> World {
    let a = World::build(|c| c, |g| g.shared_tier(tier(&url(), prefix)));
    let r = call(&a.app(), "/invoices", Some(&a.token), Some("acme")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    a
}

/// Another replica of `a`'s guard over the shared tier under `prefix`, whose access source is
/// down: it can serve only what the shared tier holds.
fn replica_over(a: &World, prefix: &str) -> kisum_guard::AccessGuard {
    guard_over(a.jwks.clone(), down_source())
        .shared_tier(tier(&url(), prefix))
        .build()
        .unwrap()
}

async fn until(
    app: &axum::Router,
    token: &str,
    org: Option<&str>,
    path: &str,
    code: &str,
) -> Duration {
    let start = Instant::now();
    loop {
        let a = call(app, path, Some(token), org).await;
        if a.code() == code {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "never denied with {code}: {}",
            a.body
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test]
#[ignore = "needs Redis: set KISUM_TEST_REDIS_URL and run with --include-ignored"]
async fn revocation_and_entitlement_changes_are_denied_within_100ms() {
    let prefix = prefix();
    let p = prefix.clone();
    // A long TTL: only the pushed event can explain a fast denial.
    let w = World::build(
        |c| c.access_ttl(Duration::from_secs(600)),
        |g| g.shared_tier(tier(&url(), &p)),
    );
    let listener = follow(&url(), &prefix, &w.guard).await;
    tokio::time::sleep(Duration::from_millis(200)).await; // subscribed
    let app = w.app();
    assert_eq!(invoices_status(&app, &w.token).await, StatusCode::OK);

    // Core removes the add-on, then publishes.
    w.set_context(|c| {
        c.modules.remove("finance");
        c.entitled_modules.remove("finance");
        c.entitlement_version = 2;
    });
    assert_eq!(
        invoices_status(&app, &w.token).await,
        StatusCode::OK,
        "cached before the event"
    );
    publish(
        &prefix,
        &InvalidationEvent::Company {
            company_id: w.company,
        },
    )
    .await;
    let took = until(
        &app,
        &w.token,
        Some("acme"),
        "/invoices",
        "module_not_entitled",
    )
    .await;
    assert!(
        took < Duration::from_millis(100),
        "entitlement change seen after {took:?}"
    );

    // Auth revokes the session: marker + event.
    publish(
        &prefix,
        &InvalidationEvent::SessionRevoked {
            session_id: w.session,
        },
    )
    .await;
    let took = until(&app, &w.token, None, "/me", "session_revoked").await;
    assert!(
        took < Duration::from_millis(100),
        "revocation seen after {took:?}"
    );
    listener.abort();
}

#[tokio::test]
#[ignore = "needs Redis: set KISUM_TEST_REDIS_URL and run with --include-ignored"]
async fn the_shared_tier_serves_other_guards_and_respects_floors_and_markers() {
    let prefix = prefix();
    let a = shared_world(&prefix).await;
    assert_eq!(a.source.calls(), 1);
    // A second guard (another replica) over the same Redis, whose source is down: served from L2.
    let b = replica_over(&a, &prefix);
    let app_b = app(&b);
    let r = call(&app_b, "/invoices", Some(&a.token), Some("acme")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // An event seen by b writes a floor: a third replica no longer trusts the shared entry.
    tokio::time::sleep(Duration::from_millis(2)).await;
    b.apply(&InvalidationEvent::Company {
        company_id: a.company,
    })
    .await;
    let c = replica_over(&a, &prefix);
    let r = call(&app(&c), "/invoices", Some(&a.token), Some("acme")).await;
    r.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "access_unavailable");
    // A revocation marker written by Auth is honoured on first sight of a token.
    let client = redis::Client::open(url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("SET")
        .arg(kisum_guard::revoked_session_key(&prefix, a.session))
        .arg(1)
        .query_async(&mut conn)
        .await
        .unwrap();
    let d = World::build(|cfg| cfg, |g| g.shared_tier(tier(&url(), &prefix)));
    let token = d.key().signed(&claims(a.user, a.session));
    let appd = d.app();
    let r = call(&appd, "/me", Some(&token), None).await;
    r.assert_problem(StatusCode::UNAUTHORIZED, "session_revoked");
}

#[tokio::test]
async fn redis_down_changes_no_answer() {
    let prefix = prefix();
    let dead = "redis://127.0.0.1:1";
    let w = World::build(|c| c, |g| g.shared_tier(tier(dead, &prefix)));
    let _listener = tokio::time::timeout(Duration::from_secs(3), follow(dead, &prefix, &w.guard))
        .await
        .unwrap();
    let app = w.app();
    let ok = invoices(&app, &w.token).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let denied = call(&app, "/invoices/new", Some(&w.token), Some("acme")).await;
    assert_eq!(denied.code(), "permission_denied");
    assert_eq!(
        call(&app, "/me", Some(&w.token), None).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
#[ignore = "needs Redis: set KISUM_TEST_REDIS_URL and run with --include-ignored"]
async fn a_context_planted_in_redis_for_another_user_or_session_is_not_served() {
    let prefix = prefix();
    let w = World::build(|c| c, |g| g.shared_tier(tier(&url(), &prefix)));
    let app = w.app();
    // Only Redis can answer: the source is down and the memory tier is empty.
    w.source.set_down(true);
    let client = redis::Client::open(url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let pointer = format!("{prefix}access-session:{}:acme", w.session);
    let entry = format!("{prefix}access:planted");
    let context_of = |user, session| w.reader_context(user, session);
    let plant = |user, session| {
        w.key()
            .seal(
                &context_of(user, session),
                kisum_guard::testing::TEST_ISSUER,
            )
            .unwrap()
    };
    for (who, stored) in [
        (
            "another user, same sid",
            plant(kisum_guard::UserId::new(), w.session),
        ),
        (
            "same user, another sid",
            plant(w.user, kisum_guard::SessionId::new()),
        ),
        (
            "the member's own, unsealed (written by whoever can write to Redis)",
            serde_json::json!({
                "resolved_at": now().timestamp_micros(),
                "context": context_of(w.user, w.session),
            })
            .to_string(),
        ),
        ("the member's own", plant(w.user, w.session)),
    ] {
        let _: () = redis::pipe()
            .set_ex(&entry, stored, 60)
            .ignore()
            .set_ex(&pointer, &entry, 60)
            .ignore()
            .query_async(&mut conn)
            .await
            .unwrap();
        let a = invoices(&app, &w.token).await;
        if who == "the member's own" {
            assert_eq!(a.status, StatusCode::OK, "{who}: {}", a.body);
        } else {
            assert_eq!(
                (a.status, a.code().as_str()),
                (StatusCode::SERVICE_UNAVAILABLE, "access_unavailable"),
                "{who}: {}",
                a.body
            );
        }
    }
}

/// A guard that missed events (a gap: it flushes) hides every shared context from every guard,
/// not only its own memory: another replica whose source is down then finds nothing to serve.
#[tokio::test]
#[ignore = "needs Redis: set KISUM_TEST_REDIS_URL and run with --include-ignored"]
async fn a_flush_hides_every_shared_context_from_every_guard() {
    let prefix = prefix();
    let a = shared_world(&prefix).await;
    let replica = || replica_over(&a, &prefix);
    let b = replica();
    let r = call(&app(&b), "/invoices", Some(&a.token), Some("acme")).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "served from the shared tier: {}",
        r.body
    );
    tokio::time::sleep(Duration::from_millis(2)).await;
    kisum_guard::follow::Follower::missed(&a.guard, kisum_guard::follow::Missed::Gap).await;
    let c = replica();
    let r = call(&app(&c), "/invoices", Some(&a.token), Some("acme")).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "access_unavailable"),
        "a flushed shared tier serves nothing resolved before the flush"
    );
}
