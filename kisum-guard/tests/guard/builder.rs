//! Building a guard fails fast, and requirements are checked when routes are built.

use std::sync::Arc;

use axum::http::StatusCode;
use kisum_guard::guard::BuildError;
use kisum_guard::remote::RemoteAuth;
use kisum_guard::{AccessGuard, Require};

use crate::support::*;

#[test]
fn malformed_requirements_are_errors_when_the_route_is_built() {
    assert!(Require::permission("nodot").is_err());
    assert!(Require::permission("Finance.Invoices.Read").is_err());
    assert!(Require::module("no dots or spaces").is_err());
    assert!(Require::any_permission(["finance.invoices.read", "nodot"]).is_err());
    assert!(Require::all_permissions(["finance.invoices.read", ""]).is_err());
    assert!(Require::authenticated().and_permission("nodot").is_err());
    assert!(Require::permission("finance.invoices.read").is_ok());
}

#[tokio::test]
async fn a_permission_implies_its_module() {
    let w = World::new();
    let app = w.app();
    // `/invoices` requires only `finance.invoices.read`; without the module it is refused
    // for the module, as `Require::module("finance")` would.
    w.set_context(|c| c.modules.retain(|m| m.as_str() != "finance"));
    w.guard.invalidate_all().await;
    let a = invoices(&app, &w.token).await;
    a.assert_problem(StatusCode::FORBIDDEN, "module_not_granted");
}

fn remote(public: &str, internal: &str, key: &str) -> Result<AccessGuard, BuildError> {
    AccessGuard::builder(RemoteAuth::new(public, internal, key)).build()
}

#[tokio::test]
async fn building_from_auth_urls_fails_fast() {
    assert!(remote("http://auth:8080", "http://auth:8081/", "key").is_ok());
    for (public, internal) in [
        ("auth:8080", "http://auth:8081"),
        ("http://auth:8080", "not a url"),
        ("ftp://auth", "http://auth:8081"),
        ("http://auth:8080?x=1", "http://auth:8081"),
    ] {
        assert!(
            matches!(
                remote(public, internal, "key"),
                Err(BuildError::InvalidUrl { .. })
            ),
            "{public} {internal}"
        );
    }
    // https: accepted with the `tls` feature (the workspace enables it), refused at build —
    // not at the first request — without it (see the unit test in `remote.rs`).
    match remote("https://auth.example.com", "http://auth:8081", "key") {
        Ok(_) => {}
        Err(e) => assert_eq!(
            e,
            BuildError::TlsNotEnabled {
                url: "https://auth.example.com".into()
            }
        ),
    }
    assert!(matches!(
        remote("http://auth:8080", "http://auth:8081", " "),
        Err(BuildError::InvalidSetting(_))
    ));
    assert!(matches!(
        AccessGuard::builder(RemoteAuth::new("http://a", "http://b", "k"))
            .audience("")
            .build(),
        Err(BuildError::InvalidSetting(_))
    ));
    assert!(matches!(
        AccessGuard::builder(RemoteAuth::new("http://a", "http://b", "k"))
            .redis("not a redis url")
            .build(),
        Err(BuildError::Redis(_))
    ));
}

#[test]
fn explicit_sources_need_an_issuer_and_redis_needs_a_runtime() {
    let auth = TestAuth::new().unwrap();
    let jwks: Arc<dyn kisum_guard::jwks::JwksSource> = auth.jwks().clone();
    let source: Arc<dyn kisum_guard::source::AccessSource> = auth.source().clone();
    assert!(matches!(
        AccessGuard::with_sources(jwks, source).build(),
        Err(BuildError::InvalidSetting(_))
    ));
    assert_eq!(
        auth.guard().redis("redis://127.0.0.1:6379").build().err(),
        Some(BuildError::NoRuntime)
    );
}

#[tokio::test]
async fn the_remote_builder_derives_the_jwks_url_and_the_issuer() {
    // Auth's JWKS served by a stand-in at its public URL; tokens name that URL as issuer.
    let auth = TestAuth::new().unwrap();
    let keys = serde_json::json!({"keys": [auth.key().jwk()]});
    let router = axum::Router::new().route(
        "/.well-known/jwks.json",
        axum::routing::get(move || {
            let keys = keys.clone();
            async move { axum::Json(keys) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let public = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    let guard = AccessGuard::builder(RemoteAuth::new(&public, "http://127.0.0.1:1", "key"))
        .build()
        .unwrap();
    let app = app(&guard);
    let (user, session) = (kisum_guard::UserId::new(), kisum_guard::SessionId::new());
    let mut claims = claims(user, session);
    claims.iss = public;
    let token = auth.key().signed(&claims);
    // Verified with the fetched key; the session check then needs Auth's internal API, which
    // is down: the key was found, the token accepted, only access is unavailable.
    let a = call(&app, "/me", Some(&token), None).await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "access_unavailable"),
        "{}",
        a.body
    );
    assert_eq!(guard.keys().kids(), vec!["k1".to_owned()]);
    server.abort();
}
