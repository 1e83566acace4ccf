//! How a guard verifies and caches, and the optional tier it shares with other processes.
//!
//! The defaults are the ones decision 0006 states; the [builder](super::AccessGuardBuilder)
//! sets the issuer and audience, so this struct only carries tuning.

use std::time::Duration;

use crate::cache::CacheConfig;
use crate::context::AccessContext;
use crate::events::InvalidationEvent;
use crate::ids::{CompanyId, MembershipId, SessionId};
use crate::jwks::KeyCacheConfig;
use crate::verify::VerifierConfig;

/// How an [`AccessGuard`](super::AccessGuard) verifies and caches.
#[derive(Debug, Clone)]
pub struct GuardConfig {
    /// Token verification (its issuer and audience are the builder's).
    pub verifier: VerifierConfig,
    /// Key refresh.
    pub keys: KeyCacheConfig,
    /// Cache sizes and lifetimes.
    pub cache: CacheConfig,
}

impl GuardConfig {
    /// Defaults for tokens of `issuer` meant for `audience`.
    pub(crate) fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            verifier: VerifierConfig::new(issuer, audience),
            keys: KeyCacheConfig::default(),
            cache: CacheConfig::default(),
        }
    }

    /// Sets the staleness bound of cached contexts.
    #[must_use]
    pub fn access_ttl(mut self, ttl: Duration) -> Self {
        self.cache.access_ttl = ttl;
        self
    }

    /// Sets the least interval between refetches caused by unknown kids.
    #[must_use]
    pub fn jwks_min_refetch_interval(mut self, interval: Duration) -> Self {
        self.keys.min_refetch_interval = interval;
        self
    }
}

/// A second cache tier shared between processes (Redis), and revocation markers.
///
/// It holds sealed contexts ([`crate::seal`]): the guard opens each with Auth's keys and checks
/// whom it is for, how old it is and whether an event came after it, so the tier is trusted
/// for nothing.
#[async_trait::async_trait]
pub trait SharedTier: Send + Sync + 'static {
    /// The seal of a context some guard shared for `session` in `org`.
    async fn get(&self, session: SessionId, org: &str) -> Option<String>;
    /// When (µs since the epoch) the latest event about `company` or `membership` reached any
    /// guard: a shared context resolved before it is not served. `Some(i64::MIN)` when there
    /// was none; `None` when the tier cannot tell (then nothing is served from it).
    async fn floor(&self, company: CompanyId, membership: MembershipId) -> Option<i64>;
    /// Shares `context`, sealed as `seal`, for `ttl` (what remains of its lifetime).
    async fn put(
        &self,
        session: SessionId,
        org: &str,
        context: &AccessContext,
        seal: &str,
        ttl: Duration,
    );
    /// Whether a revocation marker exists for `session` (`None`: unknown, tier down).
    async fn is_revoked(&self, session: SessionId) -> Option<bool>;
    /// Records that an event arrived (for the tier's own floors).
    async fn on_event(&self, event: &InvalidationEvent);
    /// Events were missed (a gap in the stream, a new epoch, a `resync`): hide every context
    /// shared so far from every guard. The default does nothing (a tier whose entries outlive
    /// no event should override it).
    async fn forget_all(&self) {}
}
