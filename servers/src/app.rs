//! Assembling the servers from their configuration: stores, services, event transports, the
//! guard, routers with the ops endpoints and layers, and readiness checks.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use chrono::TimeDelta;
pub use kisum_auth::builder::{AuthApp, AuthBuilder};
use kisum_auth::events::EventPublisher;
use kisum_auth::key_rotation::KeyRotation;
use kisum_auth::ratelimit::{RateLimiter, RedisRateLimiterConfig};
use kisum_auth::{AuthStore, EntitlementSource};
use kisum_core::audit::CoreAudit;
use kisum_core::db::PoolSize;
use kisum_core::{CoreStore, EntitlementService};
use kisum_guard::guard::{AccessGuardBuilder, BuildError};
use kisum_guard::jwks::JwksSource;
use kisum_guard::source::AccessSource;
use kisum_guard::{AccessGuard, Clock, CompanyId, InvalidationEvent};

use crate::config::RedisConfig;
use crate::ops::{CheckStatus, Readiness, check_fn};

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartError(pub String);

impl StartError {
    /// A start-up failure described by `what` and its cause.
    pub fn new(what: &str, cause: impl std::fmt::Display) -> Self {
        Self(format!("{what}: {cause}"))
    }
}

/// Opens (and migrates) Auth's store at `url` (`postgres://…` or `sqlite://…`).
///
/// # Errors
/// Unsupported URL, unreachable database, failed migration.
pub async fn open_auth_store(url: &str) -> Result<Arc<dyn AuthStore>, StartError> {
    open_auth_store_sized(url, None).await
}

/// As [`open_auth_store`], with a pool of at most `max_connections` (`None`: the backend's
/// default, [`PoolSize::POSTGRES`] or [`PoolSize::SQLITE`]).
///
/// # Errors
/// As [`open_auth_store`].
pub async fn open_auth_store_sized(
    url: &str,
    max_connections: Option<u32>,
) -> Result<Arc<dyn AuthStore>, StartError> {
    let redacted = crate::config::redact_url(url);
    if is_postgres(url) {
        let size = pool_size(PoolSize::POSTGRES, max_connections);
        let store = kisum_auth::PgAuthStore::connect_sized(url, size)
            .await
            .map_err(|e| StartError::new(&format!("auth database {redacted}"), e))?;
        Ok(Arc::new(store))
    } else if url.starts_with("sqlite:") {
        let size = pool_size(PoolSize::SQLITE, max_connections);
        let store = kisum_auth::SqliteAuthStore::connect_sized(url, size)
            .await
            .map_err(|e| StartError::new(&format!("auth database {redacted}"), e))?;
        Ok(Arc::new(store))
    } else {
        Err(StartError(format!(
            "auth database {redacted}: neither a postgres:// nor a sqlite: URL"
        )))
    }
}

/// `default`, with at most `max_connections` when set.
fn pool_size(default: PoolSize, max_connections: Option<u32>) -> PoolSize {
    max_connections.map_or(default, |n| default.with_max_connections(n))
}

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Core's store and its audit log.
pub struct CoreStores {
    /// Catalog and subscriptions.
    pub store: Arc<dyn CoreStore>,
    /// The audit log of Core's writes.
    pub audit: Arc<dyn CoreAudit>,
    /// Licences and their activations.
    pub licenses: Arc<dyn kisum_core::LicenseStore>,
    /// Billing webhook events and the Stripe subscriptions applied.
    pub billing: Arc<dyn kisum_core::BillingStore>,
}

/// Opens (and migrates) Core's store at `url`.
///
/// # Errors
/// Unsupported URL, unreachable database, failed migration.
pub async fn open_core_store(url: &str) -> Result<CoreStores, StartError> {
    open_core_store_sized(url, None).await
}

/// As [`open_core_store`], with a pool of at most `max_connections` (`None`: the backend's
/// default).
///
/// # Errors
/// As [`open_core_store`].
pub async fn open_core_store_sized(
    url: &str,
    max_connections: Option<u32>,
) -> Result<CoreStores, StartError> {
    let redacted = crate::config::redact_url(url);
    if is_postgres(url) {
        let size = pool_size(PoolSize::POSTGRES, max_connections);
        let store = Arc::new(
            kisum_core::PgCoreStore::connect_sized(url, size)
                .await
                .map_err(|e| StartError::new(&format!("core database {redacted}"), e))?,
        );
        Ok(CoreStores {
            store: store.clone(),
            audit: store.clone(),
            licenses: store.clone(),
            billing: store,
        })
    } else if url.starts_with("sqlite:") {
        let size = pool_size(PoolSize::SQLITE, max_connections);
        let store = Arc::new(
            kisum_core::SqliteCoreStore::connect_sized(url, size)
                .await
                .map_err(|e| StartError::new(&format!("core database {redacted}"), e))?,
        );
        Ok(CoreStores {
            store: store.clone(),
            audit: store.clone(),
            licenses: store.clone(),
            billing: store,
        })
    } else {
        Err(StartError(format!(
            "core database {redacted}: neither a postgres:// nor a sqlite: URL"
        )))
    }
}

/// Events delivered straight to the guards of this process: `kisum dev`.
#[derive(Clone, Default)]
pub struct LocalEvents {
    guards: Arc<std::sync::Mutex<Vec<AccessGuard>>>,
}

impl LocalEvents {
    /// Delivers to `guard` from now on.
    pub fn subscribe(&self, guard: AccessGuard) {
        if let Ok(mut g) = self.guards.lock() {
            g.push(guard);
        }
    }

    async fn deliver(&self, event: &InvalidationEvent) {
        let guards = self.guards.lock().map(|g| g.clone()).unwrap_or_default();
        for g in guards {
            g.apply(event).await;
        }
    }
}

#[async_trait]
impl EventPublisher for LocalEvents {
    async fn publish(&self, event: &InvalidationEvent) {
        self.deliver(event).await;
    }
}

/// Counts entitlement-version bumps (for `/metrics`) on the way to `inner`.
pub struct CountedEvents<E>(pub E);

#[async_trait]
impl<E: EventPublisher> EventPublisher for CountedEvents<E> {
    async fn publish(&self, event: &InvalidationEvent) {
        if matches!(event, InvalidationEvent::Company { .. }) {
            metrics::counter!("kisum_core_entitlement_bumps_total").increment(1);
        }
        self.0.publish(event).await;
    }
}

/// The rate limiter: Redis-backed (with the in-process fallback) or in process.
///
/// # Errors
/// A malformed Redis URL.
pub async fn rate_limiter(
    redis: Option<&RedisConfig>,
    clock: Arc<dyn Clock>,
) -> Result<Arc<dyn RateLimiter>, StartError> {
    let config =
        RedisRateLimiterConfig::default().with_prefix(redis.map_or("", |r| r.prefix.as_str()));
    kisum_auth::ratelimit::shared_or_local(redis.map(|r| r.url.expose()), config, clock)
        .await
        .map_err(|e| StartError::new("redis rate limiter", e))
}

/// Relays a component's event log to its Redis stream, when Redis is configured; revocation
/// markers outlive access tokens of `access_ttl` (Auth's; `None` for Core, which revokes no
/// session).
///
/// # Errors
/// A malformed Redis URL.
pub fn relay(
    feed: &Arc<kisum_core::outbox::EventFeed>,
    component: kisum_core::outbox::Component,
    redis: Option<&RedisConfig>,
    access_ttl: Option<Duration>,
) -> Result<Option<tokio::task::JoinHandle<()>>, StartError> {
    use kisum_core::outbox::relay::{self, RelayConfig};
    let Some(r) = redis else {
        return Ok(None);
    };
    let mut config = RelayConfig {
        prefix: r.prefix.clone(),
        max_len: r.stream_max_len,
        ..RelayConfig::default()
    };
    if let Some(ttl) = access_ttl {
        config.marker_ttl = RelayConfig::marker_ttl_for(ttl);
    }
    relay::spawn(r.url.expose(), component, Arc::clone(feed), config)
        .map(Some)
        .map_err(|e| StartError::new("redis", e))
}

/// Auth's streams: its own relayed to Redis (when configured), and Core's read from Core's
/// long poll into Auth's (so guards follow Auth alone).
///
/// # Errors
/// A malformed Redis or Core URL.
pub fn auth_streams(
    feed: &Arc<kisum_core::outbox::EventFeed>,
    redis: Option<&RedisConfig>,
    core_url: &str,
    service_key: &str,
    access_ttl: Duration,
    clock: Arc<dyn Clock>,
) -> Result<Vec<tokio::task::JoinHandle<()>>, StartError> {
    let mut tasks: Vec<_> = relay(
        feed,
        kisum_core::outbox::Component::Auth,
        redis,
        Some(access_ttl),
    )?
    .into_iter()
    .collect();
    let core = kisum_guard::remote::EventsFeedClient::new(core_url, service_key)
        .map_err(|e| StartError::new("core events feed", e))?;
    tasks.push(core.spawn(Arc::new(kisum_auth::events::CoreRelay::new(
        Arc::clone(feed),
        clock,
    ))));
    Ok(tasks)
}

/// A readiness check on Redis: degraded, never failed (Redis is only acceleration).
pub fn redis_check(redis: &RedisConfig) -> Option<crate::ops::FnCheck> {
    let client = redis::Client::open(redis.url.expose()).ok()?;
    Some(check_fn("redis", false, move || {
        let client = client.clone();
        async move {
            let ping = async {
                let mut conn = client.get_multiplexed_async_connection().await?;
                redis::cmd("PING").query_async::<String>(&mut conn).await
            };
            match tokio::time::timeout(Duration::from_millis(500), ping).await {
                Ok(Ok(_)) => CheckStatus::Ok,
                Ok(Err(_)) | Err(_) => {
                    CheckStatus::Failed("redis unreachable: caches, shared rate limits and pushed invalidation are degraded".into())
                }
            }
        }
    }))
}

/// Readiness of Auth: its database (required), Redis (optional), Core (optional: sign-in
/// works without it, access resolution does not).
pub fn auth_readiness(
    store: Arc<dyn AuthStore>,
    entitlements: Arc<dyn EntitlementSource>,
    redis: Option<&RedisConfig>,
) -> Readiness {
    let mut r = Readiness::new().with(check_fn("database", true, move || {
        let store = store.clone();
        async move {
            match store.get_session(kisum_guard::SessionId::new()).await {
                Ok(_) => CheckStatus::Ok,
                Err(_) => CheckStatus::Failed("auth database unreachable".into()),
            }
        }
    }));
    r = r.with(check_fn("core", false, move || {
        let entitlements = entitlements.clone();
        async move {
            match entitlements.entitlements(CompanyId::new()).await {
                Ok(_) => CheckStatus::Ok,
                Err(_) => CheckStatus::Failed("core unreachable: access cannot be resolved".into()),
            }
        }
    }));
    if let Some(c) = redis.and_then(redis_check) {
        r = r.with(c);
    }
    r
}

/// Readiness of Core: its database (required), Redis (optional).
pub fn core_readiness(service: EntitlementService, redis: Option<&RedisConfig>) -> Readiness {
    let mut r = Readiness::new().with(check_fn("database", true, move || {
        let service = service.clone();
        async move {
            match service.entitlements(CompanyId::new()).await {
                Ok(_) => CheckStatus::Ok,
                Err(_) => CheckStatus::Failed("core database unreachable".into()),
            }
        }
    }));
    if let Some(c) = redis.and_then(redis_check) {
        r = r.with(c);
    }
    r
}

/// A guard's builder over `jwks` and `source`, with the Redis tier and listener when
/// configured; build it with [`build_guard`] (after adding settings of one's own: `kisum
/// module` adds Core's certificate keys).
pub fn guard_builder(
    issuer: &str,
    audience: &str,
    access_ttl: Duration,
    jwks: Arc<dyn JwksSource>,
    source: Arc<dyn AccessSource>,
    redis: Option<&RedisConfig>,
    clock: Arc<dyn Clock>,
) -> AccessGuardBuilder {
    let mut builder = AccessGuard::with_sources(jwks, source)
        .issuer(issuer)
        .audience(audience)
        .access_ttl(access_ttl)
        .clock(clock);
    if let Some(r) = redis {
        builder = builder.redis(r.url.expose()).redis_prefix(&r.prefix);
    }
    builder
}

/// Builds a guard, naming the part that failed.
///
/// # Errors
/// Redis (malformed URL, no runtime) or another guard setting.
pub fn build_guard(builder: AccessGuardBuilder) -> Result<AccessGuard, StartError> {
    builder.build().map_err(|e| match e {
        BuildError::Redis(_) | BuildError::NoRuntime => StartError::new("redis", e),
        e => StartError::new("guard", e),
    })
}

/// Readiness of a module backend: its database (required), Auth's keys (required: without
/// them no token verifies), Redis (optional).
pub fn module_readiness(
    db: crate::module::InvoiceDb,
    guard: AccessGuard,
    redis: Option<&RedisConfig>,
) -> Readiness {
    let mut r = Readiness::new()
        .with(check_fn("database", true, move || {
            let db = db.clone();
            async move {
                match db.ping().await {
                    Ok(()) => CheckStatus::Ok,
                    Err(_) => CheckStatus::Failed("module database unreachable".into()),
                }
            }
        }))
        .with(check_fn("jwks", true, move || {
            let guard = guard.clone();
            async move {
                if guard.keys().kids().is_empty() {
                    guard.keys().refresh().await;
                }
                if guard.keys().kids().is_empty() {
                    CheckStatus::Failed("no verification keys: auth's JWKS unreachable".into())
                } else {
                    CheckStatus::Ok
                }
            }
        }));
    if let Some(c) = redis.and_then(redis_check) {
        r = r.with(c);
    }
    r
}

/// Merges the ops endpoints into `app` and applies the shared layers.
///
/// # Errors
/// The metrics recorder could not be installed.
pub fn finish(
    app: Router,
    readiness: Readiness,
    settings: &crate::ops::HttpSettings,
) -> Result<Router, StartError> {
    finish_with(app, readiness, settings, true)
}

/// [`finish`] without `/metrics` (for Auth's public listener: its metrics are on the internal
/// one, so they are not exposed to browsers).
///
/// # Errors
/// The metrics recorder could not be installed.
pub fn finish_public(
    app: Router,
    readiness: Readiness,
    settings: &crate::ops::HttpSettings,
) -> Result<Router, StartError> {
    finish_with(app, readiness, settings, false)
}

fn finish_with(
    app: Router,
    readiness: Readiness,
    settings: &crate::ops::HttpSettings,
    with_metrics: bool,
) -> Result<Router, StartError> {
    let metrics = crate::ops::prometheus().map_err(|e| StartError::new("metrics", e))?;
    let ops = if with_metrics {
        crate::ops::router(readiness, metrics)
    } else {
        crate::ops::router_without_metrics(readiness, metrics)
    };
    let hops = settings.trusted_proxy_hops;
    let app = app
        .merge(ops)
        .layer(axum::middleware::from_fn(move |request, next| {
            client_address_middleware(hops, request, next)
        }));
    Ok(crate::ops::layers(app, settings))
}

/// The client address a request is attributed to, given `hops` trusted proxies in front of
/// the listener: the `hops`-th `X-Forwarded-For` entry from the right (what the outermost
/// trusted proxy saw); with no trusted proxy, fewer entries than proxies, or an unparsable
/// entry there, the connection's peer address. Entries further left were written by the
/// client and are never used.
#[must_use]
pub fn client_address(
    hops: u8,
    forwarded_for: &[&str],
    peer: Option<std::net::IpAddr>,
) -> Option<std::net::IpAddr> {
    if hops == 0 {
        return peer;
    }
    let entries: Vec<&str> = forwarded_for
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    entries
        .len()
        .checked_sub(usize::from(hops))
        .and_then(|i| entries.get(i))
        .and_then(|e| e.parse().ok())
        .or(peer)
}

/// Replaces `X-Forwarded-For` with the one address [`client_address`] attributes the request
/// to, so the routers' per-address limits see the real client and nothing a client wrote.
async fn client_address_middleware(
    hops: u8,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let headers = request.headers_mut();
    let forwarded: Vec<String> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    let forwarded: Vec<&str> = forwarded.iter().map(String::as_str).collect();
    let client = client_address(hops, &forwarded, peer);
    headers.remove("x-forwarded-for");
    if let Some(ip) = client
        && let Ok(v) = http::HeaderValue::from_str(&ip.to_string())
    {
        headers.insert("x-forwarded-for", v);
    }
    next.run(request).await
}

/// Starts reloading the signing keys ([`KeyRotation::spawn`]): every reload interval, and at
/// once on SIGHUP (Unix). The SIGHUP handler is in place when this returns, so the signal no
/// longer ends the process.
pub fn spawn_key_rotation(rotation: Arc<KeyRotation>) -> tokio::task::JoinHandle<()> {
    #[cfg(unix)]
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(mut hangup) => {
            let on_hangup = Arc::clone(&rotation);
            tokio::spawn(async move {
                while hangup.recv().await.is_some() {
                    tracing::info!("SIGHUP: reloading the signing keys");
                    on_hangup.reload_soon();
                }
            });
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP: the signing keys reload periodically only");
        }
    }
    rotation.spawn()
}

/// How long ended sessions, spent tokens and stale codes are kept before the pruning job
/// deletes them (a spent refresh token presented within it is still recognised as reuse).
pub const PRUNE_RETENTION: TimeDelta = TimeDelta::days(30);

/// How often the pruning job runs.
pub const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Deletes events older than a day from a component's event log (the newest is always kept),
/// every [`PRUNE_EVERY`]: readers further behind than that get a gap (410) and flush.
pub fn spawn_event_pruning(
    feed: Arc<kisum_core::outbox::EventFeed>,
    clock: Arc<dyn Clock>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(PRUNE_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let before = clock.now() - chrono::TimeDelta::days(1);
            match feed.log().prune(before).await {
                Ok(n) => tracing::info!(events = n, %before, "pruned the event log"),
                Err(e) => {
                    tracing::warn!(error = %e, "pruning the event log failed; retrying later")
                }
            }
        }
    })
}

/// Starts the job that deletes what can no longer be used ([`kisum_auth::service::AuthService::prune`]) every
/// [`PRUNE_EVERY`], first right away. A failed run is logged and retried at the next tick.
pub fn spawn_pruning(auth: kisum_auth::service::AuthService) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(PRUNE_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if let Err(e) = auth.prune(PRUNE_RETENTION).await {
                tracing::warn!(error = %e, "pruning expired sessions and tokens failed; retrying later");
            }
        }
    })
}

/// Core's licence service and its running reaper.
pub struct Licensing {
    /// The service the internal and licence-key routes use.
    pub service: kisum_core::LicenseService,
    /// The reaper: expires licences and culls floating activations that missed their
    /// heartbeat, every [`LicenseReaper::DEFAULT_INTERVAL`](kisum_core::license::LicenseReaper::DEFAULT_INTERVAL).
    pub reaper: tokio::task::JoinHandle<()>,
}

/// The licence service of Core over `store`: activations answered with certificates signed by
/// `signer` when there is one (else the licence-key routes answer 503 `unavailable`; `kisum
/// core` refuses to open the licensing listener without keys), and its reaper spawned.
pub fn licensing(
    store: Arc<dyn kisum_core::LicenseStore>,
    audit: Arc<dyn CoreAudit>,
    entitlements: &kisum_core::EntitlementService,
    signer: Option<&Arc<kisum_core::certificate::CertificateSigner>>,
    clock: Arc<dyn Clock>,
) -> Licensing {
    let certifier: Arc<dyn kisum_core::license::ActivationCertifier> = match signer {
        Some(signer) => Arc::new(kisum_core::certificate::SignedActivations::new(
            Arc::clone(signer),
            entitlements.clone(),
        )),
        None => Arc::new(NoCertificates),
    };
    let service = kisum_core::LicenseService::new(store, clock, audit, certifier);
    let reaper = kisum_core::license::LicenseReaper::new(service.clone());
    let reaper = tokio::spawn(reaper.run(kisum_core::license::LicenseReaper::DEFAULT_INTERVAL));
    Licensing { service, reaper }
}

/// The certifier of a Core without certificate keys: every activation answer is refused.
struct NoCertificates;

#[async_trait]
impl kisum_core::license::ActivationCertifier for NoCertificates {
    async fn activation_certificate(
        &self,
        _: &kisum_core::license::License,
        _: &kisum_core::license::Activation,
        _: &str,
    ) -> Result<String, kisum_core::license::CertifyError> {
        Err(kisum_core::license::CertifyError(format!(
            "no certificate keys ({})",
            crate::config::env::CERT_KEYS_DIR
        )))
    }
}

/// The licence-key listener's router: the four licence-key routes and their OpenAPI document.
pub fn licensing_router(service: kisum_core::LicenseService) -> axum::Router {
    kisum_core::license_key_router(service).merge(crate::openapi::router(
        kisum_core::http::license_key_openapi(),
    ))
}

/// The billing webhook listener's router: the Stripe webhook and its OpenAPI document.
pub fn webhook_router(webhook: kisum_core::StripeWebhook) -> axum::Router {
    kisum_core::stripe_webhook_router(webhook).merge(crate::openapi::router(
        kisum_core::http::stripe_webhook_openapi(),
    ))
}
