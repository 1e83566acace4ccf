//! [`CatalogStore`](crate::store::CatalogStore) written once: each edit upserts the item and
//! bumps, in the same write transaction, the companies it reaches; which those are, and how
//! their rows are locked, is the dialect's [`CatalogSql`].

use async_trait::async_trait;

use super::SqlCoreStore;
use crate::store::CatalogStore;
use std::sync::Arc;

use sqlx::Pool;

use crate::catalog::{AddOn, Catalog, Module, Package};
use crate::db::StoreError;
use crate::db::sql::{Dialect, SqlRow, Stmt, store_error, version_from_db};
use crate::store::VersionBump;
use crate::store::sql::{queries, rows};

/// The catalog statements a dialect writes its own way. Each raises by one the entitlement
/// version of the companies an edit of item `$1` (a key) reaches, `RETURNING company_id,
/// entitlement_version`.
pub(crate) trait CatalogSql: Dialect {
    /// The companies whose subscription's package lists module `$1` or that hold an add-on of it.
    const BUMP_REACHING_MODULE: &'static str;
    /// The subscribers of package `$1`.
    const BUMP_SUBSCRIBERS: &'static str;
    /// The holders of add-on `$1`.
    const BUMP_HOLDERS: &'static str;
}

/// Runs `upsert`, raises the catalog's version, then runs the bump statement `bump` for `key`,
/// in one write transaction.
async fn upsert_and_bump<D: Dialect>(
    pool: &Pool<D>,
    upsert: Stmt<'_>,
    bump: &'static str,
    key: &str,
) -> Result<Vec<VersionBump>, StoreError> {
    let mut tx = D::begin_write(pool).await?;
    upsert.execute(&mut tx).await?;
    Stmt::new(queries::BUMP_CATALOG_VERSION)
        .execute(&mut tx)
        .await?;
    let bumped = Stmt::new(bump).text(key).fetch_all(&mut tx).await?;
    tx.commit().await.map_err(store_error)?;
    rows::bumps(&bumped)
}

/// The catalog's version and the catalog, read in one snapshot (three reads).
async fn read_catalog<D: Dialect>(pool: &Pool<D>) -> Result<(u64, Catalog), StoreError> {
    let mut tx = D::begin_read(pool).await?;
    let version = Stmt::new(queries::CATALOG_VERSION)
        .fetch_one(&mut tx)
        .await?;
    let version = version_from_db(version.int("version")?)?;
    let mut catalog = Catalog::default();
    for r in Stmt::new(queries::SELECT_MODULES)
        .fetch_all(&mut tx)
        .await?
    {
        let module = rows::module(&r)?;
        catalog.modules.insert(module.key.clone(), module);
    }
    for r in Stmt::new(queries::SELECT_PACKAGES)
        .fetch_all(&mut tx)
        .await?
    {
        let package = rows::package(&r)?;
        catalog.packages.insert(package.key.clone(), package);
    }
    for r in Stmt::new(queries::SELECT_ADDONS).fetch_all(&mut tx).await? {
        let addon = rows::addon(&r)?;
        catalog.addons.insert(addon.key.clone(), addon);
    }
    tx.commit().await.map_err(store_error)?;
    Ok((version, catalog))
}

#[async_trait]
impl<D: Dialect + CatalogSql> CatalogStore for SqlCoreStore<D> {
    async fn put_module(&self, module: Module) -> Result<Vec<VersionBump>, StoreError> {
        let upsert = Stmt::new(queries::UPSERT_MODULE)
            .text(module.key.as_str())
            .text(module.name.as_str())
            .text(module.kind.as_str())
            .list(&module.permissions);
        upsert_and_bump(
            &self.pool,
            upsert,
            D::BUMP_REACHING_MODULE,
            module.key.as_str(),
        )
        .await
    }

    async fn put_package(&self, package: Package) -> Result<Vec<VersionBump>, StoreError> {
        let upsert = Stmt::new(queries::UPSERT_PACKAGE)
            .text(package.key.as_str())
            .text(package.name.as_str())
            .flag(package.is_basic)
            .list(&package.modules);
        upsert_and_bump(
            &self.pool,
            upsert,
            D::BUMP_SUBSCRIBERS,
            package.key.as_str(),
        )
        .await
    }

    async fn put_addon(&self, addon: AddOn) -> Result<Vec<VersionBump>, StoreError> {
        let upsert = Stmt::new(queries::UPSERT_ADDON)
            .text(addon.key.as_str())
            .text(addon.name.as_str())
            .text(addon.module.as_str());
        upsert_and_bump(&self.pool, upsert, D::BUMP_HOLDERS, addon.key.as_str()).await
    }

    async fn catalog(&self) -> Result<Arc<Catalog>, StoreError> {
        Ok(Arc::new(read_catalog(&self.pool).await?.1))
    }

    async fn catalog_version(&self) -> Result<Option<u64>, StoreError> {
        let row = Stmt::new(queries::CATALOG_VERSION)
            .fetch_one(&self.pool)
            .await?;
        version_from_db(row.int("version")?).map(Some)
    }

    /// The version and three reads in one snapshot.
    async fn versioned_catalog(&self) -> Result<(Option<u64>, Arc<Catalog>), StoreError> {
        let (version, catalog) = read_catalog(&self.pool).await?;
        Ok((Some(version), Arc::new(catalog)))
    }
}
