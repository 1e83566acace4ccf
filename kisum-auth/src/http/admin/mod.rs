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
//! Files: `core` (the link to Core), `companies` (search, detail, suspension, subscription,
//! add-ons), `catalog`, and here the checks, the platform roles and the audit search.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use kisum_guard::http::ProblemResponse;
use kisum_guard::{Aal, CompanyId, DenialCode, Problem, UserId};
use serde::{Deserialize, Serialize};

use super::AuthState;
use super::companies::{Body, body};
use super::extract::{Caller, Client, param};
use crate::audit::{AuditEvent, AuditEventId, AuditOutcome};
use crate::identity::Email;
use crate::platform::{
    AuditQuery, PlatformAuthority, PlatformGrant, PlatformPermission, PlatformRole, action,
};

mod catalog;
mod companies;
mod core;

// The console's platform pages call these handlers as they are (same checks, audits, events).
#[cfg(feature = "console")]
pub(crate) use self::catalog::list_catalog as console_list_catalog;
#[cfg(feature = "console")]
pub(crate) use self::companies::{
    CompanyParams, CoreObject, delete_addon as console_delete_addon,
    get_company as console_get_company, put_addon as console_put_addon,
    put_subscription as console_put_subscription, reactivate_company as console_reactivate,
    search_companies as console_search_companies, suspend_company as console_suspend,
};
#[cfg(feature = "console")]
pub(crate) use self::core::Core;

#[cfg(feature = "remote")]
pub use self::core::HttpCore;
pub use self::core::{CoreAnswer, CoreLink, CoreLinkError, InProcessCore};

#[cfg(feature = "openapi")]
use catalog::{__path_get_catalog_entry, __path_list_catalog, __path_put_catalog_entry};
use catalog::{get_catalog_entry, list_catalog, put_catalog_entry};
#[cfg(feature = "openapi")]
use companies::{
    __path_delete_addon, __path_get_company, __path_put_addon, __path_put_subscription,
    __path_reactivate_company, __path_search_companies, __path_suspend_company,
};
use companies::{
    delete_addon, get_company, put_addon, put_subscription, reactivate_company, search_companies,
    suspend_company,
};

/// The default page of the listings.
const DEFAULT_PAGE: u32 = 50;

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

/// What a route needs: one of `any` (a platform permission), and `aal2` when it writes.
#[derive(Clone, Copy)]
pub(super) struct Need {
    any: &'static [PlatformPermission],
    write: bool,
}

impl Need {
    pub(super) const fn read(any: &'static [PlatformPermission]) -> Self {
        Self { any, write: false }
    }
    pub(super) const fn write(any: &'static [PlatformPermission]) -> Self {
        Self { any, write: true }
    }
}

/// An administrator acting through one request: who, from where, with what authority.
pub(super) struct Acting {
    pub(super) authority: PlatformAuthority,
    pub(super) client: Client,
}

impl Acting {
    /// Records `action` about `company` with `details` as done (or not) by this administrator.
    pub(super) async fn audit(
        &self,
        s: &AuthState,
        action: &str,
        outcome: AuditOutcome,
        company: Option<CompanyId>,
        details: serde_json::Value,
    ) {
        record(
            s,
            &self.client,
            self.authority.user_id,
            action,
            outcome,
            company,
            details,
        )
        .await;
    }

    pub(super) fn request_id(&self) -> Option<&str> {
        self.client.0.request_id.as_deref()
    }
}

async fn record(
    s: &AuthState,
    client: &Client,
    actor: UserId,
    action: &str,
    outcome: AuditOutcome,
    company: Option<CompanyId>,
    details: serde_json::Value,
) {
    let mut event = AuditEvent::new(s.auth.clock.now(), action, outcome)
        .with_context(&client.0.audit_context(Some(actor)))
        .with_details(details);
    event.company_id = company;
    crate::audit::record(s.auth.store.as_ref(), event).await;
}

/// The caller as a platform administrator allowed `need`, else the refusal (audited).
pub(super) async fn platform(
    s: &AuthState,
    caller: &Caller,
    client: Client,
    need: Need,
) -> Result<Acting, ProblemResponse> {
    let user = caller.claims.sub;
    let roles = s.auth.store.platform_roles(user).await?;
    let authority = PlatformAuthority::new(user, roles);
    let refusal = if !need.any.iter().any(|p| authority.holds(*p)) {
        Some(DenialCode::PermissionDenied)
    } else if need.write && caller.session.aal < Aal::Aal2 {
        Some(DenialCode::StepUpRequired)
    } else {
        None
    };
    if let Some(code) = refusal {
        let details = serde_json::json!({
            "code": code.code(),
            "needs": need.any.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
        });
        record(
            s,
            &client,
            user,
            action::DENIED,
            AuditOutcome::Denied,
            None,
            details,
        )
        .await;
        return Err(code.into());
    }
    Ok(Acting { authority, client })
}

/// `raw` (a query parameter) as a `T`, or 400 `invalid_request` naming `what`.
pub(super) fn query_value<T: std::str::FromStr>(
    raw: Option<&String>,
    what: &str,
) -> Result<Option<T>, ProblemResponse> {
    param(raw)
        .map(|v| {
            v.parse()
                .map_err(|_| Problem::invalid_request(format!("malformed `{what}`")).into())
        })
        .transpose()
}

/// A page size: the default when absent, at most [`crate::platform::MAX_PAGE`].
pub(super) fn page_size(raw: Option<&String>) -> Result<u32, ProblemResponse> {
    Ok(query_value::<u32>(raw, "limit")?
        .unwrap_or(DEFAULT_PAGE)
        .min(crate::platform::MAX_PAGE))
}

/// A page of a listing and the cursor of the next one (absent on the last page).
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct Page<T> {
    /// The items.
    pub(crate) items: Vec<T>,
    /// Pass it as `cursor` for the next page; absent when this page is the last.
    pub(crate) next_cursor: Option<String>,
}

/// A page of the audit search and the cursor of the next one (absent on the last page).
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct AuditPage {
    /// The events, newest first.
    pub(crate) items: Vec<AuditEvent>,
    /// Pass it as `cursor` for the next page; absent when this page is the last.
    pub(crate) next_cursor: Option<String>,
}

/// The filters of the audit search.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
pub(crate) struct AuditParams {
    /// Only events about this company (its id).
    pub(crate) company_id: Option<String>,
    /// Only events by this user: their id or email.
    pub(crate) actor: Option<String>,
    /// Only events at or after this time (RFC 3339).
    pub(crate) since: Option<String>,
    /// The `next_cursor` of the previous page.
    pub(crate) cursor: Option<String>,
    /// At most this many events (default 50, at most 200).
    pub(crate) limit: Option<String>,
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    get,
    path = "/v1/admin/audit",
    operation_id = "admin_audit",
    tag = "admin",
    summary = "Search Auth's audit log",
    description = "Permission: `platform.audit.read`. Newest first; every administration \
                   write is here with the administrator as actor.",
    params(AuditParams),
    security(("bearer_jwt" = [])),
    responses(
        (status = 200, description = "A page of events", body = AuditPage),
        (status = 400, description = "`invalid_request`: a malformed filter or cursor", body = kisum_guard::Problem, content_type = "application/problem+json"),
        PlatformRead
    )
))]
pub(crate) async fn search_audit(
    State(s): State<AuthState>,
    caller: Caller,
    client: Client,
    q: Result<Query<AuditParams>, QueryRejection>,
) -> Result<Json<AuditPage>, ProblemResponse> {
    platform(
        &s,
        &caller,
        client,
        Need::read(&[PlatformPermission::AuditRead]),
    )
    .await?;
    let Query(q) = q.map_err(|e| Problem::invalid_request(e.body_text()))?;
    let actor = match param(q.actor.as_ref()) {
        None => None,
        Some(raw) => match raw.parse::<UserId>() {
            Ok(id) => Some(id),
            Err(_) => {
                let email =
                    Email::parse(raw).map_err(|_| Problem::invalid_request("malformed `actor`"))?;
                match s.auth.store.find_user_by_email(&email).await? {
                    Some(u) => Some(u.id),
                    // Nobody by that email acted: an empty page.
                    None => {
                        return Ok(Json(AuditPage {
                            items: Vec::new(),
                            next_cursor: None,
                        }));
                    }
                }
            }
        },
    };
    let query = AuditQuery {
        company_id: query_value::<CompanyId>(q.company_id.as_ref(), "company_id")?,
        actor,
        since: query_value::<DateTime<Utc>>(q.since.as_ref(), "since")?,
        after: query_value::<uuid::Uuid>(q.cursor.as_ref(), "cursor")?.map(AuditEventId::from_uuid),
    };
    let limit = page_size(q.limit.as_ref())?;
    let items = s.auth.store.search_audit(&query, limit).await?;
    let next_cursor = next_cursor(&items, limit, |e| e.id.to_string());
    Ok(Json(AuditPage { items, next_cursor }))
}

/// The cursor after a full page: the last item's.
pub(super) fn next_cursor<T>(
    items: &[T],
    limit: u32,
    key: impl Fn(&T) -> String,
) -> Option<String> {
    if u32::try_from(items.len()).is_ok_and(|n| n == limit && n > 0) {
        items.last().map(key)
    } else {
        None
    }
}

/// A platform role grant or revocation: the user (by id or email) and the role.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct PlatformRoleRequest {
    /// The user's id (or give `email`).
    user_id: Option<UserId>,
    /// The user's email (or give `user_id`).
    email: Option<String>,
    /// The role: `platform-admin`, `platform-support`, `platform-billing` or
    /// `platform-catalog`.
    role: String,
}

/// The platform roles and what each holds.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct PlatformRoles {
    /// Every grant, by user then role.
    pub(crate) grants: Vec<PlatformGrant>,
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    get,
    path = "/v1/admin/platform-roles",
    operation_id = "admin_list_platform_roles",
    tag = "admin",
    summary = "Who holds which platform role",
    description = "Any platform role.",
    security(("bearer_jwt" = [])),
    responses((status = 200, description = "The grants", body = PlatformRoles), PlatformRead)
))]
pub(crate) async fn list_platform_roles(
    State(s): State<AuthState>,
    caller: Caller,
    client: Client,
) -> Result<Json<PlatformRoles>, ProblemResponse> {
    platform(&s, &caller, client, Need::read(&PlatformPermission::ALL)).await?;
    Ok(Json(PlatformRoles {
        grants: s.auth.store.list_platform_grants().await?,
    }))
}

/// The user and role a grant or revocation names (after the caller's checks).
async fn grant_target(
    s: &AuthState,
    b: &PlatformRoleRequest,
) -> Result<(UserId, PlatformRole), ProblemResponse> {
    let role = PlatformRole::parse(b.role.trim())
        .ok_or_else(|| Problem::invalid_field("role", "not a platform role"))?;
    let user = match (&b.user_id, b.email.as_deref()) {
        (Some(id), _) => *id,
        (None, Some(raw)) => {
            let email =
                Email::parse(raw).map_err(|_| Problem::invalid_field("email", "not an email"))?;
            s.auth
                .store
                .find_user_by_email(&email)
                .await?
                .ok_or_else(|| Problem::not_found("user"))?
                .id
        }
        (None, None) => {
            return Err(
                Problem::invalid_field("user_id", "`user_id` or `email` is required").into(),
            );
        }
    };
    Ok((user, role))
}

/// `permission_denied` unless the administrator holds every permission of `role`.
fn covers(acting: &Acting, role: PlatformRole) -> Result<(), ProblemResponse> {
    if acting.authority.covers(role) {
        Ok(())
    } else {
        Err(ProblemResponse::from(
            Problem::from(DenialCode::PermissionDenied).with_detail(format!(
                "granting or revoking `{}` needs every permission it holds",
                role.as_str()
            )),
        ))
    }
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    post,
    path = "/v1/admin/platform-roles",
    operation_id = "admin_grant_platform_role",
    tag = "admin",
    summary = "Grant a platform role",
    description = "Any platform role, `aal2`, and every permission of the role granted: \
                   administration never escalates.",
    request_body = PlatformRoleRequest,
    security(("bearer_jwt" = [])),
    responses(
        (status = 201, description = "Granted", body = PlatformGrant),
        (status = 200, description = "Already held", body = PlatformGrant),
        (status = 404, description = "`not_found`: no user by that email", body = kisum_guard::Problem, content_type = "application/problem+json"),
        PlatformWrite
    )
))]
pub(crate) async fn grant_platform_role(
    State(s): State<AuthState>,
    caller: Caller,
    client: Client,
    b: Body<PlatformRoleRequest>,
) -> Result<Response, ProblemResponse> {
    let acting = platform(&s, &caller, client, Need::write(&PlatformPermission::ALL)).await?;
    let b = body(b)?;
    let (user, role) = grant_target(&s, &b).await?;
    if let Err(refused) = covers(&acting, role) {
        let details = serde_json::json!({ "user_id": user, "role": role.as_str() });
        acting
            .audit(&s, action::ROLE_GRANT, AuditOutcome::Denied, None, details)
            .await;
        return Err(refused);
    }
    let grant = PlatformGrant {
        user_id: user,
        role,
        granted_by: Some(acting.authority.user_id),
        granted_at: s.auth.clock.now(),
    };
    let new = s
        .auth
        .store
        .grant_platform_role(&grant)
        .await
        .map_err(|e| match e.kind() {
            kisum_core::db::StoreErrorKind::NotFound => Problem::not_found("user").into(),
            _ => ProblemResponse::from(e),
        })?;
    if new {
        let details = serde_json::json!({ "user_id": user, "role": role.as_str() });
        acting
            .audit(&s, action::ROLE_GRANT, AuditOutcome::Success, None, details)
            .await;
    }
    let status = if new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(grant)).into_response())
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    delete,
    path = "/v1/admin/platform-roles",
    operation_id = "admin_revoke_platform_role",
    tag = "admin",
    summary = "Revoke a platform role",
    description = "As granting. The last `platform-admin` is never revoked (409 \
                   `last_platform_admin`): `kisum admin grant` makes another first.",
    request_body = PlatformRoleRequest,
    security(("bearer_jwt" = [])),
    responses(
        (status = 204, description = "Revoked (or was not held)"),
        (status = 404, description = "`not_found`: no user by that email", body = kisum_guard::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`last_platform_admin`", body = kisum_guard::Problem, content_type = "application/problem+json"),
        PlatformWrite
    )
))]
pub(crate) async fn revoke_platform_role(
    State(s): State<AuthState>,
    caller: Caller,
    client: Client,
    b: Body<PlatformRoleRequest>,
) -> Result<StatusCode, ProblemResponse> {
    let acting = platform(&s, &caller, client, Need::write(&PlatformPermission::ALL)).await?;
    let b = body(b)?;
    let (user, role) = grant_target(&s, &b).await?;
    let details = serde_json::json!({ "user_id": user, "role": role.as_str() });
    if let Err(refused) = covers(&acting, role) {
        acting
            .audit(&s, action::ROLE_REVOKE, AuditOutcome::Denied, None, details)
            .await;
        return Err(refused);
    }
    if role == PlatformRole::Admin {
        let admins = s
            .auth
            .store
            .list_platform_grants()
            .await?
            .into_iter()
            .filter(|g| g.role == PlatformRole::Admin)
            .count();
        let held = s.auth.store.platform_roles(user).await?.contains(&role);
        if held && admins <= 1 {
            return Err(Problem::new(
                409,
                "last_platform_admin",
                "the last platform administrator stays",
            )
            .with_detail("grant `platform-admin` to someone else first")
            .into());
        }
    }
    if s.auth.store.revoke_platform_role(user, role).await? {
        acting
            .audit(
                &s,
                action::ROLE_REVOKE,
                AuditOutcome::Success,
                None,
                details,
            )
            .await;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// A validated key of the catalog (module, package, add-on): safe to put in Core's path.
pub(super) fn catalog_key(raw: &str) -> Result<String, ProblemResponse> {
    kisum_guard::ModuleKey::new(raw)
        .map(|k| k.as_str().to_owned())
        .map_err(|_| Problem::invalid_request(format!("malformed key `{raw}`")).into())
}
