//! Delegations: self-service for one's own, `company.delegations.manage` for the others'.

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
use super::{ApiPath, Body, administrator, body, consistent, parse_set, path_id};
use super::{DELEGATIONS_MANAGE, access_in, holds, membership_token};
use crate::directory::Delegation;
use crate::directory::{DirectoryError, NewDelegation};
use chrono::{DateTime, Utc};
use kisum_guard::{DelegationId, MembershipId};

/// A new delegation.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = DelegationRequest))]
pub(crate) struct DelegationBody {
    /// Who delegates (the caller's membership when absent).
    from_membership_id: Option<MembershipId>,
    /// Who receives.
    to_membership_id: MembershipId,
    /// Permissions to delegate.
    #[serde(default)]
    permissions: Vec<String>,
    /// Modules to delegate.
    #[serde(default)]
    modules: Vec<String>,
    /// When it ends.
    expires_at: DateTime<Utc>,
    /// When it begins (now when absent).
    starts_at: Option<DateTime<Utc>>,
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    get,
    path = "/v1/companies/{org}/delegations",
    operation_id = "list_delegations",
    tag = "companies",
    summary = "The company's delegations",
    description = "Permission: the caller's own, or every one with `company.delegations.manage`.",
    params(("org" = String, Path, description = "The company: its id or slug")),
    security(("bearer_jwt" = [])),
    responses(
        (status = 200, description = "The delegations", body = Vec<Delegation>),
        Admin
    )
))]
pub(crate) async fn list_delegations(
    State(s): State<AuthState>,
    caller: Caller,
    ApiPath(org): ApiPath<String>,
) -> Result<Json<Vec<Delegation>>, ProblemResponse> {
    let ctx = access_in(&s, &caller, &org).await?;
    let all = holds(&ctx, DELEGATIONS_MANAGE);
    let me = ctx.membership_id;
    Ok(Json(
        s.directory
            .list_delegations(ctx.company_id)
            .await?
            .into_iter()
            .filter(|d| all || d.from_membership_id == me || d.to_membership_id == me)
            .collect(),
    ))
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    post,
    path = "/v1/companies/{org}/delegations",
    operation_id = "create_delegation",
    tag = "companies",
    summary = "Delegate permissions and modules to another member until `expires_at`",
    description = "Permission: the caller delegating what its own roles give it (never `company.*`); on another member's behalf also `company.delegations.manage`.",
    params(("org" = String, Path, description = "The company: its id or slug")),
    request_body = DelegationBody,
    security(("bearer_jwt" = [])),
    responses(
        (status = 201, description = "The delegation", body = Delegation, headers(("X-Kisum-Consistency" = String, description = "The write's consistency token: present it on the next reads to see this write."))),
        Admin, JsonBody, Bounded
    )
))]
pub(crate) async fn create_delegation(
    State(s): State<AuthState>,
    caller: Caller,
    client: Client,
    ApiPath(org): ApiPath<String>,
    b: Body<DelegationBody>,
) -> Result<Response, ProblemResponse> {
    // Any active member may delegate what their own roles give them (never more); delegating
    // on behalf of another member needs the management permission and, still, holding what
    // is delegated.
    let (ctx, adm) = administrator(&s, &caller, &client, &org, None).await?;
    let b = body(b)?;
    let from = b.from_membership_id.unwrap_or(ctx.membership_id);
    if from != ctx.membership_id {
        adm.require(DELEGATIONS_MANAGE)
            .map_err(ProblemResponse::from)?;
    }
    let new = NewDelegation {
        from_membership_id: from,
        to_membership_id: b.to_membership_id,
        permissions: parse_set("permissions", &b.permissions)?,
        modules: parse_set("modules", &b.modules)?,
        starts_at: b.starts_at,
        expires_at: b.expires_at,
    };
    let to = new.to_membership_id;
    let created = adm.create_delegation(new).await.map_err(|e| match e {
        DirectoryError::MembershipNotFound(id) => Problem::invalid_field(
            if id == to {
                "to_membership_id"
            } else {
                "from_membership_id"
            },
            "no such member in this company",
        )
        .into(),
        other => ProblemResponse::from(other),
    })?;
    let d = created.delegation;
    let token = membership_token(&s, ctx.company_id, d.to_membership_id, &created.bumps).await?;
    Ok(consistent(
        (StatusCode::CREATED, Json(d)).into_response(),
        token,
    ))
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    delete,
    path = "/v1/companies/{org}/delegations/{delegation_id}",
    operation_id = "revoke_delegation",
    tag = "companies",
    summary = "Revoke a delegation",
    description = "Permission: the delegation's own parties, or `company.delegations.manage`.",
    params(
        ("org" = String, Path, description = "The company: its id or slug"),
        ("delegation_id" = uuid::Uuid, Path, description = "The delegation")
    ),
    security(("bearer_jwt" = [])),
    responses(
        (status = 204, description = "The delegation is revoked", headers(("X-Kisum-Consistency" = String, description = "The write's consistency token: present it on the next reads to see this write."))),
        Admin
    )
))]
pub(crate) async fn revoke_delegation(
    State(s): State<AuthState>,
    caller: Caller,
    client: Client,
    ApiPath((org, id)): ApiPath<(String, String)>,
) -> Result<Response, ProblemResponse> {
    let (ctx, adm) = administrator(&s, &caller, &client, &org, None).await?;
    let id: DelegationId = path_id(&id, "delegation")?;
    let revoked = adm
        .revoke_delegation(id)
        .await
        .map_err(ProblemResponse::from)?;
    let to = revoked.delegation.to_membership_id;
    let token = membership_token(&s, ctx.company_id, to, &revoked.bumps).await?;
    Ok(consistent(StatusCode::NO_CONTENT.into_response(), token))
}
