//! Assembling the servers from their configuration: stores, services, event transports, the
//! guard, routers with the ops endpoints and layers, and readiness checks.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use chrono::TimeDelta;
use kisum_auth::credentials::{Argon2Params, PasswordHasher, PasswordPolicy};
use kisum_auth::events::{EventPublisher, NoEvents};
use kisum_auth::http::{AuthState, RateLimits};
use kisum_auth::keys::KeyRing;
use kisum_auth::ratelimit::{LocalRateLimiter, RateLimiter};
use kisum_auth::service::AuthService;
use kisum_auth::tokens::{TokenConfig, TokenService};
use kisum_auth::{AccessService, AuthStore, DirectoryService, EntitlementSource};
use kisum_core::audit::CoreAudit;
use kisum_core::db::{StoreError, StoreErrorKind};
use kisum_core::events::CoreEvents;
use kisum_core::{CoreStore, EntitlementService, Entitlements};
use kisum_guard::{
    AccessGuard, AccessSource, Clock, CompanyId, GuardConfig, InvalidationEvent, JwksSource,
    ServiceKeys,
};

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
    let redacted = crate::config::redact_url(url);
    if is_postgres(url) {
        let store = kisum_auth::PgAuthStore::connect(url)
            .await
            .map_err(|e| StartError::new(&format!("auth database {redacted}"), e))?;
        Ok(Arc::new(store))
    } else if url.starts_with("sqlite:") {
        let store = kisum_auth::SqliteAuthStore::connect(url)
            .await
            .map_err(|e| StartError::new(&format!("auth database {redacted}"), e))?;
        Ok(Arc::new(store))
    } else {
        Err(StartError(format!(
            "auth database {redacted}: neither a postgres:// nor a sqlite: URL"
        )))
    }
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
}

/// Opens (and migrates) Core's store at `url`.
///
/// # Errors
/// Unsupported URL, unreachable database, failed migration.
pub async fn open_core_store(url: &str) -> Result<CoreStores, StartError> {
    let redacted = crate::config::redact_url(url);
    if is_postgres(url) {
        let store = Arc::new(
            kisum_core::PgCoreStore::connect(url)
                .await
                .map_err(|e| StartError::new(&format!("core database {redacted}"), e))?,
        );
        Ok(CoreStores {
            store: store.clone(),
            audit: store,
        })
    } else if url.starts_with("sqlite:") {
        let store = Arc::new(
            kisum_core::SqliteCoreStore::connect(url)
                .await
                .map_err(|e| StartError::new(&format!("core database {redacted}"), e))?,
        );
        Ok(CoreStores {
            store: store.clone(),
            audit: store,
        })
    } else {
        Err(StartError(format!(
            "core database {redacted}: neither a postgres:// nor a sqlite: URL"
        )))
    }
}

fn http_client(timeout: Duration) -> Result<reqwest::Client, StartError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| StartError::new("HTTP client", e))
}

/// Core's entitlements over its internal API (`GET /internal/v1/companies/{id}/entitlements`).
#[derive(Clone)]
pub struct RemoteEntitlements {
    client: reqwest::Client,
    base: String,
    key: String,
}

impl std::fmt::Debug for RemoteEntitlements {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteEntitlements")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl RemoteEntitlements {
    /// Calls Core at `base` with the service `key`.
    ///
    /// # Errors
    /// The HTTP client could not be built.
    pub fn new(base: &str, key: &str) -> Result<Self, StartError> {
        Ok(Self {
            client: http_client(Duration::from_secs(3))?,
            base: base.trim_end_matches('/').to_owned(),
            key: key.to_owned(),
        })
    }
}

#[async_trait]
impl EntitlementSource for RemoteEntitlements {
    async fn entitlements(&self, company_id: CompanyId) -> Result<Entitlements, StoreError> {
        let unavailable = |e: String| StoreError::new(StoreErrorKind::Unavailable, e);
        let response = self
            .client
            .get(format!(
                "{}/internal/v1/companies/{company_id}/entitlements",
                self.base
            ))
            .bearer_auth(&self.key)
            .send()
            .await
            .map_err(|e| unavailable(format!("core unreachable: {}", e.without_url())))?;
        if !response.status().is_success() {
            return Err(unavailable(format!("core answered {}", response.status())));
        }
        response
            .json()
            .await
            .map_err(|e| unavailable(format!("malformed entitlements from core: {e}")))
    }
}

/// Core's events when there is no Redis: posted to Auth's `POST /internal/v1/events`.
#[derive(Clone)]
pub struct PostedEvents {
    client: reqwest::Client,
    url: String,
    key: String,
}

impl PostedEvents {
    /// Posts to Auth's internal listener at `base` with the service `key`.
    ///
    /// # Errors
    /// The HTTP client could not be built.
    pub fn new(base: &str, key: &str) -> Result<Self, StartError> {
        Ok(Self {
            client: http_client(Duration::from_secs(2))?,
            url: format!("{}/internal/v1/events", base.trim_end_matches('/')),
            key: key.to_owned(),
        })
    }
}

#[async_trait]
impl CoreEvents for PostedEvents {
    async fn publish(&self, event: &InvalidationEvent) {
        let sent = self
            .client
            .post(&self.url)
            .bearer_auth(&self.key)
            .json(event)
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => {
                tracing::warn!(status = %r.status(), "auth refused an invalidation event; guards fall back to their TTL")
            }
            Err(e) => {
                tracing::warn!(error = %e.without_url(), "auth unreachable: invalidation event not delivered; guards fall back to their TTL")
            }
        }
    }
}

/// Auth's Redis publisher used for Core's events too.
#[derive(Clone)]
pub struct RedisCoreEvents(pub kisum_auth::events::RedisEvents);

#[async_trait]
impl CoreEvents for RedisCoreEvents {
    async fn publish(&self, event: &InvalidationEvent) {
        self.0.publish(event, Duration::from_secs(3600)).await;
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
    async fn publish(&self, event: &InvalidationEvent, _ttl: Duration) {
        self.deliver(event).await;
    }
}

#[async_trait]
impl CoreEvents for LocalEvents {
    async fn publish(&self, event: &InvalidationEvent) {
        self.deliver(event).await;
    }
}

/// Counts entitlement-version bumps (for `/metrics`) on the way to `inner`.
pub struct CountedEvents<E>(pub E);

#[async_trait]
impl<E: CoreEvents> CoreEvents for CountedEvents<E> {
    async fn publish(&self, event: &InvalidationEvent) {
        if matches!(event, InvalidationEvent::Company { .. }) {
            metrics::counter!("kisum_core_entitlement_bumps_total").increment(1);
        }
        self.0.publish(event).await;
    }
}

/// Everything `kisum auth` (or `kisum dev`) needs to build Auth.
pub struct AuthParts {
    /// The store.
    pub store: Arc<dyn AuthStore>,
    /// Signing keys.
    pub keys: KeyRing,
    /// JWT `iss`.
    pub issuer: String,
    /// JWT `aud`.
    pub audience: String,
    /// Where entitlements come from.
    pub entitlements: Arc<dyn EntitlementSource>,
    /// Where invalidation events go.
    pub events: Arc<dyn EventPublisher>,
    /// The rate limiter.
    pub limiter: Arc<dyn RateLimiter>,
    /// Accepted service keys of the internal listener.
    pub service_keys: ServiceKeys,
    /// Email for password reset and sign-in codes (none: those routes answer 501).
    pub email: Option<Arc<dyn kisum_auth::email::EmailSender>>,
    /// Public base URL (for reset links).
    pub public_url: String,
    /// Lifetimes, request limits and policy bounds.
    pub tuning: crate::config::AuthTuning,
    /// The clock.
    pub clock: Arc<dyn Clock>,
}

/// The assembled Auth.
#[derive(Clone)]
pub struct AuthApp {
    /// The routers' state.
    pub state: AuthState,
    /// The token service (a JWKS source in process).
    pub tokens: TokenService,
}

/// Builds Auth's services.
///
/// # Errors
/// The password hasher could not be configured.
pub fn build_auth(parts: AuthParts) -> Result<AuthApp, StartError> {
    let hasher = PasswordHasher::new(Argon2Params::default())
        .map_err(|e| StartError::new("password hasher", e))?;
    let mut token_config = TokenConfig::new(parts.issuer, parts.audience);
    token_config.access_ttl = TimeDelta::from_std(parts.tuning.access_token_ttl)
        .map_err(|e| StartError::new("KISUM_ACCESS_TOKEN_TTL", e))?;
    let tokens = TokenService::new(token_config, parts.keys);
    let mut auth = AuthService::new(
        parts.store.clone(),
        hasher,
        PasswordPolicy::default(),
        tokens.clone(),
        parts.tuning.sessions,
        parts.clock.clone(),
    )
    .with_events(parts.events.clone());
    if let Some(mut email) = parts.email {
        // Mail goes out from a queue after the request is answered: the anonymous email
        // routes take the same time whether or not the account exists.
        if tokio::runtime::Handle::try_current().is_ok() {
            email = Arc::new(kisum_auth::email::QueuedEmailSender::spawn(email, 1024));
        }
        auth = auth.with_recovery(kisum_auth::recovery::Recovery {
            store: parts.store.clone(),
            email,
            config: kisum_auth::recovery::OtpConfig::default(),
            reset_url: format!("{}/reset-password", parts.public_url.trim_end_matches('/')),
        });
    }
    let access = AccessService::new(
        parts.store.clone(),
        parts.store.clone(),
        parts.entitlements,
        parts.clock.clone(),
    );
    let admin = DirectoryService::new(parts.store.clone(), parts.clock.clone())
        .with_limits(parts.tuning.policy)
        .with_audit(parts.store.clone())
        .with_events(parts.events.clone());
    let state = AuthState {
        auth,
        access,
        directory: parts.store.clone(),
        admin,
        audit: parts.store.clone(),
        events: parts.events,
        service_keys: parts.service_keys,
        limits: RateLimits {
            login_per_ip: parts.tuning.login_per_ip,
            login_per_email: parts.tuning.login_per_email,
            register_per_ip: parts.tuning.register_per_ip,
            forgot_per_email: parts.tuning.forgot_per_email,
            otp_per_email: parts.tuning.otp_per_email,
            invite_per_company: parts.tuning.invite_per_company,
            invite_per_email: parts.tuning.invite_per_email,
            password_change_per_user: parts.tuning.password_change_per_user,
            ..RateLimits::new(parts.limiter)
        },
        refresh_cookie: parts
            .tuning
            .refresh_cookie
            .then(kisum_auth::http::RefreshCookie::default),
    };
    Ok(AuthApp { state, tokens })
}

/// The rate limiter: Redis-backed (with the in-process fallback) or in process.
///
/// # Errors
/// A malformed Redis URL.
pub async fn rate_limiter(
    redis: Option<&RedisConfig>,
    clock: Arc<dyn Clock>,
) -> Result<Arc<dyn RateLimiter>, StartError> {
    match redis {
        None => Ok(Arc::new(LocalRateLimiter::new(clock))),
        Some(r) => {
            let config = kisum_auth::ratelimit::RedisRateLimiterConfig::default()
                .with_prefix(r.prefix.clone());
            let limiter =
                kisum_auth::ratelimit::RedisRateLimiter::connect(r.url.expose(), config, clock)
                    .await
                    .map_err(|e| StartError::new("redis rate limiter", e))?;
            Ok(Arc::new(limiter))
        }
    }
}

/// Auth's event publisher: Redis when configured, nothing otherwise (the database is the truth).
///
/// # Errors
/// A malformed Redis URL.
pub fn auth_events(redis: Option<&RedisConfig>) -> Result<Arc<dyn EventPublisher>, StartError> {
    match redis {
        None => Ok(Arc::new(NoEvents)),
        Some(r) => Ok(Arc::new(
            kisum_auth::events::RedisEvents::new(
                r.url.expose(),
                &r.prefix,
                Duration::from_millis(250),
            )
            .map_err(|e| StartError::new("redis", e))?,
        )),
    }
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

/// A guard over `jwks` and `source`, with the Redis tier and listener when configured.
///
/// # Errors
/// A malformed Redis URL.
pub fn guard(
    issuer: &str,
    audience: &str,
    access_ttl: Duration,
    jwks: Arc<dyn JwksSource>,
    source: Arc<dyn AccessSource>,
    redis: Option<&RedisConfig>,
    clock: Arc<dyn Clock>,
) -> Result<AccessGuard, StartError> {
    let config = GuardConfig::new(issuer, audience).access_ttl(access_ttl);
    let mut guard = AccessGuard::new(config, jwks, source);
    if let Some(r) = redis {
        let tier = kisum_guard::redis::RedisTier::new(
            r.url.expose(),
            &r.prefix,
            access_ttl.max(Duration::from_secs(60)),
            Duration::from_millis(100),
            clock,
        )
        .map_err(|e| StartError::new("redis", e))?;
        guard = guard.with_shared_tier(Arc::new(tier));
        kisum_guard::redis::spawn_listener(r.url.expose(), &r.prefix, guard.clone())
            .map_err(|e| StartError::new("redis", e))?;
    }
    Ok(guard)
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

/// How long ended sessions, spent tokens and stale codes are kept before the pruning job
/// deletes them (a spent refresh token presented within it is still recognised as reuse).
pub const PRUNE_RETENTION: TimeDelta = TimeDelta::days(30);

/// How often the pruning job runs.
pub const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

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
