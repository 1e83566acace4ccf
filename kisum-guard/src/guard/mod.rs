//! The guard: one [`AccessGuard`] per service (keys, verified tokens, caches, the access
//! source), built once with [`AccessGuard::builder`] (or [`AccessGuard::with_sources`]), and one
//! [`Require`]ment per route (`guard.require(Require::permission("…")?)`, a tower layer).
//!
//! Cut the way tower-http cuts a middleware, one concept per file: [`require`](Require) (what a
//! route needs, validated when it is built), `config` (tuning and the shared tier), `builder`
//! (assembly that fails fast), `decide` (the decision procedure), `layer` and `service` (the
//! tower pair), `response` (a refusal as an answer, through `kisum_guard::http`'s one renderer)
//! and, with `axum`, `extract` (the extractors).

mod api_key;
mod builder;
mod certified;
mod config;
mod decide;
#[cfg(feature = "axum")]
mod extract;
mod layer;
mod require;
mod response;
mod service;

use std::sync::Arc;

pub use api_key::API_KEY_AUDIENCE;
pub use builder::{AccessGuardBuilder, BuildError, DEFAULT_AUDIENCE};
pub use config::{GuardConfig, SharedTier};
pub use decide::{Access, Guarded, Principal};
#[cfg(feature = "axum")]
pub use extract::ExtractError;
pub use layer::GuardLayer;
pub use require::{ORG_HEADER, OrgFrom, Require};
pub use response::GuardBody;
pub use service::Guard;

use crate::cache::AccessCache;
use crate::clock::Clock;
use crate::events::InvalidationEvent;
use crate::jwks::{JwksSource, KeyCache};
use crate::source::AccessSource;
use crate::verify::TokenVerifier;

struct Inner {
    verifier: TokenVerifier,
    cache: AccessCache,
    source: Arc<dyn AccessSource>,
    shared: Option<Arc<dyn SharedTier>>,
    clock: Arc<dyn Clock>,
    /// Core's certificate keys, when certificate-sourced contexts are accepted.
    #[cfg(feature = "certificate")]
    certified: Option<certified::CertifiedEntitlements>,
}

/// The shared state of every guard of a service: keys, verified tokens, caches, the access
/// source. Cheap to clone; built once, complete, by [`AccessGuard::builder`] or
/// [`AccessGuard::with_sources`].
#[derive(Clone)]
pub struct AccessGuard {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for AccessGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessGuard")
            .field("verifier", &self.inner.verifier)
            .field("cache", &self.inner.cache)
            .finish_non_exhaustive()
    }
}

impl AccessGuard {
    /// A guard over Auth reached through `auth` (its public URL for the keys and the issuer,
    /// its internal URL and this service's key for access).
    ///
    /// ```no_run
    /// use kisum_guard::{AccessGuard, remote::RemoteAuth};
    /// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// let guard = AccessGuard::builder(RemoteAuth::new("http://auth:8080", "http://auth:8081", "key"))
    ///     .audience("kisum")
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "remote")]
    pub fn builder(auth: crate::remote::RemoteAuth) -> AccessGuardBuilder {
        AccessGuardBuilder::remote(auth)
    }

    /// A guard verifying tokens with keys from `jwks` and resolving access from `source`: Auth
    /// in the same process, a test double, or sources of an embedder's own. The issuer must be
    /// set ([`AccessGuardBuilder::issuer`]).
    pub fn with_sources(
        jwks: Arc<dyn JwksSource>,
        source: Arc<dyn AccessSource>,
    ) -> AccessGuardBuilder {
        AccessGuardBuilder::custom(jwks, source)
    }

    fn assemble(
        config: GuardConfig,
        jwks: Arc<dyn JwksSource>,
        source: Arc<dyn AccessSource>,
        shared: Option<Arc<dyn SharedTier>>,
        clock: Arc<dyn Clock>,
        #[cfg(feature = "certificate")] certified: Option<certified::CertifiedEntitlements>,
    ) -> Self {
        let keys = Arc::new(KeyCache::new(jwks, config.keys));
        Self {
            inner: Arc::new(Inner {
                verifier: TokenVerifier::new(keys, config.verifier),
                cache: AccessCache::new(&config.cache),
                source,
                shared,
                clock,
                #[cfg(feature = "certificate")]
                certified,
            }),
        }
    }

    /// A layer enforcing `require` on the routes it wraps (`Router::route_layer`).
    #[must_use]
    pub fn require(&self, require: Require) -> GuardLayer {
        GuardLayer {
            guard: self.clone(),
            require: Arc::new(require),
        }
    }

    /// Applies an invalidation event (the Redis listener calls this; so can an embedder).
    pub async fn apply(&self, event: &InvalidationEvent) {
        metrics::counter!("kisum_guard_events_total").increment(1);
        // The shared tier's floor first: a request that finds the memory tier invalidated
        // then also finds the floor, and cannot copy a stale shared entry back into memory.
        if let Some(shared) = &self.inner.shared {
            shared.on_event(event).await;
        }
        self.inner.cache.apply(event);
        if *event == InvalidationEvent::KeyRotated {
            // A retired (perhaps compromised) key must stop verifying at once: forget the
            // tokens verified with it and fetch the current keys.
            self.inner.verifier.forget_all();
            self.inner.verifier.keys().refresh().await;
        }
    }

    /// Forgets every cached context and verified token: after the event stream was
    /// interrupted, when events may have been missed.
    pub async fn invalidate_all(&self) {
        // The shared tier first, for the reason given in `apply`.
        if let Some(shared) = &self.inner.shared {
            shared.forget_all().await;
        }
        self.forget_cached();
    }

    /// Forgets what this process cached (contexts and verified tokens), leaving the shared
    /// tier alone.
    pub(crate) fn forget_cached(&self) {
        self.inner.cache.invalidate_all();
        self.inner.verifier.forget_all();
    }

    /// The key cache (to prefetch at start-up: `guard.keys().refresh().await`).
    #[must_use]
    pub fn keys(&self) -> &Arc<KeyCache> {
        self.inner.verifier.keys()
    }
}
