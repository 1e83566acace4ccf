//! Guard overhead: a request through `kisum_guard::Guard` versus the bare service.
//!
//! - `guard/bare`: the bare tower service (a handler answering a static body);
//! - `guard/warm`: the same service behind the guard, token already verified and context
//!   cached (the steady state of a busy backend);
//! - `guard/first_sight`: a token never seen before on every request (signature verification;
//!   the context is cached);
//! - `jwt/decode_es256`: a plain `jsonwebtoken::decode` of an ES256 token, for comparison.
//!
//! Run with `cargo bench -p kisum-benches --bench guard`.

use std::convert::Infallible;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::{Request, Response};
use http_body_util::Full;
use jsonwebtoken::{EncodingKey, Header};
use kisum_guard::jwks::StaticJwks;
use kisum_guard::source::{AccessSource, SourceError};
use kisum_guard::{
    AccessContext, AccessGuard, Claims, Clock as _, CompanyId, MembershipId, ModuleKey,
    PermissionPattern, PermissionSet, Require, SessionId, SystemClock, UserId,
};
use tower::{Layer as _, Service, ServiceExt as _};

const ISS: &str = "https://auth.bench";
const AUD: &str = "kisum";

struct OneContext(AccessContext);

#[async_trait]
impl AccessSource for OneContext {
    async fn resolve(
        &self,
        _: UserId,
        _: SessionId,
        _: &str,
    ) -> Result<AccessContext, SourceError> {
        Ok(self.0.clone())
    }
    async fn session_active(&self, _: UserId, _: SessionId) -> Result<bool, SourceError> {
        Ok(true)
    }
}

struct Fixture {
    encoding: EncodingKey,
    jwk: serde_json::Value,
    user: UserId,
    session: SessionId,
    context: AccessContext,
}

fn fixture() -> Result<Fixture, Box<dyn std::error::Error>> {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())?;
    let public = pair.public_key().as_ref();
    let jwk = serde_json::json!({
        "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": "bench",
        "x": URL_SAFE_NO_PAD.encode(public.get(1..33).ok_or("key")?),
        "y": URL_SAFE_NO_PAD.encode(public.get(33..65).ok_or("key")?),
    });
    let (user, session) = (UserId::new(), SessionId::new());
    let modules: std::collections::BTreeSet<ModuleKey> = ["company", "core", "finance"]
        .iter()
        .map(|m| ModuleKey::new(m))
        .collect::<Result<_, _>>()?;
    let mut permissions = PermissionSet::new();
    for p in [
        "finance.invoices.read",
        "finance.invoices.write",
        "finance.budgets.*",
    ] {
        permissions.insert(PermissionPattern::new(p)?);
    }
    let context = AccessContext {
        user_id: user,
        session_id: session,
        company_id: CompanyId::new(),
        membership_id: MembershipId::new(),
        roles: vec![],
        modules: modules.clone(),
        entitled_modules: modules,
        permissions,
        core_app_visible: true,
        access_version: 1,
        entitlement_version: 1,
        computed_at: SystemClock.now(),
        valid_until: None,
        entitlement_certificate: None,
        aal: Default::default(),
    };
    Ok(Fixture {
        encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
        jwk,
        user,
        session,
        context,
    })
}

fn token(f: &Fixture) -> String {
    let mut header = Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some("bench".into());
    header.typ = Some("at+jwt".into());
    let claims = Claims::new(
        ISS,
        AUD,
        f.user,
        f.session,
        SystemClock.now(),
        chrono::TimeDelta::minutes(10),
    );
    jsonwebtoken::encode(&header, &claims, &f.encoding).unwrap_or_default()
}

fn request(token: &str) -> Request<Full<Bytes>> {
    let mut req = Request::new(Full::new(Bytes::new()));
    if let Ok(v) = http::HeaderValue::from_str(&format!("Bearer {token}")) {
        req.headers_mut().insert(http::header::AUTHORIZATION, v);
    }
    req.headers_mut()
        .insert("x-org", http::HeaderValue::from_static("acme"));
    req
}

async fn handler(_req: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"[]"))))
}

#[expect(
    clippy::expect_used,
    reason = "a bench whose fixture cannot be built is a failure, not a skipped bench"
)]
fn benches(c: &mut Criterion) {
    let f = fixture().expect("the fixture");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let jwks =
        serde_json::from_value(serde_json::json!({"keys": [f.jwk.clone()]})).expect("the key set");
    let guard = AccessGuard::with_sources(
        Arc::new(StaticJwks::new(jwks)),
        Arc::new(OneContext(f.context.clone())),
    )
    .issuer(ISS)
    .audience(AUD)
    .build()
    .expect("the guard");
    let read = Require::permission("finance.invoices.read").expect("the requirement");
    let bare = tower::service_fn(handler);
    let guarded = guard.require(read).layer(tower::service_fn(handler));
    let warm = token(&f);
    // Warm the keys, the verified-token cache and the context cache.
    let status = rt
        .block_on(guarded.clone().oneshot(request(&warm)))
        .map(|r| r.status());
    assert!(
        matches!(status, Ok(s) if s.is_success()),
        "guarded request refused: {status:?}"
    );

    let mut g = c.benchmark_group("guard");
    g.bench_function("bare", |b| {
        let mut svc = bare;
        b.iter(|| rt.block_on(async { black_box(svc.call(request(&warm)).await) }));
    });
    g.bench_function("warm", |b| {
        let mut svc = guarded.clone();
        b.iter(|| rt.block_on(async { black_box(svc.call(request(&warm)).await) }));
    });
    g.bench_function("first_sight", |b| {
        let mut svc = guarded.clone();
        b.iter_batched(
            || request(&token(&f)),
            |req| rt.block_on(async { black_box(svc.call(req).await) }),
            BatchSize::SmallInput,
        );
    });
    g.finish();

    let jwk = serde_json::from_value(f.jwk.clone()).expect("the JWK");
    let decoding = jsonwebtoken::DecodingKey::from_jwk(&jwk).expect("the decoding key");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_issuer(&[ISS]);
    validation.set_audience(&[AUD]);
    c.bench_function("jwt/decode_es256", |b| {
        b.iter(|| {
            black_box(jsonwebtoken::decode::<Claims>(
                black_box(&warm),
                &decoding,
                &validation,
            ))
        })
    });
}

criterion_group! {
    name = guard;
    config = Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = benches
}
criterion_main!(guard);
