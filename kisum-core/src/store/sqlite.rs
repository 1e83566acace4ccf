//! The embedded SQLite backend of [`CatalogStore`], [`SubscriptionStore`] and
//! [`CoreAudit`] (feature `sqlite`).
//!
//! Ids are 16-byte BLOBs, times INTEGER microseconds since the Unix epoch, lists JSON arrays.
//! Writes run in `BEGIN IMMEDIATE` transactions (one writer at a time, others wait up to the busy
//! timeout), in WAL mode so readers are never blocked.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_guard::{AddOnKey, CompanyId, ModuleKey, PackageKey, Permission};
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{Row, Sqlite, Transaction};
use uuid::Uuid;

use super::{CatalogStore, SubscriptionStore, VersionBump};
use crate::audit::{CoreAudit, CoreAuditRecord, MAX_LIST_LIMIT};
use crate::catalog::{AddOn, Catalog, Module, ModuleKind, Package};
use crate::db::migrate::{EmbeddedMigration, MigrationSet};
use crate::db::sql::{
    detail_from_db, detail_to_db, from_json_list, from_micros, from_micros_opt, parse_enum,
    store_error, to_json_list, to_micros, version_from_db,
};
use crate::db::{StoreError, StoreErrorKind, open_sqlite_pool};
use crate::entitlements::CompanyEntitlementState;
use crate::subscription::{CompanyAddOn, Subscription, SubscriptionStatus};

/// Core's SQLite migrations, tracked in `kisum_core_migrations`.
pub const MIGRATIONS: MigrationSet = MigrationSet {
    component: "core",
    table: "kisum_core_migrations",
    migrations: &[
        EmbeddedMigration {
            version: 1,
            description: "initial",
            sql: include_str!("../../../migrations/sqlite/core/0001_initial.sql"),
        },
        EmbeddedMigration {
            version: 2,
            description: "audit",
            sql: include_str!("../../../migrations/sqlite/core/0002_audit.sql"),
        },
    ],
};

/// Catalog and company entitlements in SQLite.
#[derive(Clone, Debug)]
pub struct SqliteCoreStore {
    pool: SqlitePool,
}

impl SqliteCoreStore {
    /// A store over an existing pool (migrations are the caller's: see [`MIGRATIONS`]).
    #[must_use]
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }

    /// Opens the database at `url` (`sqlite://path`), applies pending migrations, and returns
    /// the store.
    ///
    /// # Errors
    /// As [`open_sqlite_pool`]; `Invalid` for a database migrated by a newer version.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let pool = open_sqlite_pool(url).await?;
        MIGRATIONS
            .run_sqlite(&pool)
            .await
            .map_err(|e| StoreError::new(StoreErrorKind::Invalid, e.to_string()).with_source(e))?;
        Ok(Self { pool })
    }

    /// The pool.
    #[must_use]
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(store_error)
    }
}

fn bumps(rows: &[SqliteRow]) -> Result<Vec<VersionBump>, StoreError> {
    let mut v = rows
        .iter()
        .map(|r| {
            Ok(VersionBump {
                company_id: CompanyId::from_uuid(r.try_get("company_id").map_err(store_error)?),
                entitlement_version: version_from_db(
                    r.try_get("entitlement_version").map_err(store_error)?,
                )?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    v.sort_by_key(|b| b.company_id);
    Ok(v)
}

async fn bump_company(
    tx: &mut Transaction<'static, Sqlite>,
    company_id: CompanyId,
) -> Result<u64, StoreError> {
    let v: i64 = sqlx::query_scalar(
        "INSERT INTO company_entitlements (company_id, entitlement_version) VALUES (?1, 1)
         ON CONFLICT (company_id) DO UPDATE SET entitlement_version = entitlement_version + 1
         RETURNING entitlement_version",
    )
    .bind(company_id.as_uuid())
    .fetch_one(&mut **tx)
    .await
    .map_err(store_error)?;
    version_from_db(v)
}

#[async_trait]
impl CatalogStore for SqliteCoreStore {
    async fn put_module(&self, module: Module) -> Result<Vec<VersionBump>, StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO modules (key, name, kind, permissions) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (key) DO UPDATE SET name = excluded.name, kind = excluded.kind, permissions = excluded.permissions",
        )
        .bind(module.key.as_str())
        .bind(&module.name)
        .bind(module.kind.as_str())
        .bind(to_json_list(module.permissions.iter().map(Permission::as_str)))
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        let rows = sqlx::query(
            "UPDATE company_entitlements SET entitlement_version = entitlement_version + 1
             WHERE company_id IN (
                 SELECT s.company_id FROM subscriptions s JOIN packages p ON p.key = s.package
                 WHERE EXISTS (SELECT 1 FROM json_each(p.modules) WHERE value = ?1)
                 UNION
                 SELECT ca.company_id FROM company_addons ca JOIN addons a ON a.key = ca.addon
                 WHERE a.module = ?1)
             RETURNING company_id, entitlement_version",
        )
        .bind(module.key.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        bumps(&rows)
    }

    async fn put_package(&self, package: Package) -> Result<Vec<VersionBump>, StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO packages (key, name, is_basic, modules) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (key) DO UPDATE SET name = excluded.name, is_basic = excluded.is_basic, modules = excluded.modules",
        )
        .bind(package.key.as_str())
        .bind(&package.name)
        .bind(package.is_basic)
        .bind(to_json_list(&package.modules))
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        let rows = sqlx::query(
            "UPDATE company_entitlements SET entitlement_version = entitlement_version + 1
             WHERE company_id IN (SELECT company_id FROM subscriptions WHERE package = ?1)
             RETURNING company_id, entitlement_version",
        )
        .bind(package.key.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        bumps(&rows)
    }

    async fn put_addon(&self, addon: AddOn) -> Result<Vec<VersionBump>, StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO addons (key, name, module) VALUES (?1, ?2, ?3)
             ON CONFLICT (key) DO UPDATE SET name = excluded.name, module = excluded.module",
        )
        .bind(addon.key.as_str())
        .bind(&addon.name)
        .bind(addon.module.as_str())
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        let rows = sqlx::query(
            "UPDATE company_entitlements SET entitlement_version = entitlement_version + 1
             WHERE company_id IN (SELECT company_id FROM company_addons WHERE addon = ?1)
             RETURNING company_id, entitlement_version",
        )
        .bind(addon.key.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        bumps(&rows)
    }

    async fn catalog(&self) -> Result<Arc<Catalog>, StoreError> {
        // One read transaction: in WAL mode it reads one snapshot.
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        let mut catalog = Catalog::default();
        for r in sqlx::query("SELECT key, name, kind, permissions FROM modules")
            .fetch_all(&mut *tx)
            .await
            .map_err(store_error)?
        {
            let key = parse_enum(r.try_get::<&str, _>("key").map_err(store_error)?, |s| {
                ModuleKey::new(s).ok()
            })?;
            let module = Module {
                key: key.clone(),
                name: r.try_get("name").map_err(store_error)?,
                kind: parse_enum(
                    r.try_get::<&str, _>("kind").map_err(store_error)?,
                    ModuleKind::parse,
                )?,
                permissions: from_json_list(
                    r.try_get::<&str, _>("permissions").map_err(store_error)?,
                    Permission::new,
                )?,
            };
            catalog.modules.insert(key, module);
        }
        for r in sqlx::query("SELECT key, name, is_basic, modules FROM packages")
            .fetch_all(&mut *tx)
            .await
            .map_err(store_error)?
        {
            let key = parse_enum(r.try_get::<&str, _>("key").map_err(store_error)?, |s| {
                PackageKey::new(s).ok()
            })?;
            let package = Package {
                key: key.clone(),
                name: r.try_get("name").map_err(store_error)?,
                is_basic: r.try_get("is_basic").map_err(store_error)?,
                modules: from_json_list(
                    r.try_get::<&str, _>("modules").map_err(store_error)?,
                    ModuleKey::new,
                )?
                .into_iter()
                .collect(),
            };
            catalog.packages.insert(key, package);
        }
        for r in sqlx::query("SELECT key, name, module FROM addons")
            .fetch_all(&mut *tx)
            .await
            .map_err(store_error)?
        {
            let key = parse_enum(r.try_get::<&str, _>("key").map_err(store_error)?, |s| {
                AddOnKey::new(s).ok()
            })?;
            let addon = AddOn {
                key: key.clone(),
                name: r.try_get("name").map_err(store_error)?,
                module: parse_enum(r.try_get::<&str, _>("module").map_err(store_error)?, |s| {
                    ModuleKey::new(s).ok()
                })?,
            };
            catalog.addons.insert(key, addon);
        }
        tx.commit().await.map_err(store_error)?;
        Ok(Arc::new(catalog))
    }
}

#[async_trait]
impl SubscriptionStore for SqliteCoreStore {
    async fn company_state(
        &self,
        company_id: CompanyId,
    ) -> Result<CompanyEntitlementState, StoreError> {
        let rows = sqlx::query(
            "SELECT ce.entitlement_version,
                    s.package, s.status AS sub_status, s.current_period_end AS sub_end, s.grace_until,
                    ca.addon, ca.status AS addon_status, ca.current_period_end AS addon_end
             FROM company_entitlements ce
             LEFT JOIN subscriptions s ON s.company_id = ce.company_id
             LEFT JOIN company_addons ca ON ca.company_id = ce.company_id
             WHERE ce.company_id = ?1
             ORDER BY ca.addon",
        )
        .bind(company_id.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        let Some(first) = rows.first() else {
            return Ok(CompanyEntitlementState::empty(company_id));
        };
        let subscription = match first
            .try_get::<Option<&str>, _>("package")
            .map_err(store_error)?
        {
            Some(package) => Some(Subscription {
                company_id,
                package: parse_enum(package, |s| PackageKey::new(s).ok())?,
                status: parse_enum(
                    first
                        .try_get::<&str, _>("sub_status")
                        .map_err(store_error)?,
                    SubscriptionStatus::parse,
                )?,
                current_period_end: from_micros_opt(
                    first.try_get("sub_end").map_err(store_error)?,
                )?,
                grace_until: from_micros_opt(first.try_get("grace_until").map_err(store_error)?)?,
            }),
            None => None,
        };
        let mut add_ons = Vec::new();
        for r in &rows {
            if let Some(addon) = r.try_get::<Option<&str>, _>("addon").map_err(store_error)? {
                add_ons.push(CompanyAddOn {
                    company_id,
                    addon: parse_enum(addon, |s| AddOnKey::new(s).ok())?,
                    status: parse_enum(
                        r.try_get::<&str, _>("addon_status").map_err(store_error)?,
                        SubscriptionStatus::parse,
                    )?,
                    current_period_end: from_micros_opt(
                        r.try_get("addon_end").map_err(store_error)?,
                    )?,
                });
            }
        }
        Ok(CompanyEntitlementState {
            company_id,
            entitlement_version: version_from_db(
                first.try_get("entitlement_version").map_err(store_error)?,
            )?,
            subscription,
            add_ons,
        })
    }

    async fn put_subscription(&self, subscription: Subscription) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let version = bump_company(&mut tx, subscription.company_id).await?;
        sqlx::query(
            "INSERT INTO subscriptions (company_id, package, status, current_period_end, grace_until)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (company_id) DO UPDATE SET package = excluded.package, status = excluded.status,
                 current_period_end = excluded.current_period_end, grace_until = excluded.grace_until",
        )
        .bind(subscription.company_id.as_uuid())
        .bind(subscription.package.as_str())
        .bind(subscription.status.as_str())
        .bind(subscription.current_period_end.map(to_micros))
        .bind(subscription.grace_until.map(to_micros))
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(version)
    }

    async fn put_company_addon(&self, addon: CompanyAddOn) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let version = bump_company(&mut tx, addon.company_id).await?;
        sqlx::query(
            "INSERT INTO company_addons (company_id, addon, status, current_period_end) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (company_id, addon) DO UPDATE SET status = excluded.status,
                 current_period_end = excluded.current_period_end",
        )
        .bind(addon.company_id.as_uuid())
        .bind(addon.addon.as_str())
        .bind(addon.status.as_str())
        .bind(addon.current_period_end.map(to_micros))
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(version)
    }

    async fn remove_company_addon(
        &self,
        company_id: CompanyId,
        addon: &AddOnKey,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let deleted =
            sqlx::query("DELETE FROM company_addons WHERE company_id = ?1 AND addon = ?2")
                .bind(company_id.as_uuid())
                .bind(addon.as_str())
                .execute(&mut *tx)
                .await
                .map_err(store_error)?
                .rows_affected();
        if deleted != 1 {
            tx.rollback().await.map_err(store_error)?;
            return Err(StoreError::not_found(format!("company add-on `{addon}`")));
        }
        let version = bump_company(&mut tx, company_id).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(version)
    }
}

/// The columns of `core_audit`.
const AUDIT_COLUMNS: &str = "id, at, actor, action, company_id, request_id, detail";

fn audit_from_row(r: &SqliteRow) -> Result<CoreAuditRecord, StoreError> {
    Ok(CoreAuditRecord {
        id: r.try_get("id").map_err(store_error)?,
        at: from_micros(r.try_get("at").map_err(store_error)?)?,
        actor: r.try_get("actor").map_err(store_error)?,
        action: r.try_get("action").map_err(store_error)?,
        company_id: r
            .try_get::<Option<Uuid>, _>("company_id")
            .map_err(store_error)?
            .map(CompanyId::from_uuid),
        request_id: r.try_get("request_id").map_err(store_error)?,
        detail: detail_from_db(r.try_get::<&str, _>("detail").map_err(store_error)?)?,
    })
}

/// The audit log in the `core_audit` table of the same database.
#[async_trait]
impl CoreAudit for SqliteCoreStore {
    async fn append(&self, record: &CoreAuditRecord) -> Result<(), StoreError> {
        record.validate()?;
        sqlx::query(
            "INSERT INTO core_audit (id, at, actor, action, company_id, request_id, detail)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .bind(record.id)
        .bind(to_micros(record.at))
        .bind(&record.actor)
        .bind(&record.action)
        .bind(record.company_id.map(|c| *c.as_uuid()))
        .bind(record.request_id.as_deref())
        .bind(detail_to_db(&record.detail)?)
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn list(
        &self,
        company_id: Option<CompanyId>,
        limit: u32,
    ) -> Result<Vec<CoreAuditRecord>, StoreError> {
        let limit = i64::from(limit.min(MAX_LIST_LIMIT));
        let rows = match company_id {
            Some(c) => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {AUDIT_COLUMNS} FROM core_audit WHERE company_id = ?1
                     ORDER BY at DESC, id DESC LIMIT ?2"
                )))
                .bind(*c.as_uuid())
                .bind(limit)
                .fetch_all(&self.pool)
                .await
            }
            None => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {AUDIT_COLUMNS} FROM core_audit ORDER BY at DESC, id DESC LIMIT ?1"
                )))
                .bind(limit)
                .fetch_all(&self.pool)
                .await
            }
        }
        .map_err(store_error)?;
        rows.iter().map(audit_from_row).collect()
    }

    async fn prune(&self, older_than: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM core_audit WHERE at < ?1")
            .bind(to_micros(older_than))
            .execute(&self.pool)
            .await
            .map_err(store_error)?
            .rows_affected())
    }
}
