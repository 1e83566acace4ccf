//! The error answers: unknown keys, malformed and oversized bodies, unknown routes and methods,
//! malformed path parameters, an unreachable store.

use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use kisum_core::db::StoreError;
use kisum_core::{
    AddOn, CatalogStore, CompanyAddOn, CompanyEntitlementState, MemoryCoreAudit, Module, Package,
    Subscription, SubscriptionStore, VersionBump,
};
use kisum_guard::{AddOnKey, CompanyId};
use serde_json::json;

use super::{OPS, app, app_over, call, company_uri, down, ok, records, seed};
use crate::client::send;

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

/// A store whose backend is down.
struct DownStore;

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

impl kisum_core::outbox::EventLogged for DownStore {
    fn event_log(&self) -> Arc<dyn kisum_core::outbox::EventLog> {
        Arc::new(kisum_core::outbox::MemoryEventLog::new())
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
