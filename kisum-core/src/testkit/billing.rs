//! The conformance suite every [`BillingStore`] backend must pass (decision 0027): events
//! recorded once, a Stripe change applied once with its event id and one version bump (and its
//! invalidation event), older changes recorded as stale and writing nothing, what a
//! subscription no longer holds canceled, and concurrent replays applied once.
//!
//! [`billing_store_conformance!`](crate::billing_store_conformance) stamps out one
//! `#[tokio::test]` per check for a backend that is also a [`CoreStore`] (the billing writes
//! share its transactions), each with a fresh, empty store:
//!
//! ```text
//! async fn make_store() -> MyStore { MyStore::connect(...).await.unwrap() }
//! kisum_core::billing_store_conformance!(make_store);
//! ```

use std::sync::Arc;

use kisum_guard::{AddOnKey, CompanyId, InvalidationEvent, PackageKey};

use super::events::events_after;
use super::{seed_catalog, t, version};
use crate::billing::{
    ApplyOutcome, BillingEventRecord, BillingOutcome, BillingStore, StripeChange,
};
use crate::store::CoreStore;
use crate::subscription::{CompanyAddOn, Subscription, SubscriptionStatus};

/// Stamps out the billing store conformance suite for the store made by the async fn `$make`.
///
/// With `ignore = "reason"`, the tests are `#[ignore]`d with that reason (run them with
/// `--include-ignored`).
#[macro_export]
macro_rules! billing_store_conformance {
    ($make:path $(, ignore = $reason:literal)?) => {
        $crate::conformance_tests!($make; [$crate::testkit::billing]; [$(#[ignore = $reason])?];
            events_without_state_are_recorded_once,
            a_stripe_change_applies_once_with_one_bump_and_its_event,
            older_changes_are_recorded_stale_and_write_nothing,
            what_a_subscription_no_longer_holds_is_canceled,
            concurrent_replays_apply_once,
        );
    };
}

fn record(id: &str, outcome: BillingOutcome, company: Option<CompanyId>) -> BillingEventRecord {
    BillingEventRecord {
        event_id: id.to_owned(),
        kind: "customer.subscription.updated".to_owned(),
        created: 1_800_000_000,
        received_at: t(5),
        outcome,
        company_id: company,
        subscription_id: Some("sub_1".to_owned()),
        reason: None,
    }
}

fn change(company: CompanyId, created: i64, rank: i32, addons: &[&str]) -> StripeChange {
    StripeChange {
        subscription_id: "sub_1".to_owned(),
        company_id: company,
        created,
        rank,
        subscription: Some(Subscription {
            company_id: company,
            package: PackageKey::new("basic").unwrap(),
            status: SubscriptionStatus::Active,
            current_period_end: Some(t(3_600)),
            grace_until: Some(t(7_200)),
        }),
        addons: addons
            .iter()
            .map(|a| CompanyAddOn {
                company_id: company,
                addon: AddOnKey::new(a).unwrap(),
                status: SubscriptionStatus::Active,
                current_period_end: Some(t(7_200)),
            })
            .collect(),
    }
}

pub async fn events_without_state_are_recorded_once<S: CoreStore + BillingStore>(store: Arc<S>) {
    let company = CompanyId::new();
    let mut r = record("evt_ignored", BillingOutcome::Ignored, Some(company));
    r.reason = Some("unknown_price".to_owned());
    assert!(store.record_event(&r).await.unwrap());
    let again = BillingEventRecord {
        outcome: BillingOutcome::Recorded,
        ..r.clone()
    };
    assert!(!store.record_event(&again).await.unwrap(), "a known id");
    assert_eq!(store.billing_event("evt_ignored").await.unwrap(), Some(r));
    let mut bare = record("evt_bare", BillingOutcome::Recorded, None);
    bare.subscription_id = None;
    assert!(store.record_event(&bare).await.unwrap());
    assert_eq!(store.billing_event("evt_bare").await.unwrap(), Some(bare));
    assert_eq!(store.billing_event("evt_unknown").await.unwrap(), None);
    assert_eq!(version(&*store, company).await, 0);
}

pub async fn a_stripe_change_applies_once_with_one_bump_and_its_event<
    S: CoreStore + BillingStore,
>(
    store: Arc<S>,
) {
    seed_catalog(&*store).await;
    let company = CompanyId::new();
    let log = store.event_log();
    let start = log.read(0, 0).await.unwrap().head;
    let c = change(company, 100, 0, &["finance", "market"]);
    let r = record("evt_1", BillingOutcome::Applied, Some(company));
    assert_eq!(
        store.apply_stripe_change(&r, &c).await.unwrap(),
        ApplyOutcome::Applied {
            entitlement_version: 1
        }
    );
    let state = store.company_state(company).await.unwrap();
    assert_eq!(state.entitlement_version, 1, "one bump for the whole event");
    assert_eq!(state.subscription, c.subscription);
    assert_eq!(state.add_ons, c.addons);
    let events: Vec<_> = events_after(&*log, start)
        .await
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(
        events,
        [InvalidationEvent::Company {
            company_id: company
        }]
    );
    assert_eq!(store.billing_event("evt_1").await.unwrap(), Some(r.clone()));
    let applied = store.stripe_subscription("sub_1").await.unwrap().unwrap();
    assert_eq!(
        (applied.company_id, applied.last_created, applied.last_rank),
        (company, 100, 0)
    );
    assert_eq!(applied.package.unwrap().as_str(), "basic");
    assert_eq!(applied.addons.len(), 2);
    // A replay, even of a newer state under the same id, writes nothing.
    let newer = change(company, 200, 1, &[]);
    assert_eq!(
        store.apply_stripe_change(&r, &newer).await.unwrap(),
        ApplyOutcome::Duplicate
    );
    assert_eq!(store.company_state(company).await.unwrap(), state);
    assert_eq!(events_after(&*log, start).await.len(), 1);
}

pub async fn older_changes_are_recorded_stale_and_write_nothing<S: CoreStore + BillingStore>(
    store: Arc<S>,
) {
    seed_catalog(&*store).await;
    let company = CompanyId::new();
    let updated = change(company, 100, 1, &["finance"]);
    let r = record("evt_updated", BillingOutcome::Applied, Some(company));
    store.apply_stripe_change(&r, &updated).await.unwrap();
    let before = store.company_state(company).await.unwrap();
    for (id, created, rank) in [("evt_older", 99, 2), ("evt_created", 100, 0)] {
        let r = record(id, BillingOutcome::Applied, Some(company));
        assert_eq!(
            store
                .apply_stripe_change(&r, &change(company, created, rank, &[]))
                .await
                .unwrap(),
            ApplyOutcome::Stale,
            "{id}"
        );
        let recorded = store.billing_event(id).await.unwrap().unwrap();
        assert_eq!(recorded.outcome, BillingOutcome::Stale);
    }
    assert_eq!(store.company_state(company).await.unwrap(), before);
    let same_second = record("evt_deleted", BillingOutcome::Applied, Some(company));
    assert!(matches!(
        store
            .apply_stripe_change(&same_second, &change(company, 100, 2, &["finance"]))
            .await
            .unwrap(),
        ApplyOutcome::Applied { .. }
    ));
}

pub async fn what_a_subscription_no_longer_holds_is_canceled<S: CoreStore + BillingStore>(
    store: Arc<S>,
) {
    seed_catalog(&*store).await;
    let company = CompanyId::new();
    let r = record("evt_a", BillingOutcome::Applied, Some(company));
    store
        .apply_stripe_change(&r, &change(company, 100, 0, &["finance", "market"]))
        .await
        .unwrap();
    let mut dropped = change(company, 200, 1, &["market"]);
    dropped.subscription = None;
    let r = record("evt_b", BillingOutcome::Applied, Some(company));
    store.apply_stripe_change(&r, &dropped).await.unwrap();
    let state = store.company_state(company).await.unwrap();
    let sub = state.subscription.unwrap();
    assert_eq!(
        (sub.package.as_str(), sub.status),
        ("basic", SubscriptionStatus::Canceled)
    );
    let addons: Vec<_> = state
        .add_ons
        .iter()
        .map(|a| (a.addon.as_str(), a.status))
        .collect();
    assert_eq!(
        addons,
        [
            ("finance", SubscriptionStatus::Canceled),
            ("market", SubscriptionStatus::Active)
        ]
    );
    let applied = store.stripe_subscription("sub_1").await.unwrap().unwrap();
    assert_eq!(applied.package, None);
    assert_eq!(applied.addons, [AddOnKey::new("market").unwrap()]);
}

pub async fn concurrent_replays_apply_once<S: CoreStore + BillingStore>(store: Arc<S>) {
    seed_catalog(&*store).await;
    let company = CompanyId::new();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let r = record("evt_racing", BillingOutcome::Applied, Some(company));
                store
                    .apply_stripe_change(&r, &change(company, 100, 1, &["finance"]))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut applied = 0;
    for task in tasks {
        match task.await.unwrap() {
            ApplyOutcome::Applied { .. } => applied += 1,
            ApplyOutcome::Duplicate => {}
            ApplyOutcome::Stale => panic!("a replay is a duplicate, not stale"),
        }
    }
    assert_eq!(applied, 1);
    assert_eq!(version(&*store, company).await, 1);
}
