use std::time::{Duration, Instant};

use axum::http::StatusCode;

use crate::support::*;

#[tokio::test]
async fn auth_unreachable_cached_keys_and_contexts_serve_within_the_ttl_then_503() {
    let ttl = Duration::from_millis(400);
    let w = World::with_config(|c| c.access_ttl(ttl));
    let app = w.app();
    assert_eq!(invoices_status(&app, &w.token).await, StatusCode::OK);
    let started = Instant::now();
    w.source.set_down(true);
    w.jwks.set_down(true);
    // A new token (new signature work) still verifies with the last good keys.
    let fresh = w.key().signed(&claims(w.user, w.session));
    let a = invoices(&app, &fresh).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(started.elapsed() < ttl, "the check ran within the TTL");
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    let a = invoices(&app, &fresh).await;
    a.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "access_unavailable");
    // Back up: answers again at once.
    w.source.set_down(false);
    assert_eq!(invoices_status(&app, &fresh).await, StatusCode::OK);
}

#[tokio::test]
async fn without_events_a_revocation_is_seen_within_the_ttl() {
    let ttl = Duration::from_millis(300);
    let w = World::with_config(|c| c.access_ttl(ttl));
    let app = w.app();
    assert_eq!(invoices_status(&app, &w.token).await, StatusCode::OK);
    assert_eq!(
        call(&app, "/me", Some(&w.token), None).await.status,
        StatusCode::OK
    );
    let revoked_at = Instant::now();
    w.source.revoke(w.session);
    let mut denied = None;
    while revoked_at.elapsed() < ttl * 4 {
        let a = invoices(&app, &w.token).await;
        let b = call(&app, "/me", Some(&w.token), None).await;
        if a.code() == "session_revoked" && b.code() == "session_revoked" {
            denied = Some(revoked_at.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let denied = denied.expect("revocation never seen");
    assert!(
        denied <= ttl + Duration::from_millis(150),
        "seen after {denied:?}, TTL {ttl:?}"
    );
}
