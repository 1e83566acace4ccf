//! The internal HTTP API through `Router` + `oneshot`: service keys, every route and every error
//! code, audit records and invalidation events, versions and consistency tokens.
//!
//! This module holds the shared fixture (`App`, the demo catalog `seed`); the tests live in the
//! submodules, one per resource, and speak HTTP through [`crate::client`].

mod audit;
mod billing;
mod catalog;
mod certificates;
mod companies;
mod errors;
mod keys;
mod licenses;

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use kisum_core::audit::{CoreAudit, CoreAuditRecord};
use kisum_core::db::StoreError;
use kisum_core::{
    CoreAdmin, CoreState, CoreStore, EntitlementService, MemoryCoreAudit, MemoryCoreStore,
    MemoryEvents, internal_router,
};
use kisum_guard::{CompanyId, InvalidationEvent, ManualClock, ServiceKeys};
use serde_json::{Value, json};

use crate::client::{Answer, request, send};

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
    app_with(store, audit, |state| state)
}

/// [`app_over`] with `configure` applied to the router's state.
fn app_with(
    store: Arc<dyn CoreStore>,
    audit: Arc<dyn CoreAudit>,
    configure: impl FnOnce(CoreState) -> CoreState,
) -> App {
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
        router: internal_router(configure(CoreState::new(admin, keys))),
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

/// Turns company `company`'s `finance` add-on on (`PUT …/addons/finance`, active).
async fn add_finance(app: &App, company: CompanyId) -> Answer {
    ok(
        app,
        "PUT",
        &company_uri(company, "addons/finance"),
        Some(json!({"status": "active"})),
    )
    .await
}

async fn records(app: &App) -> Vec<CoreAuditRecord> {
    app.audit.list(None, 1000).await.unwrap()
}

fn company_event(company_id: CompanyId) -> InvalidationEvent {
    InvalidationEvent::Company { company_id }
}

/// The error of a store whose backend is down.
fn down() -> StoreError {
    StoreError::unavailable("database down")
}
