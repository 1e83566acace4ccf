//! `kisum module`.

use std::sync::Arc;
use std::time::Duration;

use kisum_guard::jwks::JwksSource;
use kisum_guard::remote::{HttpJwks, RemoteAccessSource};
use kisum_guard::source::AccessSource;
use kisum_guard::{Clock, SystemClock};

use super::{bind, serve_all};
use crate::app::{self, StartError};
use crate::config::ModuleConfig;
use crate::module::{self, InvoiceDb};
use crate::openapi;
use crate::ops::Shutdown;

/// `kisum module`: the reference business backend, guarded.
///
/// # Errors
/// A start-up failure.
pub async fn module(config: ModuleConfig, shutdown: Shutdown) -> Result<(), StartError> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let redis = config.common.redis.as_ref();
    let db = InvoiceDb::open_sized(
        config.database_url.expose(),
        config.database_max_connections,
    )
    .await
    .map_err(|e| StartError::new("module database", e))?;
    let jwks: Arc<dyn JwksSource> = Arc::new(
        HttpJwks::new(
            format!("{}/.well-known/jwks.json", config.auth_url),
            Duration::from_secs(3),
        )
        .map_err(|e| StartError::new("HTTP client", e))?,
    );
    let source: Arc<dyn AccessSource> = Arc::new(
        RemoteAccessSource::new(
            &config.auth_internal_url,
            config.internal_api_key.expose(),
            Duration::from_secs(3),
        )
        .map_err(|e| StartError::new("HTTP client", e))?,
    );
    let mut builder = app::guard_builder(
        &config.issuer,
        &config.audience,
        config.access_cache_ttl,
        jwks,
        source,
        redis,
        clock.clone(),
    );
    if let Some(keys) = config.certificate_keys.clone() {
        // Access Auth resolved from Core's signed certificate (Core unreachable) is accepted
        // once the certificate verifies here (decision 0023).
        builder = builder.certified_entitlements(keys);
    }
    let guard = app::build_guard(builder)?;
    // Without Redis the guard follows Auth's long poll (with Redis, the builder started the
    // stream follower).
    if redis.is_none() {
        let feed = kisum_guard::remote::EventsFeedClient::new(
            &config.auth_internal_url,
            config.internal_api_key.expose(),
        )
        .map_err(|e| StartError::new("events feed", e))?;
        drop(feed.spawn(Arc::new(guard.clone())));
    }
    // Prefetch the keys; an unreachable Auth is not fatal (readiness says so).
    guard.keys().refresh().await;
    let readiness = app::module_readiness(db.clone(), guard.clone(), redis);
    let mut routes = module::router(config.name.as_str(), &guard, db.clone(), clock.clone())
        .map_err(|e| StartError::new("module", e))?
        .merge(openapi::router(openapi::module(config.name.as_str())));
    if config.bench_unguarded_twin {
        tracing::warn!(
            path = %module::bench_unguarded_path(config.name.as_str()),
            "bench only: serving the unguarded twin of the invoice list"
        );
        routes = routes.merge(module::bench_unguarded_router(
            config.name.as_str(),
            db,
            clock,
        ));
    }
    let router = app::finish(routes, readiness, &config.common.http_settings())?;
    serve_all(
        vec![(bind(config.listen, "module").await?, router)],
        shutdown,
    )
    .await
}
