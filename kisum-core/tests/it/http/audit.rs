//! The audit trail: a failing sink never undoes a committed write, and the SQLite core database
//! keeps every write.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::audit::{CoreAudit, CoreAuditRecord, action};
use kisum_core::db::StoreError;
use kisum_core::{MemoryCoreStore, SqliteCoreStore};
use kisum_guard::{CompanyId, ConsistencyToken};
use serde_json::json;

use super::{app_over, company_event, company_uri, down, ok, seed, subscribe, t0};

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
