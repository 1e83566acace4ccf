//! Run with: cargo run -p example-embed-auth
//!
//! Auth inside your own axum app: [`AuthBuilder`] assembles Auth over a store (here in memory;
//! `SqliteAuthStore` or `PgAuthStore` with their features), its public router is merged next to
//! the app's own routes, and the whole app is one router. The demo then registers a user, signs
//! in and calls the app's own route and Auth's `me` with the token — all in process, through
//! the merged router — and prints each check.

use std::error::Error;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use kisum_auth::builder::AuthBuilder;
use kisum_auth::keys::{GeneratedKey, KeyRing, SigningAlgorithm, SigningKey, generate};
use kisum_auth::{AuthStore, MemoryAuthStore};
use kisum_core::{EntitlementService, MemoryCoreStore};
use kisum_guard::{Clock, SystemClock};
use serde_json::{Value, json};
use tower::ServiceExt as _;

/// The app's own route, untouched by Auth.
async fn health() -> &'static str {
    "ok"
}

/// Your app with Auth's public routes (`/v1/auth/*`, `/v1/companies/*`, the JWKS) mounted in it.
fn app(store: Arc<dyn AuthStore>, clock: Arc<dyn Clock>) -> Result<Router, Box<dyn Error>> {
    // One signing key, generated for the demo (production loads a key directory).
    let GeneratedKey { kid, pem } = generate(SigningAlgorithm::Es256, clock.now().date_naive())?;
    let keys = KeyRing::new(&kid, [SigningKey::from_pem(&kid, &pem, "memory".as_ref())?])?;
    // Entitlements from Core in the same process (or `kisum_auth::remote::RemoteEntitlements`).
    let entitlements = EntitlementService::new(Arc::new(MemoryCoreStore::new()), clock.clone());

    let auth = AuthBuilder::new(
        store,
        keys,
        "https://app.example.test",
        "my-app",
        Arc::new(entitlements),
    )
    .clock(clock)
    .build()?;

    Ok(Router::new()
        .route("/health", get(health))
        .merge(auth.public_router()))
}

/// Sends one request through `app`; the status and the JSON body (`null` when not JSON).
async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Result<(StatusCode, Value), Box<dyn Error>> {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        // The client address Auth's per-address limits count (a proxy would set it).
        .header("x-forwarded-for", "192.0.2.10");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let request = match body {
        Some(body) => request
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))?,
        None => request.body(Body::empty())?,
    };
    let response = app.clone().oneshot(request).await?;
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await?;
    Ok((
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

/// `what` holds, or the demo fails with `what`.
fn check(ok: bool, what: &str) -> Result<(), Box<dyn Error>> {
    if ok {
        println!("ok: {what}");
        Ok(())
    } else {
        Err(format!("failed: {what}").into())
    }
}

async fn demo() -> Result<(), Box<dyn Error>> {
    let app = app(Arc::new(MemoryAuthStore::new()), Arc::new(SystemClock))?;
    let credentials = json!({"email": "ada@example.test", "password": "correct horse battery"});

    let (status, body) = call(&app, "GET", "/health", None, None).await?;
    check(
        status == StatusCode::OK,
        "GET /health (the app's own route) -> 200",
    )?;
    let _ = body;

    let (status, registered) = call(
        &app,
        "POST",
        "/v1/auth/register",
        None,
        Some(credentials.clone()),
    )
    .await?;
    check(
        status == StatusCode::CREATED
            && registered.get("access_token").is_some_and(Value::is_string),
        "POST /v1/auth/register -> 201 with an access token",
    )?;

    let (status, signed_in) = call(&app, "POST", "/v1/auth/login", None, Some(credentials)).await?;
    let token = signed_in
        .get("access_token")
        .and_then(Value::as_str)
        .unwrap_or_default();
    check(
        status == StatusCode::OK && !token.is_empty(),
        "POST /v1/auth/login -> 200 with an access token",
    )?;

    let (status, me) = call(&app, "GET", "/v1/auth/me", Some(token), None).await?;
    check(
        status == StatusCode::OK && me.to_string().contains("ada@example.test"),
        "GET /v1/auth/me with that token -> 200, the signed-in user",
    )?;

    let (status, _) = call(&app, "GET", "/v1/auth/me", None, None).await?;
    check(
        status == StatusCode::UNAUTHORIZED,
        "GET /v1/auth/me without a token -> 401",
    )?;
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(demo())
}
