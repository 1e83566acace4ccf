//! Signing-key rotation as a guard sees it (decision 0016): a new kid is accepted at first
//! sight, and a retired key's tokens stop passing, including those in the verified-token cache,
//! whether the `KeyRotated` event arrives or only the periodic key refresh does.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use kisum_guard::InvalidationEvent;
use kisum_guard::jwks::{JwksDocument, JwksError, JwksSource};

use crate::support::*;

async fn status(w: &World, token: &str) -> StatusCode {
    invoices_status(&w.app(), token).await
}

#[tokio::test]
async fn a_new_kid_is_accepted_at_first_sight_with_one_refetch() {
    // A long refetch interval: the first refetch for an unknown kid is never held back.
    let w = World::with_config(|c| c.jwks_min_refetch_interval(Duration::from_secs(60)));
    assert_eq!(status(&w, &w.token).await, StatusCode::OK);
    assert_eq!(w.jwks.fetches(), 1);
    // Auth publishes a new key and (after its lead time) signs with it; this guard's keys are
    // still fresh, so only the unknown kid makes it look again.
    let next = TestKey::new("k2").unwrap();
    w.jwks.set(jwks(&[w.key(), &next]));
    let token = next.signed(&claims(w.user, w.session));
    assert_eq!(status(&w, &token).await, StatusCode::OK);
    assert_eq!(w.jwks.fetches(), 2, "one refetch, at first sight");
    for _ in 0..3 {
        let token = next.signed(&claims(w.user, w.session));
        assert_eq!(status(&w, &token).await, StatusCode::OK);
    }
    assert_eq!(w.jwks.fetches(), 2, "known from then on");
}

#[tokio::test]
async fn a_retired_keys_cached_tokens_fail_once_the_key_rotated_event_arrives() {
    let w = World::new();
    let next = TestKey::new("k2").unwrap();
    let next_token = next.signed(&claims(w.user, w.session));
    w.jwks.set(jwks(&[w.key(), &next]));
    assert_eq!(status(&w, &w.token).await, StatusCode::OK, "k1, cached now");
    assert_eq!(status(&w, &next_token).await, StatusCode::OK);
    // k1 retired at Auth; this guard's keys are fresh for minutes.
    w.jwks.set(jwks(&[&next]));
    assert_eq!(status(&w, &w.token).await, StatusCode::OK, "not told yet");
    w.guard.apply(&InvalidationEvent::KeyRotated).await;
    assert_eq!(w.guard.keys().kids(), ["k2"]);
    assert_eq!(status(&w, &w.token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status(&w, &next_token).await, StatusCode::OK);
}

#[tokio::test]
async fn a_retired_keys_cached_tokens_fail_after_the_next_key_refresh_without_an_event() {
    let refresh = Duration::from_millis(200);
    let w = World::with_config(|mut c| {
        // The source gives no max-age: the guard refreshes its keys this often.
        c.keys.default_max_age = refresh;
        c
    });
    let fetched = Instant::now();
    assert_eq!(status(&w, &w.token).await, StatusCode::OK, "k1, cached now");
    w.jwks.set(jwks(&[]));
    assert_eq!(
        status(&w, &w.token).await,
        StatusCode::OK,
        "until the keys are refreshed"
    );
    // Only the cached token is presented: its hits alone start the refresh that retires k1.
    let mut refused = None;
    while fetched.elapsed() < refresh * 20 {
        if status(&w, &w.token).await == StatusCode::UNAUTHORIZED {
            refused = Some(fetched.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let refused = refused.expect("the cached token of a retired key keeps passing");
    assert!(refused >= refresh, "refused after {refused:?}");
    assert!(w.guard.keys().kids().is_empty());
}

/// Counts every fetch attempt, failed or not.
struct Attempts {
    inner: Arc<TestJwks>,
    attempts: AtomicU64,
}

#[async_trait::async_trait]
impl JwksSource for Attempts {
    async fn fetch(&self) -> Result<JwksDocument, JwksError> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        self.inner.fetch().await
    }
}

#[tokio::test]
async fn an_unreachable_jwks_keeps_cached_tokens_passing_and_is_retried_at_the_refetch_interval() {
    let w = World::new();
    let source = Arc::new(Attempts {
        inner: w.jwks.clone(),
        attempts: AtomicU64::new(0),
    });
    let guard = guard_over(source.clone(), w.source.clone())
        .configure(|mut c| {
            c.keys.default_max_age = Duration::from_millis(50);
            c.jwks_min_refetch_interval(Duration::from_secs(60))
        })
        .build()
        .unwrap();
    let app = app(&guard);
    assert_eq!(invoices_status(&app, &w.token).await, StatusCode::OK);
    assert_eq!(source.attempts.load(Ordering::SeqCst), 1);
    w.jwks.set_down(true);
    tokio::time::sleep(Duration::from_millis(100)).await;
    for _ in 0..20 {
        assert_eq!(
            invoices_status(&app, &w.token).await,
            StatusCode::OK,
            "last good keys"
        );
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        source.attempts.load(Ordering::SeqCst),
        2,
        "one background attempt, then none before the refetch interval"
    );
}
