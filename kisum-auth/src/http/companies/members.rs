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
#[cfg(feature = "openapi")]
use super::super::openapi::{Admin, Bounded, InvitesLimited, JsonBody};
use super::{ApiPath, Body, administrator, authorize, body, consistent, parse_set, path_id};
use super::{MEMBERS_MANAGE, MEMBERS_READ, membership_token};
use crate::directory::{Membership, MembershipPatch, MembershipStatus};
use crate::identity::Email;
use kisum_guard::{ConsistencyToken, MembershipId, ModuleKey, RoleKey, UserId};

/// A membership as shown to the company's administrators.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Member))]
pub(crate) struct MemberView {
    /// The membership.
    pub(crate) membership_id: MembershipId,
    /// The user.
    pub(crate) user_id: UserId,
    /// The user's email.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) email: Option<String>,
    /// Its status.
    pub(crate) status: MembershipStatus,
    /// Role keys.
    pub(crate) roles: BTreeSet<RoleKey>,
    /// Granted module keys.
    pub(crate) modules: BTreeSet<ModuleKey>,
    /// Raised by every change of its access.
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

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    get,
    path = "/v1/companies/{org}/members",
    operation_id = "list_members",
    tag = "companies",
    summary = "The company's memberships",
    description = "Permission: `company.members.read`.",
    params(("org" = String, Path, description = "The company: its id or slug")),
    security(("bearer_jwt" = [])),
    responses(
        (status = 200, description = "The memberships", body = Vec<MemberView>),
        Admin
    )
))]
pub(crate) async fn list_members(
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

/// A new member.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = AddMemberRequest))]
pub(crate) struct AddMemberBody {
    /// The user's email.
    email: String,
    /// Role keys.
    #[serde(default)]
    roles: Vec<String>,
    /// Module keys to grant.
    #[serde(default)]
    modules: Vec<String>,
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    post,
    path = "/v1/companies/{org}/members",
    operation_id = "add_member",
    tag = "companies",
    summary = "Add a member by email",
    description = "Permission: `company.members.manage`. The membership is `active` for an existing user, `invited` otherwise: someone without an account gets one awaiting sign-up and, when email flows are configured, an email with a link to choose a password. An invited membership becomes `active` once the invitee proves the address (that link, an email code or a password reset).",
    params(("org" = String, Path, description = "The company: its id or slug")),
    request_body = AddMemberBody,
    security(("bearer_jwt" = [])),
    responses(
        (status = 201, description = "The membership", body = MemberView, headers(("X-Kisum-Consistency" = String, description = "The write's consistency token: present it on the next reads to see this write."))),
        (status = 409, description = "`already_member`: the user is already a member", body = Problem, content_type = "application/problem+json"),
        Admin, JsonBody, Bounded, InvitesLimited
    )
))]
pub(crate) async fn add_member(
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

/// A membership change (absent members are left as they are).
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = UpdateMemberRequest))]
pub(crate) struct UpdateMemberBody {
    /// Role keys.
    roles: Option<Vec<String>>,
    /// Module keys to grant.
    modules: Option<Vec<String>>,
    /// The new status.
    status: Option<MembershipStatus>,
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    patch,
    path = "/v1/companies/{org}/members/{membership_id}",
    operation_id = "update_member",
    tag = "companies",
    summary = "Change a member's roles, modules or status",
    description = "Permission: `company.members.manage`; bumps the membership's `access_version`.",
    params(
        ("org" = String, Path, description = "The company: its id or slug"),
        ("membership_id" = uuid::Uuid, Path, description = "The membership")
    ),
    request_body = UpdateMemberBody,
    security(("bearer_jwt" = [])),
    responses(
        (status = 200, description = "The membership", body = MemberView, headers(("X-Kisum-Consistency" = String, description = "The write's consistency token: present it on the next reads to see this write."))),
        (status = 409, description = "`last_owner`: the company would be left without an active owner; `invitation_pending`: an invited membership becomes active only when the invitee proves the address", body = Problem, content_type = "application/problem+json"),
        Admin, JsonBody, Bounded
    )
))]
pub(crate) async fn update_member(
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

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    delete,
    path = "/v1/companies/{org}/members/{membership_id}",
    operation_id = "remove_member",
    tag = "companies",
    summary = "Remove a member (status `revoked`)",
    description = "Permission: `company.members.manage`; the member's delegations, given and received, end.",
    params(
        ("org" = String, Path, description = "The company: its id or slug"),
        ("membership_id" = uuid::Uuid, Path, description = "The membership")
    ),
    security(("bearer_jwt" = [])),
    responses(
        (status = 204, description = "The membership is revoked", headers(("X-Kisum-Consistency" = String, description = "The write's consistency token: present it on the next reads to see this write."))),
        (status = 409, description = "`last_owner`: the company would be left without an active owner", body = Problem, content_type = "application/problem+json"),
        Admin
    )
))]
pub(crate) async fn remove_member(
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
