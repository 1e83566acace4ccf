use axum::http::StatusCode;
use kisum_guard::ConsistencyToken;

use crate::support::*;

#[tokio::test]
async fn every_denial_says_why_in_its_code() {
    let w = World::new();
    let app = w.app();
    let t = Some(w.token.as_str());
    let cases = [
        ("/invoices", None, StatusCode::BAD_REQUEST, "org_required"),
        (
            "/invoices",
            Some("  "),
            StatusCode::BAD_REQUEST,
            "org_required",
        ),
        (
            "/invoices",
            Some("globex"),
            StatusCode::NOT_FOUND,
            "org_unknown",
        ),
        (
            "/invoices/new",
            Some("acme"),
            StatusCode::FORBIDDEN,
            "permission_denied",
        ),
        (
            "/market",
            Some("acme"),
            StatusCode::FORBIDDEN,
            "module_not_granted",
        ),
        (
            "/touring",
            Some("acme"),
            StatusCode::FORBIDDEN,
            "module_not_entitled",
        ),
    ];
    for (path, org, status, code) in cases {
        let method = if path == "/invoices/new" {
            "POST"
        } else {
            "GET"
        };
        let a = call_with(&app, method, path, t, org, &[("x-request-id", "req-42")]).await;
        assert_eq!(a.status, status, "{path} {org:?}: {}", a.body);
        assert_eq!(a.code(), code, "{path} {org:?}");
        assert_eq!(a.json()["request_id"], "req-42");
        assert_eq!(a.json()["type"], format!("urn:kisum:problem:{code}"));
        assert_eq!(a.headers["x-request-id"], "req-42");
        assert!(a.headers.get("www-authenticate").is_none());
    }
    // Not a member: a user of no company.
    let stranger = w.key().signed(&claims(
        kisum_guard::UserId::new(),
        kisum_guard::SessionId::new(),
    ));
    let a = invoices(&app, &stranger).await;
    a.assert_problem(StatusCode::FORBIDDEN, "not_a_member");
    // The source's revocation answer, once the cached context is gone.
    w.source.revoke(w.session);
    w.guard.invalidate_all().await;
    let a = call(&app, "/invoices", t, Some("acme")).await;
    a.assert_problem(StatusCode::UNAUTHORIZED, "session_revoked");
}

#[tokio::test]
async fn any_of_passes_on_one_permission_and_all_of_needs_every_one() {
    let w = World::new();
    let app = w.app();
    assert_eq!(
        call(&app, "/any", Some(&w.token), Some("acme"))
            .await
            .status,
        StatusCode::OK
    );
    w.set_context(|c| c.permissions = kisum_guard::PermissionSet::new());
    w.guard.invalidate_all().await;
    let a = call(&app, "/any", Some(&w.token), Some("acme")).await;
    a.assert_problem(StatusCode::FORBIDDEN, "permission_denied");
}

#[tokio::test]
async fn extractors_tell_public_routes_from_missing_guards() {
    let w = World::new();
    let app = w.app();
    assert_eq!(call(&app, "/public", None, None).await.body, "anonymous");
    assert_eq!(
        call(&app, "/public", Some(&w.token), None).await.body,
        w.user.to_string()
    );
    // A present but invalid token is still refused on a public route.
    assert_eq!(
        call(&app, "/public", Some("garbage"), None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&app, "/me", Some(&w.token), None).await.body,
        w.user.to_string()
    );
    let a = call(&app, "/unguarded", Some(&w.token), None).await;
    assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(a.code(), "guard_missing");
    // Access asked for on a route whose requirement resolves none: a wiring error too, with
    // its own code (the guard is there, its requirement names no company).
    let a = call(&app, "/me/access", Some(&w.token), Some("acme")).await;
    a.assert_problem(StatusCode::INTERNAL_SERVER_ERROR, "access_not_resolved");
}

#[tokio::test]
async fn contexts_are_cached_and_a_consistency_token_bypasses_an_older_one() {
    let w = World::new();
    let app = w.app();
    for _ in 0..5 {
        assert_eq!(invoices_status(&app, &w.token).await, StatusCode::OK);
    }
    assert_eq!(w.source.calls(), 1, "one resolution, then the cache");
    // A write raised the access version; no event reached this guard.
    w.set_context(|c| c.access_version = 2);
    let (company, membership) = {
        let c = w.context();
        (c.company_id, c.membership_id)
    };
    let a = invoices(&app, &w.token).await;
    assert!(a.body.ends_with(" 1"), "served from the cache: {}", a.body);
    let token = ConsistencyToken::membership(company, membership, 2).to_string();
    let a = call_with(
        &app,
        "GET",
        "/invoices",
        Some(&w.token),
        Some("acme"),
        &[("x-kisum-consistency", &token)],
    )
    .await;
    assert!(a.body.ends_with(" 2"), "read-your-writes: {}", a.body);
    assert_eq!(w.source.calls(), 2);
    let a = call_with(
        &app,
        "GET",
        "/invoices",
        Some(&w.token),
        Some("acme"),
        &[("x-kisum-consistency", "v9.nope")],
    )
    .await;
    a.assert_problem(StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn applied_events_evict_at_once() {
    let w = World::new();
    let app = w.app();
    assert_eq!(invoices_status(&app, &w.token).await, StatusCode::OK);
    w.set_context(|c| {
        c.modules.remove("finance");
        c.entitled_modules.remove("finance");
    });
    assert_eq!(
        invoices_status(&app, &w.token).await,
        StatusCode::OK,
        "cached"
    );
    w.guard
        .apply(&kisum_guard::InvalidationEvent::Company {
            company_id: w.company,
        })
        .await;
    let a = invoices(&app, &w.token).await;
    a.assert_problem(StatusCode::FORBIDDEN, "module_not_entitled");
    w.guard
        .apply(&kisum_guard::InvalidationEvent::SessionRevoked {
            session_id: w.session,
        })
        .await;
    let a = call(&app, "/me", Some(&w.token), None).await;
    a.assert_problem(StatusCode::UNAUTHORIZED, "session_revoked");
}
