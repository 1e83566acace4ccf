//! Regression tests for the sign-in and session attacks of issue 11, each driving the HTTP
//! sequence an attacker would: a disabled user keeps going, argon2 floods, password checks
//! without limits, reset links outliving a password change, timing of the anonymous email
//! routes, spoofed or unparsable client addresses.

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, Method, StatusCode, header};
use kisum_auth::audit::AuditStore as _;
use kisum_auth::email::{
    EmailError, EmailMessage, EmailSender, MemoryEmailSender, QueuedEmailSender,
};
use kisum_auth::http::public_router;
use kisum_auth::identity::HashGate;
use kisum_auth::otp::{OtpConfig, Recovery};
use kisum_auth::service::AuthService;
use kisum_auth::session::SessionConfig;
use kisum_auth::{Email, MemoryAuthStore, UserStore as _};
use kisum_core::MemoryCoreStore;
use serde_json::{Value, json};

use crate::client::call_json;
use crate::fixture::{World, auth_service_with, link_token};

const PW: &str = "correct horse battery staple";

struct App {
    router: Router,
    auth: AuthService,
    store: Arc<MemoryAuthStore>,
    mail: Arc<MemoryEmailSender>,
    clock: Arc<kisum_guard::ManualClock>,
}

/// The public router with email flows through `email` (default: straight to memory) and
/// password hashing bounded by `gate` (default: the library's).
async fn app_with(email: Option<Arc<dyn EmailSender>>, gate: Option<HashGate>) -> App {
    app_full(email, gate, SessionConfig::default()).await
}

async fn app_full(
    email: Option<Arc<dyn EmailSender>>,
    gate: Option<HashGate>,
    sessions: SessionConfig,
) -> App {
    let store = Arc::new(MemoryAuthStore::new());
    let world = World::on(store.clone(), Arc::new(MemoryCoreStore::new())).await;
    let mail = Arc::new(MemoryEmailSender::new());
    let mut auth = auth_service_with(store.clone(), world.clock.clone(), sessions)
        .with_events(world.events.clone())
        .with_recovery(Recovery {
            store: store.clone(),
            email: email.unwrap_or_else(|| mail.clone()),
            config: OtpConfig::default(),
            reset_url: "https://app.example.test/reset".into(),
        });
    if let Some(gate) = gate {
        auth = auth.with_hashing(gate);
    }
    let state = world.state(auth.clone());
    App {
        router: public_router(state),
        auth,
        store,
        mail,
        clock: world.clock.clone(),
    }
}

/// [`app`] with a refresh reuse grace window of ten seconds.
async fn app_with_grace() -> App {
    let sessions = SessionConfig {
        reuse_grace: chrono::TimeDelta::seconds(10),
        ..SessionConfig::default()
    };
    app_full(None, None, sessions).await
}

async fn app() -> App {
    app_with(None, None).await
}

impl App {
    async fn call(
        &self,
        method: Method,
        uri: &str,
        bearer: Option<&str>,
        body: Option<Value>,
        extra: &[(&str, &str)],
    ) -> (StatusCode, HeaderMap, Value) {
        call_json(&self.router, method, uri, bearer, body, extra).await
    }

    /// `POST uri` with the JSON `body`, anonymously.
    async fn post(&self, uri: &str, body: Value) -> (StatusCode, HeaderMap, Value) {
        self.call(Method::POST, uri, None, Some(body), &[]).await
    }

    /// Registers `email` with [`PW`]; the token response.
    async fn register(&self, email: &str) -> Value {
        let (status, _, body) = self
            .post("/v1/auth/register", json!({"email": email, "password": PW}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    async fn login(&self, email: &str, password: &str, ip: &str) -> (StatusCode, HeaderMap, Value) {
        self.call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"email": email, "password": password})),
            &[("x-forwarded-for", ip)],
        )
        .await
    }
}

/// A disabled user keeps refreshing and calling Auth: disabling revokes every session, and
/// refresh, `me`, `me/access` and sign-in all refuse from then on.
#[tokio::test]
async fn a_disabled_user_can_no_longer_refresh_call_auth_or_sign_in() {
    let app = app().await;
    let reg = app.register("leaver@example.test").await;
    let access = reg["access_token"].as_str().unwrap();
    let refresh = reg["refresh_token"].as_str().unwrap();
    let user = reg["user"]["id"].as_str().unwrap().parse().unwrap();
    app.auth
        .set_disabled(user, true, &kisum_auth::audit::AuditContext::default())
        .await
        .unwrap();
    let (status, _, body) = app
        .post("/v1/auth/refresh", json!({"refresh_token": refresh}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], "session_revoked");
    let (status, _, body) = app
        .call(Method::GET, "/v1/auth/me", Some(access), None, &[])
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("session_revoked"))
    );
    let (status, _, body) = app.login("leaver@example.test", PW, "192.0.2.1").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], "invalid_credentials");
    let actions: Vec<String> = app
        .store
        .list(None, None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(actions.iter().any(|a| a == "user.disable"), "{actions:?}");
}

/// A refresh racing the disabling (its session not yet revoked) is refused too.
#[tokio::test]
async fn a_refresh_of_a_disabled_user_is_refused_even_with_a_live_session() {
    let app = app().await;
    let reg = app.register("racer@example.test").await;
    let refresh = reg["refresh_token"].as_str().unwrap();
    let email = Email::parse("racer@example.test").unwrap();
    let mut user = app.store.find_user_by_email(&email).await.unwrap().unwrap();
    user.disabled = true;
    app.store.update_user(&user).await.unwrap();
    let (status, _, body) = app
        .post("/v1/auth/refresh", json!({"refresh_token": refresh}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], "session_revoked");
}

/// Argon2 flood: with one hashing worker and no queue, concurrent sign-ins beyond it are
/// answered at once with 503 `overloaded` and `Retry-After`, never queued without bound.
#[tokio::test]
async fn an_argon2_flood_is_answered_503_overloaded_with_retry_after() {
    let app = app_with(None, Some(HashGate::new(1, 0))).await;
    app.register("busy@example.test").await;
    let logins = (0..4).map(|i| {
        let ip = format!("192.0.2.{}", 10 + i);
        let app = &app;
        async move { app.login("busy@example.test", PW, &ip).await }
    });
    let answers = futures_util::future::join_all(logins).await;
    let overloaded: Vec<_> = answers
        .iter()
        .filter(|(s, _, _)| *s == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert!(!overloaded.is_empty(), "{answers:?}");
    for (_, headers, body) in &overloaded {
        assert_eq!(body["code"], "overloaded", "{body}");
        assert_eq!(headers[header::RETRY_AFTER], "1");
    }
    assert!(
        answers.iter().any(|(s, _, _)| *s == StatusCode::OK),
        "the admitted sign-in succeeds: {answers:?}"
    );
}

/// `POST /v1/auth/password/change` verifies a password, so it is limited per user like
/// sign-in (a stolen access token must not become a password oracle).
#[tokio::test]
async fn password_change_guessing_is_rate_limited() {
    let app = app().await;
    let reg = app.register("guess@example.test").await;
    let token = reg["access_token"].as_str().unwrap();
    let mut statuses = Vec::new();
    for i in 0..11 {
        let (status, headers, body) = app
            .call(
                Method::POST,
                "/v1/auth/password/change",
                Some(token),
                Some(json!({"current_password": format!("guess number {i}"), "new_password": "a brand new password"})),
                &[],
            )
            .await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(body["code"], "rate_limited", "{body}");
            assert!(headers.contains_key(header::RETRY_AFTER));
        }
        statuses.push(status);
    }
    assert!(
        statuses[..10]
            .iter()
            .all(|s| *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
    assert_eq!(statuses[10], StatusCode::TOO_MANY_REQUESTS);
}

/// A reset link emailed before a password change no longer works after it.
#[tokio::test]
async fn a_reset_link_dies_with_a_password_change() {
    let app = app().await;
    let reg = app.register("linked@example.test").await;
    let token = reg["access_token"].as_str().unwrap();
    let (status, _, _) = app
        .post(
            "/v1/auth/password/forgot",
            json!({"email": "linked@example.test"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let mail = app
        .mail
        .last_to(&Email::parse("linked@example.test").unwrap())
        .unwrap();
    let link = link_token(&mail.text);
    let (status, _, body) = app
        .call(
            Method::POST,
            "/v1/auth/password/change",
            Some(token),
            Some(json!({"current_password": PW, "new_password": "a brand new password"})),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, _, body) = app
        .post(
            "/v1/auth/password/reset",
            json!({"token": link, "password": "the thief's password"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["code"], "invalid_token");
}

/// A sender that delivers nothing until released, to prove requests do not wait for it.
struct Held {
    release: tokio::sync::Semaphore,
    inner: Arc<MemoryEmailSender>,
}

#[async_trait::async_trait]
impl EmailSender for Held {
    async fn send(&self, message: &EmailMessage) -> Result<(), EmailError> {
        let _permit = self.release.acquire().await;
        self.inner.send(message).await
    }
}

/// Account enumeration by timing: `/password/forgot` and `/email-otp/request` answer before
/// any email is sent (a queue sends it), so an existing account does not take longer.
#[tokio::test]
async fn the_anonymous_email_routes_answer_before_sending_so_timing_reveals_no_account() {
    let delivered = Arc::new(MemoryEmailSender::new());
    let held = Arc::new(Held {
        release: tokio::sync::Semaphore::new(0),
        inner: delivered.clone(),
    });
    let queued: Arc<dyn EmailSender> = Arc::new(QueuedEmailSender::spawn(held.clone(), 16));
    let app = app_with(Some(queued), None).await;
    app.register("known@example.test").await;
    for (uri, body) in [
        (
            "/v1/auth/password/forgot",
            json!({"email": "known@example.test"}),
        ),
        (
            "/v1/auth/email-otp/request",
            json!({"email": "known@example.test", "purpose": "login"}),
        ),
        (
            "/v1/auth/password/forgot",
            json!({"email": "unknown@example.test"}),
        ),
    ] {
        // The sender is held: if the request waited for it, this would never finish.
        let answer = tokio::time::timeout(std::time::Duration::from_secs(5), app.post(uri, body))
            .await
            .expect("answered without waiting for the mail server");
        assert_eq!(answer.0, StatusCode::ACCEPTED, "{uri}: {}", answer.2);
    }
    assert!(delivered.sent().is_empty());
    held.release.add_permits(10);
    for _ in 0..100 {
        if delivered.sent().len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(
        delivered.sent().len(),
        2,
        "both emails to the known account went out"
    );
}

/// Spoofed or broken client addresses: an unparsable `X-Forwarded-For` does not switch the
/// per-address limit off, and IPv6 clients are counted per /64.
#[tokio::test]
async fn unparsable_or_rotating_client_addresses_do_not_escape_the_per_address_limit() {
    let app = app().await;
    let mut last = StatusCode::OK;
    for i in 0..31 {
        let email = format!("nobody{i}@example.test");
        last = app
            .login(&email, "wrong password", "not-an-address")
            .await
            .0;
    }
    assert_eq!(
        last,
        StatusCode::TOO_MANY_REQUESTS,
        "garbage addresses share one bucket"
    );
    let mut last = StatusCode::OK;
    for i in 0..31 {
        let email = format!("v6-{i}@example.test");
        let ip = format!("2001:db8:1:2::{:x}", i + 1);
        last = app.login(&email, "wrong password", &ip).await.0;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS, "one /64 is one client");
}

impl App {
    /// `POST /v1/auth/refresh` with `token`: status and body.
    async fn refresh(&self, token: &str) -> (StatusCode, Value) {
        let (status, _, body) = self
            .post("/v1/auth/refresh", json!({"refresh_token": token}))
            .await;
        (status, body)
    }
}

/// With the refresh grace window on, a spent token used to mint a new unlinked token every
/// time it was presented within the window. Now only the immediate predecessor of the live
/// token is honoured, at most three times, and always with that same live token.
#[tokio::test]
async fn the_refresh_grace_window_never_starts_a_new_chain() {
    let app = app_with_grace().await;
    let reg = app.register("tabs@example.test").await;
    let r0 = reg["refresh_token"].as_str().unwrap().to_owned();
    let (status, first) = app.refresh(&r0).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let r1 = first["refresh_token"].as_str().unwrap().to_owned();
    app.clock.advance(chrono::TimeDelta::seconds(2));
    for _ in 0..3 {
        let (status, again) = app.refresh(&r0).await;
        assert_eq!(status, StatusCode::OK, "{again}");
        assert_eq!(
            again["refresh_token"],
            r1.as_str(),
            "the same live token, not a new one"
        );
        assert!(again["access_token"].as_str().is_some());
    }
    // A fourth time is reuse: the session ends.
    let (status, body) = app.refresh(&r0).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("refresh_token_reused"))
    );
    let (status, body) = app.refresh(&r1).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("session_revoked"))
    );
}

/// Only the immediate predecessor: once the live token moved on, an older one is reuse even
/// within the window.
#[tokio::test]
async fn the_refresh_grace_window_honours_only_the_immediate_predecessor() {
    let app = app_with_grace().await;
    let reg = app.register("old@example.test").await;
    let r0 = reg["refresh_token"].as_str().unwrap().to_owned();
    let (_, first) = app.refresh(&r0).await;
    let r1 = first["refresh_token"].as_str().unwrap().to_owned();
    let (status, second) = app.refresh(&r1).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let (status, body) = app.refresh(&r0).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("refresh_token_reused"))
    );
}

/// Re-signs `token`'s claims (plus `extra` fields) with Auth's real active key under its own
/// header changed by `edit`: only the edit can make it fail.
fn resign(
    app: &App,
    token: &str,
    edit: impl FnOnce(&mut jsonwebtoken::Header),
    extra: Option<(&str, Value)>,
) -> String {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut parts = token.split('.');
    let header = engine.decode(parts.next().unwrap()).unwrap();
    let mut claims: Value =
        serde_json::from_slice(&engine.decode(parts.next().unwrap()).unwrap()).unwrap();
    let mut header: jsonwebtoken::Header = serde_json::from_slice(&header).unwrap();
    edit(&mut header);
    if let Some((k, v)) = extra {
        claims[k] = v;
    }
    let ring = app.auth.tokens().keys();
    jsonwebtoken::encode(&header, &claims, ring.active().unwrap().encoding()).unwrap()
}

/// JWT checked with the real signing key: a token with a `crit` header, or longer than the
/// guard's 8 KiB bound, is refused by Auth as it is by every guard.
#[tokio::test]
async fn auth_refuses_a_crit_header_and_an_oversized_token_like_the_guard() {
    let app = app().await;
    let reg = app.register("jwt@example.test").await;
    let token = reg["access_token"].as_str().unwrap();
    let control = resign(&app, token, |_| {}, None);
    assert_eq!(me(&app, &control).await, (StatusCode::OK, None), "control");
    let unauthenticated = (StatusCode::UNAUTHORIZED, Some("unauthenticated".to_owned()));
    let crit = resign(&app, token, |h| h.crit = Some(vec!["exp".into()]), None);
    assert_eq!(me(&app, &crit).await, unauthenticated);
    let big = resign(
        &app,
        token,
        |_| {},
        Some(("pad", json!("x".repeat(20_000)))),
    );
    assert!(big.len() > kisum_guard::verify::MAX_TOKEN_LEN);
    assert_eq!(me(&app, &big).await, unauthenticated);
}

/// `GET /v1/auth/me` with `token`: the status and the problem code, if any.
async fn me(app: &App, token: &str) -> (StatusCode, Option<String>) {
    let (status, _, body) = app
        .call(Method::GET, "/v1/auth/me", Some(token), None, &[])
        .await;
    (status, body["code"].as_str().map(str::to_owned))
}
