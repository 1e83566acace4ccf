//! The Auth routers through `Router` + `oneshot`: routes, bodies and error codes of API.md.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use kisum_auth::http::{AuthState, RateLimits, RefreshCookie, internal_router, public_router};
use kisum_auth::ratelimit::LocalRateLimiter;
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::fixture::{World, auth_service, t0};

const PW: &str = "correct horse battery staple";

struct App {
    public: Router,
    internal: Router,
    world: World,
}

async fn app() -> App {
    app_with(None).await
}

async fn app_with(refresh_cookie: Option<RefreshCookie>) -> App {
    let world = World::new().await;
    let auth = auth_service(world.store.clone(), world.clock.clone());
    let state = AuthState {
        auth,
        access: world.access.clone(),
        directory: world.store.clone(),
        admin: world.directory.clone(),
        audit: world.store.clone(),
        events: world.events.clone(),
        service_keys:
            "finance[resolve+events+audit]:s3rvice-key-for-tests,ops:0ps-key-after-rotation"
                .parse()
                .unwrap(),
        limits: RateLimits::new(Arc::new(LocalRateLimiter::new(world.clock.clone()))),
        refresh_cookie,
    };
    App {
        public: public_router(state.clone()),
        internal: internal_router(state),
        world,
    }
}

async fn call(
    router: &Router,
    method: Method,
    uri: &str,
    bearer: Option<&str>,
    body: Option<Value>,
    extra: &[(&str, &str)],
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = bearer {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let req = match body {
        Some(b) => req
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(b.to_string()))
            .unwrap(),
        None => req.body(Body::empty()).unwrap(),
    };
    let response = router.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    (status, headers, value)
}

async fn register(app: &App, email: &str) -> Value {
    let (status, _, body) = call(
        &app.public,
        Method::POST,
        "/v1/auth/register",
        None,
        Some(json!({"email": email, "password": PW, "name": "Ada"})),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

fn assert_problem(
    status: StatusCode,
    headers: &axum::http::HeaderMap,
    body: &Value,
    want: StatusCode,
    code: &str,
) {
    assert_eq!(status, want, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], want.as_u16());
    assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
    assert!(
        body["request_id"].as_str().is_some_and(|s| !s.is_empty()),
        "{body}"
    );
    assert_eq!(
        body["request_id"].as_str(),
        headers["x-request-id"].to_str().ok()
    );
}

#[tokio::test]
async fn register_login_refresh_logout_over_http() {
    let app = app().await;
    let reg = register(&app, "ada@example.test").await;
    assert_eq!(reg["token_type"], "Bearer");
    assert_eq!(reg["expires_in"], 600);
    assert_eq!(reg["user"]["email"], "ada@example.test");
    assert_eq!(reg["user"]["email_verified"], false);
    for field in [
        "access_token",
        "refresh_token",
        "session_id",
        "refresh_expires_in",
    ] {
        assert!(!reg[field].is_null(), "{field}");
    }

    let (s, h, b) = call(
        &app.public,
        Method::POST,
        "/v1/auth/register",
        None,
        Some(json!({"email": "ADA@example.test", "password": PW})),
        &[],
    )
    .await;
    assert_problem(s, &h, &b, StatusCode::CONFLICT, "email_taken");
    let (s, h, b) = call(
        &app.public,
        Method::POST,
        "/v1/auth/register",
        None,
        Some(json!({"email": "bob@example.test", "password": "password123"})),
        &[],
    )
    .await;
    assert_problem(
        s,
        &h,
        &b,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(b["errors"][0]["field"], "password");

    let (s, _, login) = call(
        &app.public,
        Method::POST,
        "/v1/auth/login",
        None,
        Some(json!({"email": "ada@example.test", "password": PW})),
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s1, h1, wrong_pw) = call(
        &app.public,
        Method::POST,
        "/v1/auth/login",
        None,
        Some(json!({"email": "ada@example.test", "password": "nope nope nope"})),
        &[],
    )
    .await;
    assert_problem(
        s1,
        &h1,
        &wrong_pw,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );
    assert_eq!(h1[header::WWW_AUTHENTICATE], "Bearer");
    let (_, _, unknown) = call(
        &app.public,
        Method::POST,
        "/v1/auth/login",
        None,
        Some(json!({"email": "who@example.test", "password": PW})),
        &[],
    )
    .await;
    assert_eq!(
        unknown["title"], wrong_pw["title"],
        "same body for unknown email and wrong password"
    );
    assert_eq!(unknown["code"], wrong_pw["code"]);

    let refresh = login["refresh_token"].as_str().unwrap();
    let (s, _, next) = call(
        &app.public,
        Method::POST,
        "/v1/auth/refresh",
        None,
        Some(json!({"refresh_token": refresh})),
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_ne!(next["refresh_token"], login["refresh_token"]);
    let (s, h, b) = call(
        &app.public,
        Method::POST,
        "/v1/auth/refresh",
        None,
        Some(json!({"refresh_token": refresh})),
        &[],
    )
    .await;
    assert_problem(s, &h, &b, StatusCode::UNAUTHORIZED, "refresh_token_reused");
    let (s, h, b) = call(
        &app.public,
        Method::GET,
        "/v1/auth/session",
        next["access_token"].as_str(),
        None,
        &[],
    )
    .await;
    assert_problem(s, &h, &b, StatusCode::UNAUTHORIZED, "session_revoked");
    // The spent token presented once more, its session already over: still a reuse (and
    // audited as one); the unspent successor is merely a token of a revoked session.
    for (token, code) in [
        (refresh, "refresh_token_reused"),
        (next["refresh_token"].as_str().unwrap(), "session_revoked"),
    ] {
        let (s, h, b) = call(
            &app.public,
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": token})),
            &[],
        )
        .await;
        assert_problem(s, &h, &b, StatusCode::UNAUTHORIZED, code);
    }

    let token = reg["access_token"].as_str().unwrap();
    let (s, _, sess) = call(
        &app.public,
        Method::GET,
        "/v1/auth/session",
        Some(token),
        None,
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(sess["session_id"], reg["session_id"]);
    let (s, _, list) = call(
        &app.public,
        Method::GET,
        "/v1/auth/sessions",
        Some(token),
        None,
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        list.as_array().unwrap().len(),
        1,
        "the reused session is gone: {list}"
    );
    assert_eq!(list[0]["current"], true);
    let (s, _, _) = call(
        &app.public,
        Method::POST,
        "/v1/auth/logout",
        Some(token),
        None,
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, h, b) = call(
        &app.public,
        Method::GET,
        "/v1/auth/me",
        Some(token),
        None,
        &[],
    )
    .await;
    assert_problem(s, &h, &b, StatusCode::UNAUTHORIZED, "session_revoked");
}

#[tokio::test]
async fn bad_input_is_a_clear_4xx_never_a_500() {
    let app = app().await;
    let (s, h, b) = call(&app.public, Method::GET, "/v1/auth/me", None, None, &[]).await;
    assert_problem(s, &h, &b, StatusCode::UNAUTHORIZED, "unauthenticated");
    let (s, h, b) = call(
        &app.public,
        Method::GET,
        "/v1/auth/me",
        Some("garbage"),
        None,
        &[],
    )
    .await;
    assert_problem(s, &h, &b, StatusCode::UNAUTHORIZED, "unauthenticated");

    let req = Request::post("/v1/auth/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{not json"))
        .unwrap();
    let r = app.public.clone().oneshot(req).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let (s, _, b) = call(
        &app.public,
        Method::POST,
        "/v1/auth/login",
        None,
        Some(json!({"email": 42})),
        &[],
    )
    .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("validation_failed"))
    );
    assert_eq!(b["errors"][0]["field"], "email", "{b}");
    // A missing field is named too.
    let (s, _, b) = call(
        &app.public,
        Method::POST,
        "/v1/auth/login",
        None,
        Some(json!({"email": "ada@example.test"})),
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(b["errors"][0]["field"], "password", "{b}");
    let req = Request::post("/v1/auth/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(vec![b' '; 2 << 20]))
        .unwrap();
    assert_eq!(
        app.public.clone().oneshot(req).await.unwrap().status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    let (s, h, b) = call(
        &app.public,
        Method::GET,
        "/v1/nothing-here",
        None,
        None,
        &[("x-request-id", "req-123")],
    )
    .await;
    assert_problem(s, &h, &b, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(
        b["request_id"], "req-123",
        "a client's request id is echoed"
    );
}

#[tokio::test]
async fn me_and_me_access_follow_the_directory() {
    let app = app().await;
    let reg = register(&app, "ada@example.test").await;
    let token = reg["access_token"].as_str().unwrap();
    let user_id: kisum_guard::UserId = reg["user"]["id"].as_str().unwrap().parse().unwrap();
    app.world
        .directory
        .add_member(
            app.world.acme.id,
            user_id,
            kisum_auth::MembershipStatus::Active,
            [kisum_guard::RoleKey::new("finance-viewer").unwrap()].into(),
            [kisum_guard::ModuleKey::new("finance").unwrap()].into(),
        )
        .await
        .unwrap();
    let (s, _, me) = call(
        &app.public,
        Method::GET,
        "/v1/auth/me",
        Some(token),
        None,
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(me["memberships"][0]["company_slug"], "acme");
    assert_eq!(me["memberships"][0]["roles"], json!(["finance-viewer"]));

    let (s, _, ctx) = call(
        &app.public,
        Method::GET,
        "/v1/auth/me/access",
        Some(token),
        None,
        &[("x-org", "acme")],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{ctx}");
    assert_eq!(ctx["modules"], json!(["company", "finance"]));
    assert_eq!(ctx["permissions"], json!(["finance.invoices.read"]));
    let (s, h, b) = call(
        &app.public,
        Method::GET,
        "/v1/auth/me/access",
        Some(token),
        None,
        &[],
    )
    .await;
    assert_problem(s, &h, &b, StatusCode::BAD_REQUEST, "org_required");
    let (s, h, b) = call(
        &app.public,
        Method::GET,
        "/v1/auth/me/access",
        Some(token),
        None,
        &[("x-org", "globex")],
    )
    .await;
    assert_problem(s, &h, &b, StatusCode::NOT_FOUND, "org_unknown");
    let other = register(&app, "bob@example.test").await;
    let (s, h, b) = call(
        &app.public,
        Method::GET,
        "/v1/auth/me/access",
        other["access_token"].as_str(),
        None,
        &[("x-org", "acme")],
    )
    .await;
    assert_problem(s, &h, &b, StatusCode::FORBIDDEN, "not_a_member");
}

#[tokio::test]
async fn jwks_publishes_public_keys_with_cache_control() {
    let app = app().await;
    let (s, h, b) = call(
        &app.public,
        Method::GET,
        "/.well-known/jwks.json",
        None,
        None,
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        h[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .contains("max-age=")
    );
    let key = &b["keys"][0];
    assert_eq!(
        (
            key["use"].as_str(),
            key["alg"].as_str(),
            key["kty"].as_str()
        ),
        (Some("sig"), Some("ES256"), Some("EC"))
    );
    assert!(key["kid"].is_string() && key.get("d").is_none());
}

#[tokio::test]
async fn password_change_and_session_deletion() {
    let app = app().await;
    let reg = register(&app, "ada@example.test").await;
    let token = reg["access_token"].as_str().unwrap();
    let (_, _, other) = call(
        &app.public,
        Method::POST,
        "/v1/auth/login",
        None,
        Some(json!({"email": "ada@example.test", "password": PW})),
        &[],
    )
    .await;
    let (s, h, b) = call(
        &app.public,
        Method::POST,
        "/v1/auth/password/change",
        Some(token),
        Some(json!({"current_password": "wrong wrong", "new_password": "another long passphrase"})),
        &[],
    )
    .await;
    assert_problem(s, &h, &b, StatusCode::UNAUTHORIZED, "invalid_credentials");
    let (s, _, _) = call(
        &app.public,
        Method::POST,
        "/v1/auth/password/change",
        Some(token),
        Some(json!({"current_password": PW, "new_password": "another long passphrase"})),
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _, _) = call(
        &app.public,
        Method::GET,
        "/v1/auth/session",
        other["access_token"].as_str(),
        None,
        &[],
    )
    .await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "other sessions end with a password change"
    );

    let (_, _, third) = call(
        &app.public,
        Method::POST,
        "/v1/auth/login",
        None,
        Some(json!({"email": "ada@example.test", "password": "another long passphrase"})),
        &[],
    )
    .await;
    let sid = third["session_id"].as_str().unwrap();
    let stranger = register(&app, "eve@example.test").await;
    let (s, h, b) = call(
        &app.public,
        Method::DELETE,
        &format!("/v1/auth/sessions/{sid}"),
        stranger["access_token"].as_str(),
        None,
        &[],
    )
    .await;
    assert_problem(s, &h, &b, StatusCode::NOT_FOUND, "not_found");
    let (s, _, _) = call(
        &app.public,
        Method::DELETE,
        &format!("/v1/auth/sessions/{sid}"),
        Some(token),
        None,
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _, _) = call(
        &app.public,
        Method::POST,
        "/v1/auth/logout-all",
        Some(token),
        None,
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _, _) = call(
        &app.public,
        Method::GET,
        "/v1/auth/session",
        Some(token),
        None,
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn internal_routes_need_a_service_key() {
    let app = app().await;
    let reg = register(&app, "ada@example.test").await;
    let body =
        json!({"user_id": reg["user"]["id"], "session_id": reg["session_id"], "org": "acme"});
    let (s, h, b) = call(
        &app.internal,
        Method::POST,
        "/internal/v1/access/resolve",
        None,
        Some(body.clone()),
        &[],
    )
    .await;
    assert_problem(s, &h, &b, StatusCode::UNAUTHORIZED, "unauthenticated");
    let (s, _, _) = call(
        &app.internal,
        Method::POST,
        "/internal/v1/access/resolve",
        Some("s3rvice-key-for-test"),
        Some(body.clone()),
        &[],
    )
    .await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "a prefix of a key is not a key"
    );
    let key = Some("s3rvice-key-for-tests");
    let (s, h, b) = call(
        &app.internal,
        Method::POST,
        "/internal/v1/access/resolve",
        key,
        Some(body),
        &[],
    )
    .await;
    assert_problem(s, &h, &b, StatusCode::FORBIDDEN, "not_a_member");
    let owner = app.world.session(app.world.owner.user_id).await;
    let body = json!({"user_id": app.world.owner.user_id, "session_id": owner.id, "org": "acme"});
    let (s, _, ctx) = call(
        &app.internal,
        Method::POST,
        "/internal/v1/access/resolve",
        key,
        Some(body),
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{ctx}");
    assert_eq!(ctx["core_app_visible"], true);
    let body = json!({"user_id": app.world.owner.user_id, "session_id": owner.id, "org": "acme"});
    let (s, _, _) = call(
        &app.internal,
        Method::POST,
        "/internal/v1/access/resolve",
        Some("0ps-key-after-rotation"),
        Some(body),
        &[],
    )
    .await;
    assert_eq!(
        s,
        StatusCode::OK,
        "every configured key is accepted (rotation)"
    );
    let body = json!({"user_id": app.world.owner.user_id, "session_id": owner.id, "org": "acme"});
    let token = kisum_guard::ConsistencyToken::membership(app.world.acme.id, app.world.owner.id, 1);
    let (s, _, ctx) = call(
        &app.internal,
        Method::POST,
        "/internal/v1/access/resolve",
        key,
        Some(body.clone()),
        &[("x-kisum-consistency", &token.to_string())],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "a satisfied token: {ctx}");
    let (s, h, b) = call(
        &app.internal,
        Method::POST,
        "/internal/v1/access/resolve",
        key,
        Some(body),
        &[("x-kisum-consistency", "v1.garbage")],
    )
    .await;
    assert_problem(s, &h, &b, StatusCode::BAD_REQUEST, "invalid_request");

    let sid = reg["session_id"].as_str().unwrap();
    let (s, _, state) = call(
        &app.internal,
        Method::GET,
        &format!("/internal/v1/sessions/{sid}"),
        key,
        None,
        &[],
    )
    .await;
    assert_eq!((s, &state["active"]), (StatusCode::OK, &json!(true)));
    let (s, _, _) = call(
        &app.internal,
        Method::GET,
        "/internal/v1/sessions/not-a-uuid",
        key,
        None,
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn sign_in_is_rate_limited_per_email_and_per_ip_with_retry_after() {
    let app = app().await;
    register(&app, "ada@example.test").await;
    let attempt = |email: &'static str, ip: &'static str| {
        let router = app.public.clone();
        async move {
            call(
                &router,
                Method::POST,
                "/v1/auth/login",
                None,
                Some(json!({"email": email, "password": "wrong password!"})),
                &[("x-forwarded-for", ip)],
            )
            .await
        }
    };
    for i in 0..10 {
        let (s, _, b) = attempt(
            "ada@example.test",
            if i % 2 == 0 {
                "198.51.100.1"
            } else {
                "198.51.100.2"
            },
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "attempt {i}: {b}");
    }
    let (s, h, b) = attempt("ada@example.test", "198.51.100.3").await;
    assert_problem(s, &h, &b, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let retry: u64 = h[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    // Even the right password waits: the limit is on attempts, not failures.
    let (s, _, _) = call(
        &app.public,
        Method::POST,
        "/v1/auth/login",
        None,
        Some(json!({"email": "ada@example.test", "password": PW})),
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    // Another email from the same addresses is not limited by ada's counter.
    let (s, _, _) = attempt("bob@example.test", "198.51.100.1").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // Once the window has passed, sign-in works again.
    app.world
        .clock
        .advance(chrono::TimeDelta::seconds(i64::try_from(retry).unwrap()));
    let (s, _, _) = call(
        &app.public,
        Method::POST,
        "/v1/auth/login",
        None,
        Some(json!({"email": "ada@example.test", "password": PW})),
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn per_ip_limit_applies_across_emails() {
    let app = app().await;
    for i in 0..30 {
        let email = format!("user{i}@example.test");
        let (s, _, _) = call(
            &app.public,
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"email": email, "password": "whatever it is"})),
            &[("x-forwarded-for", "192.0.2.7")],
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let (s, h, _) = call(
        &app.public,
        Method::POST,
        "/v1/auth/login",
        None,
        Some(json!({"email": "new@example.test", "password": "whatever it is"})),
        &[("x-forwarded-for", "192.0.2.7")],
    )
    .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert!(h.contains_key(header::RETRY_AFTER));
}

const KEY: Option<&str> = Some("s3rvice-key-for-tests");

#[tokio::test]
async fn internal_events_are_republished_to_the_guards() {
    let app = app().await;
    let recorder = &app.world.events;
    recorder.take();
    let membership = json!({
        "kind": "membership",
        "company_id": app.world.acme.id,
        "membership_id": app.world.member.id,
    });
    let (s, h, b) = call(
        &app.internal,
        Method::POST,
        "/internal/v1/events",
        None,
        Some(membership.clone()),
        &[],
    )
    .await;
    assert_problem(s, &h, &b, StatusCode::UNAUTHORIZED, "unauthenticated");
    assert!(
        recorder.take().is_empty(),
        "nothing published without a key"
    );

    let session = kisum_guard::SessionId::new();
    for body in [
        membership,
        json!({"kind": "company", "company_id": app.world.acme.id}),
        json!({"kind": "session_revoked", "session_id": session}),
        json!({"kind": "key_rotated"}),
    ] {
        let (s, _, b) = call(
            &app.internal,
            Method::POST,
            "/internal/v1/events",
            KEY,
            Some(body.clone()),
            &[],
        )
        .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{body}: {b}");
        let published = recorder.take_with_ttl();
        assert_eq!(published.len(), 1, "{body}");
        assert_eq!(serde_json::to_value(&published[0].0).unwrap(), body);
        if body["kind"] == "session_revoked" {
            assert_eq!(
                published[0].1,
                std::time::Duration::from_secs(660),
                "the marker outlives every access token"
            );
        }
    }

    let req = Request::post("/internal/v1/events")
        .header(header::AUTHORIZATION, "Bearer s3rvice-key-for-tests")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{not json"))
        .unwrap();
    let r = app.internal.clone().oneshot(req).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    for (body, why) in [
        (json!({"kind": "nope"}), "unknown kind"),
        (json!({"kind": "membership"}), "missing ids"),
        (
            json!({"kind": "session_revoked", "session_id": "not-a-uuid"}),
            "bad id",
        ),
        (json!([1, 2]), "not an object"),
    ] {
        let (s, h, b) = call(
            &app.internal,
            Method::POST,
            "/internal/v1/events",
            KEY,
            Some(body),
            &[],
        )
        .await;
        assert_problem(
            s,
            &h,
            &b,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        assert!(recorder.take().is_empty(), "{why}: nothing published");
    }
}

#[tokio::test]
async fn internal_audit_lists_newest_first_with_filters() {
    let app = app().await;
    let w = &app.world;
    let (s, _, all) = call(
        &app.internal,
        Method::GET,
        "/internal/v1/audit",
        KEY,
        None,
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{all}");
    let setup = all.as_array().unwrap().len();
    assert!(setup >= 3, "the fixture's company, role and member: {all}");

    w.clock.advance(chrono::TimeDelta::minutes(1));
    let since = (t0() + chrono::TimeDelta::minutes(1)).to_rfc3339();
    register(&app, "ada@example.test").await;
    w.clock.advance(chrono::TimeDelta::minutes(1));
    let (s, _, _) = call(
        &app.public,
        Method::POST,
        "/v1/auth/login",
        None,
        Some(json!({"email": "ada@example.test", "password": "wrong password!"})),
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    let get = |query: String| {
        let router = app.internal.clone();
        async move {
            let (s, h, b) = call(
                &router,
                Method::GET,
                &format!("/internal/v1/audit{query}"),
                KEY,
                None,
                &[],
            )
            .await;
            (s, h, b)
        }
    };
    let (s, _, all) = get(String::new()).await;
    assert_eq!(s, StatusCode::OK);
    let all = all.as_array().unwrap().clone();
    assert_eq!(all.len(), setup + 2, "{all:?}");
    assert_eq!(all[0]["action"], "login.failure", "newest first");
    assert_eq!(all[1]["action"], "user.register");
    let times: Vec<chrono::DateTime<chrono::Utc>> = all
        .iter()
        .map(|e| e["at"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(times.windows(2).all(|p| p[0] >= p[1]), "{times:?}");

    let (_, _, recent) = get(format!("?since={}", since.replace('+', "%2B"))).await;
    assert_eq!(
        recent
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["login.failure", "user.register"],
        "since is inclusive and filters older events"
    );
    let (_, _, one) = get("?limit=1".into()).await;
    assert_eq!(one.as_array().unwrap().len(), 1);
    assert_eq!(one[0]["action"], "login.failure");
    let (_, _, acme) = get(format!("?company_id={}&limit=1000&since=", w.acme.id)).await;
    let acme = acme.as_array().unwrap();
    assert_eq!(acme.len(), setup, "only acme's events");
    assert!(
        acme.iter()
            .all(|e| e["company_id"] == w.acme.id.to_string())
    );

    for (bad, field) in [
        ("?company_id=acme", "company_id"),
        ("?since=yesterday", "since"),
        ("?limit=0", "limit"),
        ("?limit=1001", "limit"),
        ("?limit=-5", "limit"),
        ("?limit=ten", "limit"),
    ] {
        let (s, h, b) = get(bad.to_owned()).await;
        assert_problem(
            s,
            &h,
            &b,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        assert_eq!(b["errors"][0]["field"], field, "{bad}: {b}");
    }
    let (s, h, b) = call(
        &app.internal,
        Method::GET,
        "/internal/v1/audit",
        Some("not-the-service-key"),
        None,
        &[],
    )
    .await;
    assert_problem(s, &h, &b, StatusCode::UNAUTHORIZED, "unauthenticated");
}

/// The `Set-Cookie` values of an answer.
fn set_cookies(headers: &axum::http::HeaderMap) -> Vec<String> {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// The value of a `Set-Cookie` line.
fn cookie_value(line: &str) -> String {
    line.split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .map(|(_, v)| v.to_owned())
        .unwrap()
}

#[tokio::test]
async fn cookie_mode_sets_and_accepts_the_refresh_cookie() {
    let app = app_with(Some(RefreshCookie::default())).await;
    let (s, h, login) = call(
        &app.public,
        Method::POST,
        "/v1/auth/register",
        None,
        Some(json!({"email": "ada@example.test", "password": PW})),
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{login}");
    let cookie = &set_cookies(&h)[0];
    // The refresh token lives only in the HttpOnly cookie: the body never carries it.
    assert!(login.get("refresh_token").is_none(), "{login}");
    assert!(login["access_token"].as_str().is_some(), "{login}");
    let refresh = cookie_value(cookie);
    let refresh = refresh.as_str();
    assert!(
        cookie.starts_with(&format!("kisum_refresh={refresh}; ")),
        "{cookie}"
    );
    for attribute in [
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Path=/v1/auth",
        &format!("Max-Age={}", login["refresh_expires_in"]),
    ] {
        assert!(
            cookie.split("; ").any(|a| a == attribute),
            "{attribute} in {cookie}"
        );
    }

    // The browser sends only the cookie: no body at all, or an empty object.
    let req = Request::post("/v1/auth/refresh")
        .header(
            header::COOKIE,
            format!("theme=dark; kisum_refresh={refresh}"),
        )
        .body(Body::empty())
        .unwrap();
    let r = app.public.clone().oneshot(req).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let next_cookie = set_cookies(r.headers())[0].clone();
    let next: Value =
        serde_json::from_slice(&axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap())
            .unwrap();
    assert!(next.get("refresh_token").is_none(), "{next}");
    let next_refresh = cookie_value(&next_cookie);
    let next_refresh = next_refresh.as_str();
    assert_ne!(next_refresh, refresh, "rotated");
    assert!(next_cookie.starts_with(&format!("kisum_refresh={next_refresh};")));
    let (s, h, b) = call(
        &app.public,
        Method::POST,
        "/v1/auth/refresh",
        None,
        Some(json!({})),
        &[("cookie", &format!("kisum_refresh={refresh}"))],
    )
    .await;
    assert_problem(s, &h, &b, StatusCode::UNAUTHORIZED, "refresh_token_reused");
    let (s, h, b) = call(
        &app.public,
        Method::POST,
        "/v1/auth/refresh",
        None,
        Some(json!({})),
        &[],
    )
    .await;
    assert_problem(
        s,
        &h,
        &b,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(b["errors"][0]["field"], "refresh_token");

    // Sign-out clears the cookie.
    let (_, _, again) = call(
        &app.public,
        Method::POST,
        "/v1/auth/login",
        None,
        Some(json!({"email": "ada@example.test", "password": PW})),
        &[],
    )
    .await;
    let (s, h, _) = call(
        &app.public,
        Method::POST,
        "/v1/auth/logout",
        again["access_token"].as_str(),
        None,
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert!(
        set_cookies(&h)[0].starts_with("kisum_refresh=; Path=/v1/auth; Max-Age=0;"),
        "{:?}",
        set_cookies(&h)
    );
}

#[tokio::test]
async fn without_cookie_mode_no_cookie_is_set_or_read() {
    let app = app().await;
    let (s, h, reg) = call(
        &app.public,
        Method::POST,
        "/v1/auth/register",
        None,
        Some(json!({"email": "ada@example.test", "password": PW})),
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    assert!(set_cookies(&h).is_empty());
    let refresh = reg["refresh_token"].as_str().unwrap();
    let (s, h, b) = call(
        &app.public,
        Method::POST,
        "/v1/auth/refresh",
        None,
        Some(json!({})),
        &[("cookie", &format!("kisum_refresh={refresh}"))],
    )
    .await;
    assert_problem(
        s,
        &h,
        &b,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let req = Request::post("/v1/auth/refresh")
        .header(header::COOKIE, format!("kisum_refresh={refresh}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        app.public.clone().oneshot(req).await.unwrap().status(),
        StatusCode::BAD_REQUEST,
        "a body is required"
    );
    let (s, h, _) = call(
        &app.public,
        Method::POST,
        "/v1/auth/refresh",
        None,
        Some(json!({"refresh_token": refresh})),
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(set_cookies(&h).is_empty());
}

/// Sends a raw request; its status, headers and JSON body (`Null` when empty).
async fn raw(router: &Router, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Value) {
    let r = router.clone().oneshot(req).await.unwrap();
    let (status, headers) = (r.status(), r.headers().clone());
    let bytes = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (status, headers, body)
}

#[tokio::test]
async fn every_generic_failure_is_a_problem_document() {
    let app = app().await;
    let post = |uri: &str, content_type: Option<&str>, body: Body| {
        let mut req = Request::post(uri);
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        req.body(body).unwrap()
    };
    let json = Some("application/json");
    for (req, status, code) in [
        (
            post(
                "/v1/auth/login",
                json,
                Body::from(vec![b' '; (1 << 20) + 1]),
            ),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            post("/v1/auth/register", json, Body::from("{\"email\": ")),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            post("/v1/auth/login", Some("text/plain"), Body::from("{}")),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            post("/v1/auth/login", None, Body::empty()),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            post(
                "/v1/auth/register",
                json,
                Body::from(r#"{"email": "a@b.test", "password": ["x"]}"#),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            post(
                "/v1/auth/refresh",
                json,
                Body::from(vec![b' '; (1 << 20) + 1]),
            ),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            Request::get("/v1/auth/login").body(Body::empty()).unwrap(),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            Request::delete("/v1/companies/acme/members")
                .body(Body::empty())
                .unwrap(),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            Request::get("/v1/auth/nothing")
                .body(Body::empty())
                .unwrap(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
    ] {
        let what = format!("{} {}", req.method(), req.uri());
        let (s, h, b) = raw(&app.public, req).await;
        assert_eq!(s, status, "{what}: {b}");
        assert_problem(s, &h, &b, status, code);
    }
    let internal = |req: axum::http::request::Builder| {
        req.header(header::AUTHORIZATION, "Bearer s3rvice-key-for-tests")
            .body(Body::empty())
            .unwrap()
    };
    for (req, status, code) in [
        (
            internal(Request::get("/internal/v1/nothing")),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            internal(Request::get("/internal/v1/events")),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            Request::get("/internal/v1/nothing")
                .body(Body::empty())
                .unwrap(),
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
        ),
    ] {
        let (s, h, b) = raw(&app.internal, req).await;
        assert_problem(s, &h, &b, status, code);
    }
}

#[tokio::test]
async fn every_answer_carries_a_request_id() {
    let app = app().await;
    let get = |id: Option<&str>| {
        let mut req = Request::get("/.well-known/jwks.json");
        if let Some(id) = id {
            req = req.header("x-request-id", id);
        }
        req.body(Body::empty()).unwrap()
    };
    let (s, h, _) = raw(&app.public, get(Some("client-req-7"))).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["x-request-id"], "client-req-7", "echoed on success too");
    let (_, h1, _) = raw(&app.public, get(None)).await;
    let (_, h2, _) = raw(&app.public, get(None)).await;
    let (g1, g2) = (
        h1["x-request-id"].to_str().unwrap(),
        h2["x-request-id"].to_str().unwrap(),
    );
    assert!(!g1.is_empty() && g1 != g2, "generated, one per request");
    let long = "x".repeat(200);
    let (_, h, _) = raw(&app.public, get(Some(&long))).await;
    let replaced = h["x-request-id"].to_str().unwrap();
    assert!(
        replaced != long && !replaced.is_empty(),
        "an unusable id is replaced"
    );
    let (s, h, _) = call(
        &app.internal,
        Method::GET,
        &format!("/internal/v1/sessions/{}", kisum_guard::SessionId::new()),
        KEY,
        None,
        &[("x-request-id", "internal-req-1")],
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "an unknown session");
    assert_eq!(h["x-request-id"], "internal-req-1");
}

#[tokio::test]
async fn remaining_auth_routes_answer_their_codes() {
    let app = app().await;
    // A company name that cannot become a slug is refused before the account exists: the same
    // email registers fine afterwards.
    let (s, h, b) = call(
        &app.public,
        Method::POST,
        "/v1/auth/register",
        None,
        Some(json!({"email": "ada@example.test", "password": PW, "company_name": "!!!"})),
        &[],
    )
    .await;
    assert_problem(
        s,
        &h,
        &b,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(b["errors"][0]["field"], "company_name");
    // Registration with a company makes the user its owner.
    let (s, _, reg) = call(
        &app.public,
        Method::POST,
        "/v1/auth/register",
        None,
        Some(json!({"email": "ada@example.test", "password": PW, "company_name": "Initech Labs"})),
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{reg}");
    assert_eq!(reg["company"]["slug"], "initech-labs");
    let token = reg["access_token"].as_str().unwrap();
    let (_, _, me) = call(
        &app.public,
        Method::GET,
        "/v1/auth/me",
        Some(token),
        None,
        &[],
    )
    .await;
    assert_eq!(me["memberships"][0]["company_slug"], "initech-labs");
    assert_eq!(me["memberships"][0]["roles"], json!(["owner"]));

    // An unknown refresh token.
    let (s, h, b) = call(
        &app.public,
        Method::POST,
        "/v1/auth/refresh",
        None,
        Some(json!({"refresh_token": "never-issued"})),
        &[],
    )
    .await;
    assert_problem(s, &h, &b, StatusCode::UNAUTHORIZED, "invalid_refresh_token");
    // A malformed session id names no session.
    let (s, h, b) = call(
        &app.public,
        Method::DELETE,
        "/v1/auth/sessions/not-a-session",
        Some(token),
        None,
        &[],
    )
    .await;
    assert_problem(s, &h, &b, StatusCode::NOT_FOUND, "not_found");
    // A weak new password, and no bearer at all.
    let (s, h, b) = call(
        &app.public,
        Method::POST,
        "/v1/auth/password/change",
        Some(token),
        Some(json!({"current_password": PW, "new_password": "short"})),
        &[],
    )
    .await;
    assert_problem(
        s,
        &h,
        &b,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(b["errors"][0]["field"], "new_password");
    for (method, uri) in [
        (Method::POST, "/v1/auth/password/change"),
        (Method::POST, "/v1/auth/logout"),
        (Method::POST, "/v1/auth/logout-all"),
        (Method::GET, "/v1/auth/sessions"),
        (Method::GET, "/v1/auth/session"),
        (Method::GET, "/v1/auth/me/access"),
    ] {
        let (s, h, b) = call(&app.public, method, uri, None, None, &[]).await;
        assert_problem(s, &h, &b, StatusCode::UNAUTHORIZED, "unauthenticated");
    }

    // An inactive membership, then a revoked session, on /v1/auth/me/access.
    let user: kisum_guard::UserId = reg["user"]["id"].as_str().unwrap().parse().unwrap();
    let m = app
        .world
        .directory
        .add_member(
            app.world.acme.id,
            user,
            kisum_auth::MembershipStatus::Suspended,
            Default::default(),
            Default::default(),
        )
        .await
        .unwrap();
    let (s, h, b) = call(
        &app.public,
        Method::GET,
        "/v1/auth/me/access",
        Some(token),
        None,
        &[("x-org", "acme")],
    )
    .await;
    assert_problem(s, &h, &b, StatusCode::FORBIDDEN, "membership_inactive");
    assert_eq!(m.status, kisum_auth::MembershipStatus::Suspended);
    let sid = reg["session_id"].as_str().unwrap();
    call(
        &app.public,
        Method::POST,
        "/v1/auth/logout",
        Some(token),
        None,
        &[],
    )
    .await;
    let (s, h, b) = call(
        &app.public,
        Method::GET,
        "/v1/auth/me/access",
        Some(token),
        None,
        &[("x-org", "initech-labs")],
    )
    .await;
    assert_problem(s, &h, &b, StatusCode::UNAUTHORIZED, "session_revoked");
    let (s, _, state) = call(
        &app.internal,
        Method::GET,
        &format!("/internal/v1/sessions/{sid}"),
        KEY,
        None,
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(state["active"], false);
    assert!(state["revoked_at"].is_string(), "{state}");
}

/// Without an email sender the email routes say so (501 `not_configured`) instead of
/// pretending a message went out.
#[tokio::test]
async fn email_routes_without_email_flows_answer_not_configured() {
    let app = app().await;
    for (uri, body) in [
        (
            "/v1/auth/password/forgot",
            json!({"email": "a@example.test"}),
        ),
        (
            "/v1/auth/password/reset",
            json!({"token": "t", "password": PW}),
        ),
        (
            "/v1/auth/email-otp/request",
            json!({"email": "a@example.test", "purpose": "login"}),
        ),
        (
            "/v1/auth/email-otp/verify",
            json!({"email": "a@example.test", "code": "123456", "purpose": "login"}),
        ),
    ] {
        let (s, h, b) = call(&app.public, Method::POST, uri, None, Some(body), &[]).await;
        assert_problem(s, &h, &b, StatusCode::NOT_IMPLEMENTED, "not_configured");
    }
}

/// A compromised backend's service key (resolve only, the default) cannot read the audit log
/// or publish invalidation events, and asking about another user's session learns nothing.
#[tokio::test]
async fn a_guards_service_key_cannot_read_the_audit_log_or_publish_events() {
    let app = app().await;
    let guard_key = Some("0ps-key-after-rotation");
    let (s, h, b) = call(
        &app.internal,
        Method::GET,
        "/internal/v1/audit",
        guard_key,
        None,
        &[],
    )
    .await;
    assert_problem(s, &h, &b, StatusCode::FORBIDDEN, "insufficient_scope");
    let event = json!({"kind": "session_revoked", "session_id": app.world.owner.id});
    let (s, h, b) = call(
        &app.internal,
        Method::POST,
        "/internal/v1/events",
        guard_key,
        Some(event),
        &[],
    )
    .await;
    assert_problem(s, &h, &b, StatusCode::FORBIDDEN, "insufficient_scope");

    // Its own scope works; another user's session is unknown to it.
    let session = app.world.session(app.world.owner.user_id).await;
    let (s, _, b) = call(
        &app.internal,
        Method::GET,
        &format!(
            "/internal/v1/sessions/{}?user_id={}",
            session.id, app.world.owner.user_id
        ),
        guard_key,
        None,
        &[],
    )
    .await;
    assert_eq!((s, &b["active"]), (StatusCode::OK, &json!(true)), "{b}");
    let (s, h, b) = call(
        &app.internal,
        Method::GET,
        &format!(
            "/internal/v1/sessions/{}?user_id={}",
            session.id, app.world.member.user_id
        ),
        guard_key,
        None,
        &[],
    )
    .await;
    assert_problem(s, &h, &b, StatusCode::NOT_FOUND, "not_found");
}
