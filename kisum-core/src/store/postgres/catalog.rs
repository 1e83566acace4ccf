//! [`CatalogStore`](crate::store::CatalogStore) on PostgreSQL: "which companies reach this module" through `= ANY` over the
//! package's `TEXT[]`; the affected companies' rows locked in id order (`FOR UPDATE`) before
//! they are raised, so two catalog edits cannot deadlock.

use sqlx::Postgres;

use crate::store::sql::catalog::CatalogSql;

impl CatalogSql for Postgres {
    const BUMP_REACHING_MODULE: &'static str = "UPDATE company_entitlements
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

    const BUMP_SUBSCRIBERS: &'static str = "UPDATE company_entitlements
         SET entitlement_version = entitlement_version + 1
         WHERE company_id IN (SELECT company_id FROM company_entitlements
             WHERE company_id IN (SELECT company_id FROM subscriptions WHERE package = $1)
             ORDER BY company_id FOR UPDATE)
         RETURNING company_id, entitlement_version";

    const BUMP_HOLDERS: &'static str = "UPDATE company_entitlements
         SET entitlement_version = entitlement_version + 1
         WHERE company_id IN (SELECT company_id FROM company_entitlements
             WHERE company_id IN (SELECT company_id FROM company_addons WHERE addon = $1)
             ORDER BY company_id FOR UPDATE)
         RETURNING company_id, entitlement_version";
}
