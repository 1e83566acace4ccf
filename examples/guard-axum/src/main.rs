//! Run with: cargo run -p example-guard-axum
//!
//! An existing axum app (an invoices API) protected by the Kisum guard: see [`guard`] (the
//! setup, about five lines) and [`protect`] (one requirement per route). With
//! `KISUM_AUTH_URL`, `KISUM_AUTH_INTERNAL_URL` and `KISUM_INTERNAL_API_KEY` set, it verifies
//! tokens against that Auth's JWKS, resolves access through its internal API and serves on
//! `KISUM_LISTEN` (default `127.0.0.1:8090`). Without them it runs a self-contained demo: the
//! guard's test kit stands in for Auth (no server, no other Kisum crate), with a member who may
//! read invoices but not write them, and three requests through the guarded router.

use std::error::Error;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use kisum_guard::remote::RemoteAuth;
use kisum_guard::testing::TestAuth;
use kisum_guard::{Access, AccessGuard, InvalidId, Principal, Require};
use tower::ServiceExt as _;

/// The existing app: two handlers that now receive who is calling and what they may do.
async fn list_invoices(who: Principal, access: Access) -> String {
    format!(
        "invoices of company {} for user {} (permissions: {})",
        access.company_id,
        who.user_id,
        access
            .permissions
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

async fn create_invoice() -> &'static str {
    "invoice created"
}

/// The guard of this service, over Auth at its public and internal URLs.
fn guard(public: &str, internal: &str, key: &str) -> Result<AccessGuard, Box<dyn Error>> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let mut builder = AccessGuard::builder(RemoteAuth::new(public, internal, key))
        .audience(env("KISUM_AUDIENCE").unwrap_or_else(|| "kisum".to_owned()));
    if let Some(issuer) = env("KISUM_ISSUER") {
        builder = builder.issuer(issuer); // only when Auth's issuer is not its public URL
    }
    Ok(builder.build()?) // fails fast: bad URLs, https without the `tls` feature
}

/// One requirement per route; each permission implies its module, and a typo fails here.
fn protect(guard: &AccessGuard) -> Result<Router, InvalidId> {
    let read = guard.require(Require::permission("finance.invoices.read")?);
    let write = guard.require(Require::permission("finance.invoices.write")?);
    Ok(Router::new()
        .route("/v1/finance/invoices", get(list_invoices).route_layer(read))
        .route(
            "/v1/finance/invoices/new",
            get(create_invoice).route_layer(write),
        ))
}

async fn production(public: &str, internal: &str, key: &str) -> Result<(), Box<dyn Error>> {
    let guard = guard(public, internal, key)?;
    let listen = std::env::var("KISUM_LISTEN").unwrap_or_else(|_| "127.0.0.1:8090".to_owned());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("guarded invoices API on http://{listen}");
    axum::serve(listener, protect(&guard)?).await?;
    Ok(())
}

/// The same router, with the test kit in Auth's place.
async fn demo() -> Result<(), Box<dyn Error>> {
    let auth = TestAuth::new()?;
    let guard = auth.guard().build()?;
    let member = auth.sign_in("acme", &["finance"], &["finance.invoices.read"])?;
    let app = protect(&guard)?;
    for (path, token) in [
        ("/v1/finance/invoices", Some(member.token.as_str())),
        ("/v1/finance/invoices/new", Some(member.token.as_str())),
        ("/v1/finance/invoices", None),
    ] {
        let mut request = Request::get(path).header("x-org", "acme");
        if let Some(t) = token {
            request = request.header("authorization", format!("Bearer {t}"));
        }
        let response = app.clone().oneshot(request.body(Body::empty())?).await?;
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 16).await?;
        println!(
            "GET {path} ({}) -> {status}\n  {}\n",
            if token.is_some() {
                "member's token"
            } else {
                "no token"
            },
            String::from_utf8_lossy(&body)
        );
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    match (
        env("KISUM_AUTH_URL"),
        env("KISUM_AUTH_INTERNAL_URL"),
        env("KISUM_INTERNAL_API_KEY"),
    ) {
        (Some(auth), Some(internal), Some(key)) => rt.block_on(production(&auth, &internal, &key)),
        _ => rt.block_on(demo()),
    }
}
