//! [`CatalogStore`](crate::store::CatalogStore) on SQLite: "which companies reach this module" through `json_each` over
//! the package's JSON module list; `BEGIN IMMEDIATE` serializes the edits.

use sqlx::Sqlite;

use crate::store::sql::catalog::CatalogSql;

impl CatalogSql for Sqlite {
    const BUMP_REACHING_MODULE: &'static str = "UPDATE company_entitlements
         SET entitlement_version = entitlement_version + 1
         WHERE company_id IN (
             SELECT s.company_id FROM subscriptions s JOIN packages p ON p.key = s.package
             WHERE EXISTS (SELECT 1 FROM json_each(p.modules) WHERE value = $1)
             UNION
             SELECT ca.company_id FROM company_addons ca JOIN addons a ON a.key = ca.addon
             WHERE a.module = $1)
         RETURNING company_id, entitlement_version";

    const BUMP_SUBSCRIBERS: &'static str = "UPDATE company_entitlements
         SET entitlement_version = entitlement_version + 1
         WHERE company_id IN (SELECT company_id FROM subscriptions WHERE package = $1)
         RETURNING company_id, entitlement_version";

    const BUMP_HOLDERS: &'static str = "UPDATE company_entitlements
         SET entitlement_version = entitlement_version + 1
         WHERE company_id IN (SELECT company_id FROM company_addons WHERE addon = $1)
         RETURNING company_id, entitlement_version";
}
