//! Roles: list, create, replace, delete — within the caller's own authority.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kisum_guard::Problem;
use kisum_guard::http::ProblemResponse;
use serde::Deserialize;

use super::super::AuthState;
use super::super::extract::{Caller, Client};
#[cfg(feature = "openapi")]
use super::super::openapi::{Admin, Bounded, JsonBody};
use super::{ApiPath, Body, administrator, authorize, body, consistent, parse_set, path_id};
use super::{MEMBERS_READ, ROLES_MANAGE, parse_name, role_token};
use crate::directory::Administrator;
use crate::directory::ChangedRole;
use crate::directory::Role;
use kisum_guard::{AccessContext, ConsistencyToken, PermissionPattern, RoleKey};

/// A role (`key` is required on POST; on PUT the path names it).
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = RoleRequest))]
pub(crate) struct RoleBody {
    /// The role key.
    key: Option<String>,
    /// The name.
    name: String,
    /// Permissions and patterns (`finance.*`).
    #[serde(default)]
    permissions: Vec<String>,
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    get,
    path = "/v1/companies/{org}/roles",
    operation_id = "list_roles",
    tag = "companies",
    summary = "The company's roles",
    description = "Permission: `company.members.read`.",
    params(("org" = String, Path, description = "The company: its id or slug")),
    security(("bearer_jwt" = [])),
    responses(
        (status = 200, description = "The roles", body = Vec<Role>),
        Admin
    )
))]
pub(crate) async fn list_roles(
    State(s): State<AuthState>,
    caller: Caller,
    ApiPath(org): ApiPath<String>,
) -> Result<Json<Vec<Role>>, ProblemResponse> {
    let ctx = authorize(&s, &caller, &org, MEMBERS_READ).await?;
    Ok(Json(
        s.admin
            .list_roles(ctx.company_id)
            .await
            .map_err(ProblemResponse::from)?,
    ))
}

/// Validates the role body for `key` and stores it within the caller's authority.
pub(super) async fn store_role(
    adm: &Administrator,
    ctx: &AccessContext,
    key: RoleKey,
    b: RoleBody,
) -> Result<(Role, ConsistencyToken), ProblemResponse> {
    let name = parse_name("name", &b.name)?;
    let permissions = parse_set::<PermissionPattern>("permissions", &b.permissions)?;
    let ChangedRole { role, bumps } = adm
        .put_role(key, &name, permissions)
        .await
        .map_err(ProblemResponse::from)?;
    Ok((role, role_token(ctx, &bumps)))
}

pub(super) fn role_key(raw: &str) -> Result<RoleKey, ProblemResponse> {
    RoleKey::new(raw).map_err(|e| Problem::invalid_field("key", e.to_string()).into())
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    post,
    path = "/v1/companies/{org}/roles",
    operation_id = "create_role",
    tag = "companies",
    summary = "Create a role",
    description = "Permission: `company.roles.manage`.",
    params(("org" = String, Path, description = "The company: its id or slug")),
    request_body = RoleBody,
    security(("bearer_jwt" = [])),
    responses(
        (status = 201, description = "The role", body = Role, headers(("X-Kisum-Consistency" = String, description = "The write's consistency token: present it on the next reads to see this write."))),
        (status = 409, description = "`role_exists`: a role has that key", body = Problem, content_type = "application/problem+json"),
        Admin, JsonBody, Bounded
    )
))]
pub(crate) async fn create_role(
    State(s): State<AuthState>,
    caller: Caller,
    client: Client,
    ApiPath(org): ApiPath<String>,
    b: Body<RoleBody>,
) -> Result<Response, ProblemResponse> {
    let (ctx, adm) = administrator(&s, &caller, &client, &org, Some(ROLES_MANAGE)).await?;
    let b = body(b)?;
    let key = role_key(
        b.key
            .as_deref()
            .ok_or_else(|| Problem::invalid_field("key", "required"))?,
    )?;
    if s.directory.get_role(ctx.company_id, &key).await?.is_some() {
        return Err(Problem::new(409, "role_exists", "role exists")
            .with_detail(format!("role `{key}` exists; use PUT to replace it"))
            .into());
    }
    let (role, token) = store_role(&adm, &ctx, key, b).await?;
    Ok(consistent(
        (StatusCode::CREATED, Json(role)).into_response(),
        token,
    ))
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    put,
    path = "/v1/companies/{org}/roles/{key}",
    operation_id = "put_role",
    tag = "companies",
    summary = "Create or replace a role",
    description = "Permission: `company.roles.manage`; bumps every holder's `access_version`.",
    params(
        ("org" = String, Path, description = "The company: its id or slug"),
        ("key" = String, Path, description = "The role key")
    ),
    request_body = RoleBody,
    security(("bearer_jwt" = [])),
    responses(
        (status = 200, description = "The role", body = Role, headers(("X-Kisum-Consistency" = String, description = "The write's consistency token: present it on the next reads to see this write."))),
        Admin, JsonBody, Bounded
    )
))]
pub(crate) async fn put_role(
    State(s): State<AuthState>,
    caller: Caller,
    client: Client,
    ApiPath((org, key)): ApiPath<(String, String)>,
    b: Body<RoleBody>,
) -> Result<Response, ProblemResponse> {
    let (ctx, adm) = administrator(&s, &caller, &client, &org, Some(ROLES_MANAGE)).await?;
    let key = role_key(&key)?;
    let b = body(b)?;
    if b.key.as_deref().is_some_and(|k| k != key.as_str()) {
        return Err(Problem::invalid_field(
            "key",
            "differs from the key in the path; roles cannot be renamed",
        )
        .into());
    }
    let (role, token) = store_role(&adm, &ctx, key, b).await?;
    Ok(consistent(Json(role).into_response(), token))
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    delete,
    path = "/v1/companies/{org}/roles/{key}",
    operation_id = "delete_role",
    tag = "companies",
    summary = "Delete a role",
    description = "Permission: `company.roles.manage`; bumps every holder's `access_version`.",
    params(
        ("org" = String, Path, description = "The company: its id or slug"),
        ("key" = String, Path, description = "The role key")
    ),
    security(("bearer_jwt" = [])),
    responses(
        (status = 204, description = "The role is deleted", headers(("X-Kisum-Consistency" = String, description = "The write's consistency token: present it on the next reads to see this write."))),
        Admin
    )
))]
pub(crate) async fn delete_role(
    State(s): State<AuthState>,
    caller: Caller,
    client: Client,
    ApiPath((org, key)): ApiPath<(String, String)>,
) -> Result<Response, ProblemResponse> {
    let (ctx, adm) = administrator(&s, &caller, &client, &org, Some(ROLES_MANAGE)).await?;
    let key: RoleKey = path_id(&key, "role")?;
    let bumps = adm.delete_role(&key).await.map_err(ProblemResponse::from)?;
    Ok(consistent(
        StatusCode::NO_CONTENT.into_response(),
        role_token(&ctx, &bumps),
    ))
}
