//! Test support: signing keys, token minting, a fake access source, a test app.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use async_trait::async_trait;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{EncodingKey, Header};
use kisum_guard::{
    Access, AccessContext, AccessGuard, AccessSource, Claims, CompanyId, GuardConfig, JwksDocument,
    JwksError, JwksSource, MembershipId, ModuleKey, PermissionPattern, PermissionSet, Principal,
    Require, SessionId, SourceError, StaticJwks, UserId,
};
use tower::ServiceExt as _;

pub const ISS: &str = "https://auth.test";
pub const AUD: &str = "kisum";

/// An ES256 signing key and its public JWK.
pub struct TestKey {
    pub kid: String,
    pub encoding: EncodingKey,
    pub jwk: serde_json::Value,
    pub public: Vec<u8>,
}

impl TestKey {
    pub fn new(kid: &str) -> Self {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let public = pair.public_key().as_ref().to_vec();
        let jwk = serde_json::json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(&public[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&public[33..65]),
        });
        Self {
            kid: kid.to_owned(),
            encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
            jwk,
            public,
        }
    }

    pub fn sign(&self, claims: &Claims) -> String {
        let mut header = Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        header.typ = Some("at+jwt".into());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

pub fn jwks(keys: &[&TestKey]) -> JwkSet {
    serde_json::from_value(serde_json::json!({
        "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()
    }))
    .unwrap()
}

pub fn now() -> chrono::DateTime<chrono::Utc> {
    #[expect(
        clippy::disallowed_methods,
        reason = "tokens must be valid by the wall clock"
    )]
    chrono::Utc::now()
}

pub fn claims(user: UserId, session: SessionId) -> Claims {
    Claims::new(
        ISS,
        AUD,
        user,
        session,
        now(),
        chrono::TimeDelta::minutes(10),
    )
}

/// A JWKS source that can be taken down.
pub struct FlakyJwks {
    pub inner: StaticJwks,
    pub down: AtomicBool,
}

#[async_trait]
impl JwksSource for FlakyJwks {
    async fn fetch(&self) -> Result<JwksDocument, JwksError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(JwksError("connection refused".into()));
        }
        self.inner.fetch().await
    }
}

/// An access source over a map, that can be taken down.
#[derive(Default)]
pub struct FakeSource {
    pub contexts: Mutex<HashMap<SessionId, AccessContext>>,
    pub revoked: Mutex<HashSet<SessionId>>,
    pub down: AtomicBool,
    pub calls: AtomicU64,
}

#[async_trait]
impl AccessSource for FakeSource {
    async fn resolve(
        &self,
        user_id: UserId,
        session_id: SessionId,
        org: &str,
    ) -> Result<AccessContext, SourceError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Err(SourceError::Unavailable("auth unreachable".into()));
        }
        if self.revoked.lock().unwrap().contains(&session_id) {
            return Err(SourceError::Denied(kisum_guard::DenialCode::SessionRevoked));
        }
        if org != "acme" {
            return Err(SourceError::Denied(kisum_guard::DenialCode::OrgUnknown));
        }
        let ctx = self.contexts.lock().unwrap().get(&session_id).cloned();
        match ctx {
            Some(c) if c.user_id == user_id => Ok(AccessContext {
                computed_at: now(),
                ..c
            }),
            _ => Err(SourceError::Denied(kisum_guard::DenialCode::NotAMember)),
        }
    }

    async fn session_active(&self, _user: UserId, session: SessionId) -> Result<bool, SourceError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Err(SourceError::Unavailable("auth unreachable".into()));
        }
        Ok(!self.revoked.lock().unwrap().contains(&session))
    }
}

pub fn context(
    user: UserId,
    session: SessionId,
    company: CompanyId,
    modules: &[&str],
    entitled: &[&str],
    permissions: &[&str],
) -> AccessContext {
    let set = |m: &[&str]| -> BTreeSet<ModuleKey> {
        m.iter().map(|m| ModuleKey::new(m).unwrap()).collect()
    };
    let mut perms = PermissionSet::new();
    for p in permissions {
        perms.insert(PermissionPattern::new(p).unwrap());
    }
    AccessContext {
        user_id: user,
        session_id: session,
        company_id: company,
        membership_id: MembershipId::new(),
        roles: vec![],
        modules: set(modules),
        entitled_modules: set(entitled),
        permissions: perms,
        core_app_visible: false,
        access_version: 1,
        entitlement_version: 1,
        computed_at: now(),
        valid_until: None,
    }
}

/// A guard with a static key, a fake source and one signed-in member of `acme` who may read
/// finance invoices.
pub struct World {
    pub key: TestKey,
    pub jwks: Arc<FlakyJwks>,
    pub source: Arc<FakeSource>,
    pub guard: AccessGuard,
    pub user: UserId,
    pub session: SessionId,
    pub company: CompanyId,
    pub token: String,
}

impl World {
    pub fn new() -> Self {
        Self::with_config(|c| c)
    }

    pub fn with_config(f: impl FnOnce(GuardConfig) -> GuardConfig) -> Self {
        Self::build(f, |g| g)
    }

    pub fn build(
        f: impl FnOnce(GuardConfig) -> GuardConfig,
        g: impl FnOnce(AccessGuard) -> AccessGuard,
    ) -> Self {
        let key = TestKey::new("k1");
        let jwks = Arc::new(FlakyJwks {
            inner: StaticJwks::new(jwks(&[&key])),
            down: AtomicBool::new(false),
        });
        let source = Arc::new(FakeSource::default());
        let guard = g(AccessGuard::new(
            f(GuardConfig::new(ISS, AUD)),
            jwks.clone(),
            source.clone(),
        ));
        let (user, session, company) = (UserId::new(), SessionId::new(), CompanyId::new());
        source.contexts.lock().unwrap().insert(
            session,
            context(
                user,
                session,
                company,
                &["company", "finance"],
                &["company", "core", "finance", "market"],
                &["finance.invoices.read"],
            ),
        );
        let token = key.sign(&claims(user, session));
        Self {
            key,
            jwks,
            source,
            guard,
            user,
            session,
            company,
            token,
        }
    }

    pub fn set_context(&self, f: impl FnOnce(&mut AccessContext)) {
        let mut map = self.source.contexts.lock().unwrap();
        let c = map.get_mut(&self.session).unwrap();
        f(c);
    }

    pub fn app(&self) -> Router {
        app(&self.guard)
    }
}

pub fn app(guard: &AccessGuard) -> Router {
    let read = Router::new()
        .route(
            "/invoices",
            get(|p: Principal, a: Access| async move {
                format!("{} {} {}", p.user_id, a.company_id, a.access_version)
            }),
        )
        .route_layer(guard.layer(Require::module("finance").permission("finance.invoices.read")));
    let write = Router::new()
        .route("/invoices/new", post(|| async { "created" }))
        .route_layer(guard.layer(Require::module("finance").permission("finance.invoices.write")));
    let any = Router::new()
        .route("/any", get(|| async { "any" }))
        .route_layer(guard.layer(Require::any_permission([
            "finance.invoices.write",
            "finance.invoices.read",
        ])));
    let market = Router::new()
        .route("/market", get(|| async { "market" }))
        .route_layer(guard.layer(Require::module("market")));
    let touring = Router::new()
        .route("/touring", get(|| async { "touring" }))
        .route_layer(guard.layer(Require::module("touring")));
    let me = Router::new()
        .route(
            "/me",
            get(|p: Principal| async move { p.user_id.to_string() }),
        )
        .route(
            "/me/access",
            get(|a: Access| async move { a.company_id.to_string() }),
        )
        .route_layer(guard.layer(Require::authenticated()));
    let public = Router::new()
        .route(
            "/public",
            get(|p: Option<Principal>| async move {
                p.map_or_else(|| "anonymous".to_owned(), |p| p.user_id.to_string())
            }),
        )
        .route_layer(guard.layer(Require::optional()));
    let broken = Router::new()
        .route("/broken", get(|| async { "never" }))
        .route_layer(guard.layer(Require::authenticated().permission("nodot")));
    Router::new()
        .merge(read)
        .merge(write)
        .merge(any)
        .merge(market)
        .merge(touring)
        .merge(me)
        .merge(public)
        .merge(broken)
        .route(
            "/unguarded",
            get(|p: Principal| async move { p.user_id.to_string() }),
        )
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }

    pub fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or_default().to_owned()
    }
}

pub async fn call(app: &Router, path: &str, token: Option<&str>, org: Option<&str>) -> Answer {
    call_with(app, "GET", path, token, org, &[]).await
}

pub async fn call_with(
    app: &Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    org: Option<&str>,
    extra: &[(&str, &str)],
) -> Answer {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if let Some(o) = org {
        req = req.header("x-org", o);
    }
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let response = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}
