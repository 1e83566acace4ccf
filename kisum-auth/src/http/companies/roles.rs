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
use super::{ApiPath, Body, administrator, authorize, body, consistent, parse_set, path_id};
use super::{MEMBERS_READ, ROLES_MANAGE, parse_name, role_token};
use crate::directory::Administrator;
use crate::directory::ChangedRole;
use crate::directory::Role;
use kisum_guard::{AccessContext, ConsistencyToken, PermissionPattern, RoleKey};

#[derive(Deserialize)]
pub(super) struct RoleBody {
    key: Option<String>,
    name: String,
    #[serde(default)]
    permissions: Vec<String>,
}

pub(super) async fn list_roles(
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

pub(super) async fn create_role(
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

pub(super) async fn put_role(
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

pub(super) async fn delete_role(
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
