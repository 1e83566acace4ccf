//! Strict access-token verification against cached keys, with a verified-token cache so a token
//! already seen costs no signature work.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use jsonwebtoken::Validation;
use sha2::{Digest as _, Sha256};

use crate::claims::{ACCESS_TOKEN_TYPE, Claims};
use crate::jwks::KeyCache;

/// The longest token accepted, in bytes; longer values are refused before any parsing.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// What a verifier accepts.
#[derive(Debug, Clone)]
pub struct VerifierConfig {
    /// The expected `iss`.
    pub issuer: String,
    /// The expected `aud`.
    pub audience: String,
    /// Clock-skew allowance on `exp` and `nbf`; capped at 60 s.
    pub leeway: Duration,
    /// How many verified tokens are remembered (default 100 000).
    pub token_cache_capacity: u64,
}

impl VerifierConfig {
    /// Expect `issuer` and `audience`, with 30 s of leeway.
    #[must_use]
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            leeway: Duration::from_secs(30),
            token_cache_capacity: 100_000,
        }
    }
}

/// Why a token was refused. Every variant answers 401 `unauthenticated`; the variant only
/// feeds the `detail` and the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenRejection {
    /// Not a well-formed JWT (or too long).
    #[error("malformed token")]
    Malformed,
    /// `typ` is not `at+jwt`.
    #[error("not an access token")]
    WrongType,
    /// A `jku`, `x5u`, `jwk` or `x5c` header: never followed, always refused.
    #[error("token names its own key")]
    ForbiddenHeader,
    /// No key with that `kid`, even after a refetch.
    #[error("unknown signing key")]
    UnknownKey,
    /// The token's `alg` is not the algorithm of its key.
    #[error("algorithm not allowed")]
    WrongAlgorithm,
    /// The signature does not verify.
    #[error("invalid signature")]
    BadSignature,
    /// Wrong `iss`.
    #[error("wrong issuer")]
    WrongIssuer,
    /// Wrong `aud`.
    #[error("wrong audience")]
    WrongAudience,
    /// Past `exp` (plus leeway).
    #[error("token expired")]
    Expired,
    /// Before `nbf` (minus leeway).
    #[error("token not yet valid")]
    NotYetValid,
}

/// The SHA-256 of a token: the verified-token cache key.
pub type TokenHash = [u8; 32];

/// Hashes a [`TokenHash`] by its first eight bytes: the key is already a uniformly
/// distributed digest, so hashing it again would only cost time.
#[derive(Debug, Default, Clone, Copy)]
pub struct DigestPrefixHasher(u64);

impl std::hash::Hasher for DigestPrefixHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut prefix = [0u8; 8];
        for (p, b) in prefix.iter_mut().zip(bytes) {
            *p = *b;
        }
        self.0 ^= u64::from_le_bytes(prefix);
    }

    fn write_usize(&mut self, _len: usize) {}
}

type DigestHash = std::hash::BuildHasherDefault<DigestPrefixHasher>;

/// Verifies access tokens.
pub struct TokenVerifier {
    keys: Arc<KeyCache>,
    config: VerifierConfig,
    leeway: i64,
    seen: moka::sync::Cache<TokenHash, Arc<Claims>, DigestHash>,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

struct UntilExpiry;

impl moka::Expiry<TokenHash, Arc<Claims>> for UntilExpiry {
    fn expire_after_create(
        &self,
        _key: &TokenHash,
        value: &Arc<Claims>,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        // Remembered until the token's own expiry (by the system clock), plus a minute of
        // slack; the expiry is checked again on every hit against the injected clock.
        let left = value.exp.saturating_sub(crate::clock::epoch_seconds());
        Some(Duration::from_secs(
            u64::try_from(left.saturating_add(60)).unwrap_or(0),
        ))
    }
}

impl TokenVerifier {
    /// A verifier over `keys`.
    #[must_use]
    pub fn new(keys: Arc<KeyCache>, config: VerifierConfig) -> Self {
        let leeway =
            i64::try_from(config.leeway.min(Duration::from_secs(60)).as_secs()).unwrap_or(60);
        let seen = moka::sync::Cache::builder()
            .max_capacity(config.token_cache_capacity)
            .expire_after(UntilExpiry)
            .build_with_hasher(DigestHash::default());
        Self {
            keys,
            config,
            leeway,
            seen,
        }
    }

    /// The key cache.
    #[must_use]
    pub fn keys(&self) -> &Arc<KeyCache> {
        &self.keys
    }

    /// The hash a token is remembered under.
    #[must_use]
    pub fn hash(token: &str) -> TokenHash {
        Sha256::digest(token.as_bytes()).into()
    }

    /// Verifies `token` at `now`; a token verified before answers from the cache.
    /// Returns the claims and whether it was the first sight of the token.
    ///
    /// # Errors
    /// The [`TokenRejection`].
    pub async fn verify(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<(Arc<Claims>, bool), TokenRejection> {
        if token.len() > MAX_TOKEN_LEN || token.is_empty() {
            return Err(TokenRejection::Malformed);
        }
        let hash = Self::hash(token);
        if let Some(claims) = self.seen.get(&hash) {
            metrics::counter!("kisum_guard_token_cache_total", "result" => "hit").increment(1);
            self.check_time(&claims, now)?;
            return Ok((claims, false));
        }
        metrics::counter!("kisum_guard_token_cache_total", "result" => "miss").increment(1);
        let claims = Arc::new(self.verify_signature(token).await?);
        self.check_time(&claims, now)?;
        self.seen.insert(hash, Arc::clone(&claims));
        Ok((claims, true))
    }

    /// Forgets every verified token (after missed revocation events, say).
    pub fn forget_all(&self) {
        self.seen.invalidate_all();
    }

    fn check_time(&self, claims: &Claims, now: DateTime<Utc>) -> Result<(), TokenRejection> {
        let t = now.timestamp();
        if t >= claims.exp.saturating_add(self.leeway) {
            return Err(TokenRejection::Expired);
        }
        if t < claims.nbf.saturating_sub(self.leeway) {
            return Err(TokenRejection::NotYetValid);
        }
        Ok(())
    }

    async fn verify_signature(&self, token: &str) -> Result<Claims, TokenRejection> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenRejection::Malformed)?;
        if header.jku.is_some()
            || header.x5u.is_some()
            || header.jwk.is_some()
            || header.x5c.is_some()
        {
            return Err(TokenRejection::ForbiddenHeader);
        }
        if header.typ.as_deref() != Some(ACCESS_TOKEN_TYPE) {
            return Err(TokenRejection::WrongType);
        }
        let kid = header.kid.as_deref().ok_or(TokenRejection::UnknownKey)?;
        let key = self.keys.get(kid).await.ok_or(TokenRejection::UnknownKey)?;
        if header.alg != key.alg() {
            return Err(TokenRejection::WrongAlgorithm);
        }
        let mut validation = Validation::new(key.alg());
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        // Time is checked against the injected clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        jsonwebtoken::decode::<Claims>(token, key.key(), &validation)
            .map(|d| d.claims)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                match e.kind() {
                    ErrorKind::InvalidIssuer => TokenRejection::WrongIssuer,
                    ErrorKind::InvalidAudience => TokenRejection::WrongAudience,
                    ErrorKind::InvalidSignature => TokenRejection::BadSignature,
                    ErrorKind::InvalidAlgorithm => TokenRejection::WrongAlgorithm,
                    _ => TokenRejection::Malformed,
                }
            })
    }
}
