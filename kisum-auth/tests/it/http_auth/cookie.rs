//! Cookie mode: the refresh token in an `HttpOnly` cookie when configured, and neither set nor
//! read otherwise.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use kisum_auth::http::RefreshCookie;
use serde_json::{Value, json};
use tower::ServiceExt as _;

use super::{App, PW, app, app_with, refresh_with, sign_in};
use crate::client::{Answer, assert_invalid_field, assert_problem, call, post, problem};

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
    let (s, h, login) = post(
        &app.public,
        "/v1/auth/register",
        None,
        json!({"email": "ada@example.test", "password": PW}),
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
    problem(
        refresh_by_cookie(&app, refresh).await,
        StatusCode::UNAUTHORIZED,
        "refresh_token_reused",
    );
    assert_invalid_field(
        post(&app.public, "/v1/auth/refresh", None, json!({})).await,
        "refresh_token",
    );

    // Sign-out clears the cookie.
    let (_, _, again) = sign_in(&app, "ada@example.test", PW).await;
    let (s, h, _) = post(
        &app.public,
        "/v1/auth/logout",
        again["access_token"].as_str(),
        None,
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
    let (s, h, reg) = post(
        &app.public,
        "/v1/auth/register",
        None,
        json!({"email": "ada@example.test", "password": PW}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    assert!(set_cookies(&h).is_empty());
    let refresh = reg["refresh_token"].as_str().unwrap();
    let (s, h, b) = refresh_by_cookie(&app, refresh).await;
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
    let (s, h, _) = refresh_with(&app, refresh).await;
    assert_eq!(s, StatusCode::OK);
    assert!(set_cookies(&h).is_empty());
}

/// `POST /v1/auth/refresh` with an empty body and `refresh` in the `kisum_refresh` cookie.
async fn refresh_by_cookie(app: &App, refresh: &str) -> Answer {
    let cookie = format!("kisum_refresh={refresh}");
    let extra = [("cookie", cookie.as_str())];
    call(
        &app.public,
        Method::POST,
        "/v1/auth/refresh",
        None,
        Some(json!({})),
        &extra,
    )
    .await
}
