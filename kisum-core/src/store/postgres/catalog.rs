//! [`CatalogStore`] on PostgreSQL: lists bound as `TEXT[]`; "which companies reach this
//! module" through `= ANY`; the affected companies' rows locked in id order (`FOR UPDATE`)
//! before they are raised, so two catalog edits cannot deadlock.

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::{Postgres, Transaction};

use super::{PgCoreStore, strings};
use crate::catalog::{AddOn, Catalog, Module, Package};
use crate::db::StoreError;
use crate::db::sql::store_error;
use crate::store::sql::{queries, rows};
use crate::store::{CatalogStore, VersionBump};

/// Bumps every company whose subscription's package lists module `$1` or that holds an add-on
/// of it.
const BUMP_REACHING_MODULE: &str = "UPDATE company_entitlements
     SET entitlement_version = entitlement_version + 1
     WHERE company_id IN (SELECT company_id FROM company_entitlements
         WHERE company_id IN (
             SELECT s.company_id FROM subscriptions s JOIN packages p ON p.key = s.package
             WHERE $1 = ANY(p.modules)
             UNION
             SELECT ca.company_id FROM company_addons ca JOIN addons a ON a.key = ca.addon
             WHERE a.module = $1)
         ORDER BY company_id FOR UPDATE)
     RETURNING company_id, entitlement_version";

/// Bumps the subscribers of package `$1`.
const BUMP_SUBSCRIBERS: &str = "UPDATE company_entitlements
     SET entitlement_version = entitlement_version + 1
     WHERE company_id IN (SELECT company_id FROM company_entitlements
         WHERE company_id IN (SELECT company_id FROM subscriptions WHERE package = $1)
         ORDER BY company_id FOR UPDATE)
     RETURNING company_id, entitlement_version";

/// Bumps the holders of add-on `$1`.
const BUMP_HOLDERS: &str = "UPDATE company_entitlements
     SET entitlement_version = entitlement_version + 1
     WHERE company_id IN (SELECT company_id FROM company_entitlements
         WHERE company_id IN (SELECT company_id FROM company_addons WHERE addon = $1)
         ORDER BY company_id FOR UPDATE)
     RETURNING company_id, entitlement_version";

/// Runs one of the bump statements above for `key`.
async fn bump(
    tx: &mut Transaction<'static, Postgres>,
    statement: &'static str,
    key: &str,
) -> Result<Vec<VersionBump>, StoreError> {
    let bumped = sqlx::query(statement)
        .bind(key)
        .fetch_all(&mut **tx)
        .await
        .map_err(store_error)?;
    rows::bumps(&bumped)
}

#[async_trait]
impl CatalogStore for PgCoreStore {
    async fn put_module(&self, module: Module) -> Result<Vec<VersionBump>, StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(queries::UPSERT_MODULE)
            .bind(module.key.as_str())
            .bind(&module.name)
            .bind(module.kind.as_str())
            .bind(strings(&module.permissions))
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        let bumps = bump(&mut tx, BUMP_REACHING_MODULE, module.key.as_str()).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(bumps)
    }

    async fn put_package(&self, package: Package) -> Result<Vec<VersionBump>, StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(queries::UPSERT_PACKAGE)
            .bind(package.key.as_str())
            .bind(&package.name)
            .bind(package.is_basic)
            .bind(strings(&package.modules))
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        let bumps = bump(&mut tx, BUMP_SUBSCRIBERS, package.key.as_str()).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(bumps)
    }

    async fn put_addon(&self, addon: AddOn) -> Result<Vec<VersionBump>, StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(queries::UPSERT_ADDON)
            .bind(addon.key.as_str())
            .bind(&addon.name)
            .bind(addon.module.as_str())
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        let bumps = bump(&mut tx, BUMP_HOLDERS, addon.key.as_str()).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(bumps)
    }

    async fn catalog(&self) -> Result<Arc<Catalog>, StoreError> {
        // One read-only transaction so the three reads see one snapshot.
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        let mut catalog = Catalog::default();
        for r in sqlx::query(queries::SELECT_MODULES)
            .fetch_all(&mut *tx)
            .await
            .map_err(store_error)?
        {
            let module = rows::module(&r)?;
            catalog.modules.insert(module.key.clone(), module);
        }
        for r in sqlx::query(queries::SELECT_PACKAGES)
            .fetch_all(&mut *tx)
            .await
            .map_err(store_error)?
        {
            let package = rows::package(&r)?;
            catalog.packages.insert(package.key.clone(), package);
        }
        for r in sqlx::query(queries::SELECT_ADDONS)
            .fetch_all(&mut *tx)
            .await
            .map_err(store_error)?
        {
            let addon = rows::addon(&r)?;
            catalog.addons.insert(addon.key.clone(), addon);
        }
        tx.commit().await.map_err(store_error)?;
        Ok(Arc::new(catalog))
    }
}
