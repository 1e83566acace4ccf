//! Members: list, add (inviting whoever has no proven address), change, remove.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kisum_guard::Problem;
use kisum_guard::http::ProblemResponse;
use serde::{Deserialize, Serialize};

use super::super::AuthState;
use super::super::extract::{Caller, Client};
use super::{ApiPath, Body, administrator, authorize, body, consistent, parse_set, path_id};
use super::{MEMBERS_MANAGE, MEMBERS_READ, membership_token};
use crate::directory::{Membership, MembershipPatch, MembershipStatus};
use crate::identity::Email;
use kisum_guard::{ConsistencyToken, MembershipId, ModuleKey, RoleKey, UserId};

/// A membership as shown to the company's administrators.
#[derive(Serialize)]
pub(super) struct MemberView {
    membership_id: MembershipId,
    user_id: UserId,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    status: MembershipStatus,
    roles: BTreeSet<RoleKey>,
    modules: BTreeSet<ModuleKey>,
    access_version: u64,
}

impl MemberView {
    fn new(m: Membership, email: Option<String>) -> Self {
        Self {
            membership_id: m.id,
            user_id: m.user_id,
            email,
            status: m.status,
            roles: m.roles,
            modules: m.module_grants,
            access_version: m.access_version,
        }
    }
}

pub(super) async fn email_of(
    s: &AuthState,
    user: UserId,
) -> Result<Option<String>, ProblemResponse> {
    Ok(s.auth.user(user).await?.map(|u| u.email.to_string()))
}

pub(super) async fn member_view(
    s: &AuthState,
    m: Membership,
) -> Result<MemberView, ProblemResponse> {
    let email = email_of(s, m.user_id).await?;
    Ok(MemberView::new(m, email))
}

pub(super) async fn list_members(
    State(s): State<AuthState>,
    caller: Caller,
    ApiPath(org): ApiPath<String>,
) -> Result<Json<Vec<MemberView>>, ProblemResponse> {
    let ctx = authorize(&s, &caller, &org, MEMBERS_READ).await?;
    let mut views = Vec::new();
    for m in s.directory.list_company_memberships(ctx.company_id).await? {
        views.push(member_view(&s, m).await?);
    }
    Ok(Json(views))
}

#[derive(Deserialize)]
pub(super) struct AddMemberBody {
    email: String,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    modules: Vec<String>,
}

pub(super) async fn add_member(
    State(s): State<AuthState>,
    caller: Caller,
    client: Client,
    ApiPath(org): ApiPath<String>,
    b: Body<AddMemberBody>,
) -> Result<Response, ProblemResponse> {
    let (ctx, adm) = administrator(&s, &caller, &client, &org, Some(MEMBERS_MANAGE)).await?;
    let b = body(b)?;
    let email = Email::parse(&b.email)
        .map_err(|_| Problem::invalid_field("email", "not a valid email address"))?;
    let roles = parse_set::<RoleKey>("roles", &b.roles)?;
    let modules = parse_set::<ModuleKey>("modules", &b.modules)?;
    // Refused before anything is written (an invitation creates an account).
    adm.check_new_member(&roles, &modules)
        .map_err(ProblemResponse::from)?;
    // Someone whose email was never proven (no account yet, an account awaiting sign-up, or
    // one registered without proving the address) is invited: the membership starts
    // `invited` and becomes `active` once they prove they own the address (the emailed link,
    // an email code or a password reset).
    let invites = s
        .auth
        .user_by_email(&email)
        .await?
        .is_none_or(|u| !u.email_verified);
    if invites {
        // Invitation emails are bounded per company and per address (no mail bombing).
        s.limits
            .check(&[
                (
                    format!("invite:company:{}", ctx.company_id),
                    s.limits.invite_per_company,
                ),
                (
                    format!("invite:email:{}", email.as_str()),
                    s.limits.invite_per_email,
                ),
            ])
            .await?;
    }
    let context = client.0.audit_context(Some(caller.claims.sub));
    let crate::identity::Invitee {
        user,
        awaiting_sign_up: awaiting,
    } = s.auth.invitee(&email, &context).await?;
    let status = if awaiting {
        MembershipStatus::Invited
    } else {
        MembershipStatus::Active
    };
    let m = adm
        .add_member(user.id, status, roles, modules)
        .await
        .map_err(ProblemResponse::from)?;
    if awaiting {
        let company = s.directory.get_company(ctx.company_id).await?;
        let name = company.map_or_else(|| org.clone(), |c| c.name);
        s.auth.send_invitation(&user, &name).await;
    }
    let token = ConsistencyToken::membership(ctx.company_id, m.id, m.access_version);
    let view = MemberView::new(m, Some(user.email.to_string()));
    Ok(consistent(
        (StatusCode::CREATED, Json(view)).into_response(),
        token,
    ))
}

#[derive(Deserialize)]
pub(super) struct UpdateMemberBody {
    roles: Option<Vec<String>>,
    modules: Option<Vec<String>>,
    status: Option<MembershipStatus>,
}

pub(super) async fn update_member(
    State(s): State<AuthState>,
    caller: Caller,
    client: Client,
    ApiPath((org, id)): ApiPath<(String, String)>,
    b: Body<UpdateMemberBody>,
) -> Result<Response, ProblemResponse> {
    let (ctx, adm) = administrator(&s, &caller, &client, &org, Some(MEMBERS_MANAGE)).await?;
    let id: MembershipId = path_id(&id, "membership")?;
    let b = body(b)?;
    let patch = MembershipPatch {
        roles: b
            .roles
            .as_deref()
            .map(|r| parse_set("roles", r))
            .transpose()?,
        module_grants: b
            .modules
            .as_deref()
            .map(|m| parse_set("modules", m))
            .transpose()?,
        status: b.status,
    };
    let m = adm
        .update_member(id, &patch)
        .await
        .map_err(ProblemResponse::from)?
        .membership;
    let token = ConsistencyToken::membership(ctx.company_id, m.id, m.access_version);
    Ok(consistent(
        Json(member_view(&s, m).await?).into_response(),
        token,
    ))
}

pub(super) async fn remove_member(
    State(s): State<AuthState>,
    caller: Caller,
    client: Client,
    ApiPath((org, id)): ApiPath<(String, String)>,
) -> Result<Response, ProblemResponse> {
    let (ctx, adm) = administrator(&s, &caller, &client, &org, Some(MEMBERS_MANAGE)).await?;
    let id: MembershipId = path_id(&id, "membership")?;
    let bumps = adm.remove_member(id).await.map_err(ProblemResponse::from)?;
    let token = membership_token(&s, ctx.company_id, id, &bumps).await?;
    Ok(consistent(StatusCode::NO_CONTENT.into_response(), token))
}
