//! Strict access-token verification against cached keys, with a verified-token cache so a token
//! already seen costs no signature work.
//!
//! The cache remembers which key verified each token, and a hit counts only while that key is
//! still in the key set: a key retired from the JWKS stops verifying the tokens it signed at the
//! guard's next key refresh (at once on a `KeyRotated` event), cached or not.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use jsonwebtoken::Validation;

use crate::claims::{ACCESS_TOKEN_TYPE, Claims};
use crate::jwks::KeyCache;
use crate::sharded::ShardedMap;

/// The longest token accepted, in bytes; longer values are refused before any parsing. Auth's
/// own verification uses the same bound, so a token is never good for one and not the other.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// Refuses a token whose JOSE header has a `crit` member, whatever its value.
///
/// `crit` lists header extensions a recipient must understand or reject the token
/// (RFC 7515 §4.1.11); Kisum understands none, and `jsonwebtoken` does not enforce it. The
/// header segment is decoded and parsed here rather than through `jsonwebtoken`'s `Header`, so a
/// `"crit": null` or a `crit` of an unexpected shape is refused too. Call it on a token no longer
/// than [`MAX_TOKEN_LEN`].
///
/// # Errors
/// [`TokenRejection::CriticalHeader`] when the header has `crit`;
/// [`TokenRejection::Malformed`] when the first segment is not base64url (unpadded) of a JSON
/// object.
pub fn reject_critical_header(token: &str) -> Result<(), TokenRejection> {
    let segment = token.split('.').next().unwrap_or_default();
    let json = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| TokenRejection::Malformed)?;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&json).map_err(|_| TokenRejection::Malformed)?;
    if header.contains_key("crit") {
        Err(TokenRejection::CriticalHeader)
    } else {
        Ok(())
    }
}

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
    /// A `crit` header: the token demands extensions no Kisum verifier understands.
    #[error("token demands unsupported header extensions")]
    CriticalHeader,
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

/// A token verified once, as a [`SeenTokens`] cache remembers it: its claims and the `kid` of
/// the key that verified it.
#[derive(Debug, Clone)]
pub struct SeenToken {
    /// The token's claims.
    pub claims: Arc<Claims>,
    /// The `kid` of the key that verified its signature: a hit counts only while that key is
    /// still published.
    pub kid: Arc<str>,
}

/// Tokens whose signature was verified, remembered by the token itself until shortly after
/// it expires (by the system clock; the caller checks the lifetime on every hit against its
/// own clock). The guard's [`TokenVerifier`] and Auth's own verification share it.
///
/// The key is the token's text, hashed with `foldhash` (seeded at random per cache) and
/// compared byte for byte on a hit: a hit is the exact token that was verified, with no
/// cryptographic digest to compute on every request (SHA-256 of the token was the largest
/// single cost of a warm guarded request). Only tokens whose signature verified are ever
/// inserted, so the keys are not attacker-chosen; a lookup with any other text is a miss.
/// Each entry holds the token (≈ 0.5–1 KiB with its claims): `capacity` bounds the memory.
/// Clones share the cache.
///
/// A lookup takes no clock read and no bookkeeping; a full cache drops expired tokens first,
/// then one at random: an evicted token costs one signature check when it is next seen.
#[derive(Clone)]
pub struct SeenTokens {
    /// Token → what was seen, and when it may go (seconds since the epoch).
    map: Arc<ShardedMap<Arc<str>, (SeenToken, i64), foldhash::quality::RandomState>>,
}

impl std::fmt::Debug for SeenTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeenTokens")
            .field("entries", &self.len())
            .finish()
    }
}

impl SeenTokens {
    /// A cache of at most `capacity` tokens (0 remembers nothing).
    #[must_use]
    pub fn new(capacity: u64) -> Self {
        Self {
            map: Arc::new(ShardedMap::new(
                capacity,
                foldhash::quality::RandomState::default(),
            )),
        }
    }

    /// What was remembered of `token`, if it was verified before.
    #[must_use]
    pub fn get(&self, token: &str) -> Option<SeenToken> {
        self.map.get(token).map(|(seen, _)| seen)
    }

    /// Remembers `token`, whose signature `seen.kid` verified, until a minute after the
    /// token's own expiry (by the system clock).
    pub fn remember(&self, token: &str, seen: SeenToken) {
        let until = seen.claims.exp.saturating_add(60);
        let now = crate::clock::epoch_seconds();
        self.map
            .insert(Arc::from(token), (seen, until), |(_, until)| *until <= now);
    }

    /// Forgets `token` (its key was retired).
    pub fn forget(&self, token: &str) {
        self.map.remove(token);
    }

    /// Forgets every token.
    pub fn forget_all(&self) {
        self.map.clear();
    }

    /// How many tokens are remembered.
    #[must_use]
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no token is remembered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A token [`TokenVerifier::verify`] accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    /// The token's claims.
    pub claims: Arc<Claims>,
    /// Whether this was the first sight of the token: its signature was checked now, not
    /// answered from the verified-token cache (a guard then asks the shared revocation tier
    /// about its session).
    pub first_sight: bool,
}

/// Verifies access tokens.
pub struct TokenVerifier {
    keys: Arc<KeyCache>,
    config: VerifierConfig,
    leeway: i64,
    seen: SeenTokens,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl TokenVerifier {
    /// A verifier over `keys`.
    #[must_use]
    pub fn new(keys: Arc<KeyCache>, config: VerifierConfig) -> Self {
        let leeway =
            i64::try_from(config.leeway.min(Duration::from_secs(60)).as_secs()).unwrap_or(60);
        let seen = SeenTokens::new(config.token_cache_capacity);
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

    /// The issuer tokens (and sealed contexts) must name.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.config.issuer
    }

    /// Verifies `token` at `now`; a token verified before answers from the cache while the key
    /// that verified it is still in the key set (else it is verified again, and refused).
    /// Returns the claims and whether it was the first sight of the token.
    ///
    /// # Errors
    /// The [`TokenRejection`].
    pub async fn verify(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<VerifiedToken, TokenRejection> {
        if token.len() > MAX_TOKEN_LEN || token.is_empty() {
            return Err(TokenRejection::Malformed);
        }
        if let Some(seen) = self.seen.get(token) {
            if self.keys.publishes(&seen.kid) {
                metrics::counter!("kisum_guard_token_cache_total", "result" => "hit").increment(1);
                self.check_time(&seen.claims, now)?;
                return Ok(VerifiedToken {
                    claims: seen.claims,
                    first_sight: false,
                });
            }
            // Its key was retired: forget it, and let the full check refuse it.
            self.seen.forget(token);
        }
        metrics::counter!("kisum_guard_token_cache_total", "result" => "miss").increment(1);
        // Boxed: the first sight is the rare path, and its future (key fetches included) would
        // otherwise make every request's future larger to create and move.
        let seen = Box::pin(self.verify_signature(token)).await?;
        self.check_time(&seen.claims, now)?;
        let claims = Arc::clone(&seen.claims);
        self.seen.remember(token, seen);
        Ok(VerifiedToken {
            claims,
            first_sight: true,
        })
    }

    /// Forgets every verified token (after missed revocation events, say).
    pub fn forget_all(&self) {
        self.seen.forget_all();
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

    async fn verify_signature(&self, token: &str) -> Result<SeenToken, TokenRejection> {
        // Before `decode_header`: a `crit` it cannot parse is still a `crit`.
        reject_critical_header(token)?;
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
            .map(|d| SeenToken {
                claims: Arc::new(d.claims),
                kid: Arc::from(kid),
            })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{SessionId, UserId};
    use crate::jwks::{KeyCacheConfig, StaticJwks};
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
    use jsonwebtoken::{Algorithm, EncodingKey, Header};

    const ISS: &str = "https://auth.test";
    const AUD: &str = "kisum";

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    /// A real ES256 key pair, the verifier that trusts it, and valid claims.
    fn setup() -> (EncodingKey, TokenVerifier, Claims) {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let public = pair.public_key().as_ref();
        let jwks = serde_json::json!({"keys": [{
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": "k1",
            "x": URL_SAFE_NO_PAD.encode(public.get(1..33).unwrap()),
            "y": URL_SAFE_NO_PAD.encode(public.get(33..65).unwrap()),
        }]});
        let keys = KeyCache::new(
            Arc::new(StaticJwks::new(serde_json::from_value(jwks).unwrap())),
            KeyCacheConfig::default(),
        );
        let verifier = TokenVerifier::new(Arc::new(keys), VerifierConfig::new(ISS, AUD));
        let claims = Claims::new(
            ISS,
            AUD,
            UserId::new(),
            SessionId::new(),
            now(),
            chrono::TimeDelta::minutes(10),
        );
        (EncodingKey::from_ec_der(pkcs8.as_ref()), verifier, claims)
    }

    fn header() -> Header {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some("k1".into());
        header.typ = Some(ACCESS_TOKEN_TYPE.into());
        header
    }

    /// Signs `header_json` (any JSON, not only what `Header` can express) and `claims`.
    fn sign_raw(key: &EncodingKey, header_json: &serde_json::Value, claims: &Claims) -> String {
        let message = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(header_json).unwrap()),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap())
        );
        let signature =
            jsonwebtoken::crypto::sign(message.as_bytes(), key, Algorithm::ES256).unwrap();
        format!("{message}.{signature}")
    }

    /// What a cache remembers of a token that expires `exp_in` seconds from the system clock.
    fn seen(exp_in: i64) -> SeenToken {
        let now = DateTime::from_timestamp(crate::clock::epoch_seconds(), 0).unwrap();
        let mut claims = Claims::new(
            ISS,
            AUD,
            UserId::new(),
            SessionId::new(),
            now,
            chrono::TimeDelta::minutes(10),
        );
        claims.exp = now.timestamp() + exp_in;
        SeenToken {
            claims: Arc::new(claims),
            kid: Arc::from("k1"),
        }
    }

    #[test]
    fn the_verified_token_cache_answers_the_exact_token_and_forgets_on_request() {
        let cache = SeenTokens::new(100);
        let kept = seen(600);
        cache.remember("token-a", kept.clone());
        cache.remember("token-b", seen(600));
        let hit = cache.get("token-a").unwrap();
        assert!(Arc::ptr_eq(&hit.claims, &kept.claims));
        assert!(cache.get("token-").is_none(), "a prefix is another token");
        assert!(cache.get("token-a ").is_none());
        assert_eq!(cache.len(), 2);
        cache.forget("token-a");
        assert!(cache.get("token-a").is_none());
        assert!(cache.get("token-b").is_some());
        cache.forget_all();
        assert!(cache.is_empty());
        // Clones share the cache.
        let clone = cache.clone();
        clone.remember("token-c", seen(600));
        assert!(cache.get("token-c").is_some());
    }

    #[test]
    fn the_verified_token_cache_stays_within_its_capacity_and_drops_expired_tokens_first() {
        let capacity = 4 * crate::sharded::SHARDS as u64;
        let cache = SeenTokens::new(capacity);
        for i in 0..10 * capacity {
            cache.remember(&format!("token-{i}"), seen(600));
        }
        assert!(cache.len() <= usize::try_from(capacity).unwrap());
        assert!(
            cache.len() >= usize::try_from(capacity).unwrap() / 2,
            "{}",
            cache.len()
        );

        // A full cache of tokens expired over a minute ago: a new token takes an expired
        // token's place, the live ones stay.
        let capacity = 64 * crate::sharded::SHARDS as u64;
        let cache = SeenTokens::new(capacity);
        for i in 0..2 * capacity {
            cache.remember(&format!("old-{i}"), seen(-120));
        }
        for i in 0..16 {
            cache.remember(&format!("live-{i}"), seen(600));
        }
        for i in 0..16 {
            assert!(
                cache.get(&format!("live-{i}")).is_some(),
                "live-{i} evicted"
            );
        }
        assert!(cache.len() <= usize::try_from(capacity).unwrap());

        let none = SeenTokens::new(0);
        none.remember("token", seen(600));
        assert!(none.get("token").is_none());
    }

    #[tokio::test]
    async fn a_properly_signed_token_with_a_crit_header_is_refused() {
        let (key, verifier, claims) = setup();
        let plain = jsonwebtoken::encode(&header(), &claims, &key).unwrap();
        assert!(
            verifier.verify(&plain, now()).await.is_ok(),
            "the same token without crit verifies"
        );
        let mut h = header();
        h.crit = Some(vec!["exp".into()]);
        let token = jsonwebtoken::encode(&h, &claims, &key).unwrap();
        assert_eq!(
            verifier.verify(&token, now()).await.unwrap_err(),
            TokenRejection::CriticalHeader
        );
        // Any `crit` member at all, whatever its value.
        let base = serde_json::to_value(header()).unwrap();
        for value in [
            serde_json::json!([]),
            serde_json::Value::Null,
            serde_json::json!("exp"),
        ] {
            let mut h = base.clone();
            h["crit"] = value.clone();
            let token = sign_raw(&key, &h, &claims);
            assert_eq!(
                verifier.verify(&token, now()).await.unwrap_err(),
                TokenRejection::CriticalHeader,
                "crit {value}"
            );
        }
        let control = sign_raw(&key, &base, &claims);
        assert!(verifier.verify(&control, now()).await.is_ok());
    }

    #[test]
    fn the_crit_check_reads_the_header_segment_only() {
        let enc = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(&v).unwrap());
        let crit_in_payload = format!(
            "{}.{}.sig",
            enc(serde_json::json!({"alg": "ES256"})),
            enc(serde_json::json!({"crit": ["exp"]}))
        );
        assert_eq!(reject_critical_header(&crit_in_payload), Ok(()));
        let escaped = format!(
            "{}.e30.sig",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"ES256","cr\u0069t":["exp"]}"#)
        );
        assert_eq!(
            reject_critical_header(&escaped),
            Err(TokenRejection::CriticalHeader)
        );
        for junk in ["", ".", "%%%.e30.x", "W10.e30.x", "bnVsbA.e30.x"] {
            assert_eq!(
                reject_critical_header(junk),
                Err(TokenRejection::Malformed),
                "{junk:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_properly_signed_token_longer_than_max_token_len_is_refused() {
        let (key, verifier, claims) = setup();
        // Pad the header until the token crosses the bound: the last token within it verifies,
        // the first beyond it is refused, with nothing else different.
        let padded = |n: usize| {
            let mut h = header();
            h.extras.insert("pad".into(), "x".repeat(n));
            jsonwebtoken::encode(&h, &claims, &key).unwrap()
        };
        let (last_within, first_beyond) = crate::testing::tokens_around_max_len(&padded);
        assert!(verifier.verify(&last_within, now()).await.is_ok());
        assert_eq!(
            verifier.verify(&first_beyond, now()).await.unwrap_err(),
            TokenRejection::Malformed
        );
        let twenty_kib = padded(15 * 1024);
        assert!(twenty_kib.len() > 20_000);
        assert_eq!(
            verifier.verify(&twenty_kib, now()).await.unwrap_err(),
            TokenRejection::Malformed
        );
    }
}
