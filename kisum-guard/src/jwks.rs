//! Verification keys: a [`JwksSource`] (HTTP in production, static in tests) behind a
//! [`KeyCache`] that keeps the last good keys, honours `Cache-Control: max-age`, refetches on an
//! unknown `kid` at most once per interval, and lets a single caller fetch at a time without
//! holding any lock across the fetch.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::sync::watch;

/// A fetched key set and how long it may be used before it is refreshed.
#[derive(Debug, Clone)]
pub struct JwksDocument {
    /// The keys.
    pub keys: JwkSet,
    /// `Cache-Control: max-age` of the answer, when it had one.
    pub max_age: Option<Duration>,
}

/// Why keys could not be fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("JWKS unavailable: {0}")]
pub struct JwksError(pub String);

/// Where verification keys come from.
#[async_trait]
pub trait JwksSource: Send + Sync + 'static {
    /// Fetches the current key set.
    ///
    /// # Errors
    /// The source could not answer (the cache then keeps its last good keys).
    async fn fetch(&self) -> Result<JwksDocument, JwksError>;
}

/// A key set held in memory: for tests and for a guard running in the same process as Auth.
#[derive(Debug)]
pub struct StaticJwks {
    keys: RwLock<JwkSet>,
    fetches: std::sync::atomic::AtomicU64,
}

impl StaticJwks {
    /// A source answering `keys`.
    #[must_use]
    pub fn new(keys: JwkSet) -> Self {
        Self {
            keys: RwLock::new(keys),
            fetches: Default::default(),
        }
    }

    /// Replaces the keys (a rotation).
    pub fn set(&self, keys: JwkSet) {
        if let Ok(mut k) = self.keys.write() {
            *k = keys;
        }
    }

    /// How many times the keys were fetched.
    #[must_use]
    pub fn fetches(&self) -> u64 {
        self.fetches.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[async_trait]
impl JwksSource for StaticJwks {
    async fn fetch(&self) -> Result<JwksDocument, JwksError> {
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let keys = self
            .keys
            .read()
            .map_err(|_| JwksError("poisoned".into()))?
            .clone();
        Ok(JwksDocument {
            keys,
            max_age: None,
        })
    }
}

/// A verification key and the one algorithm it is used with.
#[derive(Clone)]
pub struct VerifyingKey {
    alg: Algorithm,
    key: DecodingKey,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl VerifyingKey {
    /// The algorithm: taken from the key, never from a token.
    #[must_use]
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The key material.
    #[must_use]
    pub fn key(&self) -> &DecodingKey {
        &self.key
    }

    /// The key of `jwk` if it is a signing key of an allowed algorithm. The algorithm is the
    /// JWK's `alg` when present, else the only one its type allows (P-256 → ES256,
    /// Ed25519 → EdDSA, RSA → RS256).
    #[must_use]
    pub fn from_jwk(jwk: &Jwk, allowed: &[Algorithm]) -> Option<Self> {
        if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
            return None;
        }
        let implied = match &jwk.algorithm {
            AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
                Algorithm::ES256
            }
            AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P384 => {
                Algorithm::ES384
            }
            AlgorithmParameters::OctetKeyPair(_) => Algorithm::EdDSA,
            AlgorithmParameters::RSA(_) => Algorithm::RS256,
            _ => return None,
        };
        let alg = match jwk.common.key_algorithm {
            None => implied,
            Some(KeyAlgorithm::ES256) if implied == Algorithm::ES256 => Algorithm::ES256,
            Some(KeyAlgorithm::ES384) if implied == Algorithm::ES384 => Algorithm::ES384,
            Some(KeyAlgorithm::EdDSA) if implied == Algorithm::EdDSA => Algorithm::EdDSA,
            Some(KeyAlgorithm::RS256) if implied == Algorithm::RS256 => Algorithm::RS256,
            Some(KeyAlgorithm::RS384) if implied == Algorithm::RS256 => Algorithm::RS384,
            Some(KeyAlgorithm::RS512) if implied == Algorithm::RS256 => Algorithm::RS512,
            Some(KeyAlgorithm::PS256) if implied == Algorithm::RS256 => Algorithm::PS256,
            Some(_) => return None,
        };
        if !allowed.contains(&alg) {
            return None;
        }
        let key = DecodingKey::from_jwk(jwk).ok()?;
        Some(Self { alg, key })
    }
}

/// How the [`KeyCache`] refreshes.
#[derive(Debug, Clone)]
pub struct KeyCacheConfig {
    /// Algorithms a key may use (default ES256, EdDSA, RS256).
    pub allowed_algorithms: Vec<Algorithm>,
    /// The least time between two fetches caused by unknown `kid`s (default 30 s).
    pub min_refetch_interval: Duration,
    /// How long keys are used when the source gave no `max-age` (default 5 minutes).
    pub default_max_age: Duration,
}

impl Default for KeyCacheConfig {
    fn default() -> Self {
        Self {
            allowed_algorithms: vec![Algorithm::ES256, Algorithm::EdDSA, Algorithm::RS256],
            min_refetch_interval: Duration::from_secs(30),
            default_max_age: Duration::from_secs(300),
        }
    }
}

struct Keys {
    by_kid: HashMap<String, Arc<VerifyingKey>>,
    fresh_until: Option<Instant>,
}

/// The last good verification keys, refreshed from a [`JwksSource`].
pub struct KeyCache {
    source: Arc<dyn JwksSource>,
    config: KeyCacheConfig,
    keys: RwLock<Arc<Keys>>,
    inflight: Mutex<Option<watch::Receiver<()>>>,
    last_unknown_fetch: Mutex<Option<Instant>>,
    /// After a failed fetch, no background refresh before this instant.
    retry_after: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCache")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Clears the in-flight marker even when the fetching future is dropped half-way.
struct Inflight<'a> {
    slot: &'a Mutex<Option<watch::Receiver<()>>>,
    _done: watch::Sender<()>,
}

impl Drop for Inflight<'_> {
    fn drop(&mut self) {
        if let Ok(mut slot) = self.slot.lock() {
            *slot = None;
        }
    }
}

impl KeyCache {
    /// An empty cache over `source`; keys are fetched on first use.
    #[must_use]
    pub fn new(source: Arc<dyn JwksSource>, config: KeyCacheConfig) -> Self {
        Self {
            source,
            config,
            keys: RwLock::new(Arc::new(Keys {
                by_kid: HashMap::new(),
                fresh_until: None,
            })),
            inflight: Mutex::new(None),
            last_unknown_fetch: Mutex::new(None),
            retry_after: Mutex::new(None),
        }
    }

    fn current(&self) -> Arc<Keys> {
        match self.keys.read() {
            Ok(k) => Arc::clone(&k),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }

    /// The key named `kid`: from the cached set, or after one refetch when the kid is unknown
    /// (at most once per [`KeyCacheConfig::min_refetch_interval`]). Stale keys are still
    /// served while a refresh runs in the background.
    pub async fn get(self: &Arc<Self>, kid: &str) -> Option<Arc<VerifyingKey>> {
        let keys = self.current();
        if let Some(k) = keys.by_kid.get(kid) {
            if keys.fresh_until.is_some_and(|t| Instant::now() >= t) {
                self.refresh_in_background();
            }
            return Some(Arc::clone(k));
        }
        let never_fetched = keys.fresh_until.is_none();
        if !never_fetched && !self.may_refetch_for_unknown() {
            return None;
        }
        self.refresh().await;
        self.current().by_kid.get(kid).cloned()
    }

    /// Whether `kid` is in the current key set, without fetching (the question a verified-token
    /// cache hit asks, so that a key gone from the JWKS stops verifying even the tokens
    /// remembered as verified). A set due for a refresh is still answered from, while a refresh
    /// runs in the background.
    #[must_use]
    pub fn publishes(self: &Arc<Self>, kid: &str) -> bool {
        let keys = self.current();
        if keys.fresh_until.is_some_and(|t| Instant::now() >= t) {
            self.refresh_in_background();
        }
        keys.by_kid.contains_key(kid)
    }

    fn may_refetch_for_unknown(&self) -> bool {
        let Ok(mut last) = self.last_unknown_fetch.lock() else {
            return false;
        };
        let now = Instant::now();
        match *last {
            Some(t) if now.duration_since(t) < self.config.min_refetch_interval => false,
            _ => {
                *last = Some(now);
                true
            }
        }
    }

    fn refresh_in_background(self: &Arc<Self>) {
        // One refresh at a time, and after a failure not before the refetch interval passed:
        // a stale set is asked about on every request while Auth is unreachable.
        let busy = self.inflight.lock().map_or(true, |slot| slot.is_some());
        let backing_off = self
            .retry_after
            .lock()
            .map_or(true, |t| t.is_some_and(|t| Instant::now() < t));
        if busy || backing_off {
            return;
        }
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let this = Arc::clone(self);
            handle.spawn(async move { this.refresh().await });
        }
    }

    /// Fetches the keys now (one caller fetches; concurrent callers wait for that fetch).
    /// On failure the last good keys stay in use.
    pub async fn refresh(&self) {
        let leader = {
            let Ok(mut slot) = self.inflight.lock() else {
                return;
            };
            match slot.as_ref() {
                Some(rx) => Err(rx.clone()),
                None => {
                    let (tx, rx) = watch::channel(());
                    *slot = Some(rx);
                    Ok(tx)
                }
            }
        };
        let tx = match leader {
            Ok(tx) => tx,
            Err(mut rx) => {
                // Wakes when the leader finishes (the sender is dropped).
                let _ = rx.changed().await;
                return;
            }
        };
        let _inflight = Inflight {
            slot: &self.inflight,
            _done: tx,
        };
        metrics::counter!("kisum_guard_jwks_fetches_total").increment(1);
        match self.source.fetch().await {
            Ok(doc) => {
                let by_kid: HashMap<_, _> = doc
                    .keys
                    .keys
                    .iter()
                    .filter_map(|jwk| {
                        let kid = jwk.common.key_id.clone()?;
                        let key = VerifyingKey::from_jwk(jwk, &self.config.allowed_algorithms)?;
                        Some((kid, Arc::new(key)))
                    })
                    .collect();
                let max_age = doc.max_age.unwrap_or(self.config.default_max_age);
                let keys = Arc::new(Keys {
                    by_kid,
                    fresh_until: Instant::now().checked_add(max_age),
                });
                if let Ok(mut k) = self.keys.write() {
                    *k = keys;
                }
                if let Ok(mut retry) = self.retry_after.lock() {
                    *retry = None;
                }
            }
            Err(e) => {
                if let Ok(mut retry) = self.retry_after.lock() {
                    *retry = Instant::now().checked_add(self.config.min_refetch_interval);
                }
                metrics::counter!("kisum_guard_jwks_fetch_failures_total").increment(1);
                tracing::warn!(error = %e, "JWKS fetch failed; keeping the last good keys");
            }
        }
    }

    /// The kids currently known.
    #[must_use]
    pub fn kids(&self) -> Vec<String> {
        let mut kids: Vec<_> = self.current().by_kid.keys().cloned().collect();
        kids.sort();
        kids
    }
}

/// Parses the `max-age` of a `Cache-Control` header value.
#[must_use]
pub fn max_age(cache_control: &str) -> Option<Duration> {
    cache_control.split(',').find_map(|d| {
        let (name, value) = d.trim().split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("max-age")
            .then(|| {
                value
                    .trim()
                    .trim_matches('"')
                    .parse()
                    .ok()
                    .map(Duration::from_secs)
            })
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_max_age() {
        assert_eq!(
            max_age("public, max-age=300"),
            Some(Duration::from_secs(300))
        );
        assert_eq!(max_age("MAX-AGE=5"), Some(Duration::from_secs(5)));
        assert_eq!(max_age("no-store"), None);
        assert_eq!(max_age("max-age=-1"), None);
    }
}
