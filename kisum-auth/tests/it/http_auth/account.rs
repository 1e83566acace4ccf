//! Signing up, in and out over HTTP: register, login, refresh, logout, `me`, the JWKS,
//! password changes and session deletion, and the sign-in rate limits.

use axum::http::{Method, StatusCode, header};
use serde_json::json;

use super::{PW, app, refresh_with, register, sign_in};
use crate::client::{
    assert_invalid_field, assert_problem, call, delete, get, get_in, post, problem,
};

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

    problem(
        post(
            &app.public,
            "/v1/auth/register",
            None,
            json!({"email": "ADA@example.test", "password": PW}),
        )
        .await,
        StatusCode::CONFLICT,
        "email_taken",
    );
    assert_invalid_field(
        post(
            &app.public,
            "/v1/auth/register",
            None,
            json!({"email": "bob@example.test", "password": "password123"}),
        )
        .await,
        "password",
    );

    let (s, _, login) = sign_in(&app, "ada@example.test", PW).await;
    assert_eq!(s, StatusCode::OK);
    let (s1, h1, wrong_pw) = sign_in(&app, "ada@example.test", "nope nope nope").await;
    assert_problem(
        s1,
        &h1,
        &wrong_pw,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );
    assert_eq!(h1[header::WWW_AUTHENTICATE], "Bearer");
    let (_, _, unknown) = sign_in(&app, "who@example.test", PW).await;
    assert_eq!(
        unknown["title"], wrong_pw["title"],
        "same body for unknown email and wrong password"
    );
    assert_eq!(unknown["code"], wrong_pw["code"]);

    let refresh = login["refresh_token"].as_str().unwrap();
    let (s, _, next) = refresh_with(&app, refresh).await;
    assert_eq!(s, StatusCode::OK);
    assert_ne!(next["refresh_token"], login["refresh_token"]);
    problem(
        refresh_with(&app, refresh).await,
        StatusCode::UNAUTHORIZED,
        "refresh_token_reused",
    );
    problem(
        get(
            &app.public,
            "/v1/auth/session",
            next["access_token"].as_str(),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "session_revoked",
    );
    // The spent token presented once more, its session already over: still a reuse (and
    // audited as one); the unspent successor is merely a token of a revoked session.
    for (token, code) in [
        (refresh, "refresh_token_reused"),
        (next["refresh_token"].as_str().unwrap(), "session_revoked"),
    ] {
        problem(
            refresh_with(&app, token).await,
            StatusCode::UNAUTHORIZED,
            code,
        );
    }

    let token = reg["access_token"].as_str().unwrap();
    let (s, _, sess) = get(&app.public, "/v1/auth/session", Some(token)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(sess["session_id"], reg["session_id"]);
    let (s, _, list) = get(&app.public, "/v1/auth/sessions", Some(token)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        list.as_array().unwrap().len(),
        1,
        "the reused session is gone: {list}"
    );
    assert_eq!(list[0]["current"], true);
    let (s, _, _) = post(&app.public, "/v1/auth/logout", Some(token), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    problem(
        get(&app.public, "/v1/auth/me", Some(token)).await,
        StatusCode::UNAUTHORIZED,
        "session_revoked",
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
    let (s, _, me) = get(&app.public, "/v1/auth/me", Some(token)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(me["memberships"][0]["company_slug"], "acme");
    assert_eq!(me["memberships"][0]["roles"], json!(["finance-viewer"]));

    let (s, _, ctx) = get_in(&app.public, "/v1/auth/me/access", Some(token), "acme").await;
    assert_eq!(s, StatusCode::OK, "{ctx}");
    assert_eq!(ctx["modules"], json!(["company", "finance"]));
    assert_eq!(ctx["permissions"], json!(["finance.invoices.read"]));
    problem(
        get(&app.public, "/v1/auth/me/access", Some(token)).await,
        StatusCode::BAD_REQUEST,
        "org_required",
    );
    problem(
        get_in(&app.public, "/v1/auth/me/access", Some(token), "globex").await,
        StatusCode::NOT_FOUND,
        "org_unknown",
    );
    let other = register(&app, "bob@example.test").await;
    problem(
        get_in(
            &app.public,
            "/v1/auth/me/access",
            other["access_token"].as_str(),
            "acme",
        )
        .await,
        StatusCode::FORBIDDEN,
        "not_a_member",
    );
}

#[tokio::test]
async fn jwks_publishes_public_keys_with_cache_control() {
    let app = app().await;
    let (s, h, b) = get(&app.public, "/.well-known/jwks.json", None).await;
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
    let (_, _, other) = sign_in(&app, "ada@example.test", PW).await;
    let (s, h, b) = post(
        &app.public,
        "/v1/auth/password/change",
        Some(token),
        json!({"current_password": "wrong wrong", "new_password": "another long passphrase"}),
    )
    .await;
    assert_problem(s, &h, &b, StatusCode::UNAUTHORIZED, "invalid_credentials");
    let (s, _, _) = post(
        &app.public,
        "/v1/auth/password/change",
        Some(token),
        json!({"current_password": PW, "new_password": "another long passphrase"}),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _, _) = get(
        &app.public,
        "/v1/auth/session",
        other["access_token"].as_str(),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "other sessions end with a password change"
    );

    let (_, _, third) = sign_in(&app, "ada@example.test", "another long passphrase").await;
    let sid = third["session_id"].as_str().unwrap();
    let stranger = register(&app, "eve@example.test").await;
    let (s, h, b) = delete(
        &app.public,
        &format!("/v1/auth/sessions/{sid}"),
        stranger["access_token"].as_str(),
    )
    .await;
    assert_problem(s, &h, &b, StatusCode::NOT_FOUND, "not_found");
    let (s, _, _) = delete(
        &app.public,
        &format!("/v1/auth/sessions/{sid}"),
        Some(token),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _, _) = post(&app.public, "/v1/auth/logout-all", Some(token), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _, _) = get(&app.public, "/v1/auth/session", Some(token)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
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
    let (s, _, _) = sign_in(&app, "ada@example.test", PW).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    // Another email from the same addresses is not limited by ada's counter.
    let (s, _, _) = attempt("bob@example.test", "198.51.100.1").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // Once the window has passed, sign-in works again.
    app.world
        .clock
        .advance(chrono::TimeDelta::seconds(i64::try_from(retry).unwrap()));
    let (s, _, _) = sign_in(&app, "ada@example.test", PW).await;
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
