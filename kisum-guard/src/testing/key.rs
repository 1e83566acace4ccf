//! The signing side of the test kit: keys that mint access tokens as Auth does (ES256,
//! `typ` `at+jwt`, a `kid`), and the key set a guard fetches, which a test can rotate or take
//! down.

use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{EncodingKey, Header};

use super::TestKitError;
use crate::claims::{ACCESS_TOKEN_TYPE, Claims};
use crate::jwks::{JwksDocument, JwksError, JwksSource, StaticJwks};

/// An ES256 signing key (fresh for every `new`) and its public JWK.
#[derive(Clone)]
pub struct TestKey {
    kid: String,
    encoding: EncodingKey,
    public: Vec<u8>,
    jwk: Jwk,
}

impl std::fmt::Debug for TestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl TestKey {
    /// A fresh P-256 key named `kid`.
    ///
    /// # Errors
    /// The key could not be generated.
    pub fn new(kid: &str) -> Result<Self, TestKitError> {
        let key_error = |e: &dyn std::fmt::Display| TestKitError::Key(e.to_string());
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|e| key_error(&e))?;
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
            .map_err(|e| key_error(&e))?;
        let public = pair.public_key().as_ref();
        let (Some(x), Some(y)) = (public.get(1..33), public.get(33..65)) else {
            return Err(TestKitError::Key("unexpected public key length".into()));
        };
        let jwk = serde_json::json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(x),
            "y": URL_SAFE_NO_PAD.encode(y),
        });
        Ok(Self {
            kid: kid.to_owned(),
            encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
            public: public.to_vec(),
            jwk: serde_json::from_value(jwk).map_err(|e| key_error(&e))?,
        })
    }

    /// The key id tokens name in their header.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key, as published in a JWKS.
    #[must_use]
    pub fn jwk(&self) -> &Jwk {
        &self.jwk
    }

    /// The public key's bytes (uncompressed SEC1 point), e.g. to try it as an HMAC secret.
    #[must_use]
    pub fn public_key(&self) -> &[u8] {
        &self.public
    }

    /// The private key (to craft tokens the guard must refuse).
    #[must_use]
    pub fn encoding_key(&self) -> &EncodingKey {
        &self.encoding
    }

    /// `claims` signed as an access token: ES256, this key's `kid`, `typ` `at+jwt`.
    ///
    /// # Errors
    /// Signing failed.
    pub fn sign(&self, claims: &Claims) -> Result<String, TestKitError> {
        let mut header = Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        header.typ = Some(ACCESS_TOKEN_TYPE.into());
        Ok(jsonwebtoken::encode(&header, claims, &self.encoding)?)
    }

    /// `context` sealed as Auth seals what guards share (see [`crate::seal`]), for `issuer`.
    ///
    /// # Errors
    /// Signing failed.
    pub fn seal(
        &self,
        context: &crate::AccessContext,
        issuer: &str,
    ) -> Result<String, TestKitError> {
        let mut header = Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        header.typ = Some(crate::seal::SEAL_TYPE.into());
        let claims = crate::seal::SealClaims {
            iss: issuer.to_owned(),
            ctx: context.clone(),
        };
        Ok(jsonwebtoken::encode(&header, &claims, &self.encoding)?)
    }
}

/// The key set publishing `keys`.
#[must_use]
pub fn jwk_set(keys: &[&TestKey]) -> JwkSet {
    JwkSet {
        keys: keys.iter().map(|k| k.jwk.clone()).collect(),
    }
}

/// The keys Auth would publish: can be replaced (a rotation) and taken down.
#[derive(Debug)]
pub struct TestJwks {
    keys: StaticJwks,
    down: AtomicBool,
}

impl TestJwks {
    /// A source publishing `keys`.
    #[must_use]
    pub fn new(keys: JwkSet) -> Self {
        Self {
            keys: StaticJwks::new(keys),
            down: AtomicBool::new(false),
        }
    }

    /// Publishes `keys` instead.
    pub fn set(&self, keys: JwkSet) {
        self.keys.set(keys);
    }

    /// Takes the source down (every fetch fails) or back up.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// How many times the keys were fetched.
    #[must_use]
    pub fn fetches(&self) -> u64 {
        self.keys.fetches()
    }
}

#[async_trait]
impl JwksSource for TestJwks {
    async fn fetch(&self) -> Result<JwksDocument, JwksError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(JwksError("connection refused".into()));
        }
        self.keys.fetch().await
    }
}
