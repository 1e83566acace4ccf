//! Assembly of an [`AccessGuard`] that fails fast: every URL, setting and connection string is
//! checked in [`build`](AccessGuardBuilder::build), so a misconfigured service refuses to start
//! instead of answering 401s and 503s. There is no way to change a guard once it is built (and
//! perhaps cloned): the builder is the only place its parts are chosen.

use std::sync::Arc;
use std::time::Duration;

use super::AccessGuard;
use super::config::{GuardConfig, SharedTier};
use crate::clock::{Clock, SystemClock};
use crate::jwks::JwksSource;
use crate::source::AccessSource;

/// The audience Auth puts in its tokens unless configured otherwise.
pub const DEFAULT_AUDIENCE: &str = "kisum";

/// Why a guard could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A URL does not parse, or is not `http`/`https` with a host.
    #[error("{name} `{url}` is not a usable URL: {reason}")]
    InvalidUrl {
        /// Which URL (`"Auth's public URL"`, …).
        name: &'static str,
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An `https://` URL, and kisum-guard was built without its `tls` feature.
    #[error("`{url}` is https but kisum-guard was built without the `tls` feature")]
    TlsNotEnabled {
        /// The URL as given.
        url: String,
    },
    /// A setting is missing or out of range.
    #[error("invalid guard setting: {0}")]
    InvalidSetting(&'static str),
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Client(String),
    /// The Redis URL is malformed.
    #[error("redis: {0}")]
    Redis(String),
    /// `build()` must run inside a Tokio runtime to start the Redis listener.
    #[error("the Redis listener needs a Tokio runtime: call build() inside one")]
    NoRuntime,
    /// A certificate key given to
    /// [`certified_entitlements`](AccessGuardBuilder::certified_entitlements) is unusable.
    #[error("certificate keys: {0}")]
    CertificateKeys(String),
}

enum Sources {
    Custom {
        jwks: Arc<dyn JwksSource>,
        source: Arc<dyn AccessSource>,
    },
    #[cfg(feature = "remote")]
    Remote(crate::remote::RemoteAuth),
}

#[cfg(feature = "redis")]
#[derive(Debug)]
struct RedisSettings {
    url: String,
    prefix: String,
}

/// Builds an [`AccessGuard`]: from [`AccessGuard::builder`] (Auth over HTTP) or
/// [`AccessGuard::with_sources`] (sources of your own).
#[must_use = "a builder does nothing until build() is called"]
pub struct AccessGuardBuilder {
    sources: Sources,
    issuer: Option<String>,
    audience: String,
    config: GuardConfig,
    clock: Arc<dyn Clock>,
    shared: Option<Arc<dyn SharedTier>>,
    #[cfg(feature = "redis")]
    redis: Option<RedisSettings>,
    #[cfg(feature = "certificate")]
    certified: Option<CertifiedSettings>,
}

/// Core's certificate keys and the high-water mark of a guard accepting certificate-sourced
/// contexts.
#[cfg(feature = "certificate")]
struct CertifiedSettings {
    keys: crate::certificate::CertificateKeys,
    mark: Option<Arc<dyn crate::certificate::HighWaterMark>>,
}

impl std::fmt::Debug for AccessGuardBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessGuardBuilder")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl AccessGuardBuilder {
    fn new(sources: Sources) -> Self {
        Self {
            sources,
            issuer: None,
            audience: DEFAULT_AUDIENCE.to_owned(),
            config: GuardConfig::new("", ""),
            clock: Arc::new(SystemClock),
            shared: None,
            #[cfg(feature = "redis")]
            redis: None,
            #[cfg(feature = "certificate")]
            certified: None,
        }
    }

    pub(super) fn custom(jwks: Arc<dyn JwksSource>, source: Arc<dyn AccessSource>) -> Self {
        Self::new(Sources::Custom { jwks, source })
    }

    #[cfg(feature = "remote")]
    pub(super) fn remote(auth: crate::remote::RemoteAuth) -> Self {
        Self::new(Sources::Remote(auth))
    }

    /// The issuer tokens must name (`iss`): Auth's public URL, which [`AccessGuard::builder`]
    /// takes by default; required with [`AccessGuard::with_sources`].
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// The audience tokens must name (`aud`; default [`DEFAULT_AUDIENCE`]).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = audience.into();
        self
    }

    /// The staleness bound of cached contexts when events cannot reach the guard (default
    /// 30 s).
    pub fn access_ttl(mut self, ttl: Duration) -> Self {
        self.config = self.config.access_ttl(ttl);
        self
    }

    /// Any other tuning: verification leeway, key refresh, cache sizes.
    pub fn configure(mut self, f: impl FnOnce(GuardConfig) -> GuardConfig) -> Self {
        self.config = f(self.config);
        self
    }

    /// The clock of token times and context validity (default the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// A shared cache tier of your own (for Redis, use [`redis`](Self::redis)).
    pub fn shared_tier(mut self, tier: Arc<dyn SharedTier>) -> Self {
        self.shared = Some(tier);
        self
    }

    /// Redis at `url`: the shared context tier, revocation markers, and the `kisum:events`
    /// listener, which [`build`](Self::build) starts.
    #[cfg(feature = "redis")]
    pub fn redis(mut self, url: impl Into<String>) -> Self {
        let prefix = self.redis.take().map(|r| r.prefix).unwrap_or_default();
        self.redis = Some(RedisSettings {
            url: url.into(),
            prefix,
        });
        self
    }

    /// The key prefix in Redis (several deployments sharing one Redis; default none). Only
    /// meaningful with [`redis`](Self::redis).
    #[cfg(feature = "redis")]
    pub fn redis_prefix(mut self, prefix: impl Into<String>) -> Self {
        let url = self.redis.take().map(|r| r.url).unwrap_or_default();
        self.redis = Some(RedisSettings {
            url,
            prefix: prefix.into(),
        });
        self
    }

    /// Accepts contexts that Auth resolved from Core's signed company certificate while Core
    /// was unreachable (decision 0023), after verifying that certificate here with `keys`
    /// (Core's published certificate keys, `GET /internal/v1/certificate-keys`): Core's
    /// signature, the validity window (with this builder's clock), the high-water mark, the
    /// context's company and entitlement version. The context is then confined to the
    /// certificate's modules (a module it lacks is `module_not_entitled`) and expires with
    /// the certificate. A certificate that fails any check answers 503 `access_unavailable`,
    /// counted in `kisum_guard_certified_access_total{result}`.
    ///
    /// Without this setting such contexts answer 503 `access_unavailable`, as when Auth could
    /// not resolve at all. The mark is kept in memory unless
    /// [`certificate_mark`](Self::certificate_mark) persists it.
    #[cfg(feature = "certificate")]
    pub fn certified_entitlements(mut self, keys: crate::certificate::CertificateKeys) -> Self {
        let mark = self.certified.take().and_then(|c| c.mark);
        self.certified = Some(CertifiedSettings { keys, mark });
        self
    }

    /// Where the high-water mark of certificate `iat`s is kept (for example a
    /// [`FileHighWaterMark`](crate::certificate::FileHighWaterMark), so that a rolled-back
    /// clock is caught across restarts). Only meaningful with
    /// [`certified_entitlements`](Self::certified_entitlements).
    #[cfg(feature = "certificate")]
    pub fn certificate_mark(mut self, mark: Arc<dyn crate::certificate::HighWaterMark>) -> Self {
        let keys = self.certified.take().map(|c| c.keys).unwrap_or_default();
        self.certified = Some(CertifiedSettings {
            keys,
            mark: Some(mark),
        });
        self
    }

    /// The guard, with its Redis listener running when Redis is set.
    ///
    /// # Errors
    /// A URL that does not parse, `https` without the `tls` feature, an empty issuer, audience
    /// or service key, a malformed Redis URL, Redis without a running Tokio runtime, or an
    /// unusable certificate key.
    pub fn build(self) -> Result<AccessGuard, BuildError> {
        #[cfg(feature = "certificate")]
        let certified = match self.certified {
            None => None,
            Some(c) => {
                let mark = c
                    .mark
                    .unwrap_or_else(|| Arc::new(crate::certificate::MemoryHighWaterMark::new()));
                let verifier = crate::certificate::CertificateVerifier::new(&c.keys, mark)
                    .map_err(|e| BuildError::CertificateKeys(e.to_string()))?
                    .with_clock(Arc::clone(&self.clock));
                if verifier.kids().next().is_none() {
                    return Err(BuildError::CertificateKeys(
                        "no key: every certificate would be refused".to_owned(),
                    ));
                }
                Some(super::certified::CertifiedEntitlements { verifier })
            }
        };
        #[cfg(feature = "remote")]
        let mut feed = None;
        let (jwks, source, issuer) = match self.sources {
            Sources::Custom { jwks, source } => {
                let issuer = self.issuer.ok_or(BuildError::InvalidSetting(
                    "the issuer is required with explicit sources",
                ))?;
                (jwks, source, issuer)
            }
            #[cfg(feature = "remote")]
            Sources::Remote(auth) => {
                let remote = auth.connect()?;
                let issuer = self.issuer.unwrap_or(remote.issuer);
                feed = Some(remote.events);
                (remote.jwks, remote.source, issuer)
            }
        };
        if issuer.trim().is_empty() {
            return Err(BuildError::InvalidSetting("the issuer is empty"));
        }
        if self.audience.trim().is_empty() {
            return Err(BuildError::InvalidSetting("the audience is empty"));
        }
        let mut config = self.config;
        config.verifier.issuer = issuer;
        config.verifier.audience = self.audience;
        #[cfg(feature = "redis")]
        let (shared, listener) = match self.redis {
            None => (self.shared, None),
            Some(_) if self.shared.is_some() => {
                return Err(BuildError::InvalidSetting(
                    "redis and a shared tier of your own are exclusive",
                ));
            }
            Some(r) if r.url.is_empty() => {
                return Err(BuildError::InvalidSetting(
                    "redis_prefix without a redis URL",
                ));
            }
            Some(r) => {
                if tokio::runtime::Handle::try_current().is_err() {
                    return Err(BuildError::NoRuntime);
                }
                let tier = crate::redis::RedisTier::new(
                    &r.url,
                    &r.prefix,
                    config.cache.access_ttl,
                    Duration::from_millis(100),
                    Arc::clone(&self.clock),
                )
                .map_err(|e| BuildError::Redis(e.to_string()))?;
                let tier: Arc<dyn SharedTier> = Arc::new(tier);
                (Some(tier), Some(r))
            }
        };
        #[cfg(not(feature = "redis"))]
        let shared = self.shared;
        let guard = AccessGuard::assemble(
            config,
            jwks,
            source,
            shared,
            self.clock,
            #[cfg(feature = "certificate")]
            certified,
        );
        #[cfg(feature = "redis")]
        let following = match listener {
            Some(r) => {
                crate::redis::spawn_follower(&r.url, &r.prefix, "auth", Arc::new(guard.clone()))
                    .map_err(|e| BuildError::Redis(e.to_string()))?;
                true
            }
            None => false,
        };
        #[cfg(not(feature = "redis"))]
        let following = false;
        // Without Redis, a guard over Auth follows Auth's long poll (inside a runtime; built
        // outside one, it bounds staleness with its TTL alone).
        #[cfg(feature = "remote")]
        if let Some(feed) = feed.filter(|_| !following) {
            if tokio::runtime::Handle::try_current().is_ok() {
                drop(feed.spawn(Arc::new(guard.clone())));
            } else {
                tracing::warn!("guard built outside a Tokio runtime: not following Auth's events");
            }
        }
        #[cfg(not(feature = "remote"))]
        let _ = following;
        Ok(guard)
    }
}
