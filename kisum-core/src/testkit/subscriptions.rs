//! The company-state checks: subscriptions and add-ons, their versions, isolation, precision and
//! concurrency.

use std::sync::Arc;

use kisum_guard::{AddOnKey, CompanyId, PackageKey};

use super::{add_addon, company_addon, seed_catalog, subscribe, subscription, t, version};
use crate::db::StoreErrorKind;
use crate::store::CoreStore;
use crate::subscription::{CompanyAddOn, Subscription, SubscriptionStatus};
use chrono::TimeDelta;

pub async fn unknown_company_has_empty_state_at_version_zero<S: CoreStore>(store: Arc<S>) {
    let company = CompanyId::new();
    let state = store.company_state(company).await.unwrap();
    assert_eq!(state.company_id, company);
    assert_eq!(state.entitlement_version, 0);
    assert!(state.subscription.is_none() && state.add_ons.is_empty());
}

pub async fn subscription_write_bumps_and_replaces<S: CoreStore>(store: Arc<S>) {
    seed_catalog(&*store).await;
    let company = CompanyId::new();
    let s = subscription(company, "basic", SubscriptionStatus::Trialing);
    assert_eq!(store.put_subscription(s.clone()).await.unwrap(), 1);
    assert_eq!(
        store.company_state(company).await.unwrap().subscription,
        Some(s)
    );
    let replaced = Subscription {
        package: PackageKey::new("plus").unwrap(),
        status: SubscriptionStatus::PastDue,
        current_period_end: None,
        grace_until: None,
        company_id: company,
    };
    assert_eq!(store.put_subscription(replaced.clone()).await.unwrap(), 2);
    let state = store.company_state(company).await.unwrap();
    assert_eq!(state.subscription, Some(replaced));
    assert_eq!(state.entitlement_version, 2);
}

pub async fn company_addons_upsert_sorted_and_bump<S: CoreStore>(store: Arc<S>) {
    seed_catalog(&*store).await;
    let company = CompanyId::new();
    assert_eq!(
        add_addon(&*store, company, "market", SubscriptionStatus::Active).await,
        1
    );
    assert_eq!(
        add_addon(&*store, company, "finance", SubscriptionStatus::Trialing).await,
        2
    );
    let updated = CompanyAddOn {
        current_period_end: Some(t(60)),
        ..company_addon(company, "market", SubscriptionStatus::Canceled)
    };
    assert_eq!(store.put_company_addon(updated.clone()).await.unwrap(), 3);
    let state = store.company_state(company).await.unwrap();
    let keys: Vec<_> = state.add_ons.iter().map(|a| a.addon.as_str()).collect();
    assert_eq!(keys, ["finance", "market"]);
    assert_eq!(state.add_ons[1], updated);
    assert_eq!(state.entitlement_version, 3);
}

pub async fn removing_a_company_addon_bumps_or_is_not_found<S: CoreStore>(store: Arc<S>) {
    seed_catalog(&*store).await;
    let company = CompanyId::new();
    let finance = AddOnKey::new("finance").unwrap();
    let err = store
        .remove_company_addon(company, &finance)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::NotFound);
    add_addon(&*store, company, "finance", SubscriptionStatus::Active).await;
    assert_eq!(
        store.remove_company_addon(company, &finance).await.unwrap(),
        2
    );
    assert!(
        store
            .company_state(company)
            .await
            .unwrap()
            .add_ons
            .is_empty()
    );
    let err = store
        .remove_company_addon(company, &finance)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::NotFound);
    assert_eq!(
        version(&*store, company).await,
        2,
        "a failed removal must not bump"
    );
}

pub async fn companies_are_isolated<S: CoreStore>(store: Arc<S>) {
    seed_catalog(&*store).await;
    let (a, b) = (CompanyId::new(), CompanyId::new());
    subscribe(&*store, a, "basic", SubscriptionStatus::Active).await;
    add_addon(&*store, a, "finance", SubscriptionStatus::Active).await;
    let state = store.company_state(b).await.unwrap();
    assert_eq!(state.entitlement_version, 0);
    assert!(state.subscription.is_none() && state.add_ons.is_empty());
}

pub async fn times_keep_microseconds<S: CoreStore>(store: Arc<S>) {
    seed_catalog(&*store).await;
    let company = CompanyId::new();
    let precise = t(10) + TimeDelta::microseconds(123_456);
    let s = Subscription {
        current_period_end: Some(precise),
        grace_until: None,
        ..subscription(company, "basic", SubscriptionStatus::Active)
    };
    store.put_subscription(s.clone()).await.unwrap();
    assert_eq!(
        store.company_state(company).await.unwrap().subscription,
        Some(s)
    );
}

pub async fn concurrent_writes_lose_nothing<S: CoreStore>(store: Arc<S>) {
    seed_catalog(&*store).await;
    let company = CompanyId::new();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let store = Arc::clone(&store);
        tasks.spawn(async move {
            if i % 2 == 0 {
                let status = if i % 4 == 0 {
                    SubscriptionStatus::Active
                } else {
                    SubscriptionStatus::PastDue
                };
                subscribe(&*store, company, "basic", status).await
            } else {
                let key = if i % 4 == 1 { "finance" } else { "market" };
                add_addon(&*store, company, key, SubscriptionStatus::Active).await
            }
        });
    }
    let mut versions = Vec::new();
    while let Some(v) = tasks.join_next().await {
        versions.push(v.unwrap());
    }
    versions.sort_unstable();
    assert_eq!(
        versions,
        (1..=20).collect::<Vec<u64>>(),
        "every write gets its own version"
    );
    let state = store.company_state(company).await.unwrap();
    assert_eq!(state.entitlement_version, 20);
    assert_eq!(state.add_ons.len(), 2);
}
