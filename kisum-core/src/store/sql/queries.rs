//! Core's statements that are the same in SQLite and PostgreSQL. Placeholders are `$N`; a
//! dialect binds its own encoding of times and lists.

/// Upserts a module: `$1` key, `$2` name, `$3` kind, `$4` permissions (a list).
pub(crate) const UPSERT_MODULE: &str = "INSERT INTO modules (key, name, kind, permissions)
     VALUES ($1, $2, $3, $4)
     ON CONFLICT (key) DO UPDATE
     SET name = EXCLUDED.name, kind = EXCLUDED.kind, permissions = EXCLUDED.permissions";

/// Upserts a package: `$1` key, `$2` name, `$3` is_basic, `$4` modules (a list).
pub(crate) const UPSERT_PACKAGE: &str = "INSERT INTO packages (key, name, is_basic, modules)
     VALUES ($1, $2, $3, $4)
     ON CONFLICT (key) DO UPDATE
     SET name = EXCLUDED.name, is_basic = EXCLUDED.is_basic, modules = EXCLUDED.modules";

/// Upserts an add-on: `$1` key, `$2` name, `$3` module.
pub(crate) const UPSERT_ADDON: &str = "INSERT INTO addons (key, name, module) VALUES ($1, $2, $3)
     ON CONFLICT (key) DO UPDATE SET name = EXCLUDED.name, module = EXCLUDED.module";

/// Every module.
pub(crate) const SELECT_MODULES: &str = "SELECT key, name, kind, permissions FROM modules";
/// Every package.
pub(crate) const SELECT_PACKAGES: &str = "SELECT key, name, is_basic, modules FROM packages";
/// Every add-on.
pub(crate) const SELECT_ADDONS: &str = "SELECT key, name, module FROM addons";

/// The catalog's version (`version`).
pub(crate) const CATALOG_VERSION: &str = "SELECT version FROM catalog_version WHERE id = 1";

/// Raises the catalog's version by one, in a catalog edit's transaction.
pub(crate) const BUMP_CATALOG_VERSION: &str =
    "UPDATE catalog_version SET version = version + 1 WHERE id = 1";

/// The company `$1`'s version, subscription and add-ons in one statement (one snapshot): one
/// row per add-on (at least one row when the company has a version row), add-ons by key.
pub(crate) const COMPANY_STATE: &str = "SELECT ce.entitlement_version,
            s.package, s.status AS sub_status, s.current_period_end AS sub_end, s.grace_until,
            ca.addon, ca.status AS addon_status, ca.current_period_end AS addon_end
     FROM company_entitlements ce
     LEFT JOIN subscriptions s ON s.company_id = ce.company_id
     LEFT JOIN company_addons ca ON ca.company_id = ce.company_id
     WHERE ce.company_id = $1
     ORDER BY ca.addon";

/// Raises company `$1`'s version by one (creating it at 1) and returns it; the row stays
/// locked for the rest of the transaction.
pub(crate) const BUMP_COMPANY: &str =
    "INSERT INTO company_entitlements (company_id, entitlement_version)
     VALUES ($1, 1)
     ON CONFLICT (company_id) DO UPDATE
     SET entitlement_version = company_entitlements.entitlement_version + 1
     RETURNING entitlement_version";

/// Upserts a subscription: `$1` company, `$2` package, `$3` status, `$4` period end, `$5`
/// grace end (times).
pub(crate) const UPSERT_SUBSCRIPTION: &str = "INSERT INTO subscriptions
         (company_id, package, status, current_period_end, grace_until)
     VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (company_id) DO UPDATE
     SET package = EXCLUDED.package, status = EXCLUDED.status,
         current_period_end = EXCLUDED.current_period_end, grace_until = EXCLUDED.grace_until";

/// Upserts a company add-on: `$1` company, `$2` add-on, `$3` status, `$4` period end (a time).
pub(crate) const UPSERT_COMPANY_ADDON: &str = "INSERT INTO company_addons
         (company_id, addon, status, current_period_end)
     VALUES ($1, $2, $3, $4)
     ON CONFLICT (company_id, addon) DO UPDATE
     SET status = EXCLUDED.status, current_period_end = EXCLUDED.current_period_end";

/// Deletes company `$1`'s add-on `$2`.
pub(crate) const DELETE_COMPANY_ADDON: &str =
    "DELETE FROM company_addons WHERE company_id = $1 AND addon = $2";

/// The columns of `core_audit`, in the order [`rows::audit`](super::rows::audit) reads them;
/// `detail` as text in both dialects (PostgreSQL stores `jsonb`).
macro_rules! audit_columns {
    () => {
        "id, at, actor, action, company_id, request_id, CAST(detail AS TEXT) AS detail"
    };
}

/// Company `$1`'s audit records, newest first, at most `$2`.
pub(crate) const AUDIT_OF_COMPANY: &str = concat!(
    "SELECT ",
    audit_columns!(),
    " FROM core_audit WHERE company_id = $1 ORDER BY at DESC, id DESC LIMIT $2"
);

/// Every audit record, newest first, at most `$1`.
pub(crate) const AUDIT_ALL: &str = concat!(
    "SELECT ",
    audit_columns!(),
    " FROM core_audit ORDER BY at DESC, id DESC LIMIT $1"
);

/// Deletes the audit records older than `$1` (a time).
pub(crate) const PRUNE_AUDIT: &str = "DELETE FROM core_audit WHERE at < $1";
