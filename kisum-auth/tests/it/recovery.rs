//! Password reset and email one-time codes through the Auth router: same answers whether or not
//! the email exists, hashed secrets, attempt limits, lockout, cooldown and daily quota.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use chrono::TimeDelta;
use kisum_auth::email::MemoryEmailSender;
use kisum_auth::http::public_router;
use kisum_auth::otp::{OtpConfig, Recovery};
use kisum_auth::{Email, MemoryAuthStore, UserStore};
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::client::{Answer, call_json};
use crate::fixture::{World, auth_service, code_in, link_token};

const PW: &str = "correct horse battery staple";

struct App {
    router: Router,
    mail: Arc<MemoryEmailSender>,
    world: World,
    store: Arc<MemoryAuthStore>,
}

async fn app() -> App {
    let world = World::new().await;
    let store = Arc::new(MemoryAuthStore::new());
    let mail = Arc::new(MemoryEmailSender::new());
    let auth = auth_service(store.clone(), world.clock.clone()).with_recovery(Recovery {
        store: store.clone(),
        email: mail.clone(),
        config: OtpConfig::default(),
        reset_url: "https://app.example.test/reset".into(),
    });
    let state = world.state_over(auth, store.clone());
    App {
        router: public_router(state),
        mail,
        world,
        store,
    }
}

async fn post(app: &App, uri: &str, body: Value) -> Answer {
    call_json(&app.router, Method::POST, uri, None, Some(body), &[]).await
}

async fn register(app: &App, email: &str) -> Value {
    let (s, _, b) = post(
        app,
        "/v1/auth/register",
        json!({"email": email, "password": PW}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    b
}

/// `POST /v1/auth/password/forgot` for `email`.
async fn forgot(app: &App, email: &str) -> Answer {
    post(app, "/v1/auth/password/forgot", json!({"email": email})).await
}

/// `POST /v1/auth/password/reset` with the mailed `token` and a new `password`.
async fn reset(app: &App, token: &str, password: &str) -> Answer {
    let body = json!({"token": token, "password": password});
    post(app, "/v1/auth/password/reset", body).await
}

/// `POST /v1/auth/email-otp/request`: a code for `email` and `purpose`.
async fn request_code(app: &App, email: &str, purpose: &str) -> Answer {
    let body = json!({"email": email, "purpose": purpose});
    post(app, "/v1/auth/email-otp/request", body).await
}

/// `POST /v1/auth/email-otp/verify`: `code` for `email` and `purpose`.
async fn verify_code(app: &App, email: &str, code: &str, purpose: &str) -> Answer {
    let body = json!({"email": email, "code": code, "purpose": purpose});
    post(app, "/v1/auth/email-otp/verify", body).await
}

fn last_mail(app: &App, email: &str) -> Option<String> {
    app.mail
        .last_to(&Email::parse(email).unwrap())
        .map(|m| m.text)
}

#[tokio::test]
async fn password_reset_end_to_end() {
    let app = app().await;
    let reg = register(&app, "ada@example.test").await;
    let (s1, _, b1) = forgot(&app, "ada@example.test").await;
    let (s2, _, b2) = forgot(&app, "nobody@example.test").await;
    assert_eq!((s1, s2), (StatusCode::ACCEPTED, StatusCode::ACCEPTED));
    assert_eq!(b1, b2, "the same answer whether or not the email exists");
    assert_eq!(
        app.mail.sent().len(),
        1,
        "only the existing account gets mail"
    );
    let text = last_mail(&app, "ada@example.test").unwrap();
    let token = link_token(&text);

    let (s, _, b) = reset(&app, &token, "password123").await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("validation_failed")),
        "weak passwords keep the token"
    );
    let (s, _, _) = reset(&app, &token, "a fresh new passphrase").await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _, b) = reset(&app, &token, "another passphrase!").await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_token")),
        "a token works once"
    );

    let (s, _, _) = post(
        &app,
        "/v1/auth/login",
        json!({"email": "ada@example.test", "password": PW}),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _, _) = post(
        &app,
        "/v1/auth/login",
        json!({"email": "ada@example.test", "password": "a fresh new passphrase"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, b) = post(
        &app,
        "/v1/auth/refresh",
        json!({"refresh_token": reg["refresh_token"]}),
    )
    .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("session_revoked")),
        "a reset ends every session"
    );

    forgot(&app, "ada@example.test").await;
    let text = last_mail(&app, "ada@example.test").unwrap();
    let late = link_token(&text);
    app.world.clock.advance(TimeDelta::minutes(31));
    let (s, _, b) = reset(&app, &late, "yet another passphrase").await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_token")),
        "expired"
    );
}

#[tokio::test]
async fn login_codes_lock_after_five_wrong_guesses() {
    let app = app().await;
    register(&app, "ada@example.test").await;
    let (s, _, accepted) = request_code(&app, "ada@example.test", "login").await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (_, _, unknown) = request_code(&app, "nobody@example.test", "login").await;
    assert_eq!(accepted, unknown, "same answer for unknown emails");
    assert_eq!(app.mail.sent().len(), 1);
    let code = code_in(&last_mail(&app, "ada@example.test").unwrap());
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for i in 0..4 {
        let (s, _, b) = verify_code(&app, "ada@example.test", wrong, "login").await;
        assert_eq!(
            (s, b["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_code")),
            "guess {i}"
        );
    }
    let (s, h, b) = verify_code(&app, "ada@example.test", wrong, "login").await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("otp_locked"))
    );
    assert!(h.contains_key(header::RETRY_AFTER));
    let (s, _, _) = verify_code(&app, "ada@example.test", &code, "login").await;
    assert_eq!(
        s,
        StatusCode::TOO_MANY_REQUESTS,
        "even the right code waits out the lockout"
    );

    app.world.clock.advance(TimeDelta::minutes(15));
    request_code(&app, "ada@example.test", "login").await;
    let code = code_in(&last_mail(&app, "ada@example.test").unwrap());
    let (s, _, tokens) = verify_code(&app, "ada@example.test", &code, "login").await;
    assert_eq!(s, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    let (s, _, _) = verify_code(&app, "ada@example.test", &code, "login").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "a code works once");
}

#[tokio::test]
async fn codes_expire_and_respect_cooldown_and_daily_quota() {
    let app = app().await;
    register(&app, "ada@example.test").await;
    let request = || request_code(&app, "ada@example.test", "verify_email");
    request().await;
    request().await;
    assert_eq!(app.mail.sent().len(), 1, "the 60 s cooldown");
    let code = code_in(&last_mail(&app, "ada@example.test").unwrap());
    app.world.clock.advance(TimeDelta::minutes(11));
    let (s, _, _) = verify_code(&app, "ada@example.test", &code, "verify_email").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "expired after 10 minutes");
    for _ in 0..12 {
        request().await;
        app.world.clock.advance(TimeDelta::minutes(7));
    }
    assert_eq!(app.mail.sent().len(), 10, "a daily quota of 10 codes");
    app.world.clock.advance(TimeDelta::days(1));
    request().await;
    assert_eq!(app.mail.sent().len(), 11, "the quota renews");
    let code = code_in(&last_mail(&app, "ada@example.test").unwrap());
    let (s, _, _) = verify_code(&app, "ada@example.test", &code, "verify_email").await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let user = app
        .store
        .find_user_by_email(&Email::parse("ada@example.test").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(user.email_verified);
}

#[tokio::test]
async fn secrets_are_stored_hashed() {
    let app = app().await;
    register(&app, "ada@example.test").await;
    request_code(&app, "ada@example.test", "login").await;
    let code = code_in(&last_mail(&app, "ada@example.test").unwrap());
    let key = kisum_auth::otp::CodeKey::Email(
        Email::parse("ada@example.test").unwrap(),
        kisum_auth::otp::OtpPurpose::Login,
    );
    let state = kisum_auth::otp::CodeStore::get_code(&*app.store, &key)
        .await
        .unwrap()
        .unwrap();
    assert!(!format!("{state:?}").contains(&code));
    assert_ne!(state.code_hash.unwrap().0[..6], *code.as_bytes());
}

#[tokio::test]
async fn register_forgot_and_code_requests_are_rate_limited() {
    let app = app().await;
    register(&app, "ada@example.test").await;
    // Registration: 10 per address per hour.
    let register_from = |i: usize| {
        let req = Request::post("/v1/auth/register")
            .header(header::CONTENT_TYPE, "application/json")
            .header("x-forwarded-for", "192.0.2.44")
            .body(Body::from(
                json!({"email": format!("user{i}@example.test"), "password": PW}).to_string(),
            ))
            .unwrap();
        app.router.clone().oneshot(req)
    };
    for i in 0..10 {
        assert_eq!(
            register_from(i).await.unwrap().status(),
            StatusCode::CREATED
        );
    }
    let r = register_from(10).await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key(header::RETRY_AFTER));

    // Password forgot: 5 per email per hour; other emails are not affected.
    for _ in 0..5 {
        let (s, _, _) = forgot(&app, "ada@example.test").await;
        assert_eq!(s, StatusCode::ACCEPTED);
    }
    let (s, h, b) = forgot(&app, "ada@example.test").await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited"))
    );
    assert!(h.contains_key(header::RETRY_AFTER));
    let (s, _, _) = forgot(&app, "bob@example.test").await;
    assert_eq!(s, StatusCode::ACCEPTED);

    // Code requests: 10 per email per hour (whatever the purpose).
    for i in 0..10 {
        let purpose = if i % 2 == 0 { "login" } else { "verify_email" };
        let (s, _, _) = request_code(&app, "ada@example.test", purpose).await;
        assert_eq!(s, StatusCode::ACCEPTED);
    }
    let (s, h, b) = request_code(&app, "ada@example.test", "login").await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited"))
    );
    assert!(h.contains_key(header::RETRY_AFTER));
    app.world.clock.advance(TimeDelta::hours(1));
    let (s, _, _) = request_code(&app, "ada@example.test", "login").await;
    assert_eq!(s, StatusCode::ACCEPTED, "the window passes");
}
