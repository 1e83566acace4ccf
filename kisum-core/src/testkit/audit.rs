//! The conformance suite every [`CoreAudit`] backend must pass.
//!
//! [`core_audit_conformance!`](crate::core_audit_conformance) stamps out one `#[tokio::test]`
//! per check for a backend, each with a fresh, empty log:
//!
//! ```text
//! async fn make_audit() -> MyAudit { MyAudit::connect(...).await.unwrap() }
//! kisum_core::core_audit_conformance!(make_audit);
//! ```

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use kisum_guard::CompanyId;

use crate::audit::{CoreAudit, CoreAuditRecord, action};
use crate::db::StoreErrorKind;

/// Stamps out the Core audit conformance suite for the log made by the async fn `$make`.
///
/// With `ignore = "reason"`, the tests are `#[ignore]`d with that reason (run them with
/// `--include-ignored`).
#[macro_export]
macro_rules! core_audit_conformance {
    ($make:path $(, ignore = $reason:literal)?) => {
        $crate::conformance_tests!($make; [$crate::testkit::audit]; [$(#[ignore = $reason])?];
            audit_records_round_trip_exactly,
            audit_lists_newest_first_filtered_and_limited,
            audit_refuses_invalid_records_and_duplicate_ids,
            audit_prune_deletes_only_older_records,
        );
    };
}

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
}

pub async fn audit_records_round_trip_exactly<A: CoreAudit>(audit: Arc<A>) {
    let company = CompanyId::new();
    let r = CoreAuditRecord::new(
        at(0) + TimeDelta::microseconds(123_456),
        "billing",
        action::SUBSCRIPTION_PUT,
    )
    .with_company(company)
    .with_request_id("req-1")
    .with_detail(serde_json::json!({"package": "basic", "nested": {"n": 1, "list": ["a"]}}));
    audit.append(&r).await.unwrap();
    let bare = CoreAuditRecord::new(at(1), "ops", action::MODULE_PUT);
    audit.append(&bare).await.unwrap();
    assert_eq!(audit.list(None, 10).await.unwrap(), [bare, r]);
}

pub async fn audit_lists_newest_first_filtered_and_limited<A: CoreAudit>(audit: Arc<A>) {
    let (a, b) = (CompanyId::new(), CompanyId::new());
    for (i, company) in [(2, Some(a)), (0, Some(a)), (1, None), (3, Some(b))] {
        let mut r = CoreAuditRecord::new(at(i), "ops", action::COMPANY_ADDON_PUT);
        r.company_id = company;
        audit.append(&r).await.unwrap();
    }
    let times = |v: Vec<CoreAuditRecord>| v.iter().map(|r| r.at).collect::<Vec<_>>();
    assert_eq!(
        times(audit.list(None, 10).await.unwrap()),
        [at(3), at(2), at(1), at(0)]
    );
    assert_eq!(
        times(audit.list(Some(a), 10).await.unwrap()),
        [at(2), at(0)]
    );
    assert_eq!(times(audit.list(None, 2).await.unwrap()), [at(3), at(2)]);
    assert!(audit.list(None, 0).await.unwrap().is_empty());
    assert!(
        audit
            .list(Some(CompanyId::new()), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(audit.list(None, u32::MAX).await.unwrap().len(), 4);
}

pub async fn audit_refuses_invalid_records_and_duplicate_ids<A: CoreAudit>(audit: Arc<A>) {
    let ok = CoreAuditRecord::new(at(0), "ops", action::ADDON_PUT);
    audit.append(&ok).await.unwrap();
    assert_eq!(
        audit.append(&ok).await.unwrap_err().kind(),
        StoreErrorKind::Conflict
    );
    for bad in [
        CoreAuditRecord::new(at(0), "", action::ADDON_PUT),
        CoreAuditRecord::new(at(0), "ops", ""),
        CoreAuditRecord::new(at(0), "ops", action::ADDON_PUT).with_detail(serde_json::json!("x")),
    ] {
        assert_eq!(
            audit.append(&bad).await.unwrap_err().kind(),
            StoreErrorKind::Invalid
        );
    }
    assert_eq!(audit.list(None, 10).await.unwrap(), [ok]);
}

pub async fn audit_prune_deletes_only_older_records<A: CoreAudit>(audit: Arc<A>) {
    for i in 0..4 {
        audit
            .append(&CoreAuditRecord::new(at(i), "ops", action::PACKAGE_PUT))
            .await
            .unwrap();
    }
    assert_eq!(audit.prune(at(2)).await.unwrap(), 2);
    let left: Vec<_> = audit
        .list(None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.at)
        .collect();
    assert_eq!(left, [at(3), at(2)]);
    assert_eq!(audit.prune(at(0)).await.unwrap(), 0);
}
