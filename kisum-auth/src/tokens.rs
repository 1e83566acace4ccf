//! Access tokens: small identity-only JWTs (`iss aud sub sid iat nbf exp jti`, header `kid` and
//! `typ: "at+jwt"`), signed with the active key of the [`KeyRing`], verified strictly.

use std::sync::{Arc, PoisonError, RwLock};

use chrono::{DateTime, TimeDelta, Utc};
use jsonwebtoken::{Header, Validation};
use kisum_guard::verify::{MAX_TOKEN_LEN, SeenToken, SeenTokens, reject_critical_header};
use kisum_guard::{ACCESS_TOKEN_TYPE, Claims, SessionId, UserId};

use crate::keys::KeyRing;

/// Issuer, audience and lifetimes of access tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenConfig {
    /// The `iss` claim: the Auth service's public URL.
    pub issuer: String,
    /// The `aud` claim every backend checks.
    pub audience: String,
    /// Access-token lifetime (default 10 minutes).
    pub access_ttl: TimeDelta,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds (at most 60).
    pub leeway_secs: u64,
}

impl TokenConfig {
    /// The default access-token lifetime: 10 minutes.
    pub const DEFAULT_ACCESS_TTL: TimeDelta = TimeDelta::minutes(10);

    /// The defaults for `issuer` and `audience`: [`Self::DEFAULT_ACCESS_TTL`], 30 s leeway.
    #[must_use]
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            access_ttl: Self::DEFAULT_ACCESS_TTL,
            leeway_secs: 30,
        }
    }
}

/// Why a token could not be issued or was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// No active signing key.
    #[error("no active signing key")]
    NoSigningKey,
    /// Signing failed.
    #[error("signing failed")]
    Signing,
    /// The token is malformed or too long, unsigned, signed by an unknown key or with the wrong
    /// algorithm, not an access token, has a `crit` header, or its signature does not verify.
    #[error("invalid token")]
    Invalid,
    /// The token expired.
    #[error("token expired")]
    Expired,
    /// The token is not valid yet.
    #[error("token not valid yet")]
    NotYetValid,
    /// Wrong `iss` or `aud`.
    #[error("token issued for another issuer or audience")]
    WrongAudience,
}

/// An issued access token.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// The compact JWT.
    pub token: String,
    /// Its claims.
    pub claims: Claims,
    /// Seconds until it expires.
    pub expires_in: i64,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("claims", &self.claims)
            .finish_non_exhaustive()
    }
}

/// Issues and verifies access tokens with the keys of a [`KeyRing`] that can be swapped at run
/// time (key rotation).
#[derive(Clone)]
pub struct TokenService {
    config: TokenConfig,
    keys: Arc<RwLock<Arc<KeyRing>>>,
    /// Tokens whose signature was verified, with the `kid` that verified them.
    seen: SeenTokens,
}

impl std::fmt::Debug for TokenService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenService")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl TokenService {
    /// A service signing with `keys`.
    #[must_use]
    pub fn new(config: TokenConfig, keys: KeyRing) -> Self {
        Self {
            config,
            keys: Arc::new(RwLock::new(Arc::new(keys))),
            seen: SeenTokens::new(Self::SEEN_CAPACITY),
        }
    }

    /// How many verified tokens [`verify_cached`](Self::verify_cached) remembers.
    pub const SEEN_CAPACITY: u64 = 100_000;

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &TokenConfig {
        &self.config
    }

    /// The current key ring.
    #[must_use]
    pub fn keys(&self) -> Arc<KeyRing> {
        Arc::clone(&self.keys.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Replaces the key ring (rotation): new tokens carry the new active kid; tokens signed by
    /// keys still in the ring keep verifying.
    pub fn rotate(&self, keys: KeyRing) {
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(keys);
    }

    /// Issues an access token for `user` in `session` at `now`.
    ///
    /// # Errors
    /// [`TokenError::NoSigningKey`], [`TokenError::Signing`].
    pub fn issue(
        &self,
        user: UserId,
        session: SessionId,
        now: DateTime<Utc>,
    ) -> Result<IssuedToken, TokenError> {
        let ring = self.keys();
        let key = ring.active().ok_or(TokenError::NoSigningKey)?;
        let claims = Claims::new(
            &self.config.issuer,
            &self.config.audience,
            user,
            session,
            now,
            self.config.access_ttl,
        );
        let mut header = Header::new(key.alg().jwt());
        header.kid = Some(key.kid().to_owned());
        header.typ = Some(ACCESS_TOKEN_TYPE.to_owned());
        let token = key.sign_jwt(&header, &claims).ok_or(TokenError::Signing)?;
        Ok(IssuedToken {
            token,
            expires_in: self.config.access_ttl.num_seconds(),
            claims,
        })
    }

    /// Verifies an access token at `now`, as strictly as the guard does: at most
    /// [`MAX_TOKEN_LEN`] bytes, a known `kid`, the algorithm of that key (never the token's
    /// choice), `typ` `at+jwt`, no `crit` header (no extension is understood) and no
    /// `jku`/`x5u`/`jwk`/`x5c` header, a valid signature, and `iss`, `aud`, `exp`, `nbf` within
    /// the leeway.
    ///
    /// # Errors
    /// [`TokenError::Invalid`], [`TokenError::Expired`], [`TokenError::NotYetValid`],
    /// [`TokenError::WrongAudience`].
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        let (claims, _) = self.verify_signature(token)?;
        self.check_time(&claims, now)?;
        Ok(claims)
    }

    /// [`verify`](Self::verify), remembering each token whose signature was checked (by its
    /// text, until shortly after it expires: [`SeenTokens`]): a token seen before costs no signature work
    /// while the key that verified it is still in the ring (a key removed by a rotation stops
    /// verifying its tokens at once, remembered or not). Its lifetime is checked every time.
    ///
    /// # Errors
    /// As [`verify`](Self::verify).
    pub fn verify_cached(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Invalid);
        }
        if let Some(SeenToken { claims, kid }) = self.seen.get(token) {
            if self.keys().get(&kid).is_some() {
                self.check_time(&claims, now)?;
                return Ok(Claims::clone(&claims));
            }
            self.seen.forget(token);
        }
        let (claims, kid) = self.verify_signature(token)?;
        self.check_time(&claims, now)?;
        self.seen.remember(
            token,
            SeenToken {
                claims: Arc::new(claims.clone()),
                kid: Arc::from(kid),
            },
        );
        Ok(claims)
    }

    /// The checks of [`verify`](Self::verify) but time: the claims and the `kid` that verified
    /// them.
    fn verify_signature(&self, token: &str) -> Result<(Claims, String), TokenError> {
        // The guard's bound and `crit` rule, so a token Auth accepts is never one the guard
        // refuses (or the reverse).
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Invalid);
        }
        reject_critical_header(token).map_err(|_| TokenError::Invalid)?;
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        if header.typ.as_deref() != Some(ACCESS_TOKEN_TYPE)
            || header.jku.is_some()
            || header.x5u.is_some()
            || header.jwk.is_some()
            || header.x5c.is_some()
        {
            return Err(TokenError::Invalid);
        }
        let ring = self.keys();
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| ring.get(kid))
            .ok_or(TokenError::Invalid)?;
        if header.alg != key.alg().jwt() {
            return Err(TokenError::Invalid);
        }
        let mut validation = Validation::new(key.alg().jwt());
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_nbf = false;
        // Time is checked below against our clock, not the system's.
        validation.validate_exp = false;
        validation.leeway = 0;
        let data =
            jsonwebtoken::decode::<Claims>(token, key.decoding(), &validation).map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                match e.kind() {
                    ErrorKind::InvalidIssuer | ErrorKind::InvalidAudience => {
                        TokenError::WrongAudience
                    }
                    ErrorKind::ImmatureSignature => TokenError::NotYetValid,
                    _ => TokenError::Invalid,
                }
            })?;
        Ok((data.claims, key.kid().to_owned()))
    }

    /// `exp` and `nbf` at `now`, within the leeway.
    fn check_time(&self, claims: &Claims, now: DateTime<Utc>) -> Result<(), TokenError> {
        let leeway = i64::try_from(self.config.leeway_secs.min(60)).unwrap_or(60);
        let t = now.timestamp();
        if t >= claims.exp.saturating_add(leeway) {
            return Err(TokenError::Expired);
        }
        if t < claims.nbf.saturating_sub(leeway) {
            return Err(TokenError::NotYetValid);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{GeneratedKey, SigningAlgorithm, SigningKey, generate};
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use std::path::Path;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn key(alg: SigningAlgorithm) -> SigningKey {
        let GeneratedKey { kid, pem } =
            generate(alg, chrono::NaiveDate::from_ymd_opt(2026, 11, 21).unwrap()).unwrap();
        SigningKey::from_pem(&kid, &pem, Path::new("mem")).unwrap()
    }

    fn service(alg: SigningAlgorithm) -> TokenService {
        let k = key(alg);
        let kid = k.kid().to_owned();
        TokenService::new(
            TokenConfig::new("https://auth.example.test", "kisum"),
            KeyRing::new(&kid, [k]).unwrap(),
        )
    }

    fn parts(token: &str) -> Vec<String> {
        token.split('.').map(str::to_owned).collect()
    }

    fn b64(v: &serde_json::Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    }

    #[test]
    fn issued_tokens_verify_for_every_algorithm() {
        for alg in [SigningAlgorithm::Es256, SigningAlgorithm::EdDsa] {
            let s = service(alg);
            let (user, sid) = (UserId::new(), SessionId::new());
            let issued = s.issue(user, sid, t(0)).unwrap();
            assert_eq!(issued.expires_in, 600);
            let claims = s.verify(&issued.token, t(1)).unwrap();
            assert_eq!((claims.sub, claims.sid), (user, sid));
            let header = jsonwebtoken::decode_header(&issued.token).unwrap();
            assert_eq!(header.typ.as_deref(), Some("at+jwt"));
            assert_eq!(
                header.kid.as_deref(),
                Some(s.keys().active().unwrap().kid())
            );
        }
        let pem = include_str!("../tests/data/rsa-test-key.pem");
        let rsa = SigningKey::from_pem("rsa-test", pem, Path::new("rsa")).unwrap();
        let s = TokenService::new(
            TokenConfig::new("i", "a"),
            KeyRing::new("rsa-test", [rsa]).unwrap(),
        );
        let issued = s.issue(UserId::new(), SessionId::new(), t(0)).unwrap();
        assert!(s.verify(&issued.token, t(1)).is_ok());
    }

    #[test]
    fn payload_is_identity_only() {
        let s = service(SigningAlgorithm::Es256);
        let token = s
            .issue(UserId::new(), SessionId::new(), t(0))
            .unwrap()
            .token;
        let payload: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts(&token)[1]).unwrap()).unwrap();
        let mut keys: Vec<_> = payload.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(
            keys,
            ["aud", "exp", "iat", "iss", "jti", "nbf", "sid", "sub"]
        );
    }

    #[test]
    fn expiry_and_not_before_follow_the_clock_with_leeway() {
        let s = service(SigningAlgorithm::Es256);
        let token = s
            .issue(UserId::new(), SessionId::new(), t(0))
            .unwrap()
            .token;
        assert!(s.verify(&token, t(600 + 29)).is_ok(), "within leeway");
        assert_eq!(s.verify(&token, t(600 + 30)), Err(TokenError::Expired));
        assert!(s.verify(&token, t(-29)).is_ok());
        assert_eq!(s.verify(&token, t(-31)), Err(TokenError::NotYetValid));
    }

    #[test]
    fn forged_and_foreign_tokens_are_refused() {
        let s = service(SigningAlgorithm::Es256);
        let token = s
            .issue(UserId::new(), SessionId::new(), t(0))
            .unwrap()
            .token;
        let p = parts(&token);
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&p[0]).unwrap()).unwrap();
        let mut payload: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&p[1]).unwrap()).unwrap();

        // alg none
        let mut none = header.clone();
        none["alg"] = "none".into();
        assert_eq!(
            s.verify(&format!("{}.{}.", b64(&none), p[1]), t(1)),
            Err(TokenError::Invalid)
        );
        // tampered payload
        payload["sub"] = UserId::new().to_string().into();
        assert_eq!(
            s.verify(&format!("{}.{}.{}", p[0], b64(&payload), p[2]), t(1)),
            Err(TokenError::Invalid)
        );
        // HS256 signed with the public key
        let mut hs = header.clone();
        hs["alg"] = "HS256".into();
        let jwk = serde_json::to_vec(s.keys().active().unwrap().jwk()).unwrap();
        let forged = jsonwebtoken::encode(
            &serde_json::from_value::<Header>(hs).unwrap(),
            &serde_json::from_slice::<serde_json::Value>(&URL_SAFE_NO_PAD.decode(&p[1]).unwrap())
                .unwrap(),
            &jsonwebtoken::EncodingKey::from_secret(&jwk),
        )
        .unwrap();
        assert_eq!(s.verify(&forged, t(1)), Err(TokenError::Invalid));
        // typ JWT, jku header, unknown kid
        for (field, value) in [
            ("typ", "JWT"),
            ("jku", "https://evil.example/jwks.json"),
            ("kid", "unknown"),
        ] {
            let mut h = header.clone();
            h[field] = value.into();
            assert_eq!(
                s.verify(&format!("{}.{}.{}", b64(&h), p[1], p[2]), t(1)),
                Err(TokenError::Invalid),
                "{field}"
            );
        }
        // wrong audience and issuer
        let other = TokenService {
            config: TokenConfig::new("https://auth.example.test", "other"),
            keys: s.keys.clone(),
            seen: SeenTokens::new(16),
        };
        assert_eq!(other.verify(&token, t(1)), Err(TokenError::WrongAudience));
        let other = TokenService {
            config: TokenConfig::new("https://evil.example", "kisum"),
            keys: s.keys.clone(),
            seen: SeenTokens::new(16),
        };
        assert_eq!(other.verify(&token, t(1)), Err(TokenError::WrongAudience));
        // garbage never panics
        for junk in ["", ".", "..", "a.b.c", "eyJ.eyJ.sig", &"x".repeat(10_000)] {
            assert!(s.verify(junk, t(1)).is_err());
        }
    }

    /// A token signed with the service's real active key under `header` (any JSON).
    fn sign_with_header(s: &TokenService, header: &serde_json::Value, claims: &Claims) -> String {
        let ring = s.keys();
        let key = ring.active().unwrap();
        let message = format!(
            "{}.{}",
            b64(header),
            b64(&serde_json::to_value(claims).unwrap())
        );
        let signature =
            jsonwebtoken::crypto::sign(message.as_bytes(), key.encoding(), key.alg().jwt())
                .unwrap();
        format!("{message}.{signature}")
    }

    fn issued_header(s: &TokenService) -> serde_json::Value {
        let token = s
            .issue(UserId::new(), SessionId::new(), t(0))
            .unwrap()
            .token;
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts(&token)[0]).unwrap()).unwrap()
    }

    #[test]
    fn a_properly_signed_token_with_a_crit_header_is_refused() {
        for alg in [SigningAlgorithm::Es256, SigningAlgorithm::EdDsa] {
            let s = service(alg);
            let claims = s
                .issue(UserId::new(), SessionId::new(), t(0))
                .unwrap()
                .claims;
            let header = issued_header(&s);
            let control = sign_with_header(&s, &header, &claims);
            assert_eq!(s.verify(&control, t(1)), Ok(claims.clone()), "without crit");
            for crit in [
                serde_json::json!(["exp"]),
                serde_json::json!([]),
                serde_json::Value::Null,
                serde_json::json!("exp"),
            ] {
                let mut h = header.clone();
                h["crit"] = crit.clone();
                let token = sign_with_header(&s, &h, &claims);
                assert_eq!(
                    s.verify(&token, t(1)),
                    Err(TokenError::Invalid),
                    "crit {crit}"
                );
            }
            // Through jsonwebtoken's own header type too.
            let mut h: Header = serde_json::from_value(header).unwrap();
            h.crit = Some(vec!["exp".into()]);
            let ring = s.keys();
            let token =
                jsonwebtoken::encode(&h, &claims, ring.active().unwrap().encoding()).unwrap();
            assert_eq!(s.verify(&token, t(1)), Err(TokenError::Invalid));
        }
    }

    #[test]
    fn a_properly_signed_token_longer_than_the_guard_bound_is_refused() {
        let s = service(SigningAlgorithm::Es256);
        let claims = s
            .issue(UserId::new(), SessionId::new(), t(0))
            .unwrap()
            .claims;
        let header = issued_header(&s);
        let padded = |n: usize| {
            let mut h = header.clone();
            h["pad"] = "x".repeat(n).into();
            sign_with_header(&s, &h, &claims)
        };
        // The last token within `MAX_TOKEN_LEN` verifies, the first beyond it is refused, with
        // nothing else different; and so is the 20 KB token Auth used to accept.
        let (last_within, first_beyond) = kisum_guard::testing::tokens_around_max_len(&padded);
        assert_eq!(s.verify(&last_within, t(1)), Ok(claims.clone()));
        assert_eq!(s.verify(&first_beyond, t(1)), Err(TokenError::Invalid));
        let twenty_kb = padded(15_000);
        assert!(twenty_kb.len() > 20_000);
        assert_eq!(s.verify(&twenty_kb, t(1)), Err(TokenError::Invalid));
    }

    #[test]
    fn rotation_keeps_old_tokens_valid_and_signs_with_the_new_key() {
        let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
        let GeneratedKey {
            kid: old_kid,
            pem: old_pem,
        } = generate(SigningAlgorithm::Es256, day).unwrap();
        let GeneratedKey {
            kid: new_kid,
            pem: new_pem,
        } = generate(SigningAlgorithm::Es256, day).unwrap();
        let load = |kid: &str, pem: &str| SigningKey::from_pem(kid, pem, Path::new("mem")).unwrap();
        let s = TokenService::new(
            TokenConfig::new("i", "a"),
            KeyRing::new(&old_kid, [load(&old_kid, &old_pem)]).unwrap(),
        );
        let before = s
            .issue(UserId::new(), SessionId::new(), t(0))
            .unwrap()
            .token;

        s.rotate(
            KeyRing::new(
                &new_kid,
                [load(&new_kid, &new_pem), load(&old_kid, &old_pem)],
            )
            .unwrap(),
        );
        let after = s
            .issue(UserId::new(), SessionId::new(), t(1))
            .unwrap()
            .token;
        assert_eq!(
            jsonwebtoken::decode_header(&after).unwrap().kid.as_deref(),
            Some(new_kid.as_str())
        );
        assert!(
            s.verify(&before, t(2)).is_ok(),
            "tokens of the previous key stay valid until they expire"
        );
        assert!(s.verify(&after, t(2)).is_ok());
        assert_eq!(s.keys().jwks().keys.len(), 2);

        s.rotate(KeyRing::new(&new_kid, [load(&new_kid, &new_pem)]).unwrap());
        assert_eq!(
            s.verify(&before, t(3)),
            Err(TokenError::Invalid),
            "a retired key verifies nothing"
        );
        assert!(s.verify(&after, t(3)).is_ok());
    }

    /// The remembered verification answers as the full one does: its lifetime is checked on
    /// every call, a tampered token is not the remembered one, and a key removed from the ring
    /// stops verifying its tokens at once.
    #[test]
    fn a_remembered_token_is_still_checked_for_lifetime_and_key() {
        let s = service(SigningAlgorithm::Es256);
        let (user, sid) = (UserId::new(), SessionId::new());
        let token = s.issue(user, sid, t(0)).unwrap().token;
        let claims = s.verify_cached(&token, t(1)).unwrap();
        assert_eq!((claims.sub, claims.sid), (user, sid));
        assert_eq!(s.verify_cached(&token, t(2)), Ok(claims));
        assert_eq!(
            s.verify_cached(&token, t(600 + 30)),
            Err(TokenError::Expired)
        );
        assert_eq!(
            s.verify_cached(&token, t(-31)),
            Err(TokenError::NotYetValid)
        );
        let mut p = parts(&token);
        let flipped = if p[2].starts_with('A') { 'B' } else { 'A' };
        p[2] = format!("{flipped}{}", &p[2][1..]);
        assert_eq!(
            s.verify_cached(&p.join("."), t(2)),
            Err(TokenError::Invalid)
        );
        let other = key(SigningAlgorithm::Es256);
        let other_kid = other.kid().to_owned();
        s.rotate(KeyRing::new(&other_kid, [other]).unwrap());
        assert_eq!(
            s.verify_cached(&token, t(3)),
            Err(TokenError::Invalid),
            "a retired key verifies nothing, remembered or not"
        );
    }
}
