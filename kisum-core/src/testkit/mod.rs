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
//!
//! One file per part of the contract: `catalog` (catalog writes and the versions they raise),
//! `subscriptions` (company state and its writes); shared fixtures are here, and the checks
//! are re-exported here, where the macro finds them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    reason = "conformance suites are test code: a failed unwrap is a failed check"
)]

use chrono::{DateTime, Utc};
use kisum_guard::{AddOnKey, CompanyId, ModuleKey, PackageKey, Permission};

use crate::catalog::{AddOn, Module, ModuleKind, Package};
use crate::store::CoreStore;
use crate::subscription::{CompanyAddOn, Subscription, SubscriptionStatus};

pub mod audit;
pub mod billing;
mod catalog;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub mod db;
pub mod events;
pub mod licenses;
mod subscriptions;

/// A loopback TCP port that binds now, for a server a test starts later (a child process, a
/// driver that takes no port 0, a proxy that appears mid-test).
///
/// Picked at random below Linux's ephemeral range (32768–60999): a port the kernel handed out
/// for `:0` and that was released could be given again to any outgoing connection (to
/// PostgreSQL, Redis, another server under test) before the server binds it. A random port of
/// 20000–32767 is taken only by another test's pick, far less likely.
pub fn free_port() -> u16 {
    for _ in 0..1000 {
        let port = 20_000 + (uuid::Uuid::new_v4().as_u128() % 12_768) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in 20000–32767")
}

pub use catalog::*;
pub use events::{
    every_entitlement_change_appends_its_event,
    the_event_log_appends_once_per_origin_prunes_and_reports_gaps,
};
pub use subscriptions::*;

/// Stamps out one `#[tokio::test]` per check `$name` of a suite: each makes a fresh store with
/// the async fn `$make` and runs the suite's async fn `$($suite)*::$name` on it, under the
/// attributes `$attr` (an `#[ignore]`, say). What every `*_conformance!` macro expands to.
#[doc(hidden)]
#[macro_export]
macro_rules! conformance_tests {
    ($make:path; [$($suite:tt)*]; $attrs:tt;) => {};
    ($make:path; [$($suite:tt)*]; [$($attr:tt)*]; $name:ident, $($rest:ident,)*) => {
        $($attr)*
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let store = $make().await;
            $($suite)*::$name(::std::sync::Arc::new(store)).await;
        }
        $crate::conformance_tests!($make; [$($suite)*]; [$($attr)*]; $($rest,)*);
    };
}

/// Stamps out the core store conformance suite for the store made by the async fn `$make`.
///
/// With `ignore = "reason"`, the tests are `#[ignore]`d with that reason (reported as ignored,
/// never as passed), for backends that need a server; `--include-ignored` runs them.
#[macro_export]
macro_rules! core_store_conformance {
    ($make:path $(, ignore = $reason:literal)?) => {
        $crate::conformance_tests!($make; [$crate::testkit]; [$(#[ignore = $reason])?];
            catalog_starts_empty,
            modules_round_trip_and_replace,
            packages_round_trip_and_replace,
            addons_round_trip_and_replace,
            every_catalog_edit_raises_the_catalog_version,
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
            every_entitlement_change_appends_its_event,
            the_event_log_appends_once_per_origin_prunes_and_reports_gaps,
        );
    };
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

/// Stores `company`'s subscription to `package` in `status`; its new entitlement version.
async fn subscribe<S: CoreStore + ?Sized>(
    store: &S,
    company: CompanyId,
    package: &str,
    status: SubscriptionStatus,
) -> u64 {
    let s = subscription(company, package, status);
    store.put_subscription(s).await.unwrap()
}

/// Stores `company`'s add-on `key` in `status`; its new entitlement version.
async fn add_addon<S: CoreStore + ?Sized>(
    store: &S,
    company: CompanyId,
    key: &str,
    status: SubscriptionStatus,
) -> u64 {
    let a = company_addon(company, key, status);
    store.put_company_addon(a).await.unwrap()
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
