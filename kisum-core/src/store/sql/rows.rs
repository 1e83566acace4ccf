//! Rows of Core's tables decoded into domain values, once for both dialects (over
//! [`SqlRow`]); ids, keys and enums are validated on the way.

use kisum_guard::{AddOnKey, CompanyId, ModuleKey, PackageKey, Permission};

use crate::audit::CoreAuditRecord;
use crate::catalog::{AddOn, Module, ModuleKind, Package};
use crate::db::StoreError;
use crate::db::sql::{SqlRow, detail_from_db, parse_enum, parse_list, version_from_db};
use crate::entitlements::CompanyEntitlementState;
use crate::store::VersionBump;
use crate::subscription::{CompanyAddOn, Subscription, SubscriptionStatus};

/// A row of [`SELECT_MODULES`](super::queries::SELECT_MODULES).
pub(crate) fn module(r: &impl SqlRow) -> Result<Module, StoreError> {
    Ok(Module {
        key: parse_enum(r.text("key")?, |s| ModuleKey::new(s).ok())?,
        name: r.text("name")?.to_owned(),
        kind: parse_enum(r.text("kind")?, ModuleKind::parse)?,
        permissions: parse_list(&r.list("permissions")?, Permission::new)?,
    })
}

/// A row of [`SELECT_PACKAGES`](super::queries::SELECT_PACKAGES).
pub(crate) fn package(r: &impl SqlRow) -> Result<Package, StoreError> {
    Ok(Package {
        key: parse_enum(r.text("key")?, |s| PackageKey::new(s).ok())?,
        name: r.text("name")?.to_owned(),
        is_basic: r.flag("is_basic")?,
        modules: parse_list(&r.list("modules")?, ModuleKey::new)?
            .into_iter()
            .collect(),
    })
}

/// A row of [`SELECT_ADDONS`](super::queries::SELECT_ADDONS).
pub(crate) fn addon(r: &impl SqlRow) -> Result<AddOn, StoreError> {
    Ok(AddOn {
        key: parse_enum(r.text("key")?, |s| AddOnKey::new(s).ok())?,
        name: r.text("name")?.to_owned(),
        module: parse_enum(r.text("module")?, |s| ModuleKey::new(s).ok())?,
    })
}

/// The rows of [`COMPANY_STATE`](super::queries::COMPANY_STATE); no row is a company no write
/// has touched yet.
pub(crate) fn company_state<R: SqlRow>(
    company_id: CompanyId,
    rows: &[R],
) -> Result<CompanyEntitlementState, StoreError> {
    let Some(first) = rows.first() else {
        return Ok(CompanyEntitlementState::empty(company_id));
    };
    let subscription = match first.text_opt("package")? {
        Some(package) => Some(Subscription {
            company_id,
            package: parse_enum(package, |s| PackageKey::new(s).ok())?,
            status: parse_enum(first.text("sub_status")?, SubscriptionStatus::parse)?,
            current_period_end: first.time_opt("sub_end")?,
            grace_until: first.time_opt("grace_until")?,
        }),
        None => None,
    };
    let mut add_ons = Vec::new();
    for r in rows {
        if let Some(addon) = r.text_opt("addon")? {
            add_ons.push(CompanyAddOn {
                company_id,
                addon: parse_enum(addon, |s| AddOnKey::new(s).ok())?,
                status: parse_enum(r.text("addon_status")?, SubscriptionStatus::parse)?,
                current_period_end: r.time_opt("addon_end")?,
            });
        }
    }
    Ok(CompanyEntitlementState {
        company_id,
        entitlement_version: version_from_db(first.int("entitlement_version")?)?,
        subscription,
        add_ons,
    })
}

/// Rows `RETURNING company_id, entitlement_version`, by company id.
pub(crate) fn bumps<R: SqlRow>(rows: &[R]) -> Result<Vec<VersionBump>, StoreError> {
    let mut v = rows
        .iter()
        .map(|r| {
            Ok(VersionBump {
                company_id: CompanyId::from_uuid(r.uuid("company_id")?),
                entitlement_version: version_from_db(r.int("entitlement_version")?)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    v.sort_by_key(|b| b.company_id);
    Ok(v)
}

/// A row of the audit listings.
pub(crate) fn audit(r: &impl SqlRow) -> Result<CoreAuditRecord, StoreError> {
    Ok(CoreAuditRecord {
        id: r.uuid("id")?,
        at: r.time("at")?,
        actor: r.text("actor")?.to_owned(),
        action: r.text("action")?.to_owned(),
        company_id: r.uuid_opt("company_id")?.map(CompanyId::from_uuid),
        request_id: r.text_opt("request_id")?.map(str::to_owned),
        detail: detail_from_db(r.text("detail")?)?,
    })
}
