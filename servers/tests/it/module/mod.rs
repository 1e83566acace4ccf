//! The reference `finance` backend and the demo data of `kisum dev`, wired as `kisum dev` wires
//! them (SQLite files in a data directory, Auth and Core in process, the guard over the
//! in-process access source, Core's events delivered to the guard) and driven over HTTP with
//! tokens obtained by signing in with the seeded demo credentials.
//!
//! Password hashing (argon2id, default parameters) is slow in debug builds: each test signs in
//! each user it needs once and reuses the token.
//!
//! This module holds the shared fixture (`Dev` and the invoice helpers; what every deployment
//! offers, sign-in included, is [`stack::Stack`]); the tests live in the submodules and speak
//! HTTP through [`crate::client`].

mod admin;
mod api_keys;
mod console;
mod dev_seed;
mod invoices;
mod refusals;
mod stack;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, header};
use kisum_auth::keys::{GeneratedKey, KeyRing, SigningAlgorithm, SigningKey, generate};
use kisum_core::EntitlementService;
use kisum_core::admin::CoreAdmin;
use kisum_guard::{AccessGuard, Clock, ServiceKeys, SystemClock};
use kisum_servers::app::{self, AuthApp, AuthBuilder, CountedEvents, LocalEvents};
use kisum_servers::module::{self, InvoiceDb};
use kisum_servers::ops::HttpSettings;
use kisum_servers::{openapi, seed};
use serde_json::Value;

use crate::client::{Reply, call, request, send};

/// What `kisum dev` uses with its default listener.
const ISSUER: &str = "http://127.0.0.1:8080";
const AUDIENCE: &str = "kisum";
const INVOICES: &str = "/v1/finance/invoices";

/// One `kisum dev` process over the data directory it was started on.
struct Dev {
    /// Auth's public router.
    auth: Router,
    /// The `finance` backend as `kisum dev` serves it (ops endpoints and layers included).
    finance: Router,
    built: AuthApp,
    /// Auth's store (platform roles are granted in it).
    store: Arc<dyn kisum_auth::AuthStore>,
    core: CoreAdmin,
    /// Core's internal API as `kisum dev` serves it (licences included), with the service key
    /// [`stack::DEV_SERVICE_KEY`].
    core_internal: Router,
    guard: AccessGuard,
    clock: Arc<dyn Clock>,
    seeded: seed::Seeded,
    /// The data directory.
    dir: PathBuf,
}

fn sqlite_url(dir: &Path, file: &str) -> String {
    format!("sqlite://{}", dir.join(file).display())
}

impl Dev {
    /// Starts as `kisum dev --data-dir dir` does (see `servers/src/run.rs`), seeding included.
    async fn start(dir: &Path) -> Self {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let GeneratedKey { kid, pem } =
            generate(SigningAlgorithm::Es256, clock.now().date_naive()).unwrap();
        let key = SigningKey::from_pem(&kid, &pem, Path::new("mem")).unwrap();
        let service_keys =
            ServiceKeys::new([("dev".to_owned(), stack::DEV_SERVICE_KEY.to_owned())]).unwrap();

        let stores = app::open_core_store(&sqlite_url(dir, "core.db"))
            .await
            .unwrap();
        let entitlements = EntitlementService::new(stores.store, clock.clone());
        let licensing = app::licensing(
            stores.licenses,
            stores.audit.clone(),
            &entitlements,
            None,
            clock.clone(),
        );
        let events = LocalEvents::default();
        let core = CoreAdmin::new(
            entitlements.clone(),
            clock.clone(),
            stores.audit,
            Arc::new(CountedEvents(events.clone())),
        );

        let store = app::open_auth_store(&sqlite_url(dir, "auth.db"))
            .await
            .unwrap();
        let built = AuthBuilder::new(
            store.clone(),
            KeyRing::new(&kid, [key]).unwrap(),
            ISSUER,
            AUDIENCE,
            Arc::new(entitlements),
        )
        .events(Arc::new(events.clone()))
        .rate_limiter(app::rate_limiter(None, clock.clone()).await.unwrap())
        .service_keys(service_keys.clone())
        // Authenticator apps, so a platform administrator can reach `aal2`.
        .secret_box(Arc::new(
            kisum_auth::secrets::SecretBox::parse(
                "k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
            )
            .unwrap(),
        ))
        .email(
            Arc::new(kisum_auth::email::MemoryEmailSender::new()),
            ISSUER,
        )
        .tuning(kisum_servers::config::AuthTuning::default())
        .clock(clock.clone())
        .build()
        .unwrap();

        let db = InvoiceDb::open(&sqlite_url(dir, "finance.db"))
            .await
            .unwrap();
        let guard = app::build_guard(app::guard_builder(
            ISSUER,
            AUDIENCE,
            Duration::from_secs(30),
            Arc::new(built.tokens.clone()),
            Arc::new(built.state.access.clone()),
            None,
            clock.clone(),
        ))
        .unwrap();
        events.subscribe(guard.clone());

        let seeded = seed::seed(&built.state.auth, &built.state.admin, &core)
            .await
            .unwrap();

        // The administration routes reach Core in process with the service key, as in
        // `kisum dev`.
        let core_internal = kisum_core::internal_router(
            kisum_core::CoreState::new(core.clone(), service_keys).with_licenses(licensing.service),
        );
        let core_link = Arc::new(kisum_auth::http::admin::InProcessCore::new(
            core_internal.clone(),
            stack::DEV_SERVICE_KEY,
        ));
        let mut dev = Self {
            // The console as `kisum dev` mounts it: inside `with_core`, plain HTTP cookies.
            auth: kisum_auth::http::admin::with_core(
                kisum_auth::http::public_router(built.state.clone()).merge(
                    kisum_auth::console::router(
                        built.state.clone(),
                        kisum_auth::console::ConsoleConfig {
                            secure_cookies: false,
                        },
                    ),
                ),
                core_link,
            ),
            store,
            finance: Router::new(),
            built,
            core,
            core_internal,
            guard,
            clock,
            seeded,
            dir: dir.to_owned(),
        };
        dev.finance = dev.finance_over(db);
        dev
    }

    /// The `finance` backend of this process over the invoice store `db`.
    fn finance_over(&self, db: InvoiceDb) -> Router {
        app::finish(
            module::router("finance", &self.guard, db.clone(), self.clock.clone())
                .unwrap()
                .merge(openapi::router(openapi::module("finance"))),
            app::module_readiness(db, self.guard.clone(), None),
            &HttpSettings::default(),
        )
        .unwrap()
    }
}

/// `POST /v1/finance/invoices` with a raw body and content type.
async fn post_raw(
    app: &Router,
    token: &str,
    content_type: Option<&str>,
    body: impl Into<Body>,
) -> Reply {
    let mut r = request(Method::POST, INVOICES, Some(token), Some("acme"));
    if let Some(c) = content_type {
        r = r.header(header::CONTENT_TYPE, c);
    }
    call(app, r.body(body.into()).unwrap()).await
}

async fn list(app: &Router, token: &str, org: &str) -> Reply {
    send(app, Method::GET, INVOICES, Some(token), Some(org), None).await
}

async fn create(app: &Router, token: &str, org: &str, body: Value) -> Reply {
    send(
        app,
        Method::POST,
        INVOICES,
        Some(token),
        Some(org),
        Some(body),
    )
    .await
}

async fn get_one(app: &Router, token: &str, org: &str, id: &str) -> Reply {
    let uri = format!("{INVOICES}/{id}");
    send(app, Method::GET, &uri, Some(token), Some(org), None).await
}

/// The company `slug` among the memberships of a `GET /v1/auth/me` answer.
fn membership<'a>(me: &'a Value, slug: &str) -> &'a Value {
    me["memberships"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["company_slug"] == slug)
        .unwrap_or_else(|| panic!("no membership in `{slug}`: {me}"))
}

fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

/// Asserts the invoice shape of the OpenAPI document (`Invoice`): exactly these fields, a
/// UUIDv7 id, RFC 3339 UTC time.
#[track_caller]
fn assert_invoice(
    v: &Value,
    company: &str,
    created_by: &str,
    number: i64,
    customer: &str,
    amount_cents: i64,
    currency: &str,
) {
    assert_eq!(
        keys(v),
        set(&[
            "id",
            "company_id",
            "number",
            "customer",
            "amount_cents",
            "currency",
            "created_by",
            "created_at",
        ]),
        "{v}"
    );
    let id: uuid::Uuid = v["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(id.get_version_num(), 7, "{v}");
    assert_eq!(v["company_id"], company, "{v}");
    assert_eq!(v["created_by"], created_by, "{v}");
    assert_eq!(v["number"], number, "{v}");
    assert_eq!(v["customer"], customer, "{v}");
    assert_eq!(v["amount_cents"], amount_cents, "{v}");
    assert_eq!(v["currency"], currency, "{v}");
    let at = v["created_at"].as_str().unwrap();
    assert!(at.ends_with('Z'), "UTC: {at}");
    let at = chrono::DateTime::parse_from_rfc3339(at).unwrap();
    let age = SystemClock.now().signed_duration_since(at);
    assert!(
        age >= chrono::TimeDelta::zero() && age < chrono::TimeDelta::minutes(5),
        "created now: {at}"
    );
}

/// The data directory of one test.
fn data_dir() -> PathBuf {
    crate::temp_dir("module")
}
