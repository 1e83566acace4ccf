//! Company administration routes (`/v1/companies/*`): companies, members, roles, delegations
//! and the access explanation.
//!
//! `{org}` is a company id or slug. Every route except `POST /v1/companies` first resolves the
//! caller's access in that company (`org_unknown`, `not_a_member`, `membership_inactive` are
//! answered as problems), then checks the route's `company.*` permission (`permission_denied`);
//! only then are the path ids and the body looked at, so a caller without access learns nothing
//! from them. Delegations are self-service: any active member may list, create and revoke their
//! own; other members' need `company.delegations.manage`. The `company` module is always
//! available, so entitlements never block these routes.
//!
//! Adding a member by an email without an account invites them (status `invited`, see
//! `docs/decisions/0007-invitations.md`).

#![allow(
    clippy::result_large_err,
    reason = "the helpers return the handlers' own `ApiError`, built once per failed request"
)]

use std::collections::BTreeSet;
use std::str::FromStr;

use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post, put};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use kisum_guard::{
    AccessContext, CONSISTENCY_HEADER, CompanyId, CompanySlug, ConsistencyToken, DelegationId,
    DenialCode, InvalidId, MembershipId, ModuleKey, Permission, PermissionPattern, RoleKey, UserId,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiJson, AuthState, Caller, Client, param};
use crate::access::Explanation;
use crate::directory::{
    AccessBump, Company, Delegation, Membership, MembershipPatch, MembershipStatus, Role,
};
use crate::directory::{Administrator, DirectoryError, DirectoryService, NewDelegation};
use crate::identity::Email;

/// Reading the members, roles and access explanations of the company.
const MEMBERS_READ: &str = "company.members.read";
/// Adding, changing and removing members.
const MEMBERS_MANAGE: &str = "company.members.manage";
/// Creating, editing and deleting roles.
const ROLES_MANAGE: &str = "company.roles.manage";
/// Managing every delegation of the company (not only one's own).
const DELEGATIONS_MANAGE: &str = "company.delegations.manage";

/// The longest accepted company or role name, in characters.
const MAX_NAME: usize = 200;

/// The company administration routes.
pub fn routes() -> Router<AuthState> {
    Router::new()
        .route("/v1/companies", post(create_company))
        .route(
            "/v1/companies/{org}/members",
            get(list_members).post(add_member),
        )
        .route(
            "/v1/companies/{org}/members/{membership_id}",
            patch(update_member).delete(remove_member),
        )
        .route(
            "/v1/companies/{org}/roles",
            get(list_roles).post(create_role),
        )
        .route(
            "/v1/companies/{org}/roles/{key}",
            put(put_role).delete(delete_role),
        )
        .route(
            "/v1/companies/{org}/delegations",
            get(list_delegations).post(create_delegation),
        )
        .route(
            "/v1/companies/{org}/delegations/{delegation_id}",
            delete(revoke_delegation),
        )
        .route("/v1/companies/{org}/access/explain", get(explain))
}

// ---- helpers -------------------------------------------------------------------------------

/// Path parameters whose rejection (undecodable segments) answers 404.
struct ApiPath<T>(T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(v)) => Ok(Self(v)),
            Err(_) => Err(ApiError::not_found("resource")),
        }
    }
}

/// A JSON body whose rejection is answered only after the access checks, so that a caller
/// without access learns nothing from the shape of their request.
type Body<T> = Result<ApiJson<T>, kisum_guard::Problem>;

fn body<T>(b: Body<T>) -> Result<T, ApiError> {
    b.map(|ApiJson(v)| v).map_err(ApiError::from)
}

/// The caller's access context in the company `org` (an id or a slug).
async fn access_in(s: &AuthState, caller: &Caller, org: &str) -> Result<AccessContext, ApiError> {
    Ok(s.access
        .resolve(caller.claims.sub, caller.session.id, Some(org))
        .await?)
}

/// `permission_denied` unless the caller holds `permission` (fails closed).
fn require(ctx: &AccessContext, permission: &str) -> Result<(), ApiError> {
    let permission =
        Permission::new(permission).map_err(|_| ApiError::from(DenialCode::PermissionDenied))?;
    ctx.check_permission(&permission).map_err(ApiError::from)
}

/// Whether the caller holds `permission`.
fn holds(ctx: &AccessContext, permission: &str) -> bool {
    require(ctx, permission).is_ok()
}

/// The caller's access context in `org`, checked for `permission`.
async fn authorize(
    s: &AuthState,
    caller: &Caller,
    org: &str,
    permission: &str,
) -> Result<AccessContext, ApiError> {
    let ctx = access_in(s, caller, org).await?;
    require(&ctx, permission)?;
    Ok(ctx)
}

/// The administration service acting as the caller (for the audit log).
fn admin(s: &AuthState, caller: &Caller, client: &Client) -> DirectoryService {
    s.admin
        .acting_as(client.0.audit_context(Some(caller.claims.sub)))
}

/// The caller's access context in `org` and the caller as an administrator there (what it
/// holds through its own roles), checked for `permission` when given.
async fn administrator(
    s: &AuthState,
    caller: &Caller,
    client: &Client,
    org: &str,
    permission: Option<&str>,
) -> Result<(AccessContext, Administrator), ApiError> {
    let ctx = access_in(s, caller, org).await?;
    let adm = admin(s, caller, client)
        .administrator(ctx.company_id, ctx.membership_id)
        .await
        .map_err(admin_error)?;
    if let Some(permission) = permission {
        adm.require(permission).map_err(admin_error)?;
    }
    Ok((ctx, adm))
}

/// `response` with `X-Kisum-Consistency: token`: a read presenting it is never answered from a
/// state older than the write.
fn consistent(mut response: Response, token: ConsistencyToken) -> Response {
    if let Ok(value) = axum::http::HeaderValue::from_str(&token.to_string()) {
        response.headers_mut().insert(
            axum::http::HeaderName::from_static(CONSISTENCY_HEADER),
            value,
        );
    }
    response
}

/// The token after a write about membership `id`: the version the write gave it, or its
/// current version when the write raised none (revoking a revoked delegation).
async fn membership_token(
    s: &AuthState,
    company_id: CompanyId,
    id: MembershipId,
    bumps: &[AccessBump],
) -> Result<ConsistencyToken, ApiError> {
    let version = match bumps.iter().find(|b| b.membership_id == id) {
        Some(b) => b.access_version,
        None => s
            .directory
            .get_membership(id)
            .await?
            .map_or(0, |m| m.access_version),
    };
    Ok(ConsistencyToken::membership(company_id, id, version))
}

/// The token after a role edit, which raises every holder's version: the caller's own new
/// version when they hold the role (what their next read must reflect), otherwise a company
/// token at the entitlement version they saw (a role edit changes no entitlement; the holders'
/// caches are evicted by the membership events).
fn role_token(ctx: &AccessContext, bumps: &[AccessBump]) -> ConsistencyToken {
    match bumps.iter().find(|b| b.membership_id == ctx.membership_id) {
        Some(b) => {
            ConsistencyToken::membership(ctx.company_id, ctx.membership_id, b.access_version)
        }
        None => ConsistencyToken::company(ctx.company_id, ctx.entitlement_version),
    }
}

/// Parses every item of `field` (role keys, module keys, permission patterns): 422 naming the
/// first invalid one.
fn parse_set<T>(field: &str, items: &[String]) -> Result<BTreeSet<T>, ApiError>
where
    T: FromStr<Err = InvalidId> + Ord,
{
    items
        .iter()
        .map(|s| T::from_str(s).map_err(|e| ApiError::invalid_field(field, e.to_string())))
        .collect()
}

/// A trimmed, non-empty name of at most [`MAX_NAME`] characters.
fn parse_name(field: &str, name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ApiError::invalid_field(field, "must not be empty"));
    }
    if name.chars().count() > MAX_NAME {
        return Err(ApiError::invalid_field(
            field,
            format!("at most {MAX_NAME} characters"),
        ));
    }
    Ok(name.to_owned())
}

/// Parses a path id; anything malformed names no such `what` (404).
fn path_id<T: FromStr>(raw: &str, what: &str) -> Result<T, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found(what))
}

/// The problem for a refused administrative change.
fn admin_error(e: DirectoryError) -> ApiError {
    let detail = e.to_string();
    match e {
        DirectoryError::SlugTaken(_) => {
            ApiError::new(StatusCode::CONFLICT, "slug_taken", "company slug taken").detail(detail)
        }
        DirectoryError::SlugRequired => ApiError::invalid_field("slug", detail),
        DirectoryError::AlreadyMember => {
            ApiError::new(StatusCode::CONFLICT, "already_member", "already a member").detail(detail)
        }
        DirectoryError::MembershipNotFound(_) => ApiError::not_found("membership"),
        DirectoryError::UnknownRole(_) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_role",
            "unknown role",
        )
        .detail(detail),
        DirectoryError::ReservedRole => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "reserved_role",
            "reserved role",
        )
        .detail(detail),
        DirectoryError::RoleNotFound(_) => ApiError::not_found("role"),
        DirectoryError::SelfDelegation => ApiError::invalid_field("to_membership_id", detail),
        DirectoryError::InvalidWindow => ApiError::invalid_field("expires_at", detail),
        DirectoryError::EmptyDelegation => ApiError::invalid_field("permissions", detail),
        DirectoryError::DelegationNotFound(_) => ApiError::not_found("delegation"),
        DirectoryError::Forbidden(_) => ApiError::from(DenialCode::PermissionDenied).detail(detail),
        DirectoryError::InvitationPending => ApiError::new(
            StatusCode::CONFLICT,
            "invitation_pending",
            "invitation pending",
        )
        .detail(detail),
        DirectoryError::LastOwner => {
            ApiError::new(StatusCode::CONFLICT, "last_owner", "last owner").detail(detail)
        }
        DirectoryError::LimitExceeded { what, .. } => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "limit_exceeded",
            "limit exceeded",
        )
        .detail(detail)
        .field(what),
        DirectoryError::NotDelegable(_) => ApiError::invalid_field("permissions", detail),
        DirectoryError::Store(e) => e.into(),
    }
}

// ---- companies -----------------------------------------------------------------------------

#[derive(Deserialize)]
struct CompanyBody {
    name: String,
    slug: Option<String>,
}

async fn create_company(
    State(s): State<AuthState>,
    caller: Caller,
    client: Client,
    b: Body<CompanyBody>,
) -> Result<Response, ApiError> {
    let b = body(b)?;
    let name = parse_name("name", &b.name)?;
    let slug = b
        .slug
        .as_deref()
        .map(CompanySlug::new)
        .transpose()
        .map_err(|e| ApiError::invalid_field("slug", e.to_string()))?;
    let (company, owner) = admin(&s, &caller, &client)
        .create_company(&name, slug, caller.claims.sub)
        .await
        .map_err(admin_error)?;
    let token = ConsistencyToken::membership(company.id, owner.id, owner.access_version);
    Ok(consistent(
        (StatusCode::CREATED, Json::<Company>(company)).into_response(),
        token,
    ))
}

// ---- members -------------------------------------------------------------------------------

/// A membership as shown to the company's administrators.
#[derive(Serialize)]
struct MemberView {
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

async fn email_of(s: &AuthState, user: UserId) -> Result<Option<String>, ApiError> {
    Ok(s.auth.user(user).await?.map(|u| u.email.to_string()))
}

async fn member_view(s: &AuthState, m: Membership) -> Result<MemberView, ApiError> {
    let email = email_of(s, m.user_id).await?;
    Ok(MemberView::new(m, email))
}

async fn list_members(
    State(s): State<AuthState>,
    caller: Caller,
    ApiPath(org): ApiPath<String>,
) -> Result<Json<Vec<MemberView>>, ApiError> {
    let ctx = authorize(&s, &caller, &org, MEMBERS_READ).await?;
    let mut views = Vec::new();
    for m in s.directory.list_company_memberships(ctx.company_id).await? {
        views.push(member_view(&s, m).await?);
    }
    Ok(Json(views))
}

#[derive(Deserialize)]
struct AddMemberBody {
    email: String,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    modules: Vec<String>,
}

async fn add_member(
    State(s): State<AuthState>,
    caller: Caller,
    client: Client,
    ApiPath(org): ApiPath<String>,
    b: Body<AddMemberBody>,
) -> Result<Response, ApiError> {
    let (ctx, adm) = administrator(&s, &caller, &client, &org, Some(MEMBERS_MANAGE)).await?;
    let b = body(b)?;
    let email = Email::parse(&b.email)
        .map_err(|_| ApiError::invalid_field("email", "not a valid email address"))?;
    let roles = parse_set::<RoleKey>("roles", &b.roles)?;
    let modules = parse_set::<ModuleKey>("modules", &b.modules)?;
    // Refused before anything is written (an invitation creates an account).
    adm.check_new_member(&roles, &modules)
        .map_err(admin_error)?;
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
    let (user, awaiting) = s.auth.invitee(&email, &context).await?;
    let status = if awaiting {
        MembershipStatus::Invited
    } else {
        MembershipStatus::Active
    };
    let m = adm
        .add_member(user.id, status, roles, modules)
        .await
        .map_err(admin_error)?;
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
struct UpdateMemberBody {
    roles: Option<Vec<String>>,
    modules: Option<Vec<String>>,
    status: Option<MembershipStatus>,
}

async fn update_member(
    State(s): State<AuthState>,
    caller: Caller,
    client: Client,
    ApiPath((org, id)): ApiPath<(String, String)>,
    b: Body<UpdateMemberBody>,
) -> Result<Response, ApiError> {
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
    let (m, _bumps) = adm.update_member(id, &patch).await.map_err(admin_error)?;
    let token = ConsistencyToken::membership(ctx.company_id, m.id, m.access_version);
    Ok(consistent(
        Json(member_view(&s, m).await?).into_response(),
        token,
    ))
}

async fn remove_member(
    State(s): State<AuthState>,
    caller: Caller,
    client: Client,
    ApiPath((org, id)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    let (ctx, adm) = administrator(&s, &caller, &client, &org, Some(MEMBERS_MANAGE)).await?;
    let id: MembershipId = path_id(&id, "membership")?;
    let bumps = adm.remove_member(id).await.map_err(admin_error)?;
    let token = membership_token(&s, ctx.company_id, id, &bumps).await?;
    Ok(consistent(StatusCode::NO_CONTENT.into_response(), token))
}

// ---- roles ---------------------------------------------------------------------------------

#[derive(Deserialize)]
struct RoleBody {
    key: Option<String>,
    name: String,
    #[serde(default)]
    permissions: Vec<String>,
}

async fn list_roles(
    State(s): State<AuthState>,
    caller: Caller,
    ApiPath(org): ApiPath<String>,
) -> Result<Json<Vec<Role>>, ApiError> {
    let ctx = authorize(&s, &caller, &org, MEMBERS_READ).await?;
    Ok(Json(
        s.admin
            .list_roles(ctx.company_id)
            .await
            .map_err(admin_error)?,
    ))
}

/// Validates the role body for `key` and stores it within the caller's authority.
async fn store_role(
    adm: &Administrator,
    ctx: &AccessContext,
    key: RoleKey,
    b: RoleBody,
) -> Result<(Role, ConsistencyToken), ApiError> {
    let name = parse_name("name", &b.name)?;
    let permissions = parse_set::<PermissionPattern>("permissions", &b.permissions)?;
    let (role, bumps) = adm
        .put_role(key, &name, permissions)
        .await
        .map_err(admin_error)?;
    Ok((role, role_token(ctx, &bumps)))
}

fn role_key(raw: &str) -> Result<RoleKey, ApiError> {
    RoleKey::new(raw).map_err(|e| ApiError::invalid_field("key", e.to_string()))
}

async fn create_role(
    State(s): State<AuthState>,
    caller: Caller,
    client: Client,
    ApiPath(org): ApiPath<String>,
    b: Body<RoleBody>,
) -> Result<Response, ApiError> {
    let (ctx, adm) = administrator(&s, &caller, &client, &org, Some(ROLES_MANAGE)).await?;
    let b = body(b)?;
    let key = role_key(
        b.key
            .as_deref()
            .ok_or_else(|| ApiError::invalid_field("key", "required"))?,
    )?;
    if s.directory.get_role(ctx.company_id, &key).await?.is_some() {
        return Err(
            ApiError::new(StatusCode::CONFLICT, "role_exists", "role exists")
                .detail(format!("role `{key}` exists; use PUT to replace it")),
        );
    }
    let (role, token) = store_role(&adm, &ctx, key, b).await?;
    Ok(consistent(
        (StatusCode::CREATED, Json(role)).into_response(),
        token,
    ))
}

async fn put_role(
    State(s): State<AuthState>,
    caller: Caller,
    client: Client,
    ApiPath((org, key)): ApiPath<(String, String)>,
    b: Body<RoleBody>,
) -> Result<Response, ApiError> {
    let (ctx, adm) = administrator(&s, &caller, &client, &org, Some(ROLES_MANAGE)).await?;
    let key = role_key(&key)?;
    let b = body(b)?;
    if b.key.as_deref().is_some_and(|k| k != key.as_str()) {
        return Err(ApiError::invalid_field(
            "key",
            "differs from the key in the path; roles cannot be renamed",
        ));
    }
    let (role, token) = store_role(&adm, &ctx, key, b).await?;
    Ok(consistent(Json(role).into_response(), token))
}

async fn delete_role(
    State(s): State<AuthState>,
    caller: Caller,
    client: Client,
    ApiPath((org, key)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    let (ctx, adm) = administrator(&s, &caller, &client, &org, Some(ROLES_MANAGE)).await?;
    let key: RoleKey = path_id(&key, "role")?;
    let bumps = adm.delete_role(&key).await.map_err(admin_error)?;
    Ok(consistent(
        StatusCode::NO_CONTENT.into_response(),
        role_token(&ctx, &bumps),
    ))
}

// ---- delegations ---------------------------------------------------------------------------

#[derive(Deserialize)]
struct DelegationBody {
    from_membership_id: Option<MembershipId>,
    to_membership_id: MembershipId,
    #[serde(default)]
    permissions: Vec<String>,
    #[serde(default)]
    modules: Vec<String>,
    expires_at: DateTime<Utc>,
    starts_at: Option<DateTime<Utc>>,
}

async fn list_delegations(
    State(s): State<AuthState>,
    caller: Caller,
    ApiPath(org): ApiPath<String>,
) -> Result<Json<Vec<Delegation>>, ApiError> {
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

async fn create_delegation(
    State(s): State<AuthState>,
    caller: Caller,
    client: Client,
    ApiPath(org): ApiPath<String>,
    b: Body<DelegationBody>,
) -> Result<Response, ApiError> {
    // Any active member may delegate what their own roles give them (never more); delegating
    // on behalf of another member needs the management permission and, still, holding what
    // is delegated.
    let (ctx, adm) = administrator(&s, &caller, &client, &org, None).await?;
    let b = body(b)?;
    let from = b.from_membership_id.unwrap_or(ctx.membership_id);
    if from != ctx.membership_id {
        adm.require(DELEGATIONS_MANAGE).map_err(admin_error)?;
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
    let (d, bumps) = adm.create_delegation(new).await.map_err(|e| match e {
        DirectoryError::MembershipNotFound(id) => ApiError::invalid_field(
            if id == to {
                "to_membership_id"
            } else {
                "from_membership_id"
            },
            "no such member in this company",
        ),
        other => admin_error(other),
    })?;
    let token = membership_token(&s, ctx.company_id, d.to_membership_id, &bumps).await?;
    Ok(consistent(
        (StatusCode::CREATED, Json(d)).into_response(),
        token,
    ))
}

async fn revoke_delegation(
    State(s): State<AuthState>,
    caller: Caller,
    client: Client,
    ApiPath((org, id)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    let (ctx, adm) = administrator(&s, &caller, &client, &org, None).await?;
    let id: DelegationId = path_id(&id, "delegation")?;
    let (d, bumps) = adm.revoke_delegation(id).await.map_err(admin_error)?;
    let token = membership_token(&s, ctx.company_id, d.to_membership_id, &bumps).await?;
    Ok(consistent(StatusCode::NO_CONTENT.into_response(), token))
}

// ---- explain -------------------------------------------------------------------------------

#[derive(Deserialize)]
struct ExplainQuery {
    membership_id: Option<String>,
    module: Option<String>,
    permission: Option<String>,
}

async fn explain(
    State(s): State<AuthState>,
    caller: Caller,
    ApiPath(org): ApiPath<String>,
    q: Result<Query<ExplainQuery>, QueryRejection>,
) -> Result<Json<Explanation>, ApiError> {
    let ctx = authorize(&s, &caller, &org, MEMBERS_READ).await?;
    let Query(q) = q.map_err(|e| ApiError::invalid_field("query", e.body_text()))?;
    let membership_id: MembershipId = param(q.membership_id.as_ref())
        .ok_or_else(|| ApiError::invalid_field("membership_id", "required"))?
        .parse()
        .map_err(|e: InvalidId| ApiError::invalid_field("membership_id", e.to_string()))?;
    let module = param(q.module.as_ref())
        .map(ModuleKey::new)
        .transpose()
        .map_err(|e| ApiError::invalid_field("module", e.to_string()))?;
    let permission = param(q.permission.as_ref())
        .map(Permission::new)
        .transpose()
        .map_err(|e| ApiError::invalid_field("permission", e.to_string()))?;
    let company = s
        .access
        .resolve_company(Some(&ctx.company_id.to_string()))
        .await?;
    Ok(Json(
        s.access
            .explain(
                &company,
                membership_id,
                module.as_ref(),
                permission.as_ref(),
            )
            .await?,
    ))
}
