//! [`EntitlementService`]: the validated entry point to catalog and company entitlement changes.

use std::sync::Arc;

use kisum_guard::{AddOnKey, Clock, CompanyId, ModuleKey, PackageKey, Permission};

use crate::catalog::{AddOn, Catalog, Module, ModuleKind, Package};
use crate::db::StoreError;
use crate::entitlements::{Entitlements, resolve};
use crate::store::{CoreStore, VersionBump};
use crate::subscription::{CompanyAddOn, Subscription};

/// Why an entitlement change was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EntitlementError {
    /// A referenced module does not exist.
    #[error("unknown module `{0}`")]
    UnknownModule(ModuleKey),
    /// A referenced package does not exist.
    #[error("unknown package `{0}`")]
    UnknownPackage(PackageKey),
    /// A referenced add-on does not exist.
    #[error("unknown add-on `{0}`")]
    UnknownAddOn(AddOnKey),
    /// A module declares a permission of another module.
    #[error("permission `{permission}` does not belong to module `{module}`")]
    ForeignPermission {
        /// The module being written.
        module: ModuleKey,
        /// The offending permission.
        permission: Permission,
    },
    /// An add-on would enable a `core` module, which only a basic package may.
    #[error("add-on `{addon}` cannot enable the core module `{module}`")]
    AddOnForCoreModule {
        /// The add-on.
        addon: AddOnKey,
        /// Its core module.
        module: ModuleKey,
    },
    /// The company does not hold the add-on.
    #[error("company does not hold add-on `{0}`")]
    AddOnNotHeld(AddOnKey),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Catalog administration and company entitlements over a [`CoreStore`].
///
/// The catalog is kept in memory with its version
/// ([`CatalogStore::catalog_version`](crate::store::CatalogStore::catalog_version)) and read
/// again only when the store's version differs: one read checks it, so an edit through any service over the same store — another
/// replica included — is seen by the next call (decision 0024). Clones share the cache.
#[derive(Clone)]
pub struct EntitlementService {
    store: Arc<dyn CoreStore>,
    clock: Arc<dyn Clock>,
    catalog: Arc<CatalogCache>,
}

/// The catalog as last read, with its version.
#[derive(Default)]
struct CatalogCache(std::sync::Mutex<Option<(u64, Arc<Catalog>)>>);

impl CatalogCache {
    /// The catalog read at `version`, if that is the one kept.
    fn get(&self, version: u64) -> Option<Arc<Catalog>> {
        let kept = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        kept.as_ref()
            .filter(|(v, _)| *v == version)
            .map(|(_, catalog)| Arc::clone(catalog))
    }

    /// Keeps `catalog`, read at `version`, unless a newer one is kept.
    fn put(&self, version: u64, catalog: &Arc<Catalog>) {
        let mut kept = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if kept.as_ref().is_none_or(|(v, _)| *v <= version) {
            *kept = Some((version, Arc::clone(catalog)));
        }
    }
}

impl EntitlementService {
    /// The log the store's writes append their events to.
    #[must_use]
    pub fn event_log(&self) -> Arc<dyn crate::outbox::EventLog> {
        self.store.event_log()
    }

    /// A service over `store`, reading time from `clock`.
    #[must_use]
    pub fn new(store: Arc<dyn CoreStore>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            catalog: Arc::default(),
        }
    }

    /// The catalog: the one kept in memory while the store's catalog version is the one it was
    /// read at (one read), else read again (and kept). A store that keeps no version is read
    /// each time.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn catalog(&self) -> Result<Arc<Catalog>, StoreError> {
        let Some(version) = self.store.catalog_version().await? else {
            return self.store.catalog().await;
        };
        if let Some(kept) = self.catalog.get(version) {
            return Ok(kept);
        }
        let (read_at, catalog) = self.store.versioned_catalog().await?;
        if let Some(read_at) = read_at {
            self.catalog.put(read_at, &catalog);
        }
        Ok(catalog)
    }

    /// The company's entitlements, resolved now.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn entitlements(&self, company_id: CompanyId) -> Result<Entitlements, StoreError> {
        let state = self.store.company_state(company_id).await?;
        let catalog = self.catalog().await?;
        Ok(resolve(&catalog, &state, self.clock.now()))
    }

    /// Creates or replaces a module.
    ///
    /// # Errors
    /// `ForeignPermission` when a declared permission belongs to another module; a store error.
    pub async fn put_module(&self, module: Module) -> Result<Vec<VersionBump>, EntitlementError> {
        if let Some(p) = module
            .permissions
            .iter()
            .find(|p| p.module() != module.key.as_str())
        {
            return Err(EntitlementError::ForeignPermission {
                module: module.key.clone(),
                permission: p.clone(),
            });
        }
        let catalog = self.catalog().await?;
        if module.kind == ModuleKind::Core
            && let Some(addon) = catalog.addons_for_module(&module.key).next()
        {
            return Err(EntitlementError::AddOnForCoreModule {
                addon: addon.key.clone(),
                module: module.key.clone(),
            });
        }
        Ok(self.store.put_module(module).await?)
    }

    /// Creates or replaces a package.
    ///
    /// # Errors
    /// `UnknownModule` when it names a module not in the catalog; a store error.
    pub async fn put_package(
        &self,
        package: Package,
    ) -> Result<Vec<VersionBump>, EntitlementError> {
        let catalog = self.catalog().await?;
        if let Some(m) = package
            .modules
            .iter()
            .find(|m| !catalog.modules.contains_key(*m))
        {
            return Err(EntitlementError::UnknownModule(m.clone()));
        }
        Ok(self.store.put_package(package).await?)
    }

    /// Creates or replaces an add-on.
    ///
    /// # Errors
    /// `UnknownModule`, `AddOnForCoreModule`; a store error.
    pub async fn put_addon(&self, addon: AddOn) -> Result<Vec<VersionBump>, EntitlementError> {
        let catalog = self.catalog().await?;
        match catalog.modules.get(&addon.module) {
            None => return Err(EntitlementError::UnknownModule(addon.module)),
            Some(m) if m.kind == ModuleKind::Core => {
                return Err(EntitlementError::AddOnForCoreModule {
                    addon: addon.key,
                    module: addon.module,
                });
            }
            Some(_) => {}
        }
        Ok(self.store.put_addon(addon).await?)
    }

    /// Sets the company's subscription and answers the new entitlements.
    ///
    /// # Errors
    /// `UnknownPackage`; a store error.
    pub async fn set_subscription(
        &self,
        subscription: Subscription,
    ) -> Result<Entitlements, EntitlementError> {
        let catalog = self.catalog().await?;
        if !catalog.packages.contains_key(&subscription.package) {
            return Err(EntitlementError::UnknownPackage(subscription.package));
        }
        let company_id = subscription.company_id;
        self.store.put_subscription(subscription).await?;
        Ok(self.entitlements(company_id).await?)
    }

    /// Sets one company add-on and answers the new entitlements.
    ///
    /// # Errors
    /// `UnknownAddOn`; a store error.
    pub async fn set_company_addon(
        &self,
        addon: CompanyAddOn,
    ) -> Result<Entitlements, EntitlementError> {
        let catalog = self.catalog().await?;
        if !catalog.addons.contains_key(&addon.addon) {
            return Err(EntitlementError::UnknownAddOn(addon.addon));
        }
        let company_id = addon.company_id;
        self.store.put_company_addon(addon).await?;
        Ok(self.entitlements(company_id).await?)
    }

    /// Removes one company add-on and answers the new entitlements.
    ///
    /// # Errors
    /// `UnknownAddOn` when the catalog has no such add-on; `AddOnNotHeld`; a store error.
    pub async fn remove_company_addon(
        &self,
        company_id: CompanyId,
        addon: &AddOnKey,
    ) -> Result<Entitlements, EntitlementError> {
        let catalog = self.catalog().await?;
        if !catalog.addons.contains_key(addon) {
            return Err(EntitlementError::UnknownAddOn(addon.clone()));
        }
        match self.store.remove_company_addon(company_id, addon).await {
            Ok(_) => Ok(self.entitlements(company_id).await?),
            Err(e) if e.kind() == crate::db::StoreErrorKind::NotFound => {
                Err(EntitlementError::AddOnNotHeld(addon.clone()))
            }
            Err(e) => Err(e.into()),
        }
    }
}
