//! The [`AuditStore`] conformance checks (stamped by `audit_store_conformance!`).
//!
//! Every check writes under a fresh company id and asserts only on its own rows, so a shared
//! database works. Pruning is global, so the prune check uses times far in the past that no
//! other check uses, and a cut-off that moves further into the past on every run: rows an
//! earlier run left behind are all newer than it and stay.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use kisum_core::db::StoreErrorKind;
use kisum_guard::{Clock, CompanyId, SystemClock, UserId};
use serde_json::json;

use super::t;
use crate::audit::{AuditEvent, AuditOutcome, AuditStore, MAX_LIST_LIMIT, action};

/// Stamps out the [`AuditStore`](crate::audit::AuditStore) conformance suite; with
/// `ignore = "reason"` the tests are `#[ignore]`d with that reason.
#[macro_export]
macro_rules! audit_store_conformance {
    ($make:path) => {
        $crate::audit_store_conformance!(@list $make; []);
    };
    ($make:path, ignore = $reason:literal) => {
        $crate::audit_store_conformance!(@list $make; [#[ignore = $reason]]);
    };
    (@list $make:path; $attrs:tt) => {
        $crate::__kisum_auth_conformance_tests!($make; $attrs;
            audit_events_round_trip,
            audit_list_is_newest_first,
            audit_list_filters_by_company,
            audit_list_since_is_inclusive,
            audit_list_keeps_the_newest_within_the_limit,
            audit_list_returns_at_most_the_cap,
            audit_prune_deletes_strictly_older,
        );
    };
}

fn event(company: CompanyId, at: DateTime<Utc>) -> AuditEvent {
    AuditEvent::new(at, action::MEMBERSHIP_UPDATE, AuditOutcome::Success).with_company(company)
}

/// `events` newest first, as every `list` must return them.
fn newest_first(mut events: Vec<AuditEvent>) -> Vec<AuditEvent> {
    events.sort_by_key(|e| std::cmp::Reverse((e.at, e.id)));
    events
}

async fn append_all<S: AuditStore>(store: &S, events: &[AuditEvent]) {
    for e in events {
        store.append(e).await.unwrap();
    }
}

pub async fn audit_events_round_trip<S: AuditStore>(store: Arc<S>) {
    let c = CompanyId::new();
    let full = AuditEvent::new(
        t(100) + TimeDelta::microseconds(123_457),
        action::ROLE_PUT,
        AuditOutcome::Denied,
    )
    .with_actor(UserId::new())
    .with_company(c)
    .with_ip("2001:db8::7")
    .with_request_id("req-0193-audit")
    .with_details(json!({
        "role": "finance-viewer",
        "permissions": ["finance.invoices.read", "finance.*"],
        "count": 3,
        "ratio": 0.25,
        "big": u64::MAX,
        "negative": -17,
        "flag": true,
        "none": null,
        "nested": { "z": 1, "a": { "deep": "ü ✓ \"quoted\" \\ \n" } },
    }));
    let bare = AuditEvent::new(
        t(100) + TimeDelta::microseconds(123_456),
        action::LOGIN_FAILURE,
        AuditOutcome::Failure,
    )
    .with_company(c);
    append_all(&*store, &[full.clone(), bare.clone()]).await;
    assert_eq!(
        store.list(Some(c), None, 10).await.unwrap(),
        vec![full.clone(), bare.clone()],
        "every field and the microseconds survive"
    );

    assert_eq!(
        store.append(&full).await.unwrap_err().kind(),
        StoreErrorKind::Conflict,
        "an id is stored once"
    );
    let not_an_object = event(c, t(200)).with_details(json!(["a", "list"]));
    assert_eq!(
        store.append(&not_an_object).await.unwrap_err().kind(),
        StoreErrorKind::Invalid
    );
    let no_action = AuditEvent::new(t(200), "", AuditOutcome::Success).with_company(c);
    assert_eq!(
        store.append(&no_action).await.unwrap_err().kind(),
        StoreErrorKind::Invalid
    );
    assert_eq!(
        store.list(Some(c), None, 10).await.unwrap(),
        vec![full, bare],
        "refused events store nothing"
    );
}

pub async fn audit_list_is_newest_first<S: AuditStore>(store: Arc<S>) {
    let c = CompanyId::new();
    let events = vec![
        event(c, t(20)),
        event(c, t(40)),
        event(c, t(10)),
        event(c, t(40)),
        event(c, t(30) + TimeDelta::microseconds(1)),
        event(c, t(30)),
        event(c, t(40)),
    ];
    append_all(&*store, &events).await;
    let listed = store.list(Some(c), None, 100).await.unwrap();
    assert_eq!(
        listed,
        newest_first(events),
        "by time, then by id, both descending"
    );
}

pub async fn audit_list_filters_by_company<S: AuditStore>(store: Arc<S>) {
    let (a, b) = (CompanyId::new(), CompanyId::new());
    // Far in the future, so that `since` leaves out (nearly) every other check's rows.
    let base =
        t(0) + TimeDelta::days(365 * 900) + TimeDelta::seconds(rand::random_range(0..1 << 30));
    let in_a = vec![event(a, base), event(a, base + TimeDelta::seconds(2))];
    let in_b = vec![event(b, base + TimeDelta::seconds(1))];
    let nowhere = AuditEvent::new(
        base + TimeDelta::seconds(3),
        action::LOGIN_FAILURE,
        AuditOutcome::Failure,
    );
    append_all(&*store, &in_a).await;
    append_all(&*store, &in_b).await;
    store.append(&nowhere).await.unwrap();

    assert_eq!(
        store.list(Some(a), None, 100).await.unwrap(),
        newest_first(in_a.clone())
    );
    assert_eq!(store.list(Some(b), None, 100).await.unwrap(), in_b);
    assert_eq!(
        store.list(Some(CompanyId::new()), None, 100).await.unwrap(),
        vec![]
    );

    let all = store.list(None, Some(base), MAX_LIST_LIMIT).await.unwrap();
    let mine: Vec<AuditEvent> = all
        .into_iter()
        .filter(|e| e.id == nowhere.id || e.company_id == Some(a) || e.company_id == Some(b))
        .collect();
    let mut expected = in_a;
    expected.extend(in_b);
    expected.push(nowhere);
    assert_eq!(
        mine,
        newest_first(expected),
        "without a company: every company's events and those of none"
    );
}

pub async fn audit_list_since_is_inclusive<S: AuditStore>(store: Arc<S>) {
    let c = CompanyId::new();
    let at_10 = event(c, t(10));
    let at_20 = event(c, t(20));
    let just_after_20 = event(c, t(20) + TimeDelta::microseconds(1));
    let at_30 = event(c, t(30));
    append_all(
        &*store,
        &[
            at_10.clone(),
            at_20.clone(),
            just_after_20.clone(),
            at_30.clone(),
        ],
    )
    .await;
    assert_eq!(
        store.list(Some(c), Some(t(20)), 100).await.unwrap(),
        vec![at_30.clone(), just_after_20.clone(), at_20]
    );
    assert_eq!(
        store
            .list(Some(c), Some(t(20) + TimeDelta::microseconds(1)), 100)
            .await
            .unwrap(),
        vec![at_30.clone(), just_after_20]
    );
    assert_eq!(
        store.list(Some(c), Some(t(30)), 100).await.unwrap(),
        vec![at_30]
    );
    assert_eq!(store.list(Some(c), Some(t(31)), 100).await.unwrap(), vec![]);
    assert_eq!(store.list(Some(c), None, 100).await.unwrap().len(), 4);
    assert_eq!(
        store.list(Some(c), Some(t(0)), 100).await.unwrap().last(),
        Some(&at_10)
    );
}

pub async fn audit_list_keeps_the_newest_within_the_limit<S: AuditStore>(store: Arc<S>) {
    let c = CompanyId::new();
    let events: Vec<AuditEvent> = (0..5).map(|i| event(c, t(i * 10))).collect();
    append_all(&*store, &events).await;
    let all = newest_first(events);
    assert_eq!(store.list(Some(c), None, 2).await.unwrap(), all[..2]);
    assert_eq!(
        store.list(Some(c), Some(t(10)), 3).await.unwrap(),
        all[..3],
        "the limit applies after the filters"
    );
    assert_eq!(store.list(Some(c), None, 1).await.unwrap(), all[..1]);
    assert_eq!(store.list(Some(c), None, 0).await.unwrap(), vec![]);
    assert_eq!(store.list(Some(c), None, u32::MAX).await.unwrap(), all);
}

pub async fn audit_list_returns_at_most_the_cap<S: AuditStore>(store: Arc<S>) {
    let c = CompanyId::new();
    let n = i64::from(MAX_LIST_LIMIT) + 1;
    let events: Vec<AuditEvent> = (0..n)
        .map(|i| event(c, t(0) + TimeDelta::microseconds(i)))
        .collect();
    append_all(&*store, &events).await;
    let listed = store.list(Some(c), None, u32::MAX).await.unwrap();
    assert_eq!(listed.len(), MAX_LIST_LIMIT as usize);
    assert_eq!(
        listed.last().map(|e| e.at),
        Some(t(0) + TimeDelta::microseconds(1)),
        "the oldest one is left out"
    );
}

/// A cut-off in the 19th century, earlier on every run (and never used by another check).
fn far_past_cutoff() -> DateTime<Utc> {
    const YEAR_1900_MICROS: i64 = -2_208_988_800 * 1_000_000;
    DateTime::from_timestamp_micros(YEAR_1900_MICROS - SystemClock.now().timestamp_micros())
        .unwrap()
}

pub async fn audit_prune_deletes_strictly_older<S: AuditStore>(store: Arc<S>) {
    let (c, other) = (CompanyId::new(), CompanyId::new());
    let cutoff = far_past_cutoff();
    let old = vec![
        event(c, cutoff - TimeDelta::seconds(2)),
        event(c, cutoff - TimeDelta::microseconds(1)),
        event(other, cutoff - TimeDelta::seconds(1)),
    ];
    let kept = vec![
        event(c, cutoff),
        event(c, cutoff + TimeDelta::seconds(1)),
        event(other, cutoff + TimeDelta::microseconds(1)),
    ];
    append_all(&*store, &old).await;
    append_all(&*store, &kept).await;

    assert_eq!(
        store.prune(cutoff).await.unwrap(),
        3,
        "every company's older events, none at the cut-off"
    );
    assert_eq!(
        store.list(Some(c), None, 100).await.unwrap(),
        newest_first(kept[..2].to_vec())
    );
    assert_eq!(store.list(Some(other), None, 100).await.unwrap(), kept[2..]);
    assert_eq!(
        store.prune(cutoff).await.unwrap(),
        0,
        "nothing left to prune"
    );
    let kept_first = kept[0].clone();
    assert_eq!(
        store.append(&kept_first).await.unwrap_err().kind(),
        StoreErrorKind::Conflict,
        "kept events keep their ids"
    );
}
