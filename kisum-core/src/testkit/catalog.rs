//! The catalog checks: round trips, and the companies each catalog edit raises.

use std::sync::Arc;

use kisum_guard::{CompanyId, Permission};

use super::{add_addon, addon, module, package, seed_catalog, subscribe, version};
use crate::catalog::ModuleKind;
use crate::store::CoreStore;
use crate::subscription::SubscriptionStatus;

pub async fn catalog_starts_empty<S: CoreStore>(store: Arc<S>) {
    let c = store.catalog().await.unwrap();
    assert!(c.modules.is_empty() && c.packages.is_empty() && c.addons.is_empty());
}

pub async fn modules_round_trip_and_replace<S: CoreStore>(store: Arc<S>) {
    let m = module("finance", ModuleKind::Addon);
    assert!(store.put_module(m.clone()).await.unwrap().is_empty());
    assert_eq!(store.catalog().await.unwrap().modules.get(&m.key), Some(&m));
    let mut renamed = m.clone();
    renamed.name = "Finance & Accounting".into();
    renamed.kind = ModuleKind::Standard;
    renamed
        .permissions
        .push(Permission::new("finance.invoices.write").unwrap());
    store.put_module(renamed.clone()).await.unwrap();
    let c = store.catalog().await.unwrap();
    assert_eq!(c.modules.len(), 1);
    assert_eq!(c.modules.get(&m.key), Some(&renamed));
}

pub async fn packages_round_trip_and_replace<S: CoreStore>(store: Arc<S>) {
    seed_catalog(&*store).await;
    let p = package("basic", true, &["core", "finance"]);
    store.put_package(p.clone()).await.unwrap();
    let c = store.catalog().await.unwrap();
    assert_eq!(c.packages.get(&p.key), Some(&p));
    assert_eq!(c.packages.len(), 2);
    let emptied = package("basic", false, &[]);
    store.put_package(emptied.clone()).await.unwrap();
    assert_eq!(
        store.catalog().await.unwrap().packages.get(&p.key),
        Some(&emptied)
    );
}

pub async fn addons_round_trip_and_replace<S: CoreStore>(store: Arc<S>) {
    seed_catalog(&*store).await;
    let a = addon("finance", "market");
    store.put_addon(a.clone()).await.unwrap();
    let c = store.catalog().await.unwrap();
    assert_eq!(c.addons.get(&a.key), Some(&a));
    assert_eq!(c.addons.len(), 2);
}

/// A backend keeping a catalog version raises it with every catalog edit and with nothing else,
/// and reads it in one snapshot with the catalog.
pub async fn every_catalog_edit_raises_the_catalog_version<S: CoreStore>(store: Arc<S>) {
    let Some(start) = store.catalog_version().await.unwrap() else {
        // No version kept: the catalog is read each time, never cached.
        let (none, c) = store.versioned_catalog().await.unwrap();
        assert!(none.is_none() && c.modules.is_empty());
        return;
    };
    let (at, c) = store.versioned_catalog().await.unwrap();
    assert_eq!(at, Some(start));
    assert!(c.modules.is_empty());
    let mut seen = start;
    let mut raised = async |what: &str| {
        let now = store.catalog_version().await.unwrap().unwrap();
        assert!(
            now > seen,
            "{what} must raise the catalog version ({seen} -> {now})"
        );
        seen = now;
    };
    store
        .put_module(module("finance", ModuleKind::Addon))
        .await
        .unwrap();
    raised("a new module").await;
    store
        .put_module(module("finance", ModuleKind::Standard))
        .await
        .unwrap();
    raised("a changed module").await;
    store
        .put_package(package("plus", false, &["finance"]))
        .await
        .unwrap();
    raised("a package").await;
    store.put_addon(addon("finance", "finance")).await.unwrap();
    raised("an add-on").await;
    let company = CompanyId::new();
    subscribe(&*store, company, "plus", SubscriptionStatus::Active).await;
    add_addon(&*store, company, "finance", SubscriptionStatus::Active).await;
    let (at, c) = store.versioned_catalog().await.unwrap();
    assert_eq!(at, Some(seen), "company writes leave the catalog version");
    assert_eq!(store.catalog_version().await.unwrap(), Some(seen));
    assert_eq!(
        c.modules.values().map(|m| m.kind).collect::<Vec<_>>(),
        [ModuleKind::Standard],
        "the snapshot holds every edit up to its version"
    );
    assert_eq!((c.packages.len(), c.addons.len()), (1, 1));
}

pub async fn package_edit_bumps_only_its_subscribers<S: CoreStore>(store: Arc<S>) {
    seed_catalog(&*store).await;
    let (a, b, c) = (CompanyId::new(), CompanyId::new(), CompanyId::new());
    subscribe(&*store, a, "basic", SubscriptionStatus::Active).await;
    subscribe(&*store, b, "basic", SubscriptionStatus::Canceled).await;
    subscribe(&*store, c, "plus", SubscriptionStatus::Active).await;
    let mut bumps = store
        .put_package(package("basic", true, &["core", "market"]))
        .await
        .unwrap();
    bumps.sort_by_key(|x| x.company_id);
    let mut expected = vec![(a, 2), (b, 2)];
    expected.sort();
    assert_eq!(
        bumps
            .iter()
            .map(|x| (x.company_id, x.entitlement_version))
            .collect::<Vec<_>>(),
        expected
    );
    assert_eq!(version(&*store, a).await, 2);
    assert_eq!(version(&*store, b).await, 2);
    assert_eq!(version(&*store, c).await, 1);
}

pub async fn addon_edit_bumps_only_its_holders<S: CoreStore>(store: Arc<S>) {
    seed_catalog(&*store).await;
    let (a, b) = (CompanyId::new(), CompanyId::new());
    add_addon(&*store, a, "finance", SubscriptionStatus::Active).await;
    add_addon(&*store, b, "market", SubscriptionStatus::Active).await;
    let bumps = store.put_addon(addon("finance", "market")).await.unwrap();
    assert_eq!(bumps.len(), 1);
    assert_eq!((bumps[0].company_id, bumps[0].entitlement_version), (a, 2));
    assert_eq!(version(&*store, b).await, 1);
}

pub async fn module_edit_bumps_companies_reaching_it<S: CoreStore>(store: Arc<S>) {
    seed_catalog(&*store).await;
    let (by_package, by_addon, neither) = (CompanyId::new(), CompanyId::new(), CompanyId::new());
    subscribe(&*store, by_package, "plus", SubscriptionStatus::Active).await;
    add_addon(&*store, by_addon, "finance", SubscriptionStatus::Active).await;
    subscribe(&*store, neither, "basic", SubscriptionStatus::Active).await;
    add_addon(&*store, neither, "market", SubscriptionStatus::Active).await;
    let bumps = store
        .put_module(module("finance", ModuleKind::Addon))
        .await
        .unwrap();
    let mut companies: Vec<_> = bumps.iter().map(|b| b.company_id).collect();
    companies.sort();
    let mut expected = vec![by_package, by_addon];
    expected.sort();
    assert_eq!(companies, expected);
    assert_eq!(version(&*store, by_package).await, 2);
    assert_eq!(version(&*store, by_addon).await, 2);
    assert_eq!(
        version(&*store, neither).await,
        2,
        "two writes, no catalog bump"
    );
}
