//! The internal HTTP API through `Router` + `oneshot`: service keys, every route and every error
//! code, audit records and invalidation events, versions and consistency tokens.

use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use chrono::{DateTime, Utc};
use kisum_core::audit::{CoreAudit, CoreAuditRecord, action};
use kisum_core::{
    AddOn, CatalogStore, CompanyAddOn, CompanyEntitlementState, CoreAdmin, CoreState, CoreStore,
    EntitlementService, MemoryCoreAudit, MemoryCoreStore, MemoryEvents, Module, Package,
    SqliteCoreStore, StoreError, Subscription, SubscriptionStore, VersionBump, internal_router,
};
use kisum_guard::{
    AddOnKey, CompanyId, ConsistencyToken, InvalidationEvent, ManualClock, ServiceKeys,
};
use serde_json::{Value, json};
use tower::ServiceExt as _;

const OPS: &str = "ops-secret-0123456789";
const BILLING: &str = "billing-secret-0123456789";

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

struct App {
    router: Router,
    audit: Arc<dyn CoreAudit>,
    events: Arc<MemoryEvents>,
}

fn app_over(store: Arc<dyn CoreStore>, audit: Arc<dyn CoreAudit>) -> App {
    let clock = Arc::new(ManualClock::new(t0()));
    let events = Arc::new(MemoryEvents::new());
    let admin = CoreAdmin::new(
        EntitlementService::new(store, clock.clone()),
        clock,
        audit.clone(),
        events.clone(),
    );
    let keys: ServiceKeys = format!("ops:{OPS},billing:{BILLING}").parse().unwrap();
    App {
        router: internal_router(CoreState::new(admin, keys)),
        audit,
        events,
    }
}

fn app() -> App {
    app_over(
        Arc::new(MemoryCoreStore::new()),
        Arc::new(MemoryCoreAudit::new()),
    )
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a problem document with `status` and `code`, carrying the request id.
    fn assert_problem(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json")
        );
        assert_eq!(self.body["code"], code, "{}", self.body);
        assert_eq!(self.body["status"], status.as_u16());
        assert_eq!(self.body["type"], format!("urn:kisum:problem:{code}"));
        let id = self.header("x-request-id").expect("x-request-id");
        assert_eq!(self.body["request_id"], id);
    }

    /// The field of the first per-field error of a `validation_failed` problem.
    fn field(&self) -> &str {
        self.body["errors"][0]["field"].as_str().unwrap()
    }
}

async fn send(router: &Router, request: Request<Body>) -> Answer {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    assert!(headers.contains_key("x-request-id"), "every answer has one");
    Answer {
        status,
        headers,
        body,
    }
}

fn request(method: &str, uri: &str, key: Option<&str>, body: Option<&Value>) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(uri);
    if let Some(key) = key {
        b = b.header("authorization", format!("Bearer {key}"));
    }
    match body {
        Some(body) => b
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap(),
        None => b.body(Body::empty()).unwrap(),
    }
}

async fn call(app: &App, method: &str, uri: &str, body: Option<Value>) -> Answer {
    send(&app.router, request(method, uri, Some(OPS), body.as_ref())).await
}

async fn ok(app: &App, method: &str, uri: &str, body: Option<Value>) -> Answer {
    let a = call(app, method, uri, body).await;
    assert_eq!(a.status, StatusCode::OK, "{method} {uri}: {}", a.body);
    a
}

/// The demo catalog of API.md, through the API: modules `core`, `finance`, `market`; package
/// `basic`; add-ons `finance`, `market`. Clears the events and leaves the audit records.
async fn seed(app: &App) {
    for (key, kind) in [("core", "core"), ("finance", "addon"), ("market", "addon")] {
        ok(
            app,
            "PUT",
            &format!("/internal/v1/modules/{key}"),
            Some(json!({"name": key, "kind": kind, "permissions": [format!("{key}.things.read")]})),
        )
        .await;
    }
    ok(
        app,
        "PUT",
        "/internal/v1/packages/basic",
        Some(json!({"name": "Basic", "is_basic": true, "modules": ["core"]})),
    )
    .await;
    for key in ["finance", "market"] {
        ok(
            app,
            "PUT",
            &format!("/internal/v1/addons/{key}"),
            Some(json!({"name": key, "module": key})),
        )
        .await;
    }
    app.events.take();
}

fn company_uri(company: CompanyId, rest: &str) -> String {
    format!("/internal/v1/companies/{company}/{rest}")
}

async fn subscribe(app: &App, company: CompanyId) -> Answer {
    ok(
        app,
        "PUT",
        &company_uri(company, "subscription"),
        Some(json!({"package": "basic", "status": "active"})),
    )
    .await
}

async fn records(app: &App) -> Vec<CoreAuditRecord> {
    app.audit.list(None, 1000).await.unwrap()
}

fn company_event(company_id: CompanyId) -> InvalidationEvent {
    InvalidationEvent::Company { company_id }
}

#[tokio::test]
async fn requests_without_a_valid_service_key_are_401_with_a_bearer_challenge() {
    let app = app();
    let company = CompanyId::new();
    let routes = [
        ("GET", "/internal/v1/modules".to_owned()),
        ("PUT", "/internal/v1/modules/core".to_owned()),
        ("GET", "/internal/v1/packages".to_owned()),
        ("PUT", "/internal/v1/packages/basic".to_owned()),
        ("GET", "/internal/v1/addons".to_owned()),
        ("PUT", "/internal/v1/addons/finance".to_owned()),
        ("GET", company_uri(company, "entitlements")),
        ("PUT", company_uri(company, "subscription")),
        ("PUT", company_uri(company, "addons/finance")),
        ("DELETE", company_uri(company, "addons/finance")),
        ("GET", "/internal/v1/no-such-route".to_owned()),
    ];
    let body = json!({"name": "x", "kind": "core", "permissions": []});
    for (method, uri) in &routes {
        for authorization in [
            None,
            Some("Bearer wrong-secret-0123456789".to_owned()),
            Some(format!("Basic {OPS}")),
            Some(format!("Bearer {}", &OPS[..OPS.len() - 1])),
            Some(format!("Bearer {OPS}x")),
            Some("Bearer ".to_owned()),
        ] {
            let mut b = Request::builder()
                .method(*method)
                .uri(uri)
                .header("content-type", "application/json");
            if let Some(a) = &authorization {
                b = b.header("authorization", a);
            }
            let a = send(&app.router, b.body(Body::from(body.to_string())).unwrap()).await;
            a.assert_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
            assert_eq!(a.header("www-authenticate"), Some("Bearer"));
        }
    }
    assert!(records(&app).await.is_empty());
    assert!(app.events.events().is_empty());
    // The scheme is case-insensitive, as RFC 9110 says.
    let a = send(
        &app.router,
        Request::builder()
            .uri("/internal/v1/modules")
            .header("authorization", format!("bearer {OPS}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
}

#[tokio::test]
async fn two_keys_are_valid_at_once_and_each_is_the_audit_actor() {
    let app = app();
    for (key, module) in [(OPS, "core"), (BILLING, "finance")] {
        let a = send(
            &app.router,
            request(
                "PUT",
                &format!("/internal/v1/modules/{module}"),
                Some(key),
                Some(&json!({"name": module, "kind": "addon"})),
            ),
        )
        .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        let a = send(
            &app.router,
            request("GET", "/internal/v1/modules", Some(key), None),
        )
        .await;
        assert_eq!(a.status, StatusCode::OK);
    }
    let actors: Vec<(String, String)> = records(&app)
        .await
        .into_iter()
        .map(|r| (r.actor, r.detail["key"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        actors,
        [
            ("billing".to_owned(), "finance".to_owned()),
            ("ops".to_owned(), "core".to_owned())
        ]
    );
    for r in records(&app).await {
        let json = serde_json::to_string(&r).unwrap();
        assert!(
            !json.contains(OPS) && !json.contains(BILLING),
            "no secret in {json}"
        );
    }
}

#[tokio::test]
async fn catalog_routes_store_replace_and_list_sorted_by_key() {
    let app = app();
    for (key, kind) in [("market", "addon"), ("core", "core")] {
        let a = ok(
            &app,
            "PUT",
            &format!("/internal/v1/modules/{key}"),
            Some(json!({"name": key, "kind": kind, "permissions": [format!("{key}.things.read")]})),
        )
        .await;
        assert_eq!(
            a.body,
            json!({"key": key, "name": key, "kind": kind, "permissions": [format!("{key}.things.read")]})
        );
        assert_eq!(a.header("x-kisum-consistency"), None);
    }
    // Replacing: permissions default to none.
    ok(
        &app,
        "PUT",
        "/internal/v1/modules/market",
        Some(json!({"name": "Market", "kind": "standard"})),
    )
    .await;
    let a = ok(&app, "GET", "/internal/v1/modules", None).await;
    assert_eq!(
        a.body,
        json!([
            {"key": "core", "name": "core", "kind": "core", "permissions": ["core.things.read"]},
            {"key": "market", "name": "Market", "kind": "standard", "permissions": []},
        ])
    );

    let a = ok(
        &app,
        "PUT",
        "/internal/v1/packages/basic",
        Some(json!({"name": "Basic", "is_basic": true, "modules": ["market", "core"]})),
    )
    .await;
    let basic =
        json!({"key": "basic", "name": "Basic", "is_basic": true, "modules": ["core", "market"]});
    assert_eq!(a.body, basic);
    assert_eq!(
        ok(&app, "GET", "/internal/v1/packages", None).await.body,
        json!([basic])
    );

    let a = ok(
        &app,
        "PUT",
        "/internal/v1/addons/market",
        Some(json!({"name": "Market", "module": "market"})),
    )
    .await;
    let market = json!({"key": "market", "name": "Market", "module": "market"});
    assert_eq!(a.body, market);
    assert_eq!(
        ok(&app, "GET", "/internal/v1/addons", None).await.body,
        json!([market])
    );

    let actions: Vec<String> = records(&app).await.into_iter().map(|r| r.action).collect();
    assert_eq!(
        actions,
        [
            action::ADDON_PUT,
            action::PACKAGE_PUT,
            action::MODULE_PUT,
            action::MODULE_PUT,
            action::MODULE_PUT
        ]
    );
    // No company uses the catalog yet: nothing to invalidate.
    assert!(app.events.events().is_empty());
}

#[tokio::test]
async fn entitlements_of_an_unknown_company_are_empty_at_version_zero() {
    let app = app();
    seed(&app).await;
    let company = CompanyId::new();
    let a = ok(&app, "GET", &company_uri(company, "entitlements"), None).await;
    assert_eq!(
        a.body,
        json!({
            "company_id": company.to_string(),
            "entitlement_version": 0,
            "basic_active": false,
            "modules": [],
            "add_ons": [],
        })
    );
}

#[tokio::test]
async fn subscription_writes_bump_the_version_audit_publish_and_answer_a_token() {
    let app = app();
    seed(&app).await;
    let company = CompanyId::new();
    let a = send(
        &app.router,
        Request::builder()
            .method("PUT")
            .uri(company_uri(company, "subscription"))
            .header("authorization", format!("Bearer {BILLING}"))
            .header("x-request-id", "req-sub-1")
            .header("content-type", "application/json")
            .body(Body::from(
                json!({"package": "basic", "status": "active", "current_period_end": "2027-06-01T00:00:00Z"})
                    .to_string(),
            ))
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(
        a.body,
        json!({
            "company_id": company.to_string(),
            "entitlement_version": 1,
            "basic_active": true,
            "modules": [{"key": "core", "source": "package:basic"}],
            "subscription": {
                "company_id": company.to_string(),
                "package": "basic",
                "status": "active",
                "current_period_end": "2027-06-01T00:00:00Z",
            },
            "add_ons": [],
            "valid_until": "2027-06-01T00:00:00Z",
        })
    );
    assert_eq!(
        a.header("x-kisum-consistency"),
        Some(ConsistencyToken::company(company, 1).to_string().as_str())
    );
    assert_eq!(a.header("x-request-id"), Some("req-sub-1"));
    assert_eq!(app.events.take(), [company_event(company)]);
    let r = records(&app).await.remove(0);
    assert_eq!(r.actor, "billing");
    assert_eq!(r.action, action::SUBSCRIPTION_PUT);
    assert_eq!(r.company_id, Some(company));
    assert_eq!(r.request_id.as_deref(), Some("req-sub-1"));
    assert_eq!(r.at, t0());
    assert_eq!(
        r.detail,
        json!({"package": "basic", "status": "active", "current_period_end": "2027-06-01T00:00:00Z", "entitlement_version": 1})
    );

    // Each write raises the version by one, visible in the body and the token.
    for v in 2..=3 {
        let a = ok(
            &app,
            "PUT",
            &company_uri(company, "subscription"),
            Some(json!({"package": "basic", "status": "past_due", "grace_until": "2020-01-01T00:00:00Z"})),
        )
        .await;
        assert_eq!(a.body["entitlement_version"], v);
        assert_eq!(a.body["basic_active"], false);
        assert_eq!(a.body["modules"], json!([]));
        assert_eq!(
            a.header("x-kisum-consistency"),
            Some(ConsistencyToken::company(company, v).to_string().as_str())
        );
    }
    assert_eq!(
        app.events.take(),
        [company_event(company), company_event(company)]
    );
    let a = ok(&app, "GET", &company_uri(company, "entitlements"), None).await;
    assert_eq!(a.body["entitlement_version"], 3);
    assert_eq!(a.header("x-kisum-consistency"), None);
}

#[tokio::test]
async fn company_addons_are_set_and_removed_with_audit_events_and_tokens() {
    let app = app();
    seed(&app).await;
    let company = CompanyId::new();
    let other = CompanyId::new();
    subscribe(&app, company).await;
    app.events.take();

    let a = ok(
        &app,
        "PUT",
        &company_uri(company, "addons/finance"),
        Some(json!({"status": "active"})),
    )
    .await;
    assert_eq!(a.body["entitlement_version"], 2);
    assert_eq!(
        a.body["modules"],
        json!([{"key": "core", "source": "package:basic"}, {"key": "finance", "source": "addon:finance"}])
    );
    assert_eq!(
        a.body["add_ons"],
        json!([{"company_id": company.to_string(), "addon": "finance", "status": "active"}])
    );
    assert_eq!(
        a.header("x-kisum-consistency"),
        Some(ConsistencyToken::company(company, 2).to_string().as_str())
    );

    let a = ok(
        &app,
        "DELETE",
        &company_uri(company, "addons/finance"),
        None,
    )
    .await;
    assert_eq!(a.body["entitlement_version"], 3);
    assert_eq!(a.body["add_ons"], json!([]));
    assert_eq!(
        a.body["modules"],
        json!([{"key": "core", "source": "package:basic"}])
    );
    assert_eq!(
        a.header("x-kisum-consistency"),
        Some(ConsistencyToken::company(company, 3).to_string().as_str())
    );
    assert_eq!(
        app.events.take(),
        [company_event(company), company_event(company)]
    );

    // Not held (any more, or by this company): 404, nothing written.
    for c in [company, other] {
        call(&app, "DELETE", &company_uri(c, "addons/finance"), None)
            .await
            .assert_problem(StatusCode::NOT_FOUND, "not_found");
    }
    assert!(app.events.events().is_empty());
    let mine = app.audit.list(Some(company), 10).await.unwrap();
    let actions: Vec<&str> = mine.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            action::COMPANY_ADDON_DELETE,
            action::COMPANY_ADDON_PUT,
            action::SUBSCRIPTION_PUT
        ]
    );
    assert_eq!(
        mine[0].detail,
        json!({"addon": "finance", "entitlement_version": 3})
    );
    assert_eq!(
        mine[1].detail,
        json!({"addon": "finance", "status": "active", "entitlement_version": 2})
    );
    assert!(mine.iter().all(|r| r.actor == "ops"));
}

#[tokio::test]
async fn unknown_module_package_and_addon_keys_are_422_and_change_nothing() {
    let app = app();
    seed(&app).await;
    let company = CompanyId::new();
    let before = records(&app).await.len();
    let cases = [
        (
            "PUT",
            "/internal/v1/packages/pro".to_owned(),
            Some(json!({"name": "Pro", "is_basic": false, "modules": ["core", "nope"]})),
            "modules",
        ),
        (
            "PUT",
            "/internal/v1/addons/nope".to_owned(),
            Some(json!({"name": "Nope", "module": "nope"})),
            "module",
        ),
        (
            "PUT",
            "/internal/v1/addons/sneaky".to_owned(),
            Some(json!({"name": "Sneaky", "module": "core"})),
            "module",
        ),
        (
            "PUT",
            "/internal/v1/modules/finance".to_owned(),
            Some(json!({"name": "Finance", "kind": "core"})),
            "kind",
        ),
        (
            "PUT",
            "/internal/v1/modules/finance".to_owned(),
            Some(
                json!({"name": "Finance", "kind": "addon", "permissions": ["market.things.read"]}),
            ),
            "permissions",
        ),
        (
            "PUT",
            company_uri(company, "subscription"),
            Some(json!({"package": "gold", "status": "active"})),
            "package",
        ),
        (
            "PUT",
            company_uri(company, "addons/nope"),
            Some(json!({"status": "active"})),
            "key",
        ),
        ("DELETE", company_uri(company, "addons/nope"), None, "key"),
    ];
    for (method, uri, body, field) in cases {
        let a = call(&app, method, &uri, body).await;
        a.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(a.field(), field, "{method} {uri}: {}", a.body);
        let detail = a.body["detail"].as_str().unwrap();
        assert!(detail.contains('`'), "names the key: {detail}");
    }
    assert_eq!(records(&app).await.len(), before);
    assert!(app.events.events().is_empty());
    let a = ok(&app, "GET", &company_uri(company, "entitlements"), None).await;
    assert_eq!(a.body["entitlement_version"], 0);
    assert_eq!(
        ok(&app, "GET", "/internal/v1/packages", None)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn malformed_json_is_400_and_wrong_shapes_are_422() {
    let app = app();
    seed(&app).await;
    let company = CompanyId::new();
    let raw = |uri: &str, content_type: Option<&str>, body: &str| {
        let mut b = Request::builder()
            .method("PUT")
            .uri(uri)
            .header("authorization", format!("Bearer {OPS}"));
        if let Some(ct) = content_type {
            b = b.header("content-type", ct);
        }
        b.body(Body::from(body.to_owned())).unwrap()
    };
    let sub = company_uri(company, "subscription");
    for (content_type, body) in [
        (Some("application/json"), "{"),
        (Some("application/json"), "not json"),
        (Some("application/json"), ""),
        (
            Some("text/plain"),
            r#"{"package": "basic", "status": "active"}"#,
        ),
        (None, r#"{"package": "basic", "status": "active"}"#),
    ] {
        send(&app.router, raw(&sub, content_type, body))
            .await
            .assert_problem(StatusCode::BAD_REQUEST, "invalid_request");
    }
    for (uri, body) in [
        (sub.as_str(), json!({"status": "active"})),
        (
            sub.as_str(),
            json!({"package": "basic", "status": "paused"}),
        ),
        (
            sub.as_str(),
            json!({"package": "Not A Key", "status": "active"}),
        ),
        (
            sub.as_str(),
            json!({"package": "basic", "status": "active", "grace_until": "tomorrow"}),
        ),
        (sub.as_str(), json!([])),
        (
            "/internal/v1/modules/x",
            json!({"name": "X", "kind": "plugin"}),
        ),
        (
            "/internal/v1/modules/x",
            json!({"name": "X", "kind": "core", "permissions": ["nodots"]}),
        ),
        (
            "/internal/v1/packages/p",
            json!({"name": "P", "is_basic": "yes", "modules": []}),
        ),
        (
            "/internal/v1/packages/p",
            json!({"name": "P", "is_basic": true}),
        ),
        (
            "/internal/v1/addons/a",
            json!({"name": 7, "module": "finance"}),
        ),
    ] {
        let a = send(
            &app.router,
            raw(uri, Some("application/json"), &body.to_string()),
        )
        .await;
        a.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
    // Bodies of the wrong shape name the offending field.
    for (uri, body, field) in [
        (
            "/internal/v1/packages/p",
            json!({"name": "P", "is_basic": true}),
            "modules",
        ),
        (
            "/internal/v1/packages/p",
            json!({"name": "P", "is_basic": "yes", "modules": []}),
            "is_basic",
        ),
        (
            "/internal/v1/addons/a",
            json!({"name": 7, "module": "finance"}),
            "name",
        ),
    ] {
        let a = send(
            &app.router,
            raw(uri, Some("application/json"), &body.to_string()),
        )
        .await;
        a.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(a.field(), field, "{uri} {body}: {}", a.body);
    }
    for uri in [
        "/internal/v1/modules/x",
        "/internal/v1/packages/p",
        "/internal/v1/addons/a",
    ] {
        let body = json!({"name": "  ", "kind": "core", "is_basic": true, "modules": [], "module": "finance"});
        let a = send(
            &app.router,
            raw(uri, Some("application/json"), &body.to_string()),
        )
        .await;
        a.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(a.field(), "name");
    }
    assert!(app.events.events().is_empty());
    assert_eq!(
        ok(&app, "GET", &company_uri(company, "entitlements"), None)
            .await
            .body["entitlement_version"],
        0
    );
}

#[tokio::test]
async fn bodies_over_one_mib_are_413() {
    let app = app();
    let name = "a".repeat(1024 * 1024);
    let body = json!({"name": name, "kind": "core"});
    let a = call(&app, "PUT", "/internal/v1/modules/core", Some(body)).await;
    a.assert_problem(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    // Just under the limit is accepted.
    let name = "a".repeat(1024 * 1024 - 100);
    ok(
        &app,
        "PUT",
        "/internal/v1/modules/core",
        Some(json!({"name": name, "kind": "core"})),
    )
    .await;
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405_as_problems() {
    let app = app();
    for uri in [
        "/internal/v1/nope",
        "/v1/auth/me",
        "/internal/v1/companies",
        "/internal/v1/modules/core/extra",
        "/",
    ] {
        call(&app, "GET", uri, None)
            .await
            .assert_problem(StatusCode::NOT_FOUND, "not_found");
    }
    for (method, uri) in [
        ("POST", "/internal/v1/modules".to_owned()),
        ("DELETE", "/internal/v1/modules/core".to_owned()),
        ("GET", company_uri(CompanyId::new(), "subscription")),
        ("PATCH", company_uri(CompanyId::new(), "addons/finance")),
    ] {
        call(&app, method, &uri, None)
            .await
            .assert_problem(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    }
}

#[tokio::test]
async fn malformed_path_parameters_are_400() {
    let app = app();
    seed(&app).await;
    let company = CompanyId::new();
    let cases = [
        (
            "GET",
            "/internal/v1/companies/not-a-uuid/entitlements".to_owned(),
            None,
        ),
        (
            "PUT",
            "/internal/v1/companies/42/subscription".to_owned(),
            Some(json!({"package": "basic", "status": "active"})),
        ),
        (
            "PUT",
            company_uri(company, "addons/Finance"),
            Some(json!({"status": "active"})),
        ),
        ("DELETE", company_uri(company, "addons/fin%20ance"), None),
        (
            "PUT",
            "/internal/v1/modules/Core".to_owned(),
            Some(json!({"name": "Core", "kind": "core"})),
        ),
        (
            "PUT",
            "/internal/v1/packages/%E2%9C%93".to_owned(),
            Some(json!({"name": "P", "is_basic": true, "modules": []})),
        ),
        (
            "PUT",
            format!("/internal/v1/addons/{}", "a".repeat(65)),
            Some(json!({"name": "A", "module": "finance"})),
        ),
    ];
    for (method, uri, body) in cases {
        let a = call(&app, method, &uri, body).await;
        a.assert_problem(StatusCode::BAD_REQUEST, "invalid_request");
        assert!(
            a.body["detail"]
                .as_str()
                .unwrap()
                .contains("is not a valid")
        );
    }
    assert!(app.events.events().is_empty());
}

#[tokio::test]
async fn catalog_edits_publish_an_event_for_every_affected_company() {
    let app = app();
    seed(&app).await;
    let (a, b, c) = (CompanyId::new(), CompanyId::new(), CompanyId::new());
    subscribe(&app, a).await;
    subscribe(&app, b).await;
    ok(
        &app,
        "PUT",
        &company_uri(c, "addons/finance"),
        Some(json!({"status": "active"})),
    )
    .await;
    app.events.take();

    let answer = ok(
        &app,
        "PUT",
        "/internal/v1/packages/basic",
        Some(json!({"name": "Basic", "is_basic": true, "modules": ["core", "market"]})),
    )
    .await;
    assert_eq!(answer.header("x-kisum-consistency"), None);
    let mut subscribers = vec![company_event(a), company_event(b)];
    subscribers.sort_by_key(|e| match e {
        InvalidationEvent::Company { company_id } => *company_id,
        _ => unreachable!(),
    });
    assert_eq!(app.events.take(), subscribers);
    for company in [a, b] {
        let e = ok(&app, "GET", &company_uri(company, "entitlements"), None).await;
        assert_eq!(e.body["entitlement_version"], 2);
        assert_eq!(
            e.body["modules"],
            json!([{"key": "core", "source": "package:basic"}, {"key": "market", "source": "package:basic"}])
        );
    }
    let r = records(&app).await.remove(0);
    assert_eq!(r.action, action::PACKAGE_PUT);
    assert_eq!(r.company_id, None);
    assert_eq!(r.detail["companies_affected"], 2);
    assert_eq!(r.detail["modules"], json!(["core", "market"]));

    ok(
        &app,
        "PUT",
        "/internal/v1/addons/finance",
        Some(json!({"name": "Finance+", "module": "finance"})),
    )
    .await;
    assert_eq!(app.events.take(), [company_event(c)]);
    ok(
        &app,
        "PUT",
        "/internal/v1/modules/finance",
        Some(json!({"name": "Finance", "kind": "addon"})),
    )
    .await;
    assert_eq!(app.events.take(), [company_event(c)]);
    ok(
        &app,
        "PUT",
        "/internal/v1/modules/market",
        Some(json!({"name": "Market", "kind": "addon"})),
    )
    .await;
    assert_eq!(app.events.take(), subscribers);
    let e = ok(&app, "GET", &company_uri(c, "entitlements"), None).await;
    assert_eq!(e.body["entitlement_version"], 3);
}

#[tokio::test]
async fn request_ids_are_echoed_when_usable_and_generated_otherwise() {
    let app = app();
    let get = |id: Option<&str>, key: &str| {
        let mut b = Request::builder()
            .uri("/internal/v1/modules")
            .header("authorization", format!("Bearer {key}"));
        if let Some(id) = id {
            b = b.header("x-request-id", id);
        }
        b.body(Body::empty()).unwrap()
    };
    let a = send(&app.router, get(Some("trace-42"), OPS)).await;
    assert_eq!(a.header("x-request-id"), Some("trace-42"));
    let a = send(
        &app.router,
        get(Some("trace-43"), "wrong-secret-0123456789"),
    )
    .await;
    a.assert_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
    assert_eq!(a.body["request_id"], "trace-43");
    for id in [None, Some(""), Some("has space"), Some(&*"x".repeat(129))] {
        let a = send(&app.router, get(id, OPS)).await;
        let generated = a.header("x-request-id").unwrap();
        assert!(generated.parse::<uuid::Uuid>().is_ok(), "{generated}");
    }
}

/// A store whose backend is down.
struct DownStore;

fn down() -> StoreError {
    StoreError::unavailable("database down")
}

#[async_trait]
impl CatalogStore for DownStore {
    async fn put_module(&self, _: Module) -> Result<Vec<VersionBump>, StoreError> {
        Err(down())
    }
    async fn put_package(&self, _: Package) -> Result<Vec<VersionBump>, StoreError> {
        Err(down())
    }
    async fn put_addon(&self, _: AddOn) -> Result<Vec<VersionBump>, StoreError> {
        Err(down())
    }
    async fn catalog(&self) -> Result<Arc<kisum_core::Catalog>, StoreError> {
        Err(down())
    }
}

#[async_trait]
impl SubscriptionStore for DownStore {
    async fn company_state(&self, _: CompanyId) -> Result<CompanyEntitlementState, StoreError> {
        Err(down())
    }
    async fn put_subscription(&self, _: Subscription) -> Result<u64, StoreError> {
        Err(down())
    }
    async fn put_company_addon(&self, _: CompanyAddOn) -> Result<u64, StoreError> {
        Err(down())
    }
    async fn remove_company_addon(&self, _: CompanyId, _: &AddOnKey) -> Result<u64, StoreError> {
        Err(down())
    }
}

#[tokio::test]
async fn an_unreachable_store_is_503_and_nothing_is_audited() {
    let app = app_over(Arc::new(DownStore), Arc::new(MemoryCoreAudit::new()));
    let company = CompanyId::new();
    let cases = [
        ("GET", "/internal/v1/modules".to_owned(), None),
        ("GET", "/internal/v1/packages".to_owned(), None),
        ("GET", "/internal/v1/addons".to_owned(), None),
        ("GET", company_uri(company, "entitlements"), None),
        (
            "PUT",
            "/internal/v1/modules/core".to_owned(),
            Some(json!({"name": "Core", "kind": "standard"})),
        ),
        (
            "PUT",
            company_uri(company, "subscription"),
            Some(json!({"package": "basic", "status": "active"})),
        ),
        ("DELETE", company_uri(company, "addons/finance"), None),
    ];
    for (method, uri, body) in cases {
        call(&app, method, &uri, body)
            .await
            .assert_problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    }
    assert!(records(&app).await.is_empty());
    assert!(app.events.events().is_empty());
}

/// An audit sink that refuses everything.
struct BrokenAudit;

#[async_trait]
impl CoreAudit for BrokenAudit {
    async fn append(&self, _: &CoreAuditRecord) -> Result<(), StoreError> {
        Err(down())
    }
    async fn list(&self, _: Option<CompanyId>, _: u32) -> Result<Vec<CoreAuditRecord>, StoreError> {
        Err(down())
    }
    async fn prune(&self, _: DateTime<Utc>) -> Result<u64, StoreError> {
        Err(down())
    }
}

#[tokio::test]
async fn a_failing_audit_sink_does_not_undo_or_fail_a_committed_write() {
    let app = app_over(Arc::new(MemoryCoreStore::new()), Arc::new(BrokenAudit));
    seed(&app).await;
    let company = CompanyId::new();
    let a = subscribe(&app, company).await;
    assert_eq!(a.body["entitlement_version"], 1);
    assert_eq!(app.events.take(), [company_event(company)]);
}

#[tokio::test]
async fn writes_are_audited_in_the_sqlite_core_database() {
    let store = Arc::new(
        SqliteCoreStore::connect(&kisum_core::testkit::db::sqlite_url())
            .await
            .unwrap(),
    );
    let app = app_over(store.clone(), store.clone());
    seed(&app).await;
    let company = CompanyId::new();
    let a = subscribe(&app, company).await;
    assert_eq!(
        a.header("x-kisum-consistency"),
        Some(ConsistencyToken::company(company, 1).to_string().as_str())
    );
    ok(
        &app,
        "PUT",
        &company_uri(company, "addons/market"),
        Some(json!({"status": "trialing", "current_period_end": "2027-02-01T12:00:00.123456Z"})),
    )
    .await;
    let a = ok(&app, "DELETE", &company_uri(company, "addons/market"), None).await;
    assert_eq!(a.body["entitlement_version"], 3);
    assert_eq!(app.events.take(), vec![company_event(company); 3]);

    let mine = store.list(Some(company), 10).await.unwrap();
    let summary: Vec<(&str, &str, u64)> = mine
        .iter()
        .map(|r| {
            (
                r.actor.as_str(),
                r.action.as_str(),
                r.detail["entitlement_version"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("ops", action::COMPANY_ADDON_DELETE, 3),
            ("ops", action::COMPANY_ADDON_PUT, 2),
            ("ops", action::SUBSCRIPTION_PUT, 1)
        ]
    );
    assert_eq!(
        mine[1].detail["current_period_end"],
        "2027-02-01T12:00:00.123456Z"
    );
    assert!(mine.iter().all(|r| r.request_id.is_some() && r.at == t0()));
    // The catalog writes of the seed, without a company.
    assert_eq!(store.list(None, 100).await.unwrap().len(), 6 + 3);
}
