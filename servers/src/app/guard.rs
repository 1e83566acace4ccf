//! The guard of a server: its builder over the key and access sources, with Redis when
//! configured, and building it.

use std::sync::Arc;
use std::time::Duration;

use kisum_guard::guard::{AccessGuardBuilder, BuildError};
use kisum_guard::jwks::JwksSource;
use kisum_guard::source::AccessSource;
use kisum_guard::{AccessGuard, Clock};

use super::StartError;
use crate::config::RedisConfig;

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
