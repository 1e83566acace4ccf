//! Each server's readiness checks (`/ready`): what it needs (its database; Auth's keys for a
//! module) and what only degrades it (Redis; Core for Auth).

use std::sync::Arc;
use std::time::Duration;

use kisum_auth::{AuthStore, EntitlementSource};
use kisum_core::EntitlementService;
use kisum_guard::{AccessGuard, CompanyId};

use crate::config::RedisConfig;
use crate::ops::{CheckStatus, Readiness, check_fn};

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
