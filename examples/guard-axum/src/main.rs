//! Run with: cargo run -p example-guard-axum
//!
//! An existing axum app (an invoices API) protected by the Kisum guard in a few lines: see
//! [`protect`]. With `KISUM_AUTH_URL`, `KISUM_AUTH_INTERNAL_URL` and `KISUM_INTERNAL_API_KEY`
//! set, it verifies tokens against that Auth's JWKS, resolves access through its internal API
//! and serves on `KISUM_LISTEN` (default `127.0.0.1:8090`). Without them it runs a
//! self-contained demo: Auth in the same process (in-memory stores), a member who may read
//! invoices but not write them, and three requests through the guarded router.

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use chrono::TimeDelta;
use kisum_auth::keys::{KeyRing, SigningAlgorithm, SigningKey, generate};
use kisum_auth::tokens::{TokenConfig, TokenService};
use kisum_auth::{
    AccessService, DirectoryService, MembershipStatus, MemoryAuthStore, Session, SessionStore,
};
use kisum_core::{
    AddOn, CompanyAddOn, EntitlementService, MemoryCoreStore, Module, ModuleKind,
    SubscriptionStatus,
};
use kisum_guard::remote::{HttpJwks, RemoteAccessSource};
use kisum_guard::{
    Access, AccessGuard, AccessSource, AddOnKey, Clock, GuardConfig, JwksSource, ModuleKey,
    PermissionPattern, Principal, Require, RoleKey, SystemClock, UserId,
};
use tower::ServiceExt as _;

/// The existing app: two handlers that now receive who is calling and what they may do.
async fn list_invoices(who: Principal, access: Access) -> String {
    format!(
        "invoices of company {} for user {} (roles: {})",
        access.company_id,
        who.user_id,
        access
            .roles
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

async fn create_invoice() -> &'static str {
    "invoice created"
}

/// The few lines: one guard, one requirement per route.
fn protect(guard: &AccessGuard) -> Router {
    let read = Router::new()
        .route("/v1/finance/invoices", get(list_invoices))
        .route_layer(guard.layer(Require::module("finance").permission("finance.invoices.read")));
    let write = Router::new()
        .route("/v1/finance/invoices/new", get(create_invoice))
        .route_layer(guard.layer(Require::module("finance").permission("finance.invoices.write")));
    read.merge(write)
}

async fn production(auth: &str, internal: &str, key: &str) -> Result<(), Box<dyn Error>> {
    let jwks = HttpJwks::new(
        format!("{auth}/.well-known/jwks.json"),
        Duration::from_secs(2),
    )?;
    let source = RemoteAccessSource::new(internal, key, Duration::from_secs(2))?;
    let issuer = std::env::var("KISUM_ISSUER").unwrap_or_else(|_| auth.to_owned());
    let audience = std::env::var("KISUM_AUDIENCE").unwrap_or_else(|_| "kisum".to_owned());
    let guard = AccessGuard::new(
        GuardConfig::new(issuer, audience),
        Arc::new(jwks),
        Arc::new(source),
    );
    let listen = std::env::var("KISUM_LISTEN").unwrap_or_else(|_| "127.0.0.1:8090".to_owned());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("guarded invoices API on http://{listen}");
    axum::serve(listener, protect(&guard)).await?;
    Ok(())
}

async fn demo() -> Result<(), Box<dyn Error>> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store = Arc::new(MemoryAuthStore::new());
    let core = EntitlementService::new(Arc::new(MemoryCoreStore::new()), clock.clone());
    core.put_module(Module {
        key: ModuleKey::new("finance")?,
        name: "Finance".into(),
        kind: ModuleKind::Addon,
        permissions: vec![],
    })
    .await?;
    core.put_addon(AddOn {
        key: AddOnKey::new("finance")?,
        name: "Finance".into(),
        module: ModuleKey::new("finance")?,
    })
    .await?;
    let directory = DirectoryService::new(store.clone(), clock.clone());
    let (acme, _) = directory
        .create_company("Acme", None, UserId::new())
        .await?;
    core.set_company_addon(CompanyAddOn {
        company_id: acme.id,
        addon: AddOnKey::new("finance")?,
        status: SubscriptionStatus::Active,
        current_period_end: None,
    })
    .await?;
    let viewer = RoleKey::new("finance-viewer")?;
    directory
        .put_role(
            acme.id,
            viewer.clone(),
            "Finance viewer",
            [PermissionPattern::new("finance.invoices.read")?].into(),
        )
        .await?;
    let member = directory
        .add_member(
            acme.id,
            UserId::new(),
            MembershipStatus::Active,
            [viewer].into(),
            [ModuleKey::new("finance")?].into(),
        )
        .await?;

    // Auth in this process: its token service is the JWKS, its access service the source.
    let (kid, pem) = generate(SigningAlgorithm::Es256, clock.now().date_naive())?;
    let key = SigningKey::from_pem(&kid, &pem, std::path::Path::new("memory"))?;
    let tokens = TokenService::new(
        TokenConfig::new("https://auth.demo", "kisum"),
        KeyRing::new(&kid, [key])?,
    );
    let access = AccessService::new(store.clone(), store.clone(), Arc::new(core), clock.clone());
    let jwks: Arc<dyn JwksSource> = Arc::new(tokens.clone());
    let source: Arc<dyn AccessSource> = Arc::new(access);
    let guard = AccessGuard::new(GuardConfig::new("https://auth.demo", "kisum"), jwks, source);
    let app = protect(&guard);

    let session = Session::new(
        member.user_id,
        clock.now(),
        TimeDelta::hours(1),
        TimeDelta::days(1),
    );
    store.create_session(&session).await?;
    let token = tokens.issue(member.user_id, session.id, clock.now())?.token;
    for (path, token) in [
        ("/v1/finance/invoices", Some(token.as_str())),
        ("/v1/finance/invoices/new", Some(token.as_str())),
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
