//! Access while Core is unreachable, from Core's signed company certificate (decision 0023):
//! a real Core internal router on a socket (stopped mid-test), Auth over it through
//! `RemoteEntitlements`, the seeded demo data, and the `finance` and `market` module routers
//! behind guards built with and without Core's certificate keys — on memory, SQLite and
//! PostgreSQL stores.
//!
//! `acme` is entitled to `core` and `finance` (not `market`); its owner holds every module it
//! is entitled to.

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::signature::Ed25519KeyPair;
use axum::Router;
use axum::http::{Method, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kisum_auth::http::admin::{CoreLink, HttpCore};
use kisum_auth::keys::{GeneratedKey, KeyRing, SigningAlgorithm, SigningKey, generate};
use kisum_auth::{AuthStore, MemoryAuthStore};
use kisum_core::admin::CoreAdmin;
use kisum_core::certificate::CertificateSigner;
use kisum_core::{CoreAudit, CoreState, CoreStore, EntitlementService, MemoryCoreAudit};
use kisum_core::{MemoryCoreStore, internal_router};
use kisum_guard::certificate::{CertificateEnvelope, CertificateKeys, CertificatePayload};
use kisum_guard::source::{AccessSource, SourceError};
use kisum_guard::{
    AccessContext, AccessGuard, Clock, CompanyId, ManualClock, NoEvents, ServiceKeys, SessionId,
    UserId,
};
use kisum_servers::app::{self, AuthBuilder};
use kisum_servers::module::{self, InvoiceDb};
use kisum_servers::seed;
use serde_json::json;
use tokio::net::TcpListener;

use crate::client::{Reply, send};

const ISSUER: &str = "http://auth.test";
const AUDIENCE: &str = "kisum";
const SERVICE_KEY: &str = "0123456789abcdef0123456789";
/// Core's certificate lifetime here: short, so that a token outlives it.
const CERT_TTL: Duration = Duration::from_secs(120);

/// Where Auth and Core keep their data.
#[derive(Clone, Copy)]
enum Backend {
    Memory,
    Sqlite,
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Postgres,
}

impl Backend {
    async fn url(self) -> String {
        match self {
            Self::Memory => unreachable!("the memory stores have no URL"),
            Self::Sqlite => kisum_core::testkit::db::sqlite_url(),
            #[cfg(feature = "postgres")]
            Self::Postgres => kisum_core::testkit::db::postgres_url().await,
            #[cfg(not(feature = "postgres"))]
            Self::Postgres => unreachable!("built without postgres"),
        }
    }

    async fn stores(self) -> (Arc<dyn AuthStore>, Arc<dyn CoreStore>, Arc<dyn CoreAudit>) {
        if let Self::Memory = self {
            return (
                Arc::new(MemoryAuthStore::new()),
                Arc::new(MemoryCoreStore::new()),
                Arc::new(MemoryCoreAudit::new()),
            );
        }
        let auth = app::open_auth_store(&self.url().await).await.unwrap();
        let core = app::open_core_store(&self.url().await).await.unwrap();
        (auth, core.store, core.audit)
    }
}

/// Core on a socket, Auth over it, the demo data.
struct Fallback {
    auth: Router,
    access: kisum_auth::AccessService,
    tokens: kisum_auth::tokens::TokenService,
    keys: CertificateKeys,
    signer: Arc<CertificateSigner>,
    core: EntitlementService,
    clock: Arc<ManualClock>,
    /// Core's internal URL.
    core_url: String,
    /// The administration routes' link to Core, on the entitlements' own client.
    core_link: HttpCore,
    stop_core: Option<(
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    )>,
}

impl Fallback {
    async fn start(backend: Backend) -> Self {
        let clock = Arc::new(ManualClock::new(kisum_guard::SystemClock.now()));
        let dyn_clock: Arc<dyn Clock> = clock.clone();
        let (auth_store, core_store, core_audit) = backend.stores().await;
        let service_keys = ServiceKeys::new([("it".to_owned(), SERVICE_KEY.to_owned())]).unwrap();

        // Core, signing certificates, on its own socket.
        let core = EntitlementService::new(core_store, dyn_clock.clone());
        let admin = CoreAdmin::new(
            core.clone(),
            dyn_clock.clone(),
            core_audit,
            Arc::new(NoEvents),
        );
        let signer = Arc::new(
            CertificateSigner::new(
                "k1",
                [("k1".to_owned(), Ed25519KeyPair::generate().unwrap())],
                dyn_clock.clone(),
            )
            .unwrap()
            .with_ttl(CERT_TTL),
        );
        let keys = signer.public_keys();
        let router = internal_router(
            CoreState::new(admin.clone(), service_keys.clone()).with_certificates(signer.clone()),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let core_url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });

        // Auth, with Core over HTTP.
        let GeneratedKey { kid, pem } =
            generate(SigningAlgorithm::Es256, clock.now().date_naive()).unwrap();
        let key = SigningKey::from_pem(&kid, &pem, std::path::Path::new("mem")).unwrap();
        let entitlements = kisum_auth::remote::RemoteEntitlements::new(&core_url, SERVICE_KEY)
            .unwrap()
            .with_clock(dyn_clock.clone());
        let core_link = HttpCore::new(entitlements.core_client());
        let built = AuthBuilder::new(
            auth_store,
            KeyRing::new(&kid, [key]).unwrap(),
            ISSUER,
            AUDIENCE,
            Arc::new(entitlements),
        )
        .rate_limiter(app::rate_limiter(None, dyn_clock.clone()).await.unwrap())
        .service_keys(service_keys)
        .email(
            Arc::new(kisum_auth::email::MemoryEmailSender::new()),
            ISSUER,
        )
        .clock(dyn_clock.clone())
        .build()
        .unwrap();
        seed::seed(&built.state.auth, &built.state.admin, &admin)
            .await
            .unwrap();
        Self {
            auth: kisum_auth::http::public_router(built.state.clone()),
            access: built.state.access.clone(),
            tokens: built.tokens.clone(),
            keys,
            signer,
            core,
            clock,
            core_url,
            core_link,
            stop_core: Some((stop, served)),
        }
    }

    /// Stops Core: its listener closes and its connections end.
    async fn stop_core(&mut self) {
        let (stop, served) = self.stop_core.take().unwrap();
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), served)
            .await
            .unwrap()
            .unwrap();
    }

    /// `GET /v1/auth/me/access` in `acme`.
    async fn me_access(&self, token: &str) -> Reply {
        send(
            &self.auth,
            Method::GET,
            "/v1/auth/me/access",
            Some(token),
            Some("acme"),
            None,
        )
        .await
    }

    async fn owner(&self) -> String {
        let r = send(
            &self.auth,
            Method::POST,
            "/v1/auth/login",
            None,
            None,
            Some(json!({"email": seed::OWNER_EMAIL, "password": seed::DEMO_PASSWORD})),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.body["access_token"].as_str().unwrap().to_owned()
    }

    /// The `finance` and `market` module routers behind a new guard (empty caches) over
    /// `source`, with Core's certificate keys when `certified`, reading `clock`.
    async fn modules_over(
        &self,
        source: Arc<dyn AccessSource>,
        certified: bool,
        clock: Arc<dyn Clock>,
    ) -> Router {
        let mut builder = app::guard_builder(
            ISSUER,
            AUDIENCE,
            Duration::from_secs(30),
            Arc::new(self.tokens.clone()),
            source,
            None,
            clock.clone(),
        );
        if certified {
            builder = builder.certified_entitlements(self.keys.clone());
        }
        let guard: AccessGuard = app::build_guard(builder).unwrap();
        let db = InvoiceDb::open("memory").await.unwrap();
        module::router("finance", &guard, db.clone(), clock.clone())
            .unwrap()
            .merge(module::router("market", &guard, db, clock).unwrap())
    }

    /// [`modules_over`](Self::modules_over) Auth itself, on the shared clock.
    async fn modules(&self, certified: bool) -> Router {
        self.modules_over(Arc::new(self.access.clone()), certified, self.clock.clone())
            .await
    }
}

/// The administration routes reach Core over HTTP on the client the entitlements use
/// (`RemoteEntitlements::core_client`): Core's answers pass through as they are (a key it does
/// not know is its own 401), and a stopped Core is an error, which the routes turn into 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_link_to_core_shares_the_entitlements_client() {
    let mut f = Fallback::start(Backend::Memory).await;
    let modules = f
        .core_link
        .call(
            Method::GET,
            "/internal/v1/modules",
            None,
            Some("req-admin-link"),
        )
        .await
        .unwrap();
    assert_eq!(modules.status, StatusCode::OK, "{}", modules.body);
    assert!(
        modules
            .body
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["key"] == "finance"),
        "{}",
        modules.body
    );
    // A JSON body reaches Core: an invalid module is Core's own 422, naming the field.
    let invalid = f
        .core_link
        .call(
            Method::PUT,
            "/internal/v1/modules/ledger",
            Some(&json!({"name": "", "kind": "business", "permissions": []})),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        invalid.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        invalid.body
    );
    let stranger = HttpCore::new(
        kisum_auth::remote::CoreClient::new(&f.core_url, "not-the-service-key-0123456789").unwrap(),
    );
    let refused = stranger
        .call(Method::GET, "/internal/v1/modules", None, None)
        .await
        .unwrap();
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.body);
    f.stop_core().await;
    assert!(
        f.core_link
            .call(Method::GET, "/internal/v1/modules", None, None)
            .await
            .is_err()
    );
}

/// Past the certificate's `exp` and the 30 s leeway.
fn past_expiry() -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(CERT_TTL).unwrap() + chrono::TimeDelta::seconds(31)
}

async fn invoices(app: &Router, token: &str, module: &str) -> Reply {
    let uri = format!("/v1/{module}/invoices");
    send(app, Method::GET, &uri, Some(token), Some("acme"), None).await
}

/// Auth's contexts, each changed by `change` on the way to the guard: what a guard must not
/// trust without checking.
struct Altered<F> {
    auth: kisum_auth::AccessService,
    change: F,
}

#[async_trait::async_trait]
impl<F> AccessSource for Altered<F>
where
    F: Fn(&mut AccessContext) + Send + Sync + 'static,
{
    async fn resolve(
        &self,
        user_id: UserId,
        session_id: SessionId,
        org: &str,
    ) -> Result<AccessContext, SourceError> {
        let mut context = AccessSource::resolve(&self.auth, user_id, session_id, org).await?;
        (self.change)(&mut context);
        Ok(context)
    }

    async fn session_active(
        &self,
        user_id: UserId,
        session_id: SessionId,
    ) -> Result<bool, SourceError> {
        self.auth.session_active(user_id, session_id).await
    }
}

/// The certificate carried by `context` with its payload changed by `change`, re-armoured
/// under the original signature.
fn tampered(context: &mut AccessContext, change: impl FnOnce(&mut CertificatePayload)) {
    let text = context.entitlement_certificate.as_deref().unwrap();
    let mut envelope = CertificateEnvelope::parse(text).unwrap();
    let mut payload: CertificatePayload =
        serde_json::from_slice(&STANDARD.decode(&envelope.enc).unwrap()).unwrap();
    change(&mut payload);
    envelope.enc = STANDARD.encode(serde_json::to_vec(&payload).unwrap());
    context.entitlement_certificate = Some(envelope.armour());
}

/// (a)–(d): Core up, then down with a certificate held by Auth, guards with and without keys,
/// and the certificate's expiry.
async fn core_down_enforces_the_certificate(backend: Backend) {
    let mut f = Fallback::start(backend).await;
    let token = f.owner().await;

    // (a) Core up: decided from Core, no certificate in the context.
    let with_keys = f.modules(true).await;
    let r = invoices(&with_keys, &token, "finance").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    invoices(&with_keys, &token, "market")
        .await
        .assert_problem(StatusCode::FORBIDDEN, "module_not_entitled");
    let me = f.me_access(&token).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert!(
        me.body.get("entitlement_certificate").is_none(),
        "{}",
        me.body
    );

    f.stop_core().await;

    // Auth's own answer says where the entitlements came from.
    let me = f.me_access(&token).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    let carried = me.body["entitlement_certificate"].as_str().unwrap();
    assert!(
        carried.starts_with(kisum_guard::certificate::BEGIN),
        "{carried}"
    );

    // (b) Core down: a guard with Core's keys decides from the certificate Auth holds.
    let with_keys = f.modules(true).await;
    let r = invoices(&with_keys, &token, "finance").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    invoices(&with_keys, &token, "market")
        .await
        .assert_problem(StatusCode::FORBIDDEN, "module_not_entitled");

    // (c) A guard without the keys treats such access as unavailable.
    let without_keys = f.modules(false).await;
    invoices(&without_keys, &token, "finance")
        .await
        .assert_problem(StatusCode::SERVICE_UNAVAILABLE, "access_unavailable");

    // (d) Expiry, by the guard's clock alone: Auth still offers the certificate, the guard
    // refuses it (the token, valid 15 minutes, still verifies).
    let guard_clock = Arc::new(ManualClock::new(f.clock.now()));
    let later = f
        .modules_over(Arc::new(f.access.clone()), true, guard_clock.clone())
        .await;
    guard_clock.advance(past_expiry());
    invoices(&later, &token, "finance")
        .await
        .assert_problem(StatusCode::SERVICE_UNAVAILABLE, "access_unavailable");
    // … and by every clock: Auth no longer offers it either.
    f.clock.advance(past_expiry());
    let with_keys = f.modules(true).await;
    invoices(&with_keys, &token, "finance")
        .await
        .assert_problem(StatusCode::SERVICE_UNAVAILABLE, "access_unavailable");
}

/// (e) and (f): a context whose certificate was altered, or is another company's.
async fn altered_certificates_are_unavailable(backend: Backend) {
    let mut f = Fallback::start(backend).await;
    let token = f.owner().await;
    // Auth fetches and holds acme's certificate while Core answers.
    let with_keys = f.modules(true).await;
    assert_eq!(
        invoices(&with_keys, &token, "finance").await.status,
        StatusCode::OK
    );
    // A genuine certificate of another company, signed by Core's key now.
    let other = f
        .signer
        .sign_company(&f.core.entitlements(CompanyId::new()).await.unwrap())
        .unwrap();
    f.stop_core().await;

    // (e) `market` added to the carried certificate's modules (and to the context).
    let market = kisum_guard::ModuleKey::new("market").unwrap();
    let added = market.clone();
    let tamper = Arc::new(Altered {
        auth: f.access.clone(),
        change: move |c: &mut AccessContext| {
            tampered(c, |p| p.modules.push(added.clone()));
            c.entitled_modules.insert(added.clone());
            c.modules.insert(added.clone());
        },
    });
    let app = f.modules_over(tamper, true, f.clock.clone()).await;
    for module in ["finance", "market"] {
        invoices(&app, &token, module)
            .await
            .assert_problem(StatusCode::SERVICE_UNAVAILABLE, "access_unavailable");
    }

    // (f) Another company's genuine certificate in acme's context.
    let swap = Arc::new(Altered {
        auth: f.access.clone(),
        change: move |c: &mut AccessContext| {
            c.entitlement_certificate = Some(other.clone());
        },
    });
    let app = f.modules_over(swap, true, f.clock.clone()).await;
    invoices(&app, &token, "finance")
        .await
        .assert_problem(StatusCode::SERVICE_UNAVAILABLE, "access_unavailable");

    // The genuine context still passes through the same kind of source.
    let untouched = Arc::new(Altered {
        auth: f.access.clone(),
        change: |_: &mut AccessContext| {},
    });
    let app = f.modules_over(untouched, true, f.clock.clone()).await;
    assert_eq!(
        invoices(&app, &token, "finance").await.status,
        StatusCode::OK
    );
}

mod memory {
    use super::Backend;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn core_down_enforces_the_certificate() {
        super::core_down_enforces_the_certificate(Backend::Memory).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn attack_a_tampered_certificate_in_a_context_is_not_accepted() {
        super::altered_certificates_are_unavailable(Backend::Memory).await;
    }
}

mod sqlite {
    use super::Backend;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn core_down_enforces_the_certificate() {
        super::core_down_enforces_the_certificate(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn attack_a_tampered_certificate_in_a_context_is_not_accepted() {
        super::altered_certificates_are_unavailable(Backend::Sqlite).await;
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::Backend;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs PostgreSQL: set KISUM_TEST_DATABASE_URL and run with --include-ignored"]
    async fn core_down_enforces_the_certificate() {
        super::core_down_enforces_the_certificate(Backend::Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs PostgreSQL: set KISUM_TEST_DATABASE_URL and run with --include-ignored"]
    async fn attack_a_tampered_certificate_in_a_context_is_not_accepted() {
        super::altered_certificates_are_unavailable(Backend::Postgres).await;
    }
}
