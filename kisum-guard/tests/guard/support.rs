//! Test support: signing keys, token minting, a fake access source, a test app.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::routing::{get, post};
use kisum_guard::guard::{AccessGuardBuilder, GuardConfig};
use kisum_guard::jwks::JwksSource;
use kisum_guard::source::AccessSource;
use kisum_guard::testing::member_context;
use kisum_guard::{
    Access, AccessContext, AccessGuard, Claims, Clock as _, CompanyId, Principal, Require,
    SessionId, UserId,
};
use tower::ServiceExt as _;

pub use kisum_guard::testing::{
    FakeSource, TEST_AUDIENCE as AUD, TEST_ISSUER as ISS, TestAuth, TestJwks, TestKey,
    jwk_set as jwks,
};

pub fn now() -> chrono::DateTime<chrono::Utc> {
    kisum_guard::SystemClock.now()
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

/// A source that is down.
pub fn down_source() -> Arc<FakeSource> {
    let source = FakeSource::new();
    source.set_down(true);
    Arc::new(source)
}

pub fn context(
    user: UserId,
    session: SessionId,
    company: CompanyId,
    modules: &[&str],
    entitled: &[&str],
    permissions: &[&str],
) -> AccessContext {
    member_context(user, session, company, modules, entitled, permissions).unwrap()
}

/// A guard over the test kit's Auth, with one signed-in member of `acme` who may read
/// finance invoices (and is entitled to, but not granted, `market`).
pub struct World {
    pub auth: TestAuth,
    pub jwks: Arc<TestJwks>,
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
        g: impl FnOnce(AccessGuardBuilder) -> AccessGuardBuilder,
    ) -> Self {
        let auth = TestAuth::new().unwrap();
        let guard = g(auth.guard().configure(f)).build().unwrap();
        let (user, session, company) = (UserId::new(), SessionId::new(), CompanyId::new());
        auth.source().grant(
            "acme",
            context(
                user,
                session,
                company,
                &["company", "finance"],
                &["company", "core", "finance", "market"],
                &["finance.invoices.read"],
            ),
        );
        let token = auth.token(user, session).unwrap();
        Self {
            jwks: auth.jwks().clone(),
            source: auth.source().clone(),
            auth,
            guard,
            user,
            session,
            company,
            token,
        }
    }

    /// A context of `user`'s `session` in this world's company that reads finance invoices
    /// (company and finance granted and entitled), as a shared tier would hold it.
    pub fn reader_context(&self, user: UserId, session: SessionId) -> AccessContext {
        let modules = ["company", "finance"];
        context(
            user,
            session,
            self.company,
            &modules,
            &modules,
            &["finance.invoices.read"],
        )
    }

    pub fn key(&self) -> &TestKey {
        self.auth.key()
    }

    pub fn context(&self) -> AccessContext {
        self.source.context(self.session).unwrap()
    }

    pub fn set_context(&self, f: impl FnMut(&mut AccessContext)) {
        self.source.update(self.session, f);
    }

    pub fn app(&self) -> Router {
        app(&self.guard)
    }
}

/// `GET /invoices` for `acme` with `token` (`finance.invoices.read`).
pub async fn invoices(app: &Router, token: &str) -> Answer {
    call(app, "/invoices", Some(token), Some("acme")).await
}

/// The status of [`invoices`].
pub async fn invoices_status(app: &Router, token: &str) -> StatusCode {
    invoices(app, token).await.status
}

/// A guard over `jwks` and `source` with the test issuer and audience.
pub fn guard_over(jwks: Arc<dyn JwksSource>, source: Arc<dyn AccessSource>) -> AccessGuardBuilder {
    AccessGuard::with_sources(jwks, source)
        .issuer(ISS)
        .audience(AUD)
}

/// Sign with the test key, unwrapped.
pub trait SignExt {
    fn signed(&self, claims: &Claims) -> String;
}

impl SignExt for TestKey {
    fn signed(&self, claims: &Claims) -> String {
        self.sign(claims).unwrap()
    }
}

/// One router per requirement, each under `Router::route_layer`.
pub fn app(guard: &AccessGuard) -> Router {
    let guarded = |require: Require, routes: Router| routes.route_layer(guard.require(require));
    let invoices = || {
        get(|p: Principal, a: Access| async move {
            format!("{} {} {}", p.user_id, a.company_id, a.access_version)
        })
    };
    let read = || Require::permission("finance.invoices.read").unwrap();
    let write = || Require::permission("finance.invoices.write").unwrap();
    Router::new()
        .merge(guarded(
            read(),
            Router::new().route("/invoices", invoices()),
        ))
        .merge(guarded(
            write(),
            Router::new().route("/invoices/new", post(|| async { "created" })),
        ))
        .merge(guarded(
            Require::any_permission(["finance.invoices.write", "finance.invoices.read"]).unwrap(),
            Router::new().route("/any", get(|| async { "any" })),
        ))
        .merge(guarded(
            Require::module("market").unwrap(),
            Router::new().route("/market", get(|| async { "market" })),
        ))
        .merge(guarded(
            Require::module("touring").unwrap(),
            Router::new().route("/touring", get(|| async { "touring" })),
        ))
        // The company from the path instead of `X-Org`.
        .merge(guarded(
            read().org_in_path("org"),
            Router::new().route("/companies/{org}/invoices", invoices()),
        ))
        .merge(guarded(
            write().org_in_path("company"),
            Router::new().route(
                "/companies/{company}/invoices/new",
                post(|| async { "created" }),
            ),
        ))
        .merge(guarded(
            Require::authenticated(),
            Router::new()
                .route(
                    "/me",
                    get(|p: Principal| async move { p.user_id.to_string() }),
                )
                .route(
                    "/me/access",
                    get(|a: Access| async move { a.company_id.to_string() }),
                ),
        ))
        .merge(guarded(
            Require::optional(),
            Router::new().route(
                "/public",
                get(|p: Option<Principal>| async move {
                    p.map_or_else(|| "anonymous".to_owned(), |p| p.user_id.to_string())
                }),
            ),
        ))
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

    /// Asserts the answer is `status` with the problem code `code`.
    #[track_caller]
    pub fn assert_problem(&self, status: StatusCode, code: &str) {
        assert_eq!(
            (self.status, self.code().as_str()),
            (status, code),
            "{}",
            self.body
        );
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
