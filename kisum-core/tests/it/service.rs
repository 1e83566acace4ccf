//! The entitlement service: validation, versioning and resolution over the memory store, and the
//! resolution invariants as properties.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use kisum_core::{
    AddOn, CompanyAddOn, CoreStore, EntitlementError, EntitlementService, MemoryCoreStore, Module,
    ModuleKind, Package, Subscription, SubscriptionStatus,
};
use kisum_guard::{AddOnKey, CompanyId, ManualClock, ModuleKey, PackageKey, Permission};
use proptest::prelude::*;

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

fn mk(s: &str) -> ModuleKey {
    ModuleKey::new(s).unwrap()
}

async fn service() -> (EntitlementService, Arc<ManualClock>) {
    seeded(Arc::new(MemoryCoreStore::new())).await
}

/// A service over `store`, whose catalog it fills: modules `core` (core), `finance` and
/// `market`, the basic package of `core`, an add-on for each of the other two.
async fn seeded(store: Arc<dyn CoreStore>) -> (EntitlementService, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(t0()));
    let s = EntitlementService::new(store, clock.clone());
    for (key, kind) in [
        ("core", ModuleKind::Core),
        ("finance", ModuleKind::Addon),
        ("market", ModuleKind::Addon),
    ] {
        s.put_module(Module {
            key: mk(key),
            name: key.into(),
            kind,
            permissions: vec![],
        })
        .await
        .unwrap();
    }
    s.put_package(Package {
        key: PackageKey::new("basic").unwrap(),
        name: "Basic".into(),
        is_basic: true,
        modules: [mk("core")].into(),
    })
    .await
    .unwrap();
    for key in ["finance", "market"] {
        s.put_addon(AddOn {
            key: AddOnKey::new(key).unwrap(),
            name: key.into(),
            module: mk(key),
        })
        .await
        .unwrap();
    }
    (s, clock)
}

fn basic(
    company_id: CompanyId,
    status: SubscriptionStatus,
    end: Option<DateTime<Utc>>,
) -> Subscription {
    Subscription {
        company_id,
        package: PackageKey::new("basic").unwrap(),
        status,
        current_period_end: end,
        grace_until: None,
    }
}

/// The basic package, extended to the `market` module.
fn basic_with_market() -> Package {
    Package {
        key: PackageKey::new("basic").unwrap(),
        name: "Basic".into(),
        is_basic: true,
        modules: [mk("core"), mk("market")].into(),
    }
}

fn addon(company_id: CompanyId, key: &str, status: SubscriptionStatus) -> CompanyAddOn {
    CompanyAddOn {
        company_id,
        addon: AddOnKey::new(key).unwrap(),
        status,
        current_period_end: None,
    }
}

#[tokio::test]
async fn unknown_references_are_refused() {
    let (s, _) = service().await;
    let company = CompanyId::new();
    let err = s
        .set_subscription(Subscription {
            package: PackageKey::new("gold").unwrap(),
            ..basic(company, SubscriptionStatus::Active, None)
        })
        .await
        .unwrap_err();
    assert!(matches!(err, EntitlementError::UnknownPackage(_)), "{err}");
    let err = s
        .set_company_addon(addon(company, "venue", SubscriptionStatus::Active))
        .await
        .unwrap_err();
    assert!(matches!(err, EntitlementError::UnknownAddOn(_)), "{err}");
    let err = s
        .put_package(Package {
            key: PackageKey::new("x").unwrap(),
            name: "x".into(),
            is_basic: false,
            modules: [mk("venue")].into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "unknown module `venue`");
    let err = s
        .put_addon(AddOn {
            key: AddOnKey::new("v").unwrap(),
            name: "v".into(),
            module: mk("venue"),
        })
        .await
        .unwrap_err();
    assert!(matches!(err, EntitlementError::UnknownModule(_)));
    assert_eq!(
        s.entitlements(company).await.unwrap().entitlement_version,
        0,
        "refused writes bump nothing"
    );
}

#[tokio::test]
async fn core_modules_cannot_be_sold_as_addons() {
    let (s, _) = service().await;
    let err = s
        .put_addon(AddOn {
            key: AddOnKey::new("core").unwrap(),
            name: "c".into(),
            module: mk("core"),
        })
        .await
        .unwrap_err();
    assert!(matches!(err, EntitlementError::AddOnForCoreModule { .. }));
    let err = s
        .put_module(Module {
            key: mk("finance"),
            name: "f".into(),
            kind: ModuleKind::Core,
            permissions: vec![],
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, EntitlementError::AddOnForCoreModule { .. }),
        "turning an add-on module into core is refused"
    );
}

#[tokio::test]
async fn modules_declare_only_their_own_permissions() {
    let (s, _) = service().await;
    let err = s
        .put_module(Module {
            key: mk("finance"),
            name: "f".into(),
            kind: ModuleKind::Addon,
            permissions: vec![Permission::new("market.stalls.read").unwrap()],
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "permission `market.stalls.read` does not belong to module `finance`"
    );
}

#[tokio::test]
async fn removing_an_addon_not_held_is_reported() {
    let (s, _) = service().await;
    let err = s
        .remove_company_addon(CompanyId::new(), &AddOnKey::new("finance").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, EntitlementError::AddOnNotHeld(_)));
}

#[tokio::test]
async fn writes_answer_the_new_entitlements_and_version() {
    let (s, _) = service().await;
    let company = CompanyId::new();
    let e = s
        .set_subscription(basic(company, SubscriptionStatus::Active, None))
        .await
        .unwrap();
    assert!(e.basic_active && e.has_module("core"));
    assert_eq!(e.entitlement_version, 1);
    let e = s
        .set_company_addon(addon(company, "finance", SubscriptionStatus::Active))
        .await
        .unwrap();
    assert_eq!(e.module_keys(), [mk("core"), mk("finance")].into());
    assert_eq!(e.entitlement_version, 2);
    let e = s
        .remove_company_addon(company, &AddOnKey::new("finance").unwrap())
        .await
        .unwrap();
    assert!(!e.has_module("finance"));
    assert_eq!(e.entitlement_version, 3);
}

#[tokio::test]
async fn catalog_edits_bump_companies_using_them() {
    let (s, _) = service().await;
    let company = CompanyId::new();
    s.set_subscription(basic(company, SubscriptionStatus::Active, None))
        .await
        .unwrap();
    let bumps = s.put_package(basic_with_market()).await.unwrap();
    assert_eq!(bumps.len(), 1);
    assert_eq!(bumps[0].entitlement_version, 2);
    let e = s.entitlements(company).await.unwrap();
    assert_eq!(e.entitlement_version, 2);
    assert!(
        e.has_module("market"),
        "the package edit reaches the company at once"
    );
}

/// Core keeps its catalog in memory, checked against the store's catalog version on every read
/// (decision 0024): an edit made through another service over the same store — another Core
/// replica — is seen by the very next resolution, catalog read and validation, with no event
/// in between.
async fn catalog_edits_through_another_replica_are_seen_at_once(store: Arc<dyn CoreStore>) {
    let (a, _) = seeded(Arc::clone(&store)).await;
    let b = EntitlementService::new(store, Arc::new(ManualClock::new(t0())));
    let company = CompanyId::new();
    a.set_subscription(basic(company, SubscriptionStatus::Active, None))
        .await
        .unwrap();
    assert!(!a.entitlements(company).await.unwrap().has_module("market"));
    b.put_package(basic_with_market()).await.unwrap();
    let e = a.entitlements(company).await.unwrap();
    assert!(
        e.has_module("market"),
        "the other replica's package edit shows in this one's next resolution"
    );
    // A module no company uses yet raises no company's version: the catalog version still
    // tells this replica its catalog is stale.
    b.put_module(Module {
        key: mk("venue"),
        name: "Venue".into(),
        kind: ModuleKind::Addon,
        permissions: vec![Permission::new("venue.stages.read").unwrap()],
    })
    .await
    .unwrap();
    assert!(
        a.catalog()
            .await
            .unwrap()
            .modules
            .contains_key(&mk("venue"))
    );
    a.put_addon(AddOn {
        key: AddOnKey::new("venue").unwrap(),
        name: "Venue".into(),
        module: mk("venue"),
    })
    .await
    .expect("this replica validates against the module the other one created");
    assert!(
        b.catalog()
            .await
            .unwrap()
            .addons
            .contains_key(&AddOnKey::new("venue").unwrap())
    );
}

#[tokio::test]
async fn catalog_edits_through_another_replica_are_seen_at_once_in_memory() {
    catalog_edits_through_another_replica_are_seen_at_once(Arc::new(MemoryCoreStore::new())).await;
}

#[tokio::test]
async fn catalog_edits_through_another_replica_are_seen_at_once_on_sqlite() {
    let store = kisum_core::SqliteCoreStore::connect(&kisum_core::testkit::db::sqlite_url())
        .await
        .unwrap();
    catalog_edits_through_another_replica_are_seen_at_once(Arc::new(store)).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set KISUM_TEST_DATABASE_URL and run with --include-ignored"]
async fn catalog_edits_through_another_replica_are_seen_at_once_on_postgres() {
    let store = kisum_core::PgCoreStore::connect_with(kisum_core::testkit::db::postgres().await)
        .await
        .unwrap();
    catalog_edits_through_another_replica_are_seen_at_once(Arc::new(store)).await;
}

#[tokio::test]
async fn grace_and_expiry_follow_the_clock() {
    let (s, clock) = service().await;
    let company = CompanyId::new();
    let sub = Subscription {
        grace_until: Some(t0() + TimeDelta::days(3)),
        ..basic(
            company,
            SubscriptionStatus::Active,
            Some(t0() + TimeDelta::days(1)),
        )
    };
    s.set_subscription(sub).await.unwrap();
    s.set_company_addon(addon(company, "market", SubscriptionStatus::Active))
        .await
        .unwrap();
    assert!(s.entitlements(company).await.unwrap().basic_active);
    clock.advance(TimeDelta::days(2));
    let e = s.entitlements(company).await.unwrap();
    assert!(e.basic_active, "in grace");
    assert_eq!(e.valid_until, Some(t0() + TimeDelta::days(3)));
    clock.advance(TimeDelta::days(1));
    let e = s.entitlements(company).await.unwrap();
    assert!(!e.basic_active && !e.has_module("core"));
    assert!(
        e.has_module("market"),
        "the add-on outlives the basic subscription"
    );
}

// ---- properties -------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Edit {
    Subscribe(SubscriptionStatus, Option<i64>, Option<i64>),
    AddOn(&'static str, SubscriptionStatus, Option<i64>),
    RemoveAddOn(&'static str),
}

fn arb_status() -> impl Strategy<Value = SubscriptionStatus> {
    prop::sample::select(SubscriptionStatus::ALL.to_vec())
}

fn arb_offset() -> impl Strategy<Value = Option<i64>> {
    prop::option::of(-100i64..100)
}

fn arb_edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (arb_status(), arb_offset(), arb_offset()).prop_map(|(s, e, g)| Edit::Subscribe(s, e, g)),
        (
            prop::sample::select(vec!["finance", "market"]),
            arb_status(),
            arb_offset()
        )
            .prop_map(|(k, s, e)| Edit::AddOn(k, s, e)),
        prop::sample::select(vec!["finance", "market"]).prop_map(Edit::RemoveAddOn),
    ]
}

async fn apply(s: &EntitlementService, company: CompanyId, edit: &Edit) -> bool {
    let at = |o: Option<i64>| o.map(|x| t0() + TimeDelta::seconds(x));
    match edit {
        Edit::Subscribe(status, end, grace) => s
            .set_subscription(Subscription {
                grace_until: at(*grace),
                ..basic(company, *status, at(*end))
            })
            .await
            .is_ok(),
        Edit::AddOn(key, status, end) => s
            .set_company_addon(CompanyAddOn {
                current_period_end: at(*end),
                ..addon(company, key, *status)
            })
            .await
            .is_ok(),
        Edit::RemoveAddOn(key) => s
            .remove_company_addon(company, &AddOnKey::new(key).unwrap())
            .await
            .is_ok(),
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

proptest! {
    /// `core` is enabled (and `basic_active` set) exactly when the basic subscription is active,
    /// trialing or in grace at that instant.
    #[test]
    fn core_iff_entitling_basic(edits in prop::collection::vec(arb_edit(), 0..8)) {
        block_on(async {
            let (s, _) = service().await;
            let company = CompanyId::new();
            for e in &edits { apply(&s, company, e).await; }
            let e = s.entitlements(company).await.unwrap();
            let entitling = e.subscription.as_ref().is_some_and(|x| x.is_entitling(t0()));
            assert_eq!(e.has_module("core"), entitling);
            assert_eq!(e.basic_active, entitling);
        });
    }

    /// Add-on modules depend only on their add-ons: whatever happens to the subscription, an
    /// add-on module is enabled exactly when its add-on entitles.
    #[test]
    fn addons_never_depend_on_basic(edits in prop::collection::vec(arb_edit(), 0..8)) {
        block_on(async {
            let (s, _) = service().await;
            let company = CompanyId::new();
            for e in &edits { apply(&s, company, e).await; }
            let e = s.entitlements(company).await.unwrap();
            for key in ["finance", "market"] {
                let held = e.add_ons.iter().any(|a| a.addon.as_str() == key && a.is_entitling(t0()));
                assert_eq!(e.has_module(key), held, "{key}");
            }
        });
    }

    /// Every successful write raises the version by exactly one; no write lowers it.
    #[test]
    fn versions_never_decrease(edits in prop::collection::vec(arb_edit(), 0..12)) {
        block_on(async {
            let (s, _) = service().await;
            let company = CompanyId::new();
            let mut last = 0;
            for e in &edits {
                let ok = apply(&s, company, e).await;
                let v = s.entitlements(company).await.unwrap().entitlement_version;
                assert_eq!(v, if ok { last + 1 } else { last });
                last = v;
            }
        });
    }

    /// The resolved modules depend only on the final state, not on the order of independent
    /// edits (one subscription edit and one edit per add-on, applied in any order).
    #[test]
    fn order_of_independent_edits_does_not_matter(
        sub in (arb_status(), arb_offset(), arb_offset()),
        fin in (arb_status(), arb_offset()),
        mkt in (arb_status(), arb_offset()),
        order in Just(vec![0usize, 1, 2]).prop_shuffle(),
    ) {
        let edits = [
            Edit::Subscribe(sub.0, sub.1, sub.2),
            Edit::AddOn("finance", fin.0, fin.1),
            Edit::AddOn("market", mkt.0, mkt.1),
        ];
        block_on(async {
            let (a, _) = service().await;
            let (b, _) = service().await;
            let company = CompanyId::new();
            for e in &edits { apply(&a, company, e).await; }
            for i in &order { apply(&b, company, &edits[*i]).await; }
            let (ea, eb) = (a.entitlements(company).await.unwrap(), b.entitlements(company).await.unwrap());
            assert_eq!(ea.modules, eb.modules);
            assert_eq!(ea.basic_active, eb.basic_active);
            assert_eq!(ea.entitlement_version, eb.entitlement_version);
        });
    }
}
