//! A cached context is served only to the user and session it was resolved for: on every hit,
//! in the in-process tier and in the shared tier, its `user_id` must be the token's `sub` and its
//! `session_id` the token's `sid`, whatever key it was found under; anything else is a miss.

use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use kisum_guard::guard::SharedTier;
use kisum_guard::{AccessContext, InvalidationEvent, SessionId, UserId};

use crate::support::*;

/// A shared tier answering whatever seal was planted in it, for any session and org.
#[derive(Default)]
struct PlantedTier {
    planted: Mutex<Option<String>>,
}

impl PlantedTier {
    fn plant(&self, seal: String) {
        *self.planted.lock().unwrap() = Some(seal);
    }
}

#[async_trait::async_trait]
impl SharedTier for PlantedTier {
    async fn get(&self, _session: SessionId, _org: &str) -> Option<String> {
        self.planted.lock().unwrap().clone()
    }
    async fn floor(
        &self,
        _company: kisum_guard::CompanyId,
        _membership: kisum_guard::MembershipId,
    ) -> Option<i64> {
        Some(i64::MIN)
    }
    async fn put(
        &self,
        _session: SessionId,
        _org: &str,
        _context: &AccessContext,
        _seal: &str,
        _ttl: std::time::Duration,
    ) {
    }
    async fn is_revoked(&self, _session: SessionId) -> Option<bool> {
        Some(false)
    }
    async fn on_event(&self, _event: &InvalidationEvent) {}
}

/// A world whose only answers come from a [`PlantedTier`] (the source is down); the tier, the
/// world and its app.
fn planted_world() -> (Arc<PlantedTier>, World, axum::Router) {
    let tier = Arc::new(PlantedTier::default());
    let t = tier.clone();
    let w = World::build(|c| c, |g| g.shared_tier(t));
    let app = w.app();
    w.source.set_down(true);
    (tier, w, app)
}

/// The context of `user`'s `session`, sealed with Auth's key.
fn planted_for(w: &World, user: UserId, session: SessionId) -> String {
    w.key().seal(&w.reader_context(user, session), ISS).unwrap()
}

#[tokio::test]
async fn the_memory_tier_does_not_serve_a_context_to_another_user_with_the_same_sid() {
    let w = World::new();
    let app = w.app();
    let ok = invoices(&app, &w.token).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(w.source.calls(), 1);
    // A properly signed token for another user that carries the member's `sid`: its cache key
    // is the member's, but the member's context is not its own.
    let intruder = w.key().signed(&claims(UserId::new(), w.session));
    let a = invoices(&app, &intruder).await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (StatusCode::FORBIDDEN, "not_a_member"),
        "answered by the source, not from the member's cached context: {}",
        a.body
    );
    assert_eq!(w.source.calls(), 2, "a miss");
    // With the source down the intruder gets nothing cached either.
    w.source.set_down(true);
    let a = invoices(&app, &intruder).await;
    a.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "access_unavailable");
    // The member is still served from the cache.
    let a = invoices(&app, &w.token).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
}

#[tokio::test]
async fn the_shared_tier_does_not_serve_another_users_or_sessions_context_under_the_key() {
    // Only the shared tier can answer: the source is down and the memory tier is empty.
    let (tier, w, app) = planted_world();
    for (who, planted) in [
        (
            "another user, same sid",
            planted_for(&w, UserId::new(), w.session),
        ),
        (
            "same user, another sid",
            planted_for(&w, w.user, SessionId::new()),
        ),
    ] {
        tier.plant(planted);
        let a = invoices(&app, &w.token).await;
        assert_eq!(
            (a.status, a.code().as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, "access_unavailable"),
            "{who}: {}",
            a.body
        );
    }
    // Control: the member's own context under the same key is served.
    tier.plant(planted_for(&w, w.user, w.session));
    let a = invoices(&app, &w.token).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    // Now in the memory tier too, and not served from there to another user with the sid.
    tier.plant(planted_for(&w, UserId::new(), w.session));
    let intruder = w.key().signed(&claims(UserId::new(), w.session));
    let a = invoices(&app, &intruder).await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "access_unavailable"),
        "{}",
        a.body
    );
}

/// A party that can write to the shared tier (Redis) but does not hold Auth's key cannot plant a
/// context: unsealed, sealed with another key, sealed for another issuer, or a token passed off
/// as a seal — each is a miss (decision 0015).
#[tokio::test]
async fn a_context_planted_without_auths_seal_is_not_served() {
    let (tier, w, app) = planted_world();
    let mine = w.reader_context(w.user, w.session);
    let forger = kisum_guard::testing::TestKey::new(w.key().kid()).unwrap();
    for (who, planted) in [
        ("unsealed JSON", serde_json::to_string(&mine).unwrap()),
        (
            "sealed with another key under Auth's kid",
            forger.seal(&mine, ISS).unwrap(),
        ),
        (
            "sealed for another issuer",
            w.key().seal(&mine, "https://evil.example").unwrap(),
        ),
        ("an access token passed off as a seal", w.token.clone()),
    ] {
        tier.plant(planted);
        let a = invoices(&app, &w.token).await;
        assert_eq!(
            (a.status, a.code().as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, "access_unavailable"),
            "{who}: {}",
            a.body
        );
    }
    // Control: Auth's seal of the same context is served.
    tier.plant(w.key().seal(&mine, ISS).unwrap());
    let a = invoices(&app, &w.token).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
}

/// A sealed context from the shared tier is served only within the TTL of its resolution
/// (decision 0015): storing or copying it never extends its life.
#[tokio::test]
async fn a_shared_context_older_than_the_ttl_is_not_served() {
    let (tier, w, app) = planted_world();
    let mut old = w.reader_context(w.user, w.session);
    old.computed_at = now() - chrono::TimeDelta::seconds(31);
    tier.plant(w.key().seal(&old, ISS).unwrap());
    let a = invoices(&app, &w.token).await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "access_unavailable"),
        "resolved 31 s ago, TTL 30 s: {}",
        a.body
    );
    old.computed_at = now() - chrono::TimeDelta::seconds(20);
    tier.plant(w.key().seal(&old, ISS).unwrap());
    let a = invoices(&app, &w.token).await;
    assert_eq!(a.status, StatusCode::OK, "resolved 20 s ago: {}", a.body);
}
