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
use super::{ApiPath, Body, administrator, body, consistent, parse_set, path_id};
use super::{DELEGATIONS_MANAGE, access_in, holds, membership_token};
use crate::directory::Delegation;
use crate::directory::{DirectoryError, NewDelegation};
use chrono::{DateTime, Utc};
use kisum_guard::{DelegationId, MembershipId};

#[derive(Deserialize)]
pub(super) struct DelegationBody {
    from_membership_id: Option<MembershipId>,
    to_membership_id: MembershipId,
    #[serde(default)]
    permissions: Vec<String>,
    #[serde(default)]
    modules: Vec<String>,
    expires_at: DateTime<Utc>,
    starts_at: Option<DateTime<Utc>>,
}

pub(super) async fn list_delegations(
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

pub(super) async fn create_delegation(
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

pub(super) async fn revoke_delegation(
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
