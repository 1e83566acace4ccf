//! The HTTP sources against local servers on port 0.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use kisum_guard::DenialCode;
use kisum_guard::remote::{HttpJwks, RemoteAccessSource};
use kisum_guard::source::{AccessSource, SourceError};

use crate::support::*;

async fn serve(router: axum::Router) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    (format!("http://{addr}"), handle)
}

#[tokio::test]
async fn http_jwks_is_cached_per_max_age_and_kept_when_auth_goes_away() {
    let w = World::new();
    let hits = Arc::new(AtomicU64::new(0));
    let body = serde_json::json!({"keys": [w.key().jwk().clone()]});
    let h = hits.clone();
    let (base, server) = serve(axum::Router::new().route(
        "/.well-known/jwks.json",
        get(move || {
            h.fetch_add(1, Ordering::SeqCst);
            let body = body.clone();
            async move { ([("cache-control", "public, max-age=1")], Json(body)) }
        }),
    ))
    .await;
    let jwks = Arc::new(
        HttpJwks::new(
            format!("{base}/.well-known/jwks.json"),
            Duration::from_secs(2),
        )
        .unwrap(),
    );
    let guard = guard_over(jwks, w.source.clone()).build().unwrap();
    let app = app(&guard);
    assert_eq!(
        call(&app, "/me", Some(&w.token), None).await.status,
        StatusCode::OK
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    for _ in 0..3 {
        let t = w.key().signed(&claims(w.user, w.session));
        assert_eq!(
            call(&app, "/me", Some(&t), None).await.status,
            StatusCode::OK
        );
    }
    assert_eq!(hits.load(Ordering::SeqCst), 1, "fresh keys: no refetch");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let t = w.key().signed(&claims(w.user, w.session));
    assert_eq!(
        call(&app, "/me", Some(&t), None).await.status,
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        hits.load(Ordering::SeqCst),
        2,
        "stale keys refreshed in the background"
    );
    server.abort();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let t = w.key().signed(&claims(w.user, w.session));
    assert_eq!(
        call(&app, "/me", Some(&t), None).await.status,
        StatusCode::OK,
        "last good keys kept"
    );
}

#[tokio::test]
async fn remote_access_source_maps_answers_denials_and_outages() {
    let w = World::new();
    let ctx = w.context();
    let c = ctx.clone();
    let (base, server) = serve(axum::Router::new()
        .route(
            "/internal/v1/access/resolve",
            post(move |headers: HeaderMap, Json(body): Json<serde_json::Value>| {
                let c = c.clone();
                async move {
                    if headers["authorization"] != "Bearer service-key-0123456789" {
                        return (StatusCode::UNAUTHORIZED, Json(serde_json::json!({"type": "urn:kisum:problem:unauthenticated", "title": "x", "status": 401, "code": "unauthenticated"}))).into_response();
                    }
                    if body["org"] == "acme" {
                        Json(c).into_response()
                    } else {
                        (StatusCode::FORBIDDEN, Json(serde_json::json!({"type": "urn:kisum:problem:not_a_member", "title": "x", "status": 403, "code": "not_a_member"}))).into_response()
                    }
                }
            }),
        )
        .route(
            "/internal/v1/sessions/{id}",
            get(|| async { Json(serde_json::json!({"active": false, "revoked_at": "2026-11-21T10:00:00Z"})) }),
        ))
    .await;
    let source =
        RemoteAccessSource::new(&base, "service-key-0123456789", Duration::from_secs(2)).unwrap();
    assert_eq!(
        source.resolve(w.user, w.session, "acme").await.unwrap(),
        ctx
    );
    assert_eq!(
        source.resolve(w.user, w.session, "globex").await,
        Err(SourceError::Denied(DenialCode::NotAMember))
    );
    assert_eq!(source.session_active(w.user, w.session).await, Ok(false));
    let wrong =
        RemoteAccessSource::new(&base, "wrong-key-0123456789", Duration::from_secs(2)).unwrap();
    assert!(
        matches!(
            wrong.resolve(w.user, w.session, "acme").await,
            Err(SourceError::Unavailable(_))
        ),
        "a refused service key is not the user's denial"
    );
    server.abort();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(matches!(
        source.resolve(w.user, w.session, "acme").await,
        Err(SourceError::Unavailable(_))
    ));
}
