//! The platform roles (`/v1/admin/platform-roles`): who holds which, granting and revoking
//! (never more than the administrator holds; never the last `platform-admin`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kisum_guard::http::ProblemResponse;
use kisum_guard::{DenialCode, Problem, UserId};
use serde::{Deserialize, Serialize};

use super::{Acting, Need, platform};
#[cfg(feature = "openapi")]
use super::{PlatformRead, PlatformWrite};
use crate::audit::AuditOutcome;
use crate::http::AuthState;
use crate::http::companies::{Body, body};
use crate::http::extract::{Caller, Client};
use crate::identity::Email;
use crate::platform::{PlatformGrant, PlatformPermission, PlatformRole, Revoked, action};

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
    // The store counts the administrators in the revocation's transaction, so two of them
    // revoking each other at once cannot leave none.
    match s.auth.store.revoke_platform_role(user, role, true).await? {
        Revoked::Revoked => {
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
        Revoked::NotHeld => {}
        Revoked::LastAdmin => {
            return Err(Problem::new(
                409,
                "last_platform_admin",
                "the last platform administrator stays",
            )
            .with_detail("grant `platform-admin` to someone else first")
            .into());
        }
    }
    Ok(StatusCode::NO_CONTENT)
}
