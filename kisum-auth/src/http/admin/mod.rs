//! Platform administration routes (`/v1/admin/*`, decision 0033), on Auth's public listener.
//!
//! Every route first authenticates the caller, then checks a platform permission held through
//! the caller's platform roles (anyone else: 403 `permission_denied`, audited as
//! `platform.denied`); a write also needs an `aal2` session (403 `step_up_required`). Only then
//! are path, query and body looked at. Auth audits every write with the administrator as actor,
//! then — where Core owns the data (catalog, subscriptions, add-ons, entitlements, licences) —
//! carries it to Core's internal routes with Auth's own service key ([`CoreLink`], given to the
//! router by [`with_core`]); without one those routes answer 503 `core_unavailable`.
//!
//! Files: `access` (the checks every route starts with, and the administrator's audit),
//! `paging` (query values, page sizes and cursors of the listings), `core` (the link to Core),
//! `carried` (what is carried to Core and its answer relayed), `companies` (search, detail,
//! suspension), `subscriptions` (subscription and add-ons), `catalog`, `audit` (the audit
//! search), `platform_roles`; here the router's routes and the problem answers they share.

use std::sync::Arc;

use axum::Router;

use super::AuthState;

mod access;
mod audit;
mod carried;
mod catalog;
mod companies;
mod core;
mod paging;
mod platform_roles;
mod subscriptions;

use access::{Acting, Need, platform};
use paging::{Page, next_cursor, page_size, query_value};

#[cfg(feature = "console")]
pub(crate) use self::audit::AuditParams;
pub(crate) use self::audit::search_audit;
// The console's platform pages call these handlers as they are (same checks, audits, events).
#[cfg(feature = "console")]
pub(crate) use self::carried::CoreObject;
#[cfg(feature = "console")]
pub(crate) use self::catalog::list_catalog as console_list_catalog;
#[cfg(feature = "console")]
pub(crate) use self::companies::{
    CompanyParams, get_company as console_get_company, reactivate_company as console_reactivate,
    search_companies as console_search_companies, suspend_company as console_suspend,
};
#[cfg(feature = "console")]
pub(crate) use self::core::Core;
#[cfg(feature = "console")]
pub(crate) use self::subscriptions::{
    delete_addon as console_delete_addon, put_addon as console_put_addon,
    put_subscription as console_put_subscription,
};

#[cfg(feature = "remote")]
pub use self::core::HttpCore;
pub use self::core::{CoreAnswer, CoreLink, CoreLinkError, InProcessCore};

#[cfg(feature = "openapi")]
use self::audit::__path_search_audit;
#[cfg(feature = "openapi")]
use catalog::{__path_get_catalog_entry, __path_list_catalog, __path_put_catalog_entry};
use catalog::{get_catalog_entry, list_catalog, put_catalog_entry};
#[cfg(feature = "openapi")]
use companies::{
    __path_get_company, __path_reactivate_company, __path_search_companies, __path_suspend_company,
};
use companies::{get_company, reactivate_company, search_companies, suspend_company};
#[cfg(feature = "openapi")]
use platform_roles::{
    __path_grant_platform_role, __path_list_platform_roles, __path_revoke_platform_role,
};
#[cfg(feature = "openapi")]
use subscriptions::{__path_delete_addon, __path_put_addon, __path_put_subscription};
use subscriptions::{delete_addon, put_addon, put_subscription};
// The console's platform roles page calls these handlers as they are.
pub(crate) use platform_roles::{grant_platform_role, list_platform_roles, revoke_platform_role};

#[cfg(feature = "openapi")]
kisum_guard::problem_responses! {
    /// A platform administration read: signed in, holding the route's platform permission.
    pub(super) PlatformRead {
        401 => kisum_guard::openapi::SIGNED_OUT,
        403 => "`permission_denied`: the caller holds no platform role giving the route's \
                permission",
        503 => "`unavailable`: a store is unreachable; `core_unavailable`: Core is not \
                configured, unreachable or refused Auth's key",
    }
    /// A platform administration write: as a read, from an `aal2` session.
    pub(super) PlatformWrite {
        401 => kisum_guard::openapi::SIGNED_OUT,
        403 => "`permission_denied`: the caller holds no platform role giving the route's \
                permission (or, for platform roles, does not hold every permission of the role); \
                `step_up_required`: the session is not `aal2`",
        422 => "`validation_failed`: wrong types, missing fields or unknown keys (Core names the \
                field)",
        503 => "`unavailable`: a store is unreachable; `core_unavailable`: Core is not \
                configured, unreachable or refused Auth's key",
    }
}

/// `router` (Auth's public router) with `core` as the way its administration routes reach
/// Core.
pub fn with_core(router: Router, core: Arc<dyn CoreLink>) -> Router {
    router.layer(axum::Extension(self::core::CoreHandle(core)))
}

/// The administration routes documented by their handlers and the `(method, path)`s written.
pub(super) fn documented() -> (super::Routes, [(&'static str, &'static str); 14]) {
    kisum_guard::documented_routes! { AuthState;
        "/v1/admin/companies" => get search_companies;
        "/v1/admin/companies/{id}" => get get_company;
        "/v1/admin/companies/{id}/suspend" => post suspend_company;
        "/v1/admin/companies/{id}/reactivate" => post reactivate_company;
        "/v1/admin/companies/{id}/subscription" => put put_subscription;
        "/v1/admin/companies/{id}/addons/{key}" => put put_addon, delete delete_addon;
        "/v1/admin/catalog/{kind}" => get list_catalog;
        "/v1/admin/catalog/{kind}/{key}" => get get_catalog_entry, put put_catalog_entry;
        "/v1/admin/audit" => get search_audit;
        "/v1/admin/platform-roles" => get list_platform_roles, post grant_platform_role, delete revoke_platform_role;
    }
}
