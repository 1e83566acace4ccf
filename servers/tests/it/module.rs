//! The reference `finance` backend and the demo data of `kisum dev`, wired as `kisum dev` wires
//! them (SQLite files in a data directory, Auth and Core in process, the guard over the
//! in-process access source, Core's events delivered to the guard) and driven over HTTP with
//! tokens obtained by signing in with the seeded demo credentials.
//!
//! Password hashing (argon2id, default parameters) is slow in debug builds: each test signs in
//! each user it needs once and reuses the token.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use kisum_auth::keys::{KeyRing, SigningAlgorithm, SigningKey, generate};
use kisum_core::admin::{Actor, CoreAdmin};
use kisum_core::{CompanyAddOn, EntitlementService, ModuleKind, SubscriptionStatus};
use kisum_guard::{AccessGuard, AddOnKey, Clock, CompanyId, ServiceKeys, SystemClock};
use kisum_servers::app::{self, AuthApp, AuthParts, CountedEvents, LocalEvents};
use kisum_servers::module::{self, InvoiceDb};
use kisum_servers::ops::HttpSettings;
use kisum_servers::{openapi, seed};
use serde_json::{Value, json};
use tower::ServiceExt as _;

/// What `kisum dev` uses with its default listener.
const ISSUER: &str = "http://127.0.0.1:8080";
const AUDIENCE: &str = "kisum";
const INVOICES: &str = "/v1/finance/invoices";
const PROBLEM_JSON: &str = "application/problem+json";

/// One `kisum dev` process over the data directory it was started on.
struct Dev {
    /// Auth's public router.
    auth: Router,
    /// The `finance` backend as `kisum dev` serves it (ops endpoints and layers included).
    finance: Router,
    built: AuthApp,
    core: CoreAdmin,
    guard: AccessGuard,
    clock: Arc<dyn Clock>,
    seeded: seed::Seeded,
}

fn sqlite_url(dir: &Path, file: &str) -> String {
    format!("sqlite://{}", dir.join(file).display())
}

impl Dev {
    /// Starts as `kisum dev --data-dir dir` does (see `servers/src/run.rs`), seeding included.
    async fn start(dir: &Path) -> Self {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let (kid, pem) = generate(SigningAlgorithm::Es256, clock.now().date_naive()).unwrap();
        let key = SigningKey::from_pem(&kid, &pem, Path::new("mem")).unwrap();
        let service_keys =
            ServiceKeys::new([("dev".to_owned(), "0123456789abcdef0123456789".to_owned())])
                .unwrap();

        let stores = app::open_core_store(&sqlite_url(dir, "core.db"))
            .await
            .unwrap();
        let entitlements = EntitlementService::new(stores.store, clock.clone());
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
        let built = app::build_auth(AuthParts {
            store,
            keys: KeyRing::new(&kid, [key]).unwrap(),
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            entitlements: Arc::new(entitlements),
            events: Arc::new(events.clone()),
            limiter: app::rate_limiter(None, clock.clone()).await.unwrap(),
            service_keys,
            email: Some(Arc::new(kisum_auth::email::MemoryEmailSender::new())),
            public_url: ISSUER.into(),
            tuning: kisum_servers::config::AuthTuning::default(),
            clock: clock.clone(),
        })
        .unwrap();

        let db = InvoiceDb::open(&sqlite_url(dir, "finance.db"))
            .await
            .unwrap();
        let guard = app::guard(
            ISSUER,
            AUDIENCE,
            Duration::from_secs(30),
            Arc::new(built.tokens.clone()),
            Arc::new(built.state.access.clone()),
            None,
            clock.clone(),
        )
        .unwrap();
        events.subscribe(guard.clone());

        let seeded = seed::seed(&built.state.auth, &built.state.admin, &core)
            .await
            .unwrap();

        let mut dev = Self {
            auth: kisum_auth::http::public_router(built.state.clone()),
            finance: Router::new(),
            built,
            core,
            guard,
            clock,
            seeded,
        };
        dev.finance = dev.finance_over(db);
        dev
    }

    /// The `finance` backend of this process over the invoice store `db`.
    fn finance_over(&self, db: InvoiceDb) -> Router {
        app::finish(
            module::router("finance", &self.guard, db.clone(), self.clock.clone())
                .merge(openapi::router(openapi::module("finance"))),
            app::module_readiness(db, self.guard.clone(), None),
            &HttpSettings::default(),
        )
        .unwrap()
    }

    /// Signs in over HTTP and answers the access token.
    async fn login(&self, email: &str, password: &str) -> String {
        let r = send(
            &self.auth,
            Method::POST,
            "/v1/auth/login",
            None,
            None,
            Some(json!({"email": email, "password": password})),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "sign-in of {email}: {}", r.body);
        r.body["access_token"].as_str().unwrap().to_owned()
    }

    async fn owner(&self) -> String {
        self.login(seed::OWNER_EMAIL, seed::DEMO_PASSWORD).await
    }

    async fn member(&self) -> String {
        self.login(seed::MEMBER_EMAIL, seed::DEMO_PASSWORD).await
    }

    /// `GET /v1/auth/me` of `token`.
    async fn me(&self, token: &str) -> Value {
        let r = send(
            &self.auth,
            Method::GET,
            "/v1/auth/me",
            Some(token),
            None,
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.body
    }

    /// Registers a user with a company of their own over HTTP: (access token, company id).
    async fn register_with_company(&self, email: &str, company: &str) -> (String, CompanyId) {
        let r = send(
            &self.auth,
            Method::POST,
            "/v1/auth/register",
            None,
            None,
            Some(json!({
                "email": email,
                "password": "correct-horse-battery-staple-7",
                "company_name": company,
            })),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let token = r.body["access_token"].as_str().unwrap().to_owned();
        let me = self.me(&token).await;
        let id = me["memberships"][0]["company_id"].as_str().unwrap();
        (token, id.parse().unwrap())
    }

    /// Activates the `finance` add-on of `company`, as an operator would through Core.
    async fn buy_finance(&self, company: CompanyId) {
        self.core
            .set_company_addon(
                &Actor::new("it"),
                CompanyAddOn {
                    company_id: company,
                    addon: AddOnKey::new("finance").unwrap(),
                    status: SubscriptionStatus::Active,
                    current_period_end: None,
                },
            )
            .await
            .unwrap();
    }
}

/// An answer: status, headers and the body as JSON (`Null` when empty, a string when not JSON).
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an RFC 9457 problem document with `status` and `code`.
    #[track_caller]
    fn assert_problem(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.body["code"], code, "{}", self.body);
        assert_eq!(self.body["status"], status.as_u16(), "{}", self.body);
        assert_eq!(
            self.body["type"],
            format!("urn:kisum:problem:{code}"),
            "{}",
            self.body
        );
        assert!(
            self.body["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{}",
            self.body
        );
        assert!(
            self.header("content-type")
                .is_some_and(|c| c.starts_with(PROBLEM_JSON)),
            "{:?}",
            self.headers
        );
    }
}

async fn call(app: &Router, request: Request<Body>) -> Reply {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 4 << 20)
        .await
        .unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    Reply {
        status,
        headers,
        body,
    }
}

fn request(
    method: Method,
    uri: &str,
    token: Option<&str>,
    org: Option<&str>,
) -> axum::http::request::Builder {
    let mut r = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        r = r.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    if let Some(o) = org {
        r = r.header("x-org", o);
    }
    r
}

async fn send(
    app: &Router,
    method: Method,
    uri: &str,
    token: Option<&str>,
    org: Option<&str>,
    body: Option<Value>,
) -> Reply {
    let r = request(method, uri, token, org);
    let r = match body {
        Some(b) => r
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(b.to_string())),
        None => r.body(Body::empty()),
    };
    call(app, r.unwrap()).await
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

// ---- the finance backend ---------------------------------------------------------------------

/// The owner creates, lists and reads invoices, on the SQLite store `kisum dev` uses and on
/// the in-memory one; the answers have the documented shapes.
#[tokio::test(flavor = "multi_thread")]
async fn the_owner_creates_lists_and_reads_the_invoices_of_acme() {
    let dev = Dev::start(&data_dir()).await;
    let owner = dev.owner().await;
    let me = dev.me(&owner).await;
    let owner_id = me["user"]["id"].as_str().unwrap().to_owned();
    let acme = membership(&me, "acme")["company_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let memory = dev.finance_over(InvoiceDb::open("memory").await.unwrap());
    for app in [&dev.finance, &memory] {
        let r = list(app, &owner, "acme").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body, json!([]), "no invoices before the first");

        // The customer is trimmed and the currency defaults to EUR.
        let first = create(
            app,
            &owner,
            "acme",
            json!({"customer": "  Globex  ", "amount_cents": 1200}),
        )
        .await;
        assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
        assert!(
            first
                .header("content-type")
                .is_some_and(|c| c.starts_with("application/json"))
        );
        assert_invoice(&first.body, &acme, &owner_id, 1, "Globex", 1200, "EUR");

        // The currency is upper-cased; numbers follow each other within the company.
        let second = create(
            app,
            &owner,
            "acme",
            json!({"customer": "Initech", "amount_cents": 99, "currency": "usd"}),
        )
        .await;
        assert_eq!(second.status, StatusCode::CREATED, "{}", second.body);
        assert_invoice(&second.body, &acme, &owner_id, 2, "Initech", 99, "USD");
        assert_ne!(first.body["id"], second.body["id"]);

        // Newest first, exactly as created (the store keeps every field as answered).
        let r = list(app, &owner, "acme").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body, json!([second.body, first.body]));

        let r = get_one(app, &owner, "acme", first.body["id"].as_str().unwrap()).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(
            r.header("content-type")
                .is_some_and(|c| c.starts_with("application/json"))
        );
        assert_eq!(r.body, first.body);

        // `X-Org` may name the company by id as well as by slug.
        let r = list(app, &owner, &acme).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body, json!([second.body, first.body]));
    }
}

/// `member@acme.test` (`finance-viewer`) reads invoices but cannot create one: 403
/// `permission_denied`, decided before the body is looked at, and nothing is created.
#[tokio::test(flavor = "multi_thread")]
async fn a_finance_viewer_reads_invoices_but_may_not_create_them() {
    let dev = Dev::start(&data_dir()).await;
    let owner = dev.owner().await;
    let member = dev.member().await;
    let created = create(
        &dev.finance,
        &owner,
        "acme",
        json!({"customer": "Globex", "amount_cents": 500}),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().unwrap();

    let r = list(&dev.finance, &member, "acme").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body, json!([created.body]));
    let r = get_one(&dev.finance, &member, "acme", id).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body, created.body);

    let r = create(
        &dev.finance,
        &member,
        "acme",
        json!({"customer": "Initech", "amount_cents": 700}),
    )
    .await;
    r.assert_problem(StatusCode::FORBIDDEN, "permission_denied");
    assert!(
        r.header("www-authenticate").is_none(),
        "a 403 is no challenge"
    );
    // An invalid or malformed body changes nothing: access is decided first.
    let r = create(
        &dev.finance,
        &member,
        "acme",
        json!({"customer": "", "amount_cents": -1}),
    )
    .await;
    r.assert_problem(StatusCode::FORBIDDEN, "permission_denied");
    let r = post_raw(&dev.finance, &member, Some("application/json"), "{not json").await;
    r.assert_problem(StatusCode::FORBIDDEN, "permission_denied");

    let r = list(&dev.finance, &owner, "acme").await;
    assert_eq!(r.body, json!([created.body]), "the viewer created nothing");
}

/// Invalid values answer 422 `validation_failed` naming each invalid field; wrong types and
/// missing fields 422 `validation_failed`; malformed JSON or a non-JSON body 400
/// `invalid_request`; a body over the limit 413 `payload_too_large`. None creates anything.
#[tokio::test(flavor = "multi_thread")]
async fn invalid_invoices_are_refused_with_the_documented_codes() {
    let dev = Dev::start(&data_dir()).await;
    let owner = dev.owner().await;
    let app = &dev.finance;

    let long = "x".repeat(201);
    for (body, fields) in [
        (
            json!({"customer": "", "amount_cents": 0, "currency": "EURO"}),
            &["customer", "amount_cents", "currency"][..],
        ),
        (
            json!({"customer": "   ", "amount_cents": 100}),
            &["customer"][..],
        ),
        (
            json!({"customer": long, "amount_cents": -5, "currency": "EUR"}),
            &["customer", "amount_cents"][..],
        ),
        (
            json!({"customer": "Globex", "amount_cents": 100, "currency": "E1R"}),
            &["currency"][..],
        ),
        (
            json!({"customer": "Globex", "amount_cents": 100, "currency": "€€€"}),
            &["currency"][..],
        ),
        (
            json!({"customer": "Globex", "amount_cents": 100, "currency": ""}),
            &["currency"][..],
        ),
    ] {
        let r = create(app, &owner, "acme", body.clone()).await;
        r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        let named: BTreeSet<String> = r.body["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("per-field errors for {body}: {}", r.body))
            .iter()
            .map(|e| {
                assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()));
                e["field"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(named, set(fields), "{body}: {}", r.body);
    }

    // Wrong types and missing fields: 422 too, with the offending field named.
    for (body, field) in [
        (
            json!({"customer": "Globex", "amount_cents": "12"}),
            "amount_cents",
        ),
        (
            json!({"customer": "Globex", "amount_cents": 12.5}),
            "amount_cents",
        ),
        (
            json!({"customer": "Globex", "amount_cents": null}),
            "amount_cents",
        ),
        (json!({"customer": 7, "amount_cents": 12}), "customer"),
        (
            json!({"customer": "Globex", "amount_cents": 12, "currency": 978}),
            "currency",
        ),
        (json!({"customer": "Globex"}), "amount_cents"),
        (json!({"amount_cents": 12}), "customer"),
    ] {
        let r = create(app, &owner, "acme", body.clone()).await;
        r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        let errors = r.body["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("per-field errors for {body}: {}", r.body));
        assert_eq!(errors.len(), 1, "{body}: {}", r.body);
        assert_eq!(errors[0]["field"], field, "{body}: {}", r.body);
        assert!(errors[0]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // A body that is not an object at all.
    let r = create(app, &owner, "acme", json!([])).await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    // Malformed JSON, no body, not JSON.
    for (content_type, body) in [
        (Some("application/json"), "{\"customer\": \"Globex\","),
        (Some("application/json"), ""),
        (None, "{\"customer\": \"Globex\", \"amount_cents\": 12}"),
        (
            Some("text/plain"),
            "{\"customer\": \"Globex\", \"amount_cents\": 12}",
        ),
    ] {
        let r = post_raw(app, &owner, content_type, body).await;
        r.assert_problem(StatusCode::BAD_REQUEST, "invalid_request");
    }

    // Over the body limit (1 MiB by default).
    let huge = format!(
        "{{\"customer\": \"{}\", \"amount_cents\": 12}}",
        "x".repeat(2 << 20)
    );
    let r = post_raw(app, &owner, Some("application/json"), huge).await;
    r.assert_problem(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");

    let r = list(app, &owner, "acme").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, json!([]), "no refused invoice was created");
}

/// A company's invoices are invisible from every other company: listing, reading by id (404
/// `not_found`, as for an id that does not exist) and switching `X-Org` to a company one is
/// not a member of (403 `not_a_member`). Numbers are per company. A company without the
/// `finance` add-on is refused (403 `module_not_entitled`) until it buys it.
#[tokio::test(flavor = "multi_thread")]
async fn invoices_are_not_visible_across_companies() {
    let dev = Dev::start(&data_dir()).await;
    let owner = dev.owner().await;
    let member = dev.member().await;
    let (globex_owner, globex) = dev
        .register_with_company("boss@globex.test", "Globex")
        .await;

    // Globex has neither `basic` nor the `finance` add-on.
    let r = list(&dev.finance, &globex_owner, "globex").await;
    r.assert_problem(StatusCode::FORBIDDEN, "module_not_entitled");
    let r = create(
        &dev.finance,
        &globex_owner,
        "globex",
        json!({"customer": "Acme", "amount_cents": 1}),
    )
    .await;
    r.assert_problem(StatusCode::FORBIDDEN, "module_not_entitled");

    // Bought: effective at once (Core's event reaches the guard in process).
    dev.buy_finance(globex).await;
    let r = list(&dev.finance, &globex_owner, "globex").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body, json!([]));

    let in_acme = create(
        &dev.finance,
        &owner,
        "acme",
        json!({"customer": "Acme's customer", "amount_cents": 100}),
    )
    .await;
    assert_eq!(in_acme.status, StatusCode::CREATED, "{}", in_acme.body);
    let in_globex = create(
        &dev.finance,
        &globex_owner,
        "globex",
        json!({"customer": "Globex's customer", "amount_cents": 200}),
    )
    .await;
    assert_eq!(in_globex.status, StatusCode::CREATED, "{}", in_globex.body);
    assert_eq!(in_globex.body["company_id"], globex.to_string());
    assert_eq!(in_globex.body["number"], 1, "numbers are per company");
    let acme_id = in_acme.body["id"].as_str().unwrap();
    let globex_id = in_globex.body["id"].as_str().unwrap();

    // Lists hold their own company's invoices only.
    assert_eq!(
        list(&dev.finance, &owner, "acme").await.body,
        json!([in_acme.body])
    );
    assert_eq!(
        list(&dev.finance, &member, "acme").await.body,
        json!([in_acme.body])
    );
    assert_eq!(
        list(&dev.finance, &globex_owner, "globex").await.body,
        json!([in_globex.body])
    );

    // Another company's invoice by id: 404, exactly as an id that does not exist.
    for (token, org, id) in [
        (&owner, "acme", globex_id),
        (&member, "acme", globex_id),
        (&globex_owner, "globex", acme_id),
    ] {
        let r = get_one(&dev.finance, token, org, id).await;
        r.assert_problem(StatusCode::NOT_FOUND, "not_found");
        let unknown = get_one(&dev.finance, token, org, &uuid::Uuid::now_v7().to_string()).await;
        unknown.assert_problem(StatusCode::NOT_FOUND, "not_found");
        assert_eq!(r.body["title"], unknown.body["title"]);
        assert_eq!(r.body["detail"], unknown.body["detail"]);
    }

    // Naming the other company in `X-Org` does not help.
    for (token, org) in [
        (&owner, "globex"),
        (&member, "globex"),
        (&globex_owner, "acme"),
    ] {
        list(&dev.finance, token, org)
            .await
            .assert_problem(StatusCode::FORBIDDEN, "not_a_member");
        get_one(&dev.finance, token, org, globex_id)
            .await
            .assert_problem(StatusCode::FORBIDDEN, "not_a_member");
        get_one(&dev.finance, token, org, acme_id)
            .await
            .assert_problem(StatusCode::FORBIDDEN, "not_a_member");
        create(
            &dev.finance,
            token,
            org,
            json!({"customer": "Intruder", "amount_cents": 1}),
        )
        .await
        .assert_problem(StatusCode::FORBIDDEN, "not_a_member");
    }
    assert_eq!(
        list(&dev.finance, &globex_owner, "globex").await.body,
        json!([in_globex.body]),
        "nothing was created in the other company"
    );
}

/// An id that is no invoice of the company is 404 `not_found`, whether it is a UUID or not;
/// the guard answers before the id is looked at.
#[tokio::test(flavor = "multi_thread")]
async fn unknown_and_malformed_invoice_ids_are_not_found() {
    let dev = Dev::start(&data_dir()).await;
    let member = dev.member().await;
    for id in [
        uuid::Uuid::now_v7().to_string(),
        uuid::Uuid::nil().to_string(),
        "not-an-id".to_owned(),
        "12345".to_owned(),
        "%20".to_owned(),
    ] {
        get_one(&dev.finance, &member, "acme", &id)
            .await
            .assert_problem(StatusCode::NOT_FOUND, "not_found");
        // Without a token the id is never looked at.
        let r = send(
            &dev.finance,
            Method::GET,
            &format!("{INVOICES}/{id}"),
            None,
            Some("acme"),
            None,
        )
        .await;
        r.assert_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
    }
}

/// Identity and company failures on every route: no token 401 `unauthenticated` with a
/// `Bearer` challenge; a token that does not verify 401 with an `invalid_token` challenge; no
/// `X-Org` 400 `org_required`; an unknown company 404 `org_unknown`; after sign-out 401
/// `session_revoked`.
#[tokio::test(flavor = "multi_thread")]
async fn requests_without_identity_or_company_are_refused() {
    let dev = Dev::start(&data_dir()).await;
    let member = dev.member().await;
    let some_id = uuid::Uuid::now_v7().to_string();
    let by_id = format!("{INVOICES}/{some_id}");
    let valid = json!({"customer": "Globex", "amount_cents": 100});
    let routes = [
        (Method::GET, INVOICES, None),
        (Method::POST, INVOICES, Some(valid.clone())),
        (Method::GET, by_id.as_str(), None),
    ];

    for (method, uri, body) in routes.clone() {
        let r = send(
            &dev.finance,
            method.clone(),
            uri,
            None,
            Some("acme"),
            body.clone(),
        )
        .await;
        r.assert_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
        assert_eq!(
            r.header("www-authenticate"),
            Some("Bearer"),
            "{method} {uri}"
        );

        let r = send(
            &dev.finance,
            method.clone(),
            uri,
            Some("not-a-jwt"),
            Some("acme"),
            body.clone(),
        )
        .await;
        r.assert_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
        assert!(
            r.header("www-authenticate")
                .is_some_and(|c| c.starts_with("Bearer") && c.contains("invalid_token")),
            "{method} {uri}: {:?}",
            r.headers
        );

        // A real token altered after signing: the signature no longer matches.
        let mut forged = member.clone();
        forged.push('x');
        let r = send(
            &dev.finance,
            method.clone(),
            uri,
            Some(&forged),
            Some("acme"),
            body.clone(),
        )
        .await;
        r.assert_problem(StatusCode::UNAUTHORIZED, "unauthenticated");

        for org in [None, Some(""), Some("   ")] {
            let r = send(
                &dev.finance,
                method.clone(),
                uri,
                Some(&member),
                org,
                body.clone(),
            )
            .await;
            r.assert_problem(StatusCode::BAD_REQUEST, "org_required");
        }
        let r = send(
            &dev.finance,
            method.clone(),
            uri,
            Some(&member),
            Some("no-such-company"),
            body.clone(),
        )
        .await;
        r.assert_problem(StatusCode::NOT_FOUND, "org_unknown");
        let r = send(
            &dev.finance,
            method.clone(),
            uri,
            Some(&member),
            Some(&uuid::Uuid::now_v7().to_string()),
            body.clone(),
        )
        .await;
        r.assert_problem(StatusCode::NOT_FOUND, "org_unknown");
    }

    // The token works until its session is signed out, then is refused everywhere.
    assert_eq!(
        list(&dev.finance, &member, "acme").await.status,
        StatusCode::OK
    );
    let r = send(
        &dev.auth,
        Method::POST,
        "/v1/auth/logout",
        Some(&member),
        None,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    for (method, uri, body) in routes {
        let r = send(&dev.finance, method, uri, Some(&member), Some("acme"), body).await;
        r.assert_problem(StatusCode::UNAUTHORIZED, "session_revoked");
        assert!(r.header("www-authenticate").is_some());
    }
}

/// Every answer of the backend carries `X-Request-Id` (echoed when sent, generated
/// otherwise), and the guard's problem documents carry it as `request_id`.
#[tokio::test(flavor = "multi_thread")]
async fn every_answer_carries_the_request_id() {
    let dev = Dev::start(&data_dir()).await;
    let owner = dev.owner().await;
    let member = dev.member().await;
    let valid = json!({"customer": "Globex", "amount_cents": 100}).to_string();
    let invalid = json!({"customer": "", "amount_cents": 100}).to_string();
    /// One request of the test and the status it must get.
    struct Case<'a> {
        rid: &'a str,
        method: Method,
        uri: String,
        token: Option<&'a str>,
        org: Option<&'a str>,
        body: String,
        status: StatusCode,
    }
    let case = |rid, method, uri: &str, token, org, body: &str, status| Case {
        rid,
        method,
        uri: uri.to_owned(),
        token,
        org,
        body: body.to_owned(),
        status,
    };
    let cases = [
        case(
            "rid-list",
            Method::GET,
            INVOICES,
            Some(&owner),
            Some("acme"),
            "",
            StatusCode::OK,
        ),
        case(
            "rid-create",
            Method::POST,
            INVOICES,
            Some(&owner),
            Some("acme"),
            &valid,
            StatusCode::CREATED,
        ),
        case(
            "rid-401",
            Method::GET,
            INVOICES,
            None,
            Some("acme"),
            "",
            StatusCode::UNAUTHORIZED,
        ),
        case(
            "rid-400",
            Method::GET,
            INVOICES,
            Some(&owner),
            None,
            "",
            StatusCode::BAD_REQUEST,
        ),
        case(
            "rid-403",
            Method::POST,
            INVOICES,
            Some(&member),
            Some("acme"),
            &valid,
            StatusCode::FORBIDDEN,
        ),
        case(
            "rid-404",
            Method::GET,
            &format!("{INVOICES}/nope"),
            Some(&owner),
            Some("acme"),
            "",
            StatusCode::NOT_FOUND,
        ),
        case(
            "rid-422",
            Method::POST,
            INVOICES,
            Some(&owner),
            Some("acme"),
            &invalid,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for Case {
        rid,
        method,
        uri,
        token,
        org,
        body,
        status,
    } in cases
    {
        // Every problem document, the guard's and the backend's own, names the request.
        let guard_answer = status.is_client_error();
        for sent in [Some(rid), None] {
            let mut r = request(method.clone(), &uri, token, org)
                .header(header::CONTENT_TYPE, "application/json");
            if let Some(id) = sent {
                r = r.header("x-request-id", id);
            }
            let reply = call(&dev.finance, r.body(Body::from(body.clone())).unwrap()).await;
            assert_eq!(reply.status, status, "{rid}: {}", reply.body);
            let answered = reply
                .header("x-request-id")
                .unwrap_or_else(|| panic!("{rid}: no X-Request-Id"))
                .to_owned();
            match sent {
                Some(id) => assert_eq!(answered, id, "{rid}: echoed"),
                None => assert!(
                    answered.parse::<uuid::Uuid>().is_ok(),
                    "{rid}: generated, got {answered}"
                ),
            }
            if guard_answer {
                assert_eq!(reply.body["request_id"], answered.as_str(), "{rid}");
            }
        }
    }
}

// ---- the seed of `kisum dev` -----------------------------------------------------------------

/// The demo data is exactly what API.md describes: the catalog, company `acme` with `basic`
/// and the `finance` add-on, the two users who sign in with the demo password, their roles,
/// grants and what each may do in the `finance` backend.
#[tokio::test(flavor = "multi_thread")]
async fn the_dev_seed_is_the_documented_demo_data() {
    let dev = Dev::start(&data_dir()).await;
    assert_eq!(dev.seeded, seed::Seeded::Created);

    // Catalog: modules `core` (kind core) and five add-on modules; package `basic` (basic,
    // `core` only); an add-on per non-core module, enabling that module.
    let catalog = dev.core.service().catalog().await.unwrap();
    let modules: BTreeSet<&str> = catalog.modules.keys().map(|k| k.as_str()).collect();
    assert_eq!(
        modules,
        ["core", "finance", "market", "touring", "venue", "ai"].into()
    );
    for (key, m) in &catalog.modules {
        let kind = if key.as_str() == "core" {
            ModuleKind::Core
        } else {
            ModuleKind::Addon
        };
        assert_eq!(m.kind, kind, "{key}");
    }
    let finance: BTreeSet<&str> = catalog.modules[&kisum_guard::ModuleKey::new("finance").unwrap()]
        .permissions
        .iter()
        .map(|p| p.as_str())
        .collect();
    assert!(
        finance.contains("finance.invoices.read") && finance.contains("finance.invoices.write"),
        "the finance module declares the permissions its backend checks: {finance:?}"
    );
    assert_eq!(catalog.packages.len(), 1, "{:?}", catalog.packages);
    let basic = &catalog.packages[&kisum_guard::PackageKey::new("basic").unwrap()];
    assert!(basic.is_basic);
    assert_eq!(
        basic.modules.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
        ["core"]
    );
    let addons: BTreeSet<(&str, &str)> = catalog
        .addons
        .values()
        .map(|a| (a.key.as_str(), a.module.as_str()))
        .collect();
    assert_eq!(
        addons,
        [
            ("finance", "finance"),
            ("market", "market"),
            ("touring", "touring"),
            ("venue", "venue"),
            ("ai", "ai"),
        ]
        .into()
    );

    // Both users sign in with the demo password, and only with it.
    let owner = dev.owner().await;
    let member = dev.member().await;
    let wrong = send(
        &dev.auth,
        Method::POST,
        "/v1/auth/login",
        None,
        None,
        Some(json!({"email": seed::MEMBER_EMAIL, "password": "not-the-demo-password"})),
    )
    .await;
    wrong.assert_problem(StatusCode::UNAUTHORIZED, "invalid_credentials");

    // Company `acme`: the owner holds `owner`, the member `finance-viewer`, both active.
    let owner_me = dev.me(&owner).await;
    assert_eq!(owner_me["user"]["email"], seed::OWNER_EMAIL);
    // The demo addresses count as proven: an email-code sign-in keeps the demo password.
    assert_eq!(owner_me["user"]["email_verified"], true);
    assert_eq!(dev.me(&member).await["user"]["email_verified"], true);
    assert_eq!(owner_me["memberships"].as_array().unwrap().len(), 1);
    let m = membership(&owner_me, "acme");
    assert_eq!(m["status"], "active");
    assert_eq!(strings(&m["roles"]), set(&["owner"]));
    let acme: CompanyId = m["company_id"].as_str().unwrap().parse().unwrap();
    let member_me = dev.me(&member).await;
    assert_eq!(member_me["user"]["email"], seed::MEMBER_EMAIL);
    assert_eq!(member_me["memberships"].as_array().unwrap().len(), 1);
    let m = membership(&member_me, "acme");
    assert_eq!(m["status"], "active");
    assert_eq!(strings(&m["roles"]), set(&["finance-viewer"]));
    assert_eq!(m["company_id"], acme.to_string());

    // Entitlements of `acme`: `basic` active (so `core`) and the `finance` add-on, nothing else.
    let e = dev.core.service().entitlements(acme).await.unwrap();
    assert!(e.basic_active);
    let enabled: BTreeSet<(String, String)> = e
        .modules
        .iter()
        .map(|m| (m.key.to_string(), m.source.to_string()))
        .collect();
    assert_eq!(
        enabled,
        [
            ("core".to_owned(), "package:basic".to_owned()),
            ("finance".to_owned(), "addon:finance".to_owned()),
        ]
        .into()
    );
    let sub = e.subscription.as_ref().unwrap();
    assert_eq!(sub.package.as_str(), "basic");
    assert_eq!(sub.status, SubscriptionStatus::Active);
    let add_ons: Vec<(&str, SubscriptionStatus)> = e
        .add_ons
        .iter()
        .map(|a| (a.addon.as_str(), a.status))
        .collect();
    assert_eq!(add_ons, [("finance", SubscriptionStatus::Active)]);

    // Roles of `acme`: the built-in `owner` (`*`) and `finance-viewer` = `finance.invoices.read`.
    let r = send(
        &dev.auth,
        Method::GET,
        "/v1/companies/acme/roles",
        Some(&owner),
        None,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let roles: BTreeSet<(String, BTreeSet<String>)> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|role| {
            (
                role["key"].as_str().unwrap().to_owned(),
                strings(&role["permissions"]),
            )
        })
        .collect();
    assert_eq!(
        roles,
        [
            ("owner".to_owned(), set(&["*"])),
            ("finance-viewer".to_owned(), set(&["finance.invoices.read"])),
        ]
        .into()
    );

    // Members of `acme`: exactly the two, the member granted the `finance` module.
    let r = send(
        &dev.auth,
        Method::GET,
        "/v1/companies/acme/members",
        Some(&owner),
        None,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let members: BTreeSet<(String, String, BTreeSet<String>, BTreeSet<String>)> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["email"].as_str().unwrap().to_owned(),
                m["status"].as_str().unwrap().to_owned(),
                strings(&m["roles"]),
                strings(&m["modules"]),
            )
        })
        .collect();
    assert_eq!(
        members,
        [
            (
                seed::OWNER_EMAIL.to_owned(),
                "active".to_owned(),
                set(&["owner"]),
                set(&[]),
            ),
            (
                seed::MEMBER_EMAIL.to_owned(),
                "active".to_owned(),
                set(&["finance-viewer"]),
                set(&["finance"]),
            ),
        ]
        .into()
    );

    // Their access in `acme`, as the frontend bootstraps it.
    let access = |token: String| {
        let auth = dev.auth.clone();
        async move {
            let r = send(
                &auth,
                Method::GET,
                "/v1/auth/me/access",
                Some(&token),
                Some("acme"),
                None,
            )
            .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            r.body
        }
    };
    let a = access(owner.clone()).await;
    assert_eq!(a["company_id"], acme.to_string());
    assert_eq!(strings(&a["modules"]), set(&["company", "core", "finance"]));
    assert_eq!(strings(&a["permissions"]), set(&["*"]));
    assert_eq!(a["core_app_visible"], true);
    let a = access(member.clone()).await;
    assert_eq!(strings(&a["roles"]), set(&["finance-viewer"]));
    assert_eq!(strings(&a["modules"]), set(&["company", "finance"]));
    assert_eq!(strings(&a["permissions"]), set(&["finance.invoices.read"]));

    // Who may read and write finance: the owner both, the member read only.
    let body = json!({"customer": "Globex", "amount_cents": 1200});
    for (who, token, may_write) in [("owner", &owner, true), ("member", &member, false)] {
        let r = list(&dev.finance, token, "acme").await;
        assert_eq!(r.status, StatusCode::OK, "{who} reads: {}", r.body);
        let r = create(&dev.finance, token, "acme", body.clone()).await;
        if may_write {
            assert_eq!(r.status, StatusCode::CREATED, "{who} writes: {}", r.body);
            let r = get_one(&dev.finance, token, "acme", r.body["id"].as_str().unwrap()).await;
            assert_eq!(r.status, StatusCode::OK, "{who} reads one: {}", r.body);
        } else {
            r.assert_problem(StatusCode::FORBIDDEN, "permission_denied");
        }
    }
}

/// What the data looks like from the stores (ids and versions included): equal snapshots mean
/// nothing changed.
async fn snapshot(dev: &Dev) -> Value {
    let auth = &dev.built.state.auth;
    let mut users = Vec::new();
    for email in [seed::OWNER_EMAIL, seed::MEMBER_EMAIL] {
        let user = auth
            .user_by_email(&kisum_auth::Email::parse(email).unwrap())
            .await
            .unwrap()
            .unwrap();
        users.push(json!({
            "id": user.id.to_string(),
            "email": user.email.to_string(),
            "name": user.name,
        }));
    }
    let directory = &dev.built.state.directory;
    let owner_id = users[0]["id"].as_str().unwrap().parse().unwrap();
    let memberships = directory.list_user_memberships(owner_id).await.unwrap();
    assert_eq!(memberships.len(), 1);
    let acme = memberships[0].company_id;
    let company = directory.get_company(acme).await.unwrap().unwrap();
    let members = directory.list_company_memberships(acme).await.unwrap();
    let roles = dev.built.state.admin.list_roles(acme).await.unwrap();
    let catalog = dev.core.service().catalog().await.unwrap();
    let entitlements = dev.core.service().entitlements(acme).await.unwrap();
    json!({
        "users": users,
        "company": serde_json::to_value(&company).unwrap(),
        "members": serde_json::to_value(&members).unwrap(),
        "roles": serde_json::to_value(&roles).unwrap(),
        "modules": serde_json::to_value(catalog.modules.values().collect::<Vec<_>>()).unwrap(),
        "packages": serde_json::to_value(catalog.packages.values().collect::<Vec<_>>()).unwrap(),
        "addons": serde_json::to_value(catalog.addons.values().collect::<Vec<_>>()).unwrap(),
        "entitlements": serde_json::to_value(&entitlements).unwrap(),
    })
}

/// Seeding again, in the same process or after a restart on the same data directory, finds
/// the demo data, changes nothing (not even versions) and does not undo an operator's changes;
/// the demo users still sign in.
#[tokio::test(flavor = "multi_thread")]
async fn seeding_twice_changes_nothing() {
    let dir = data_dir();
    let dev = Dev::start(&dir).await;
    assert_eq!(dev.seeded, seed::Seeded::Created);
    let before = snapshot(&dev).await;

    let again = seed::seed(&dev.built.state.auth, &dev.built.state.admin, &dev.core)
        .await
        .unwrap();
    assert_eq!(again, seed::Seeded::AlreadyThere);
    assert_eq!(
        snapshot(&dev).await,
        before,
        "a second seed changed the data"
    );

    // An operator cancels `acme`'s finance add-on; a restart must not bring it back.
    let acme: CompanyId = before["company"]["id"].as_str().unwrap().parse().unwrap();
    dev.core
        .set_company_addon(
            &Actor::new("operator"),
            CompanyAddOn {
                company_id: acme,
                addon: AddOnKey::new("finance").unwrap(),
                status: SubscriptionStatus::Canceled,
                current_period_end: None,
            },
        )
        .await
        .unwrap();
    let changed = snapshot(&dev).await;
    assert_ne!(changed, before);
    drop(dev);

    let restarted = Dev::start(&dir).await;
    assert_eq!(restarted.seeded, seed::Seeded::AlreadyThere);
    assert_eq!(
        snapshot(&restarted).await,
        changed,
        "seeding on restart changed the data"
    );
    let e = restarted.core.service().entitlements(acme).await.unwrap();
    assert!(!e.has_module("finance"), "the operator's change stands");
    assert!(e.has_module("core"));

    // The demo users still sign in, and the owner (not the member) still administers `acme`.
    let owner = restarted.owner().await;
    assert_eq!(
        membership(&restarted.me(&owner).await, "acme")["company_id"],
        acme.to_string()
    );
}

/// Invoices created at the same time each get their own number: 1 to n, none lost, none
/// refused (the SQLite store of `kisum dev`).
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_invoices_get_distinct_sequential_numbers() {
    let dev = Dev::start(&data_dir()).await;
    let owner = dev.owner().await;
    let n = 24;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let app = dev.finance.clone();
        let owner = owner.clone();
        tasks.spawn(async move {
            create(
                &app,
                &owner,
                "acme",
                json!({"customer": format!("customer {i}"), "amount_cents": 100 + i}),
            )
            .await
        });
    }
    let mut numbers = BTreeSet::new();
    while let Some(r) = tasks.join_next().await {
        let r = r.unwrap();
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        numbers.insert(r.body["number"].as_i64().unwrap());
    }
    assert_eq!(numbers, (1..=n).collect::<BTreeSet<i64>>());
    let r = list(&dev.finance, &owner, "acme").await;
    let listed: Vec<i64> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["number"].as_i64().unwrap())
        .collect();
    assert_eq!(listed, (1..=n).rev().collect::<Vec<i64>>(), "newest first");
}

/// On PostgreSQL, concurrent creates in one company get the numbers 1…n without a gap or a
/// conflict (each takes a per-company lock), while another company counts on its own.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(
    not(kisum_test_pg),
    ignore = "set KISUM_TEST_DATABASE_URL to run the PostgreSQL suites"
)]
async fn concurrent_invoices_on_postgres_get_distinct_sequential_numbers() {
    let db = InvoiceDb::open(&kisum_core::testkit::db::postgres_url().await)
        .await
        .unwrap();
    let (acme, globex) = (CompanyId::new(), CompanyId::new());
    let invoice = |company: CompanyId, i: i64| module::Invoice {
        id: uuid::Uuid::now_v7(),
        company_id: company,
        number: 0,
        customer: format!("customer {i}"),
        amount_cents: 100 + i,
        currency: "EUR".into(),
        created_by: kisum_guard::UserId::new(),
        created_at: SystemClock.now(),
    };
    let n = 24;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let db = db.clone();
        let company = if i % 3 == 0 { globex } else { acme };
        let invoice = invoice(company, i);
        tasks.spawn(async move { db.create(invoice).await });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap().unwrap();
    }
    for (company, count) in [(acme, n - n / 3), (globex, n / 3)] {
        let numbers: Vec<i64> = db
            .list(company)
            .await
            .unwrap()
            .iter()
            .map(|i| i.number)
            .collect();
        assert_eq!(numbers, (1..=count).rev().collect::<Vec<i64>>());
    }
}
