//! A test kit (feature `test-util`): Auth stood in for, so a backend tests its guarded handlers
//! without running Auth.
//!
//! [`TestAuth`] holds a signing key ([`TestKey`], ES256), the key set the guard fetches
//! ([`TestJwks`]) and the access contexts Auth would resolve ([`FakeSource`]). Build the guard
//! from it, sign members in, and call the router with their tokens:
//!
//! ```
//! use axum::{Router, routing::get};
//! use kisum_guard::{Access, Require, testing::TestAuth};
//! use tower::ServiceExt as _;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let auth = TestAuth::new()?;
//! let guard = auth.guard().build()?;
//! let app: Router = Router::new()
//!     .route("/v1/finance/invoices", get(|a: Access| async move { a.company_id.to_string() }))
//!     .route_layer(guard.require(Require::permission("finance.invoices.read")?));
//! let member = auth.sign_in("acme", &["finance"], &["finance.invoices.read"])?;
//! let request = http::Request::get("/v1/finance/invoices")
//!     .header("authorization", format!("Bearer {}", member.token))
//!     .header("x-org", "acme")
//!     .body(axum::body::Body::empty())?;
//! assert_eq!(app.oneshot(request).await?.status(), 200);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Every part can also be driven directly: rotate or take down the keys, change or revoke a
//! member's access, take the source down, count its calls.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::TimeDelta;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{EncodingKey, Header};

use crate::claims::{ACCESS_TOKEN_TYPE, Claims};
use crate::clock::{Clock, SystemClock};
use crate::context::AccessContext;
use crate::denial::DenialCode;
use crate::guard::{AccessGuard, AccessGuardBuilder};
use crate::ids::{CompanyId, InvalidId, MembershipId, ModuleKey, SessionId, UserId};
use crate::jwks::{JwksDocument, JwksError, JwksSource, StaticJwks};
use crate::permission::{PermissionPattern, PermissionSet};
use crate::source::{AccessSource, SourceError};

/// The issuer of the test kit's tokens.
pub const TEST_ISSUER: &str = "https://auth.test";
/// The audience of the test kit's tokens (Auth's default).
pub const TEST_AUDIENCE: &str = crate::guard::DEFAULT_AUDIENCE;

/// Why the test kit could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum TestKitError {
    /// A key could not be generated.
    #[error("test key: {0}")]
    Key(String),
    /// A token could not be signed.
    #[error("signing: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
    /// A module or permission key is malformed.
    #[error(transparent)]
    InvalidId(#[from] InvalidId),
}

/// An ES256 signing key (fresh for every `new`) and its public JWK.
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

/// The access contexts Auth would resolve, by company and session: a company is known by its
/// slug (any case) or its id; a session without a context there is `not_a_member`. Can be
/// taken down (every call is `Unavailable`) and counts its calls.
pub struct FakeSource {
    companies: Mutex<HashMap<String, CompanyId>>,
    contexts: Mutex<HashMap<(CompanyId, SessionId), AccessContext>>,
    revoked: Mutex<HashSet<SessionId>>,
    down: AtomicBool,
    calls: AtomicU64,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for FakeSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeSource")
            .field("calls", &self.calls)
            .finish_non_exhaustive()
    }
}

impl Default for FakeSource {
    fn default() -> Self {
        Self {
            companies: Mutex::default(),
            contexts: Mutex::default(),
            revoked: Mutex::default(),
            down: AtomicBool::new(false),
            calls: AtomicU64::new(0),
            clock: Arc::new(SystemClock),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl FakeSource {
    /// An empty source (every company unknown).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Stamps resolved contexts with `clock` (default the system clock).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Makes `context` the answer for its session in the company `slug` (registering the
    /// company under `slug` and its id).
    pub fn grant(&self, slug: &str, context: AccessContext) {
        lock(&self.companies).insert(slug.to_ascii_lowercase(), context.company_id);
        lock(&self.contexts).insert((context.company_id, context.session_id), context);
    }

    /// Changes every context of `session`.
    pub fn update(&self, session: SessionId, mut f: impl FnMut(&mut AccessContext)) {
        for ((_, s), c) in lock(&self.contexts).iter_mut() {
            if *s == session {
                f(c);
            }
        }
    }

    /// The context of `session` (in any company), as granted or updated.
    #[must_use]
    pub fn context(&self, session: SessionId) -> Option<AccessContext> {
        lock(&self.contexts)
            .iter()
            .find(|((_, s), _)| *s == session)
            .map(|(_, c)| c.clone())
    }

    /// Revokes `session`: resolving is `session_revoked`, the session is inactive.
    pub fn revoke(&self, session: SessionId) {
        lock(&self.revoked).insert(session);
    }

    /// Takes the source down (every call `Unavailable`) or back up.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// How many calls were made (resolves and session checks).
    #[must_use]
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    fn company(&self, org: &str) -> Option<CompanyId> {
        let companies = lock(&self.companies);
        companies
            .get(&org.to_ascii_lowercase())
            .copied()
            .or_else(|| {
                companies
                    .values()
                    .find(|id| id.to_string().eq_ignore_ascii_case(org))
                    .copied()
            })
    }

    fn answer(&self) -> Result<(), SourceError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Err(SourceError::Unavailable("auth unreachable".into()));
        }
        Ok(())
    }
}

#[async_trait]
impl AccessSource for FakeSource {
    async fn resolve(
        &self,
        user_id: UserId,
        session_id: SessionId,
        org: &str,
    ) -> Result<AccessContext, SourceError> {
        self.answer()?;
        if lock(&self.revoked).contains(&session_id) {
            return Err(SourceError::Denied(DenialCode::SessionRevoked));
        }
        let company = self
            .company(org)
            .ok_or(SourceError::Denied(DenialCode::OrgUnknown))?;
        let context = lock(&self.contexts).get(&(company, session_id)).cloned();
        match context {
            Some(c) if c.user_id == user_id => Ok(AccessContext {
                computed_at: self.clock.now(),
                ..c
            }),
            _ => Err(SourceError::Denied(DenialCode::NotAMember)),
        }
    }

    async fn session_active(&self, _user: UserId, session: SessionId) -> Result<bool, SourceError> {
        self.answer()?;
        Ok(!lock(&self.revoked).contains(&session))
    }
}

/// The access context of `user`'s `session` as a member of `company` who may use `modules`
/// (of the company's `entitled` modules) with `permissions` (patterns).
///
/// # Errors
/// A malformed module key or permission pattern.
pub fn member_context(
    user: UserId,
    session: SessionId,
    company: CompanyId,
    modules: &[&str],
    entitled: &[&str],
    permissions: &[&str],
) -> Result<AccessContext, InvalidId> {
    let set = |m: &[&str]| -> Result<BTreeSet<ModuleKey>, InvalidId> {
        m.iter().map(|m| ModuleKey::new(m)).collect()
    };
    let mut perms = PermissionSet::new();
    for p in permissions {
        perms.insert(PermissionPattern::new(p)?);
    }
    Ok(AccessContext {
        user_id: user,
        session_id: session,
        company_id: company,
        membership_id: MembershipId::new(),
        roles: vec![],
        modules: set(modules)?,
        entitled_modules: set(entitled)?,
        permissions: perms,
        core_app_visible: false,
        access_version: 1,
        entitlement_version: 1,
        computed_at: SystemClock.now(),
        valid_until: None,
    })
}

/// A member [signed in](TestAuth::sign_in) by the test kit.
#[derive(Debug, Clone)]
pub struct TestMember {
    /// The user.
    pub user: UserId,
    /// The session.
    pub session: SessionId,
    /// The company.
    pub company: CompanyId,
    /// A valid access token for the session (ten minutes).
    pub token: String,
}

/// Auth, stood in for: a signing key, its key set and a fake access source, with a guard
/// builder wired to them.
pub struct TestAuth {
    key: TestKey,
    jwks: Arc<TestJwks>,
    source: Arc<FakeSource>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for TestAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestAuth")
            .field("key", &self.key)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl TestAuth {
    /// A fresh key `k1`, published; no companies yet.
    ///
    /// # Errors
    /// The key could not be generated.
    pub fn new() -> Result<Self, TestKitError> {
        let key = TestKey::new("k1")?;
        let jwks = Arc::new(TestJwks::new(jwk_set(&[&key])));
        Ok(Self {
            key,
            jwks,
            source: Arc::new(FakeSource::new()),
            clock: Arc::new(SystemClock),
        })
    }

    /// The signing key.
    #[must_use]
    pub fn key(&self) -> &TestKey {
        &self.key
    }

    /// The published keys.
    #[must_use]
    pub fn jwks(&self) -> &Arc<TestJwks> {
        &self.jwks
    }

    /// The access source.
    #[must_use]
    pub fn source(&self) -> &Arc<FakeSource> {
        &self.source
    }

    /// A guard builder over this Auth (issuer [`TEST_ISSUER`], audience [`TEST_AUDIENCE`]);
    /// tune it further, then `build()`.
    pub fn guard(&self) -> AccessGuardBuilder {
        let jwks: Arc<dyn JwksSource> = self.jwks.clone();
        let source: Arc<dyn AccessSource> = self.source.clone();
        AccessGuard::with_sources(jwks, source)
            .issuer(TEST_ISSUER)
            .audience(TEST_AUDIENCE)
    }

    /// The claims of a ten-minute access token for `user`'s `session`.
    #[must_use]
    pub fn claims(&self, user: UserId, session: SessionId) -> Claims {
        Claims::new(
            TEST_ISSUER,
            TEST_AUDIENCE,
            user,
            session,
            self.clock.now(),
            TimeDelta::minutes(10),
        )
    }

    /// A ten-minute access token for `user`'s `session`, signed with [`key`](Self::key).
    ///
    /// # Errors
    /// Signing failed.
    pub fn token(&self, user: UserId, session: SessionId) -> Result<String, TestKitError> {
        self.key.sign(&self.claims(user, session))
    }

    /// A new user, signed in, member of the company `org` (created on first use) who may use
    /// `modules` (entitled, with `company` and `core`) with `permissions`.
    ///
    /// # Errors
    /// A malformed module or permission, or signing failed.
    pub fn sign_in(
        &self,
        org: &str,
        modules: &[&str],
        permissions: &[&str],
    ) -> Result<TestMember, TestKitError> {
        let company = self.source.company(org).unwrap_or_default();
        let (user, session) = (UserId::new(), SessionId::new());
        let mut granted = vec!["company"];
        granted.extend_from_slice(modules);
        let mut entitled = vec!["company", "core"];
        entitled.extend_from_slice(modules);
        let context = member_context(user, session, company, &granted, &entitled, permissions)?;
        self.source.grant(org, context);
        Ok(TestMember {
            user,
            session,
            company,
            token: self.token(user, session)?,
        })
    }
}
