//! Opening what the servers keep their state in: Auth's and Core's databases (and migrating
//! them), and the rate limiter's counters (Redis, or in process).

use std::sync::Arc;

use kisum_auth::AuthStore;
use kisum_auth::ratelimit::{RateLimiter, RedisRateLimiterConfig};
use kisum_core::CoreStore;
use kisum_core::audit::CoreAudit;
use kisum_core::db::PoolSize;
use kisum_guard::Clock;

use super::StartError;
use crate::config::{RedisConfig, SignInCommit};

/// Opens (and migrates) Auth's store at `url` (`postgres://…` or `sqlite://…`).
///
/// # Errors
/// Unsupported URL, unreachable database, failed migration.
pub async fn open_auth_store(url: &str) -> Result<Arc<dyn AuthStore>, StartError> {
    open_auth_store_sized(url, None, SignInCommit::Synchronous).await
}

/// As [`open_auth_store`], with a pool of at most `max_connections` (`None`: the backend's
/// default, [`PoolSize::POSTGRES`] or [`PoolSize::SQLITE`]) and, on PostgreSQL, sign-ins
/// committed as `sign_in_commit` says.
///
/// # Errors
/// As [`open_auth_store`].
pub async fn open_auth_store_sized(
    url: &str,
    max_connections: Option<u32>,
    sign_in_commit: SignInCommit,
) -> Result<Arc<dyn AuthStore>, StartError> {
    let redacted = crate::config::redact_url(url);
    if is_postgres(url) {
        let size = pool_size(PoolSize::POSTGRES, max_connections);
        let store = kisum_auth::PgAuthStore::connect_sized(url, size)
            .await
            .map_err(|e| StartError::new(&format!("auth database {redacted}"), e))?;
        let store = match sign_in_commit {
            SignInCommit::Asynchronous => store.with_asynchronous_sign_ins(),
            SignInCommit::Synchronous => store,
        };
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

impl CoreStores {
    /// Every part served by one store (the SQL stores implement them all).
    pub fn of<S>(store: S) -> Self
    where
        S: CoreStore + CoreAudit + kisum_core::LicenseStore + kisum_core::BillingStore + 'static,
    {
        let store = Arc::new(store);
        Self {
            store: store.clone(),
            audit: store.clone(),
            licenses: store.clone(),
            billing: store,
        }
    }
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
        let store = kisum_core::PgCoreStore::connect_sized(url, size).await;
        Ok(CoreStores::of(store.map_err(|e| {
            StartError::new(&format!("core database {redacted}"), e)
        })?))
    } else if url.starts_with("sqlite:") {
        let size = pool_size(PoolSize::SQLITE, max_connections);
        let store = kisum_core::SqliteCoreStore::connect_sized(url, size).await;
        Ok(CoreStores::of(store.map_err(|e| {
            StartError::new(&format!("core database {redacted}"), e)
        })?))
    } else {
        Err(StartError(format!(
            "core database {redacted}: neither a postgres:// nor a sqlite: URL"
        )))
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
