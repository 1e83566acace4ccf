//! Server assembly: client addresses, and the OpenAPI document on every server.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::routing::get;
use kisum_servers::app::finish;
use kisum_servers::ops::{HttpSettings, Readiness};
use tower::ServiceExt as _;

fn echo() -> Router {
    Router::new().route(
        "/v1/echo",
        get(|headers: HeaderMap| async move {
            headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("none")
                .to_owned()
        }),
    )
}

async fn forwarded(hops: u8, header: &str, connect: Option<&str>) -> String {
    let settings = HttpSettings {
        trusted_proxy_hops: hops,
        ..HttpSettings::default()
    };
    let app = finish(echo(), Readiness::new(), &settings).unwrap();
    let mut request = Request::get("/v1/echo")
        .header("x-forwarded-for", header)
        .body(Body::empty())
        .unwrap();
    if let Some(peer) = connect {
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo::<std::net::SocketAddr>(
                peer.parse().unwrap(),
            ));
    }
    let response = app.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = axum::body::to_bytes(response.into_body(), 1024)
        .await
        .unwrap();
    String::from_utf8(body.to_vec()).unwrap()
}

#[tokio::test]
async fn a_client_sent_forwarded_for_is_replaced_by_the_peer_unless_trusted() {
    let spoofed = "203.0.113.7, 10.0.0.1";
    assert_eq!(
        forwarded(0, spoofed, Some("192.0.2.1:5555")).await,
        "192.0.2.1"
    );
    assert_eq!(forwarded(0, spoofed, None).await, "none");
}

/// Issue 11: behind one trusted proxy the client-controlled leftmost entry used to be taken.
/// Now the entry the trusted proxy appended (what it saw) is, and garbage falls back to the
/// peer instead of switching per-address limits off.
#[tokio::test]
async fn a_spoofed_leftmost_forwarded_for_entry_is_never_the_client_address() {
    let peer = Some("10.0.0.9:443");
    // The client wrote 203.0.113.7; the ingress appended what it saw, 198.51.100.4.
    let header = "203.0.113.7, 198.51.100.4";
    assert_eq!(forwarded(1, header, peer).await, "198.51.100.4");
    // Two proxies: the outer one saw 203.0.113.7 only if it is the second from the right.
    assert_eq!(
        forwarded(2, "1.2.3.4, 203.0.113.7, 10.1.1.1", peer).await,
        "203.0.113.7"
    );
    // Fewer entries than proxies, or an unparsable entry where the address should be.
    assert_eq!(forwarded(2, "198.51.100.4", peer).await, "10.0.0.9");
    assert_eq!(
        forwarded(1, "203.0.113.7, not-an-ip", peer).await,
        "10.0.0.9"
    );
    assert_eq!(forwarded(1, "2001:db8::1", peer).await, "2001:db8::1");
}

#[tokio::test]
async fn public_listeners_of_auth_keep_metrics_to_themselves() {
    let get = |app: Router, path: &'static str| async move {
        app.oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap()
            .status()
    };
    let settings = HttpSettings::default();
    let public = kisum_servers::app::finish_public(echo(), Readiness::new(), &settings).unwrap();
    assert_eq!(get(public.clone(), "/metrics").await, StatusCode::NOT_FOUND);
    assert_eq!(get(public, "/health").await, StatusCode::OK);
    let internal = finish(echo(), Readiness::new(), &settings).unwrap();
    assert_eq!(get(internal, "/metrics").await, StatusCode::OK);
}

/// The servers' PostgreSQL connections can use TLS (`sslmode` in the URL): the local server
/// has TLS with a self-signed certificate, so `require` encrypts and `verify-full` refuses it.
#[cfg(feature = "postgres")]
#[test]
#[ignore = "needs PostgreSQL: set KISUM_TEST_DATABASE_URL and run with --include-ignored"]
fn postgres_urls_may_require_tls_and_verification_is_real() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let url = kisum_core::testkit::db::postgres_url().await;
        let sep = if url.contains('?') { '&' } else { '?' };
        let pool = sqlx::PgPool::connect(&format!("{url}{sep}sslmode=require"))
            .await
            .unwrap();
        let ssl: bool =
            sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                .fetch_one(&pool)
                .await
                .unwrap();
        assert!(ssl, "sslmode=require must encrypt");
        let store =
            kisum_servers::app::open_auth_store(&format!("{url}{sep}sslmode=require")).await;
        assert!(store.is_ok(), "Auth's store over TLS");
        let refused =
            kisum_servers::app::open_auth_store(&format!("{url}{sep}sslmode=verify-full")).await;
        assert!(
            refused.is_err(),
            "a self-signed certificate must not pass verify-full"
        );
    });
}

/// `docs/api/*.json` are the documents the servers serve; regenerate them with
/// `kisum openapi <listener> > docs/api/<listener>.json` when a route changes.
#[test]
fn the_committed_openapi_documents_are_in_step_with_the_servers() {
    use kisum_servers::openapi;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/api");
    for (file, doc) in [
        ("auth-public.json", openapi::auth_public()),
        ("auth-internal.json", openapi::auth_internal()),
        ("core.json", openapi::core_internal()),
        ("module-finance.json", openapi::module("finance")),
    ] {
        let committed: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(file)).unwrap()).unwrap();
        assert_eq!(
            committed,
            serde_json::to_value(&doc).unwrap(),
            "docs/api/{file} is out of date: run `cargo run --bin kisum -- openapi …`"
        );
    }
}

/// Auth as `kisum auth` builds it (in memory) with `tuning`: its public router.
fn auth_router(tuning: kisum_servers::config::AuthTuning) -> Router {
    use std::sync::Arc;

    use kisum_auth::keys::{GeneratedKey, KeyRing, SigningAlgorithm, SigningKey, generate};
    use kisum_auth::ratelimit::LocalRateLimiter;
    use kisum_guard::{Clock, SystemClock};
    use kisum_servers::app::AuthBuilder;

    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let GeneratedKey { kid, pem } =
        generate(SigningAlgorithm::Es256, clock.now().date_naive()).unwrap();
    let key = SigningKey::from_pem(&kid, &pem, std::path::Path::new("mem")).unwrap();
    let built = AuthBuilder::new(
        Arc::new(kisum_auth::MemoryAuthStore::new()),
        KeyRing::new(&kid, [key]).unwrap(),
        "https://auth.example.test",
        "kisum",
        Arc::new(kisum_core::EntitlementService::new(
            Arc::new(kisum_core::MemoryCoreStore::new()),
            clock.clone(),
        )),
    )
    .events(Arc::new(kisum_auth::events::NoEvents))
    .rate_limiter(Arc::new(LocalRateLimiter::new(clock.clone())))
    .service_keys(kisum_guard::ServiceKeys::default())
    .email(
        Arc::new(kisum_auth::email::MemoryEmailSender::new()),
        "https://auth.example.test",
    )
    .tuning(tuning)
    .clock(clock)
    .build()
    .unwrap();
    kisum_auth::http::public_router(built.state)
}

/// Sends `body` (JSON) with `token` as the bearer; the status and the JSON answer.
async fn call(
    router: &Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: serde_json::Value,
) -> (StatusCode, serde_json::Value) {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .header("x-forwarded-for", "192.0.2.1");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = router
        .clone()
        .oneshot(request.body(Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

/// Registers `email` and creates the company `acme` it owns; its access token.
async fn owner_of_acme(router: &Router, email: &str) -> String {
    let (status, registered) = call(
        router,
        "POST",
        "/v1/auth/register",
        None,
        serde_json::json!({"email": email, "password": "correct horse battery"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{registered}");
    let token = registered["access_token"].as_str().unwrap().to_owned();
    let (status, company) = call(
        router,
        "POST",
        "/v1/companies",
        Some(&token),
        serde_json::json!({"name": "Acme", "slug": "acme"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{company}");
    token
}

/// The sign-up, password-forgot, email-code, invitation and password-change limits of
/// `kisum auth` come from its settings.
#[tokio::test]
async fn auth_applies_the_configured_request_limits() {
    use std::time::Duration;

    use kisum_auth::ratelimit::RateLimit;
    use kisum_servers::config::AuthTuning;

    let once = RateLimit::new(1, Duration::from_secs(3600));
    let router = auth_router(AuthTuning {
        register_per_ip: once,
        forgot_per_email: once,
        otp_per_email: once,
        ..AuthTuning::default()
    });
    let post = |uri: &'static str, body: serde_json::Value| {
        let router = router.clone();
        async move {
            // The client address, as the server's outer layers pass it on.
            let request = Request::post(uri)
                .header("content-type", "application/json")
                .header("x-forwarded-for", "192.0.2.1")
                .body(Body::from(body.to_string()))
                .unwrap();
            router.oneshot(request).await.unwrap().status()
        }
    };
    for (uri, body, first) in [
        (
            "/v1/auth/register",
            serde_json::json!({"email": "a@example.test", "password": "short"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/v1/auth/password/forgot",
            serde_json::json!({"email": "a@example.test"}),
            StatusCode::ACCEPTED,
        ),
        (
            "/v1/auth/email-otp/request",
            serde_json::json!({"email": "a@example.test", "purpose": "login"}),
            StatusCode::ACCEPTED,
        ),
    ] {
        assert_eq!(post(uri, body.clone()).await, first, "{uri}");
        assert_eq!(
            post(uri, body).await,
            StatusCode::TOO_MANY_REQUESTS,
            "{uri}: one request per hour was configured"
        );
    }

    // Invitations: two per company, one per address; password changes: one per user.
    let router = auth_router(AuthTuning {
        invite_per_company: RateLimit::new(2, Duration::from_secs(3600)),
        invite_per_email: once,
        password_change_per_user: once,
        ..AuthTuning::default()
    });
    let owner = owner_of_acme(&router, "owner@example.test").await;
    let invite = |email: &'static str| {
        call(
            &router,
            "POST",
            "/v1/companies/acme/members",
            Some(&owner),
            serde_json::json!({"email": email}),
        )
    };
    let (status, first) = invite("x@example.test").await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (status, again) = invite("x@example.test").await;
    assert_eq!(
        (status, again["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited")),
        "one invitation per address was configured: {again}"
    );
    // The company's third invitation, to a fresh address.
    let (status, third) = invite("y@example.test").await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "two invitations per company were configured: {third}"
    );
    let change = || {
        call(
            &router,
            "POST",
            "/v1/auth/password/change",
            Some(&owner),
            serde_json::json!({
                "current_password": "correct horse battery",
                "new_password": "another correct horse",
            }),
        )
    };
    let (status, changed) = change().await;
    assert!(status.is_success(), "{status} {changed}");
    assert_eq!(
        change().await.0,
        StatusCode::TOO_MANY_REQUESTS,
        "one password change per user was configured"
    );
}

/// The policy bounds of `kisum auth` (`KISUM_MAX_ROLE_PATTERNS`, …) reach the directory: with
/// at most 3 patterns a role, a role of 4 is 422 `limit_exceeded`.
#[tokio::test]
async fn auth_applies_the_configured_policy_limits() {
    use kisum_servers::config::AuthTuning;

    let router = auth_router(AuthTuning {
        policy: kisum_auth::PolicyLimits {
            role_patterns: 3,
            ..kisum_auth::PolicyLimits::default()
        },
        ..AuthTuning::default()
    });
    let owner = owner_of_acme(&router, "policy-owner@example.test").await;
    let role = |key: &str, n: usize| {
        let patterns: Vec<String> = (0..n).map(|i| format!("company.p{i}.*")).collect();
        call(
            &router,
            "POST",
            "/v1/companies/acme/roles",
            Some(&owner),
            serde_json::json!({"key": key, "name": key, "permissions": patterns}),
        )
    };
    let (status, created) = role("three", 3).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, problem) = role("four", 4).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("limit_exceeded")),
        "{problem}"
    );
}

/// `KISUM_REFRESH_COOKIE` turns the cookie mode on: a registration answers the refresh token as
/// an `HttpOnly; Secure; SameSite=Strict` cookie too; by default no cookie is set.
#[tokio::test]
async fn auth_sets_the_refresh_cookie_only_when_configured() {
    use kisum_servers::config::AuthTuning;

    for on in [false, true] {
        let router = auth_router(AuthTuning {
            refresh_cookie: on,
            ..AuthTuning::default()
        });
        let request = Request::post("/v1/auth/register")
            .header("content-type", "application/json")
            .body(Body::from(
                serde_json::json!({"email": "c@example.test", "password": "correct horse battery"})
                    .to_string(),
            ))
            .unwrap();
        let response = router.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let cookie = response
            .headers()
            .get("set-cookie")
            .map(|v| v.to_str().unwrap().to_owned());
        match cookie {
            None => assert!(!on, "cookie mode is on but no cookie was set"),
            Some(c) => {
                assert!(on, "a cookie without cookie mode: {c}");
                for part in ["kisum_refresh=", "HttpOnly", "Secure", "SameSite=Strict"] {
                    assert!(c.contains(part), "{part} missing from {c}");
                }
            }
        }
    }
}
