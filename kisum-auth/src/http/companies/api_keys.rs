//! Company API keys (`/v1/companies/{org}/api-keys`, decision 0034): created, listed and
//! revoked with `company.api_keys.manage` held through the caller's own roles; a key never
//! holds more than its creator holds through them.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use kisum_guard::http::ProblemResponse;
use kisum_guard::{DenialCode, ModuleKey, PermissionPattern, Problem};
use serde::{Deserialize, Serialize};

use super::super::AuthState;
use super::super::extract::{Caller, Client};
#[cfg(feature = "openapi")]
use super::super::openapi::{Admin, JsonBody};
use super::{ApiPath, Body, administrator, body, parse_name, parse_set, path_id};
use crate::api_key::{API_KEYS_MANAGE, ApiKey, ApiKeyError, ApiKeyId, NewApiKey};

/// A new API key.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = CreateApiKeyRequest))]
pub(crate) struct ApiKeyBody {
    /// Its name.
    name: String,
    /// Its permission patterns (at least one), each held by the caller through its own roles.
    permissions: Vec<String>,
    /// Its modules, each granted to the caller.
    #[serde(default)]
    modules: Vec<String>,
    /// When it stops working (in the future); never when absent.
    expires_at: Option<DateTime<Utc>>,
}

/// A created key: its secret, shown this once.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = CreatedApiKey))]
pub(crate) struct CreatedView {
    /// The key.
    pub(crate) id: ApiKeyId,
    /// Its name.
    pub(crate) name: String,
    /// The start of its secret.
    pub(crate) prefix: String,
    /// The secret (`kisum_sk_…`): present it as `Authorization: Bearer …`. Never shown again.
    pub(crate) secret: String,
    /// Its permission patterns.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub(crate) permissions: std::collections::BTreeSet<PermissionPattern>,
    /// Its modules.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub(crate) modules: std::collections::BTreeSet<ModuleKey>,
    /// When it stops working.
    pub(crate) expires_at: Option<DateTime<Utc>>,
    /// When it was created.
    pub(crate) created_at: DateTime<Utc>,
}

/// The company routes of API keys and the `(method, path)`s written.
pub(in super::super) fn documented() -> (super::super::Routes, [(&'static str, &'static str); 3]) {
    kisum_guard::documented_routes! { AuthState;
        "/v1/companies/{org}/api-keys" => get list_api_keys, post create_api_key;
        "/v1/companies/{org}/api-keys/{id}" => delete revoke_api_key;
    }
}

impl From<ApiKeyError> for ProblemResponse {
    fn from(e: ApiKeyError) -> Self {
        let detail = e.to_string();
        match e {
            ApiKeyError::Escalation(_) => {
                Problem::from(DenialCode::PermissionDenied).with_detail(detail)
            }
            ApiKeyError::NoPermissions => Problem::invalid_field("permissions", detail),
            ApiKeyError::ExpiryInPast => Problem::invalid_field("expires_at", detail),
            ApiKeyError::NotFound => Problem::not_found("API key"),
            ApiKeyError::Store(e) => return e.into(),
        }
        .into()
    }
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    post,
    path = "/v1/companies/{org}/api-keys",
    operation_id = "create_api_key",
    tag = "companies",
    summary = "Create an API key for the company's backends; its secret is shown once",
    description = "Permission: `company.api_keys.manage`. The key holds only patterns and modules the caller holds through its own roles (403 `permission_denied` otherwise).",
    params(("org" = String, Path, description = "The company: its id or slug")),
    request_body = ApiKeyBody,
    security(("bearer_jwt" = [])),
    responses(
        (status = 201, description = "The key and its secret", body = CreatedView),
        Admin, JsonBody
    )
))]
pub(crate) async fn create_api_key(
    State(s): State<AuthState>,
    caller: Caller,
    client: Client,
    ApiPath(org): ApiPath<String>,
    b: Body<ApiKeyBody>,
) -> Result<(StatusCode, Json<CreatedView>), ProblemResponse> {
    let (_, adm) = administrator(&s, &caller, &client, &org, Some(API_KEYS_MANAGE)).await?;
    let b = body(b)?;
    let new = NewApiKey {
        name: parse_name("name", &b.name)?,
        permissions: parse_set("permissions", &b.permissions)?,
        modules: parse_set("modules", &b.modules)?,
        expires_at: b.expires_at,
    };
    let actor = client.0.audit_context(Some(caller.claims.sub));
    let created = s.auth.create_api_key(adm.authority(), &actor, new).await?;
    let k = created.key;
    let view = CreatedView {
        id: k.id,
        name: k.name,
        prefix: k.prefix,
        secret: created.secret.expose().to_owned(),
        permissions: k.permissions,
        modules: k.modules,
        expires_at: k.expires_at,
        created_at: k.created_at,
    };
    Ok((StatusCode::CREATED, Json(view)))
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    get,
    path = "/v1/companies/{org}/api-keys",
    operation_id = "list_api_keys",
    tag = "companies",
    summary = "The company's API keys (never their secrets), revoked ones included",
    description = "Permission: `company.api_keys.manage`.",
    params(("org" = String, Path, description = "The company: its id or slug")),
    security(("bearer_jwt" = [])),
    responses(
        (status = 200, description = "The keys, oldest first", body = Vec<ApiKey>),
        Admin
    )
))]
pub(crate) async fn list_api_keys(
    State(s): State<AuthState>,
    caller: Caller,
    client: Client,
    ApiPath(org): ApiPath<String>,
) -> Result<Json<Vec<ApiKey>>, ProblemResponse> {
    let (ctx, _) = administrator(&s, &caller, &client, &org, Some(API_KEYS_MANAGE)).await?;
    Ok(Json(s.auth.list_api_keys(ctx.company_id).await?))
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    delete,
    path = "/v1/companies/{org}/api-keys/{id}",
    operation_id = "revoke_api_key",
    tag = "companies",
    summary = "Revoke an API key: every guard refuses it from then on",
    description = "Permission: `company.api_keys.manage`.",
    params(
        ("org" = String, Path, description = "The company: its id or slug"),
        ("id" = uuid::Uuid, Path, description = "The key")
    ),
    security(("bearer_jwt" = [])),
    responses(
        (status = 204, description = "The key is revoked"),
        Admin
    )
))]
pub(crate) async fn revoke_api_key(
    State(s): State<AuthState>,
    caller: Caller,
    client: Client,
    ApiPath((org, id)): ApiPath<(String, String)>,
) -> Result<StatusCode, ProblemResponse> {
    let (ctx, _) = administrator(&s, &caller, &client, &org, Some(API_KEYS_MANAGE)).await?;
    let id: ApiKeyId = path_id(&id, "API key")?;
    let actor = client.0.audit_context(Some(caller.claims.sub));
    s.auth.revoke_api_key(ctx.company_id, id, &actor).await?;
    Ok(StatusCode::NO_CONTENT)
}
