//! Database down: every SQL store answers `Unavailable` — never a panic, never a wrong answer.

use kisum_core::db::StoreErrorKind;
use kisum_guard::CompanyId;

#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_down_is_unavailable() {
    use kisum_auth::{DirectoryStore, PgAuthStore, SessionStore, UserStore};
    use kisum_core::{PgCoreStore, SubscriptionStore};
    use kisum_guard::{SessionId, UserId};

    let err = PgAuthStore::connect("postgres://kisum@127.0.0.1:1/kisum")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Unavailable, "{err}");

    // A store whose server goes away after start: every read fails the same way.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(std::time::Duration::from_millis(500))
        .connect_lazy("postgres://kisum@127.0.0.1:1/kisum")
        .unwrap();
    let auth = PgAuthStore::new(pool.clone());
    assert_eq!(
        auth.get_user(UserId::new()).await.unwrap_err().kind(),
        StoreErrorKind::Unavailable
    );
    assert_eq!(
        auth.get_session(SessionId::new()).await.unwrap_err().kind(),
        StoreErrorKind::Unavailable
    );
    assert_eq!(
        auth.load_access(CompanyId::new(), UserId::new())
            .await
            .unwrap_err()
            .kind(),
        StoreErrorKind::Unavailable
    );
    let core = PgCoreStore::new(pool);
    assert_eq!(
        core.company_state(CompanyId::new())
            .await
            .unwrap_err()
            .kind(),
        StoreErrorKind::Unavailable
    );
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn sqlite_file_that_cannot_be_opened_is_unavailable() {
    use kisum_auth::SqliteAuthStore;

    let err = SqliteAuthStore::connect("sqlite:///nonexistent-dir/for/sure/kisum.db")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Unavailable, "{err}");
}

#[tokio::test]
async fn access_resolution_reports_unavailability_not_a_denial() {
    use std::sync::Arc;

    use async_trait::async_trait;
    use kisum_auth::{AccessError, AccessService, EntitlementSource};
    use kisum_core::Entitlements;
    use kisum_core::db::StoreError;
    use kisum_guard::SystemClock;

    /// Core is down.
    struct Down;

    #[async_trait]
    impl EntitlementSource for Down {
        async fn entitlements(&self, _: CompanyId) -> Result<Entitlements, StoreError> {
            Err(StoreError::unavailable("core is down"))
        }
    }

    let world = crate::fixture::World::new().await;
    let s = world.session(world.member.user_id).await;
    let access = AccessService::new(
        world.store.clone(),
        world.store.clone(),
        Arc::new(Down),
        Arc::new(SystemClock),
    );
    match access
        .resolve(world.member.user_id, s.id, Some("acme"))
        .await
    {
        Err(AccessError::Unavailable(e)) => assert_eq!(e.kind(), StoreErrorKind::Unavailable),
        other => panic!("expected unavailability, got {other:?}"),
    }
}

/// Auth's routes with the database gone: every request that needs it answers 503 `unavailable`
/// as problem+json — never a 500, never a misleading 401/422.
#[cfg(feature = "postgres")]
#[tokio::test]
async fn every_route_answers_503_when_the_database_is_down() {
    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::{Method, Request, StatusCode, header};
    use kisum_auth::http::{AuthState, AuthStateParts, RateLimits, public_router};
    use kisum_auth::ratelimit::LocalRateLimiter;
    use kisum_auth::{AccessService, AuthStore, DirectoryService, PgAuthStore};
    use kisum_core::{EntitlementService, PgCoreStore};
    use kisum_guard::{Clock, SessionId, UserId};
    use serde_json::{Value, json};
    use tower::ServiceExt as _;

    use crate::fixture::auth_service;

    let pool = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(std::time::Duration::from_millis(300))
        .connect_lazy("postgres://kisum@127.0.0.1:1/kisum")
        .unwrap();
    let store: Arc<dyn AuthStore> = Arc::new(PgAuthStore::new(pool.clone()));
    let clock: Arc<dyn Clock> = Arc::new(kisum_guard::SystemClock);
    let auth = auth_service(store.clone(), clock.clone());
    let entitlements = Arc::new(EntitlementService::new(
        Arc::new(PgCoreStore::new(pool)),
        clock.clone(),
    ));
    let state = AuthState::new(AuthStateParts {
        auth: auth.clone(),
        passkeys: None,
        access: AccessService::new(store.clone(), store.clone(), entitlements, clock.clone()),
        directory: store.clone(),
        admin: DirectoryService::new(store.clone(), clock.clone()),
        audit: store.clone(),
        feed: std::sync::Arc::new(kisum_core::outbox::EventFeed::new(
            kisum_core::outbox::EventLogged::event_log(&*store),
        )),
        events: Arc::new(kisum_auth::events::NoEvents),
        service_keys: kisum_guard::ServiceKeys::default(),
        limits: RateLimits::new(Arc::new(LocalRateLimiter::new(clock.clone()))),
        refresh_cookie: None,
        oauth: None,
    });
    let router = public_router(state);
    // A well-signed token: only the session lookup needs the database.
    let token = auth
        .tokens()
        .issue(UserId::new(), SessionId::new(), clock.now())
        .unwrap()
        .token;
    let calls: [(Method, &str, Option<Value>, bool); 9] = [
        (
            Method::POST,
            "/v1/auth/register",
            Some(
                json!({"email": "a@example.test", "password": "correct horse battery", "company_name": "Acme"}),
            ),
            false,
        ),
        (
            Method::POST,
            "/v1/auth/login",
            Some(json!({"email": "a@example.test", "password": "correct horse battery"})),
            false,
        ),
        (
            Method::POST,
            "/v1/auth/refresh",
            Some(json!({"refresh_token": "a".repeat(43)})),
            false,
        ),
        (Method::GET, "/v1/auth/me", None, true),
        (Method::GET, "/v1/auth/me/access", None, true),
        (Method::GET, "/v1/auth/sessions", None, true),
        (Method::POST, "/v1/auth/logout-all", None, true),
        (
            Method::POST,
            "/v1/companies",
            Some(json!({"name": "Beta"})),
            true,
        ),
        (Method::GET, "/v1/companies/acme/members", None, true),
    ];
    for (method, uri, body, bearer) in calls {
        let mut request = Request::builder()
            .method(method.clone())
            .uri(uri)
            .header("x-org", "acme");
        if bearer {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = match body {
            Some(b) => request
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(b.to_string())),
            None => request.body(Body::empty()),
        }
        .unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let problem: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        assert_eq!(
            (status, problem["code"].as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, Some("unavailable")),
            "{method} {uri}: {problem}"
        );
    }
}
