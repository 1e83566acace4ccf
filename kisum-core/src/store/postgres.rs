//! The PostgreSQL backend of [`CatalogStore`], [`SubscriptionStore`] and [`CoreAudit`]
//! (feature `postgres`).
//!
//! Every write is one transaction; every entitlement version bump locks the company's version
//! row first (`INSERT … ON CONFLICT … DO UPDATE` or `UPDATE … RETURNING`), so concurrent writes to
//! one company are serialized and none is lost.

use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_guard::{AddOnKey, CompanyId, ModuleKey, PackageKey, Permission};
use sqlx::postgres::{PgConnectOptions, PgPool, PgRow};
use sqlx::{Postgres, Row, Transaction};
use uuid::Uuid;

use super::{CatalogStore, SubscriptionStore, VersionBump};
use crate::audit::{CoreAudit, CoreAuditRecord, MAX_LIST_LIMIT};
use crate::catalog::{AddOn, Catalog, Module, ModuleKind, Package};
use crate::db::migrate::{EmbeddedMigration, MigrationSet};
use crate::db::sql::{
    detail_from_db, detail_to_db, parse_enum, parse_list, store_error, version_from_db,
};
use crate::db::{StoreError, StoreErrorKind, open_postgres_pool};
use crate::entitlements::CompanyEntitlementState;
use crate::subscription::{CompanyAddOn, Subscription, SubscriptionStatus};

/// Core's PostgreSQL migrations, tracked in `kisum_core_migrations`.
pub const MIGRATIONS: MigrationSet = MigrationSet {
    component: "core",
    table: "kisum_core_migrations",
    migrations: &[
        EmbeddedMigration {
            version: 1,
            description: "initial",
            sql: include_str!("../../../migrations/postgres/core/0001_initial.sql"),
        },
        EmbeddedMigration {
            version: 2,
            description: "audit",
            sql: include_str!("../../../migrations/postgres/core/0002_audit.sql"),
        },
    ],
};

/// Catalog and company entitlements in PostgreSQL.
#[derive(Clone, Debug)]
pub struct PgCoreStore {
    pool: PgPool,
}

impl PgCoreStore {
    /// A store over an existing pool (migrations are the caller's: see [`MIGRATIONS`]).
    #[must_use]
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Connects to `url`, applies pending migrations, and returns the store.
    ///
    /// # Errors
    /// `Unavailable` when the database cannot be reached; `Invalid` for a malformed URL or a
    /// database migrated by a newer version.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url).map_err(store_error)?;
        Self::connect_with(options).await
    }

    /// As [`connect`](Self::connect), from parsed options.
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub async fn connect_with(options: PgConnectOptions) -> Result<Self, StoreError> {
        let pool = open_postgres_pool(options).await?;
        MIGRATIONS
            .run_postgres(&pool)
            .await
            .map_err(|e| StoreError::new(StoreErrorKind::Invalid, e.to_string()).with_source(e))?;
        Ok(Self { pool })
    }

    /// The pool.
    #[must_use]
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn begin(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        self.pool.begin().await.map_err(store_error)
    }
}

fn strings<T: AsRef<str>>(items: impl IntoIterator<Item = T>) -> Vec<String> {
    items.into_iter().map(|s| s.as_ref().to_owned()).collect()
}

fn bumps(rows: Vec<PgRow>) -> Result<Vec<VersionBump>, StoreError> {
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

/// Bumps the companies selected by `companies` (a query yielding `company_id`, with `$1` bound
/// to `key`), locking their version rows in id order.
async fn bump_where(
    tx: &mut Transaction<'static, Postgres>,
    companies: &'static str,
    key: &str,
) -> Result<Vec<VersionBump>, StoreError> {
    let sql = match companies {
        "package" => {
            "UPDATE company_entitlements SET entitlement_version = entitlement_version + 1
             WHERE company_id IN (SELECT company_id FROM company_entitlements
                 WHERE company_id IN (SELECT company_id FROM subscriptions WHERE package = $1)
                 ORDER BY company_id FOR UPDATE)
             RETURNING company_id, entitlement_version"
        }
        "addon" => {
            "UPDATE company_entitlements SET entitlement_version = entitlement_version + 1
             WHERE company_id IN (SELECT company_id FROM company_entitlements
                 WHERE company_id IN (SELECT company_id FROM company_addons WHERE addon = $1)
                 ORDER BY company_id FOR UPDATE)
             RETURNING company_id, entitlement_version"
        }
        _ => {
            "UPDATE company_entitlements SET entitlement_version = entitlement_version + 1
             WHERE company_id IN (SELECT company_id FROM company_entitlements
                 WHERE company_id IN (
                     SELECT s.company_id FROM subscriptions s JOIN packages p ON p.key = s.package
                     WHERE $1 = ANY(p.modules)
                     UNION
                     SELECT ca.company_id FROM company_addons ca JOIN addons a ON a.key = ca.addon
                     WHERE a.module = $1)
                 ORDER BY company_id FOR UPDATE)
             RETURNING company_id, entitlement_version"
        }
    };
    let rows = sqlx::query(sql)
        .bind(key)
        .fetch_all(&mut **tx)
        .await
        .map_err(store_error)?;
    bumps(rows)
}

/// Raises the company's version by one (creating it at 1), locking its row for the rest of the
/// transaction.
async fn bump_company(
    tx: &mut Transaction<'static, Postgres>,
    company_id: CompanyId,
) -> Result<u64, StoreError> {
    let v: i64 = sqlx::query_scalar(
        "INSERT INTO company_entitlements (company_id, entitlement_version) VALUES ($1, 1)
         ON CONFLICT (company_id) DO UPDATE SET entitlement_version = company_entitlements.entitlement_version + 1
         RETURNING entitlement_version",
    )
    .bind(company_id.as_uuid())
    .fetch_one(&mut **tx)
    .await
    .map_err(store_error)?;
    version_from_db(v)
}

#[async_trait]
impl CatalogStore for PgCoreStore {
    async fn put_module(&self, module: Module) -> Result<Vec<VersionBump>, StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO modules (key, name, kind, permissions) VALUES ($1, $2, $3, $4)
             ON CONFLICT (key) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind, permissions = EXCLUDED.permissions",
        )
        .bind(module.key.as_str())
        .bind(&module.name)
        .bind(module.kind.as_str())
        .bind(strings(&module.permissions))
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        let bumps = bump_where(&mut tx, "module", module.key.as_str()).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(bumps)
    }

    async fn put_package(&self, package: Package) -> Result<Vec<VersionBump>, StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO packages (key, name, is_basic, modules) VALUES ($1, $2, $3, $4)
             ON CONFLICT (key) DO UPDATE SET name = EXCLUDED.name, is_basic = EXCLUDED.is_basic, modules = EXCLUDED.modules",
        )
        .bind(package.key.as_str())
        .bind(&package.name)
        .bind(package.is_basic)
        .bind(strings(&package.modules))
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        let bumps = bump_where(&mut tx, "package", package.key.as_str()).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(bumps)
    }

    async fn put_addon(&self, addon: AddOn) -> Result<Vec<VersionBump>, StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO addons (key, name, module) VALUES ($1, $2, $3)
             ON CONFLICT (key) DO UPDATE SET name = EXCLUDED.name, module = EXCLUDED.module",
        )
        .bind(addon.key.as_str())
        .bind(&addon.name)
        .bind(addon.module.as_str())
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        let bumps = bump_where(&mut tx, "addon", addon.key.as_str()).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(bumps)
    }

    async fn catalog(&self) -> Result<Arc<Catalog>, StoreError> {
        // One read-only transaction so the three reads see one snapshot.
        let mut tx = self.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        let mut catalog = Catalog::default();
        for r in sqlx::query("SELECT key, name, kind, permissions FROM modules")
            .fetch_all(&mut *tx)
            .await
            .map_err(store_error)?
        {
            let key = parse_enum(r.try_get::<&str, _>("key").map_err(store_error)?, |s| {
                ModuleKey::new(s).ok()
            })?;
            let perms: Vec<String> = r.try_get("permissions").map_err(store_error)?;
            let module = Module {
                key: key.clone(),
                name: r.try_get("name").map_err(store_error)?,
                kind: parse_enum(
                    r.try_get::<&str, _>("kind").map_err(store_error)?,
                    ModuleKind::parse,
                )?,
                permissions: parse_list(&perms, Permission::new)?,
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
            let modules: Vec<String> = r.try_get("modules").map_err(store_error)?;
            let package = Package {
                key: key.clone(),
                name: r.try_get("name").map_err(store_error)?,
                is_basic: r.try_get("is_basic").map_err(store_error)?,
                modules: parse_list(&modules, ModuleKey::new)?.into_iter().collect(),
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
impl SubscriptionStore for PgCoreStore {
    async fn company_state(
        &self,
        company_id: CompanyId,
    ) -> Result<CompanyEntitlementState, StoreError> {
        // One statement, one snapshot: the version, the subscription and every add-on.
        let rows = sqlx::query(
            "SELECT ce.entitlement_version,
                    s.package, s.status AS sub_status, s.current_period_end AS sub_end, s.grace_until,
                    ca.addon, ca.status AS addon_status, ca.current_period_end AS addon_end
             FROM company_entitlements ce
             LEFT JOIN subscriptions s ON s.company_id = ce.company_id
             LEFT JOIN company_addons ca ON ca.company_id = ce.company_id
             WHERE ce.company_id = $1
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
                current_period_end: first
                    .try_get::<Option<DateTime<Utc>>, _>("sub_end")
                    .map_err(store_error)?,
                grace_until: first
                    .try_get::<Option<DateTime<Utc>>, _>("grace_until")
                    .map_err(store_error)?,
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
                    current_period_end: r
                        .try_get::<Option<DateTime<Utc>>, _>("addon_end")
                        .map_err(store_error)?,
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
        let mut tx = self.begin().await?;
        let version = bump_company(&mut tx, subscription.company_id).await?;
        sqlx::query(
            "INSERT INTO subscriptions (company_id, package, status, current_period_end, grace_until)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (company_id) DO UPDATE SET package = EXCLUDED.package, status = EXCLUDED.status,
                 current_period_end = EXCLUDED.current_period_end, grace_until = EXCLUDED.grace_until",
        )
        .bind(subscription.company_id.as_uuid())
        .bind(subscription.package.as_str())
        .bind(subscription.status.as_str())
        .bind(subscription.current_period_end)
        .bind(subscription.grace_until)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(version)
    }

    async fn put_company_addon(&self, addon: CompanyAddOn) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        let version = bump_company(&mut tx, addon.company_id).await?;
        sqlx::query(
            "INSERT INTO company_addons (company_id, addon, status, current_period_end) VALUES ($1, $2, $3, $4)
             ON CONFLICT (company_id, addon) DO UPDATE SET status = EXCLUDED.status,
                 current_period_end = EXCLUDED.current_period_end",
        )
        .bind(addon.company_id.as_uuid())
        .bind(addon.addon.as_str())
        .bind(addon.status.as_str())
        .bind(addon.current_period_end)
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
        let mut tx = self.begin().await?;
        let version: Option<i64> = sqlx::query_scalar(
            "UPDATE company_entitlements SET entitlement_version = entitlement_version + 1
             WHERE company_id = $1 RETURNING entitlement_version",
        )
        .bind(company_id.as_uuid())
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?;
        let deleted =
            sqlx::query("DELETE FROM company_addons WHERE company_id = $1 AND addon = $2")
                .bind(company_id.as_uuid())
                .bind(addon.as_str())
                .execute(&mut *tx)
                .await
                .map_err(store_error)?
                .rows_affected();
        match version {
            Some(v) if deleted == 1 => {
                tx.commit().await.map_err(store_error)?;
                version_from_db(v)
            }
            _ => {
                tx.rollback().await.map_err(store_error)?;
                Err(StoreError::not_found(format!("company add-on `{addon}`")))
            }
        }
    }
}

/// The columns of `core_audit`; `detail` read back as text (bound as text and cast to `jsonb`).
const AUDIT_COLUMNS: &str = "id, at, actor, action, company_id, request_id, detail::text AS detail";

fn audit_from_row(r: &PgRow) -> Result<CoreAuditRecord, StoreError> {
    Ok(CoreAuditRecord {
        id: r.try_get("id").map_err(store_error)?,
        at: r.try_get("at").map_err(store_error)?,
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
impl CoreAudit for PgCoreStore {
    async fn append(&self, record: &CoreAuditRecord) -> Result<(), StoreError> {
        record.validate()?;
        sqlx::query(
            "INSERT INTO core_audit (id, at, actor, action, company_id, request_id, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)",
        )
        .bind(record.id)
        .bind(record.at)
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
                    "SELECT {AUDIT_COLUMNS} FROM core_audit WHERE company_id = $1
                     ORDER BY at DESC, id DESC LIMIT $2"
                )))
                .bind(*c.as_uuid())
                .bind(limit)
                .fetch_all(&self.pool)
                .await
            }
            None => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {AUDIT_COLUMNS} FROM core_audit ORDER BY at DESC, id DESC LIMIT $1"
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
        Ok(sqlx::query("DELETE FROM core_audit WHERE at < $1")
            .bind(older_than)
            .execute(&self.pool)
            .await
            .map_err(store_error)?
            .rows_affected())
    }
}
