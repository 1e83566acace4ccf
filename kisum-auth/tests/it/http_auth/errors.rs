//! The error answers of the Auth routes: bad input is a clear 4xx, every failure is a
//! problem document with a request id, and each route answers its documented codes.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::json;
use tower::ServiceExt as _;

use super::{KEY, PW, app, refresh_with};
use crate::client::{
    assert_invalid_field, assert_problem, call, delete, get, get_in, post, problem, send_json,
};

#[tokio::test]
async fn bad_input_is_a_clear_4xx_never_a_500() {
    let app = app().await;
    problem(
        get(&app.public, "/v1/auth/me", None).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
    let (s, h, b) = get(&app.public, "/v1/auth/me", Some("garbage")).await;
    assert_problem(s, &h, &b, StatusCode::UNAUTHORIZED, "unauthenticated");

    let req = Request::post("/v1/auth/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{not json"))
        .unwrap();
    let r = app.public.clone().oneshot(req).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let (s, _, b) = post(&app.public, "/v1/auth/login", None, json!({"email": 42})).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("validation_failed"))
    );
    assert_eq!(b["errors"][0]["field"], "email", "{b}");
    // A missing field is named too.
    let (s, _, b) = post(
        &app.public,
        "/v1/auth/login",
        None,
        json!({"email": "ada@example.test"}),
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
        let (s, h, b) = send_json(&app.public, req).await;
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
            internal(Request::delete("/internal/v1/events")),
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
        problem(send_json(&app.internal, req).await, status, code);
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
    let (s, h, _) = send_json(&app.public, get(Some("client-req-7"))).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["x-request-id"], "client-req-7", "echoed on success too");
    let (_, h1, _) = send_json(&app.public, get(None)).await;
    let (_, h2, _) = send_json(&app.public, get(None)).await;
    let (g1, g2) = (
        h1["x-request-id"].to_str().unwrap(),
        h2["x-request-id"].to_str().unwrap(),
    );
    assert!(!g1.is_empty() && g1 != g2, "generated, one per request");
    let long = "x".repeat(200);
    let (_, h, _) = send_json(&app.public, get(Some(&long))).await;
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
    assert_invalid_field(
        post(
            &app.public,
            "/v1/auth/register",
            None,
            json!({"email": "ada@example.test", "password": PW, "company_name": "!!!"}),
        )
        .await,
        "company_name",
    );
    // Registration with a company makes the user its owner.
    let (s, _, reg) = post(
        &app.public,
        "/v1/auth/register",
        None,
        json!({"email": "ada@example.test", "password": PW, "company_name": "Initech Labs"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{reg}");
    assert_eq!(reg["company"]["slug"], "initech-labs");
    let token = reg["access_token"].as_str().unwrap();
    let (_, _, me) = get(&app.public, "/v1/auth/me", Some(token)).await;
    assert_eq!(me["memberships"][0]["company_slug"], "initech-labs");
    assert_eq!(me["memberships"][0]["roles"], json!(["owner"]));

    // An unknown refresh token.
    problem(
        refresh_with(&app, "never-issued").await,
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
    );
    // A malformed session id names no session.
    problem(
        delete(&app.public, "/v1/auth/sessions/not-a-session", Some(token)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    // A weak new password, and no bearer at all.
    assert_invalid_field(
        post(
            &app.public,
            "/v1/auth/password/change",
            Some(token),
            json!({"current_password": PW, "new_password": "short"}),
        )
        .await,
        "new_password",
    );
    for (method, uri) in [
        (Method::POST, "/v1/auth/password/change"),
        (Method::POST, "/v1/auth/logout"),
        (Method::POST, "/v1/auth/logout-all"),
        (Method::GET, "/v1/auth/sessions"),
        (Method::GET, "/v1/auth/session"),
        (Method::GET, "/v1/auth/me/access"),
    ] {
        problem(
            call(&app.public, method, uri, None, None, &[]).await,
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
        );
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
    problem(
        get_in(&app.public, "/v1/auth/me/access", Some(token), "acme").await,
        StatusCode::FORBIDDEN,
        "membership_inactive",
    );
    assert_eq!(m.status, kisum_auth::MembershipStatus::Suspended);
    let sid = reg["session_id"].as_str().unwrap();
    post(&app.public, "/v1/auth/logout", Some(token), None).await;
    let (s, h, b) = get_in(
        &app.public,
        "/v1/auth/me/access",
        Some(token),
        "initech-labs",
    )
    .await;
    assert_problem(s, &h, &b, StatusCode::UNAUTHORIZED, "session_revoked");
    let (s, _, state) = get(&app.internal, &format!("/internal/v1/sessions/{sid}"), KEY).await;
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
        problem(
            post(&app.public, uri, None, body).await,
            StatusCode::NOT_IMPLEMENTED,
            "not_configured",
        );
    }
}

/// Without an SMS sender the phone routes say so (501 `not_configured`) instead of pretending
/// a code went out: a request for either purpose (before a token or a limit is looked at), and
/// a sign-in code.
#[tokio::test]
async fn phone_routes_without_an_sms_sender_answer_not_configured() {
    let app = app().await;
    for (uri, body) in [
        (
            "/v1/auth/phone/request",
            json!({"phone": "+447700900123", "purpose": "login"}),
        ),
        (
            "/v1/auth/phone/request",
            json!({"phone": "+447700900123", "purpose": "verify_phone"}),
        ),
        (
            "/v1/auth/phone/verify",
            json!({"phone": "+447700900123", "code": "123456", "purpose": "login"}),
        ),
    ] {
        problem(
            post(&app.public, uri, None, body).await,
            StatusCode::NOT_IMPLEMENTED,
            "not_configured",
        );
    }
}
