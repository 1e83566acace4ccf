//! Store traits for the catalog and company entitlements, and their backends. The error type
//! they return, [`StoreError`], is infrastructure and lives in [`crate::db`].
//!
//! Every backend keeps the same contract, proven by the conformance suite in
//! `testkit` module (feature `testkit`).

use std::sync::Arc;

use async_trait::async_trait;
use kisum_guard::{AddOnKey, CompanyId};

use crate::catalog::{AddOn, Catalog, Module, Package};
use crate::db::StoreError;
use crate::entitlements::CompanyEntitlementState;
use crate::subscription::{CompanyAddOn, Subscription};

pub mod memory;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod sql;
#[cfg(feature = "sqlite")]
pub mod sqlite;

pub use memory::{MemoryCoreAudit, MemoryCoreStore};
#[cfg(feature = "postgres")]
pub use postgres::PgCoreStore;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub use sql::SqlCoreStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteCoreStore;

/// A company whose entitlement version a write raised, and its new version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VersionBump {
    /// The company.
    pub company_id: CompanyId,
    /// Its new entitlement version.
    pub entitlement_version: u64,
}

/// The commercial catalog.
///
/// Catalog edits change the entitlements of the companies that use the edited item, so each
/// write raises, in the same transaction, the entitlement version of every company affected and
/// reports those bumps (for invalidation events). Referential checks (a package naming unknown
/// modules) are the caller's; the store keeps what it is given.
#[async_trait]
pub trait CatalogStore: Send + Sync + 'static {
    /// Creates or replaces the module `module.key`. Bumps every company whose subscribed
    /// package includes the module or that holds an add-on for it (any status).
    ///
    /// # Errors
    /// `Unavailable` when the backend cannot be reached.
    async fn put_module(&self, module: Module) -> Result<Vec<VersionBump>, StoreError>;

    /// Creates or replaces the package `package.key`. Bumps every company subscribed to it
    /// (any status).
    ///
    /// # Errors
    /// `Unavailable` when the backend cannot be reached.
    async fn put_package(&self, package: Package) -> Result<Vec<VersionBump>, StoreError>;

    /// Creates or replaces the add-on `addon.key`. Bumps every company holding it (any status).
    ///
    /// # Errors
    /// `Unavailable` when the backend cannot be reached.
    async fn put_addon(&self, addon: AddOn) -> Result<Vec<VersionBump>, StoreError>;

    /// The whole catalog as one consistent snapshot.
    ///
    /// # Errors
    /// `Unavailable` when the backend cannot be reached.
    async fn catalog(&self) -> Result<Arc<Catalog>, StoreError>;

    /// The catalog's version: raised by every catalog edit (`put_module`, `put_package`,
    /// `put_addon`) in the edit's own transaction, and never lowered, so a catalog read at
    /// version `v` is still the catalog while the version reads `v` — on every replica sharing
    /// the store. `None` when the backend keeps no version: callers must then read the catalog
    /// each time. The default keeps none.
    ///
    /// # Errors
    /// `Unavailable` when the backend cannot be reached.
    async fn catalog_version(&self) -> Result<Option<u64>, StoreError> {
        Ok(None)
    }

    /// The catalog and its [version](Self::catalog_version), read in one snapshot. The default
    /// answers [`catalog`](Self::catalog) with no version.
    ///
    /// # Errors
    /// `Unavailable` when the backend cannot be reached.
    async fn versioned_catalog(&self) -> Result<(Option<u64>, Arc<Catalog>), StoreError> {
        Ok((None, self.catalog().await?))
    }
}

/// Company subscriptions, company add-ons and entitlement versions.
///
/// Versions start at 0 for a company never written; every write below raises the company's
/// version by exactly one in the same transaction as the change, and returns the new version.
#[async_trait]
pub trait SubscriptionStore: Send + Sync + 'static {
    /// The company's stored state; an unknown company yields the empty state at version 0.
    ///
    /// # Errors
    /// `Unavailable` when the backend cannot be reached.
    async fn company_state(
        &self,
        company_id: CompanyId,
    ) -> Result<CompanyEntitlementState, StoreError>;

    /// Creates or replaces the company's subscription (one per company) and bumps its version.
    ///
    /// # Errors
    /// `Unavailable` when the backend cannot be reached.
    async fn put_subscription(&self, subscription: Subscription) -> Result<u64, StoreError>;

    /// Creates or replaces one company add-on and bumps the company's version.
    ///
    /// # Errors
    /// `Unavailable` when the backend cannot be reached.
    async fn put_company_addon(&self, addon: CompanyAddOn) -> Result<u64, StoreError>;

    /// Removes one company add-on and bumps the company's version.
    ///
    /// # Errors
    /// `NotFound` when the company does not hold the add-on; `Unavailable` when the backend
    /// cannot be reached.
    async fn remove_company_addon(
        &self,
        company_id: CompanyId,
        addon: &AddOnKey,
    ) -> Result<u64, StoreError>;
}

/// A backend holding both the catalog and company entitlements, so that catalog edits can bump
/// company versions in one transaction.
pub trait CoreStore: CatalogStore + SubscriptionStore + crate::outbox::EventLogged {}

impl<T: CatalogStore + SubscriptionStore + crate::outbox::EventLogged> CoreStore for T {}
