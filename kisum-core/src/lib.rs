//! `kisum-core`: commercial entitlements.
//!
//! The catalog ([`Module`]s, [`Package`]s, [`AddOn`]s), company [`Subscription`]s and
//! [`CompanyAddOn`]s, and their [resolution](resolve) into the modules a company may use. The
//! `core` module is enabled only through an active, trialing or in-grace *basic* package;
//! add-on modules are enabled by their add-ons whatever the subscription. Every change that can
//! alter a company's entitlements raises its `entitlement_version`.
//!
//! Writes go through [`CoreAdmin`], which records each in the [audit log](audit) and publishes
//! an [invalidation event](events) for every company it changed. With the `http` feature,
//! [`internal_router`] serves Core's internal API behind service keys; with `certificate`
//! (implied by `http`), `certificate::CertificateSigner` signs entitlement certificates that
//! consumers verify offline.
//!
//! [Billing webhooks](billing): Stripe events applied once to subscriptions and add-ons by
//! [`BillingService`] through a price map, and (feature `http`) served by
//! `stripe_webhook_router` on an optional public listener.
//!
//! [Licences](license) — keys, seats, floating activations, expiry and their lifecycle events —
//! are served by [`LicenseService`], reaped by [`LicenseReaper`], and (feature `http`) by the
//! licence routes of `internal_router` and by `license_key_router` (feature `http`).
//!
//! ```
//! use std::sync::Arc;
//! use kisum_core::{EntitlementService, MemoryCoreStore, Module, ModuleKind, Package, Subscription, SubscriptionStatus};
//! use kisum_guard::{CompanyId, ModuleKey, PackageKey, SystemClock};
//!
//! # tokio_test_block_on(async {
//! let service = EntitlementService::new(Arc::new(MemoryCoreStore::new()), Arc::new(SystemClock));
//! service.put_module(Module { key: ModuleKey::core(), name: "Core".into(), kind: ModuleKind::Core, permissions: vec![] }).await?;
//! service.put_package(Package {
//!     key: PackageKey::new("basic")?, name: "Basic".into(), is_basic: true,
//!     modules: [ModuleKey::core()].into_iter().collect(),
//! }).await?;
//! let company = CompanyId::new();
//! let e = service.set_subscription(Subscription {
//!     company_id: company, package: PackageKey::new("basic")?, status: SubscriptionStatus::Active,
//!     current_period_end: None, grace_until: None,
//! }).await?;
//! assert!(e.basic_active && e.has_module("core"));
//! assert_eq!(e.entitlement_version, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```

pub mod admin;
pub mod audit;
pub mod billing;
pub mod catalog;
#[cfg(feature = "certificate")]
pub mod certificate;
pub mod db;
pub mod entitlements;
pub mod events;
#[cfg(feature = "http")]
pub mod http;
pub mod license;
pub mod outbox;
pub mod service;
pub mod store;
pub mod subscription;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use admin::{Actor, CoreAdmin};
pub use audit::{CoreAudit, CoreAuditRecord, LogAudit};
pub use billing::{BillingService, BillingStore, PriceMap};
pub use catalog::{AddOn, Catalog, Module, ModuleKind, Package};
pub use entitlements::{
    CompanyEntitlementState, EnabledModule, Entitlements, ModuleSource, resolve,
};
pub use events::{EventPublisher, MemoryEvents, NoEvents};
#[cfg(feature = "http")]
pub use http::{
    CoreState, StripeWebhook, internal_router, license_key_router, stripe_webhook_router,
};
pub use license::{
    Activation, ActivationCertifier, License, LicenseReaper, LicenseService, LicenseStatus,
    LicenseStore, MemoryLicenseStore,
};
pub use service::{EntitlementError, EntitlementService};
#[cfg(feature = "postgres")]
pub use store::PgCoreStore;
#[cfg(feature = "sqlite")]
pub use store::SqliteCoreStore;
pub use store::{
    CatalogStore, CoreStore, MemoryCoreAudit, MemoryCoreStore, SubscriptionStore, VersionBump,
};
pub use subscription::{CompanyAddOn, Subscription, SubscriptionStatus};
