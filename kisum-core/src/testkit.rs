//! The conformance suite every [`CoreStore`] backend must pass.
//!
//! Written once, generic over the store; [`core_store_conformance!`](crate::core_store_conformance)
//! stamps out one `#[tokio::test]` per check for a backend:
//!
//! ```text
//! async fn make_store() -> MyStore { MyStore::connect(...).await.unwrap() }
//! kisum_core::core_store_conformance!(make_store);
//! ```
//!
//! Each check takes a fresh, empty store.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    reason = "conformance suites are test code: a failed unwrap is a failed check"
)]

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use kisum_guard::{AddOnKey, CompanyId, ModuleKey, PackageKey, Permission};

use crate::catalog::{AddOn, Module, ModuleKind, Package};
use crate::db::StoreErrorKind;
use crate::store::CoreStore;
use crate::subscription::{CompanyAddOn, Subscription, SubscriptionStatus};

pub mod audit;

/// Stamps out the core store conformance suite for the store made by the async fn `$make`.
///
/// With `ignore = "reason"`, the tests are `#[ignore]`d with that reason (reported as ignored,
/// never as passed), for backends that need a server; `--include-ignored` runs them.
#[macro_export]
macro_rules! core_store_conformance {
    ($make:path) => {
        $crate::core_store_conformance!(@list $make; []);
    };
    ($make:path, ignore = $reason:literal) => {
        $crate::core_store_conformance!(@list $make; [#[ignore = $reason]]);
    };
    (@list $make:path; $attrs:tt) => {
        $crate::core_store_conformance!(@tests $make; $attrs;
            catalog_starts_empty,
            modules_round_trip_and_replace,
            packages_round_trip_and_replace,
            addons_round_trip_and_replace,
            unknown_company_has_empty_state_at_version_zero,
            subscription_write_bumps_and_replaces,
            company_addons_upsert_sorted_and_bump,
            removing_a_company_addon_bumps_or_is_not_found,
            package_edit_bumps_only_its_subscribers,
            addon_edit_bumps_only_its_holders,
            module_edit_bumps_companies_reaching_it,
            companies_are_isolated,
            times_keep_microseconds,
            concurrent_writes_lose_nothing,
        );
    };
    (@tests $make:path; $attrs:tt;) => {};
    (@tests $make:path; [$($attr:tt)*]; $name:ident, $($rest:ident,)*) => {
        $($attr)*
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let store = $make().await;
            $crate::testkit::$name(::std::sync::Arc::new(store)).await;
        }
        $crate::core_store_conformance!(@tests $make; [$($attr)*]; $($rest,)*);
    };
}

/// Test databases: a fresh PostgreSQL database per test, a fresh SQLite file per test.
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub mod db {
    /// The reason every PostgreSQL test is `#[ignore]`d with, and the message it fails with
    /// when run (`--include-ignored`) without `KISUM_TEST_DATABASE_URL`. `#[ignore = ..]` takes
    /// a literal only, so the attributes repeat this text.
    pub const NEEDS_POSTGRES: &str =
        "needs PostgreSQL: set KISUM_TEST_DATABASE_URL and run with --include-ignored";

    use std::sync::atomic::{AtomicU64, Ordering};

    static COUNTER: AtomicU64 = AtomicU64::new(0);

    fn unique_suffix() -> String {
        format!(
            "{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// A new, empty SQLite database file under the system temp dir, as a `sqlite://` URL.
    #[cfg(feature = "sqlite")]
    #[must_use]
    pub fn sqlite_url() -> String {
        let dir = std::env::temp_dir().join("kisum-tests");
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join(format!(
            "t_{}_{}.db",
            uuid::Uuid::now_v7().simple(),
            unique_suffix()
        ));
        format!("sqlite://{}", path.display())
    }

    /// A new, empty PostgreSQL database on the server of `KISUM_TEST_DATABASE_URL`, as connect
    /// options. Databases of earlier runs older than two hours are dropped on the way.
    ///
    /// # Panics
    /// When the variable is unset or the server cannot be reached: a test that asked for
    /// PostgreSQL must not pass without it.
    #[cfg(feature = "postgres")]
    pub async fn postgres() -> sqlx::postgres::PgConnectOptions {
        use std::str::FromStr;
        sqlx::postgres::PgConnectOptions::from_str(&postgres_url().await)
            .expect("test database URL")
    }

    /// As [`postgres`], as a URL (`KISUM_TEST_DATABASE_URL` with the database name replaced).
    ///
    /// # Panics
    /// As [`postgres`].
    #[cfg(feature = "postgres")]
    pub async fn postgres_url() -> String {
        use sqlx::{Connection, Executor};
        use std::str::FromStr;

        let url = std::env::var("KISUM_TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .expect(NEEDS_POSTGRES);
        let admin = sqlx::postgres::PgConnectOptions::from_str(&url)
            .expect("KISUM_TEST_DATABASE_URL is not a valid URL");
        let mut conn = sqlx::PgConnection::connect_with(&admin)
            .await
            .unwrap_or_else(|e| {
                panic!("PostgreSQL at KISUM_TEST_DATABASE_URL is unreachable: {e}")
            });
        let now = kisum_guard::Clock::now(&kisum_guard::SystemClock).timestamp();
        let name = format!("kisum_t_{now}_{}", unique_suffix());
        // Serialize database creation across test processes (CREATE DATABASE copies template1).
        conn.execute("SELECT pg_advisory_lock(7461731)")
            .await
            .expect("advisory lock");
        let stale: Vec<String> = sqlx::query_scalar(
            "SELECT datname FROM pg_database WHERE datname LIKE 'kisum\\_t\\_%'",
        )
        .fetch_all(&mut conn)
        .await
        .expect("list test databases");
        for db in stale {
            let born = db
                .split('_')
                .nth(2)
                .and_then(|s| s.parse::<i64>().ok())
                .unwrap_or(now);
            if now - born > 2 * 3600 {
                let _ = conn
                    .execute(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"
                    )))
                    .await;
            }
        }
        conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .await
            .expect("create test database");
        conn.execute("SELECT pg_advisory_unlock(7461731)")
            .await
            .expect("advisory unlock");
        let (base, query) = match url.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (url.as_str(), None),
        };
        let prefix = match base.rfind('/') {
            Some(i) if base[..i].ends_with('/') => format!("{base}/"),
            Some(i) => base[..=i].to_owned(),
            None => format!("{base}/"),
        };
        match query {
            Some(q) => format!("{prefix}{name}?{q}"),
            None => format!("{prefix}{name}"),
        }
    }
}

fn module(key: &str, kind: ModuleKind) -> Module {
    Module {
        key: ModuleKey::new(key).unwrap(),
        name: format!("{key} module"),
        kind,
        permissions: vec![Permission::new(&format!("{key}.things.read")).unwrap()],
    }
}

fn package(key: &str, is_basic: bool, modules: &[&str]) -> Package {
    Package {
        key: PackageKey::new(key).unwrap(),
        name: format!("{key} package"),
        is_basic,
        modules: modules.iter().map(|m| ModuleKey::new(m).unwrap()).collect(),
    }
}

fn addon(key: &str, module: &str) -> AddOn {
    AddOn {
        key: AddOnKey::new(key).unwrap(),
        name: format!("{key} add-on"),
        module: ModuleKey::new(module).unwrap(),
    }
}

fn t(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
}

fn subscription(company_id: CompanyId, package: &str, status: SubscriptionStatus) -> Subscription {
    Subscription {
        company_id,
        package: PackageKey::new(package).unwrap(),
        status,
        current_period_end: Some(t(3_600)),
        grace_until: Some(t(7_200)),
    }
}

fn company_addon(company_id: CompanyId, key: &str, status: SubscriptionStatus) -> CompanyAddOn {
    CompanyAddOn {
        company_id,
        addon: AddOnKey::new(key).unwrap(),
        status,
        current_period_end: None,
    }
}

async fn seed_catalog<S: CoreStore>(store: &S) {
    for (k, kind) in [
        ("core", ModuleKind::Core),
        ("finance", ModuleKind::Addon),
        ("market", ModuleKind::Addon),
    ] {
        store.put_module(module(k, kind)).await.unwrap();
    }
    store
        .put_package(package("basic", true, &["core"]))
        .await
        .unwrap();
    store
        .put_package(package("plus", false, &["finance"]))
        .await
        .unwrap();
    store.put_addon(addon("finance", "finance")).await.unwrap();
    store.put_addon(addon("market", "market")).await.unwrap();
}

async fn version<S: CoreStore>(store: &S, company: CompanyId) -> u64 {
    store
        .company_state(company)
        .await
        .unwrap()
        .entitlement_version
}

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
        store
            .put_company_addon(company_addon(company, "market", SubscriptionStatus::Active))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .put_company_addon(company_addon(
                company,
                "finance",
                SubscriptionStatus::Trialing
            ))
            .await
            .unwrap(),
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
    store
        .put_company_addon(company_addon(
            company,
            "finance",
            SubscriptionStatus::Active,
        ))
        .await
        .unwrap();
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

pub async fn package_edit_bumps_only_its_subscribers<S: CoreStore>(store: Arc<S>) {
    seed_catalog(&*store).await;
    let (a, b, c) = (CompanyId::new(), CompanyId::new(), CompanyId::new());
    store
        .put_subscription(subscription(a, "basic", SubscriptionStatus::Active))
        .await
        .unwrap();
    store
        .put_subscription(subscription(b, "basic", SubscriptionStatus::Canceled))
        .await
        .unwrap();
    store
        .put_subscription(subscription(c, "plus", SubscriptionStatus::Active))
        .await
        .unwrap();
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
    store
        .put_company_addon(company_addon(a, "finance", SubscriptionStatus::Active))
        .await
        .unwrap();
    store
        .put_company_addon(company_addon(b, "market", SubscriptionStatus::Active))
        .await
        .unwrap();
    let bumps = store.put_addon(addon("finance", "market")).await.unwrap();
    assert_eq!(bumps.len(), 1);
    assert_eq!((bumps[0].company_id, bumps[0].entitlement_version), (a, 2));
    assert_eq!(version(&*store, b).await, 1);
}

pub async fn module_edit_bumps_companies_reaching_it<S: CoreStore>(store: Arc<S>) {
    seed_catalog(&*store).await;
    let (by_package, by_addon, neither) = (CompanyId::new(), CompanyId::new(), CompanyId::new());
    store
        .put_subscription(subscription(by_package, "plus", SubscriptionStatus::Active))
        .await
        .unwrap();
    store
        .put_company_addon(company_addon(
            by_addon,
            "finance",
            SubscriptionStatus::Active,
        ))
        .await
        .unwrap();
    store
        .put_subscription(subscription(neither, "basic", SubscriptionStatus::Active))
        .await
        .unwrap();
    store
        .put_company_addon(company_addon(neither, "market", SubscriptionStatus::Active))
        .await
        .unwrap();
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

pub async fn companies_are_isolated<S: CoreStore>(store: Arc<S>) {
    seed_catalog(&*store).await;
    let (a, b) = (CompanyId::new(), CompanyId::new());
    store
        .put_subscription(subscription(a, "basic", SubscriptionStatus::Active))
        .await
        .unwrap();
    store
        .put_company_addon(company_addon(a, "finance", SubscriptionStatus::Active))
        .await
        .unwrap();
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
                store
                    .put_subscription(subscription(company, "basic", status))
                    .await
                    .unwrap()
            } else {
                let key = if i % 4 == 1 { "finance" } else { "market" };
                store
                    .put_company_addon(company_addon(company, key, SubscriptionStatus::Active))
                    .await
                    .unwrap()
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
