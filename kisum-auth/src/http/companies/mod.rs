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

use std::collections::BTreeSet;
use std::str::FromStr;

use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use kisum_guard::http::{ApiJson, ProblemResponse};
use kisum_guard::{
    AccessContext, CONSISTENCY_HEADER, CompanyId, CompanySlug, ConsistencyToken, DenialCode,
    InvalidId, MembershipId, ModuleKey, Permission, Problem,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::AuthState;
use super::extract::{Caller, Client, param};
#[cfg(feature = "openapi")]
use super::openapi::{Admin, JsonBody, SignedIn, Unavailable};
use crate::access::Explanation;
use crate::directory::{AccessBump, Company, CreatedCompany};
use crate::directory::{Administrator, DirectoryService};

pub(crate) mod api_keys;
pub(crate) mod delegations;
pub(crate) mod members;
pub(crate) mod roles;

#[cfg(feature = "openapi")]
use delegations::{__path_create_delegation, __path_list_delegations, __path_revoke_delegation};
use delegations::{create_delegation, list_delegations, revoke_delegation};
#[cfg(feature = "openapi")]
use members::{__path_add_member, __path_list_members, __path_remove_member, __path_update_member};
use members::{add_member, list_members, remove_member, update_member};
#[cfg(feature = "openapi")]
use roles::{__path_create_role, __path_delete_role, __path_list_roles, __path_put_role};
use roles::{create_role, delete_role, list_roles, put_role};

/// Reading the members, roles and access explanations of the company.
pub(crate) const MEMBERS_READ: &str = "company.members.read";
/// Adding, changing and removing members.
pub(crate) const MEMBERS_MANAGE: &str = "company.members.manage";
/// Creating, editing and deleting roles.
pub(crate) const ROLES_MANAGE: &str = "company.roles.manage";
/// Managing every delegation of the company (not only one's own).
pub(crate) const DELEGATIONS_MANAGE: &str = "company.delegations.manage";

/// The longest accepted company or role name, in characters.
const MAX_NAME: usize = 200;

/// The company administration routes.
pub fn routes() -> Router<AuthState> {
    #[cfg(feature = "openapi")]
    let (routes, _) = documented().0.split_for_parts();
    #[cfg(not(feature = "openapi"))]
    let (routes, _) = documented();
    routes
}

/// The company administration routes documented by their handlers (see
/// [`kisum_guard::documented_routes`]) and the `(method, path)`s written.
pub(super) fn documented() -> (super::Routes, [(&'static str, &'static str); 13]) {
    kisum_guard::documented_routes! { AuthState;
        "/v1/companies" => post create_company;
        "/v1/companies/{org}/members" => get list_members, post add_member;
        "/v1/companies/{org}/members/{membership_id}" => patch update_member, delete remove_member;
        "/v1/companies/{org}/roles" => get list_roles, post create_role;
        "/v1/companies/{org}/roles/{key}" => put put_role, delete delete_role;
        "/v1/companies/{org}/delegations" => get list_delegations, post create_delegation;
        "/v1/companies/{org}/delegations/{delegation_id}" => delete revoke_delegation;
        "/v1/companies/{org}/access/explain" => get explain;
    }
}

/// Path parameters whose rejection (undecodable segments) answers 404.
pub(crate) struct ApiPath<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ProblemResponse;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(v)) => Ok(Self(v)),
            Err(_) => Err(Problem::not_found("resource").into()),
        }
    }
}

/// A JSON body whose rejection is answered only after the access checks, so that a caller
/// without access learns nothing from the shape of their request.
pub(crate) type Body<T> = Result<ApiJson<T>, ProblemResponse>;

pub(super) fn body<T>(b: Body<T>) -> Result<T, ProblemResponse> {
    b.map(|ApiJson(v)| v)
}

/// The caller's access context in the company `org` (an id or a slug).
pub(crate) async fn access_in(
    s: &AuthState,
    caller: &Caller,
    org: &str,
) -> Result<AccessContext, ProblemResponse> {
    Ok(s.access
        .resolve(caller.claims.sub, caller.session.id, Some(org))
        .await?)
}

/// `permission_denied` unless the caller holds `permission` (fails closed).
pub(super) fn require(ctx: &AccessContext, permission: &str) -> Result<(), ProblemResponse> {
    let permission = Permission::new(permission)
        .map_err(|_| ProblemResponse::from(DenialCode::PermissionDenied))?;
    Ok(ctx.check_permission(&permission)?)
}

/// Whether the caller holds `permission`.
pub(crate) fn holds(ctx: &AccessContext, permission: &str) -> bool {
    require(ctx, permission).is_ok()
}

/// The caller's access context in `org`, checked for `permission`.
pub(super) async fn authorize(
    s: &AuthState,
    caller: &Caller,
    org: &str,
    permission: &str,
) -> Result<AccessContext, ProblemResponse> {
    let ctx = access_in(s, caller, org).await?;
    require(&ctx, permission)?;
    Ok(ctx)
}

/// The administration service acting as the caller (for the audit log).
pub(super) fn admin(s: &AuthState, caller: &Caller, client: &Client) -> DirectoryService {
    s.admin
        .acting_as(client.0.audit_context(Some(caller.claims.sub)))
}

/// The caller's access context in `org` and the caller as an administrator there (what it
/// holds through its own roles), checked for `permission` when given.
pub(super) async fn administrator(
    s: &AuthState,
    caller: &Caller,
    client: &Client,
    org: &str,
    permission: Option<&str>,
) -> Result<(AccessContext, Administrator), ProblemResponse> {
    let ctx = access_in(s, caller, org).await?;
    let adm = admin(s, caller, client)
        .administrator(ctx.company_id, ctx.membership_id)
        .await
        .map_err(ProblemResponse::from)?;
    if let Some(permission) = permission {
        adm.require(permission).map_err(ProblemResponse::from)?;
    }
    Ok((ctx, adm))
}

/// `response` with `X-Kisum-Consistency: token`: a read presenting it is never answered from a
/// state older than the write.
pub(super) fn consistent(mut response: Response, token: ConsistencyToken) -> Response {
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
pub(super) async fn membership_token(
    s: &AuthState,
    company_id: CompanyId,
    id: MembershipId,
    bumps: &[AccessBump],
) -> Result<ConsistencyToken, ProblemResponse> {
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
pub(super) fn role_token(ctx: &AccessContext, bumps: &[AccessBump]) -> ConsistencyToken {
    match bumps.iter().find(|b| b.membership_id == ctx.membership_id) {
        Some(b) => {
            ConsistencyToken::membership(ctx.company_id, ctx.membership_id, b.access_version)
        }
        None => ConsistencyToken::company(ctx.company_id, ctx.entitlement_version),
    }
}

/// Parses every item of `field` (role keys, module keys, permission patterns): 422 naming the
/// first invalid one.
pub(super) fn parse_set<T>(field: &str, items: &[String]) -> Result<BTreeSet<T>, ProblemResponse>
where
    T: FromStr<Err = InvalidId> + Ord,
{
    items
        .iter()
        .map(|s| T::from_str(s).map_err(|e| Problem::invalid_field(field, e.to_string()).into()))
        .collect()
}

/// A trimmed, non-empty name of at most [`MAX_NAME`] characters.
pub(super) fn parse_name(field: &str, name: &str) -> Result<String, ProblemResponse> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Problem::invalid_field(field, "must not be empty").into());
    }
    if name.chars().count() > MAX_NAME {
        return Err(Problem::invalid_field(field, format!("at most {MAX_NAME} characters")).into());
    }
    Ok(name.to_owned())
}

/// Parses a path id; anything malformed names no such `what` (404).
pub(super) fn path_id<T: FromStr>(raw: &str, what: &str) -> Result<T, ProblemResponse> {
    raw.parse().map_err(|_| Problem::not_found(what).into())
}

/// A new company.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = CreateCompanyRequest))]
pub(super) struct CompanyBody {
    /// The name.
    name: String,
    /// The slug (derived from the name when absent).
    slug: Option<String>,
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    post,
    path = "/v1/companies",
    operation_id = "create_company",
    tag = "companies",
    summary = "Create a company",
    description = "The caller becomes its `owner`. Any signed-in user may.",
    request_body = CompanyBody,
    security(("bearer_jwt" = [])),
    responses(
        (status = 201, description = "The company", body = Company, headers(("X-Kisum-Consistency" = String, description = "The write's consistency token: present it on the next reads to see this write."))),
        (status = 409, description = "`slug_taken`: the slug is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: wrong types, missing fields or invalid values (per-field `errors`)", body = Problem, content_type = "application/problem+json"),
        SignedIn, JsonBody, Unavailable
    )
))]
pub(super) async fn create_company(
    State(s): State<AuthState>,
    caller: Caller,
    client: Client,
    b: Body<CompanyBody>,
) -> Result<Response, ProblemResponse> {
    let b = body(b)?;
    let name = parse_name("name", &b.name)?;
    let slug = b
        .slug
        .as_deref()
        .map(CompanySlug::new)
        .transpose()
        .map_err(|e| Problem::invalid_field("slug", e.to_string()))?;
    let CreatedCompany { company, owner } = admin(&s, &caller, &client)
        .create_company(&name, slug, caller.claims.sub)
        .await
        .map_err(ProblemResponse::from)?;
    let token = ConsistencyToken::membership(company.id, owner.id, owner.access_version);
    Ok(consistent(
        (StatusCode::CREATED, Json::<Company>(company)).into_response(),
        token,
    ))
}

#[derive(Deserialize)]
pub(crate) struct ExplainQuery {
    pub(crate) membership_id: Option<String>,
    pub(crate) module: Option<String>,
    pub(crate) permission: Option<String>,
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    get,
    path = "/v1/companies/{org}/access/explain",
    operation_id = "explain_access",
    tag = "companies",
    summary = "Explain an access decision, check by check",
    description = "Permission: `company.members.read`.",
    params(
        ("org" = String, Path, description = "The company: its id or slug"),
        ("membership_id" = String, Query, description = "The membership whose access to explain"),
        ("module" = Option<String>, Query, description = "A module key to check"),
        ("permission" = Option<String>, Query, description = "A permission to check")
    ),
    security(("bearer_jwt" = [])),
    responses(
        (status = 200, description = "The decision and its steps", body = Explanation),
        (status = 422, description = "`validation_failed`: a missing or malformed `membership_id`, `module` or `permission`", body = Problem, content_type = "application/problem+json"),
        Admin
    )
))]
pub(crate) async fn explain(
    State(s): State<AuthState>,
    caller: Caller,
    ApiPath(org): ApiPath<String>,
    q: Result<Query<ExplainQuery>, QueryRejection>,
) -> Result<Json<Explanation>, ProblemResponse> {
    let ctx = authorize(&s, &caller, &org, MEMBERS_READ).await?;
    let Query(q) = q.map_err(|e| Problem::invalid_field("query", e.body_text()))?;
    let membership_id: MembershipId = param(q.membership_id.as_ref())
        .ok_or_else(|| Problem::invalid_field("membership_id", "required"))?
        .parse()
        .map_err(|e: InvalidId| Problem::invalid_field("membership_id", e.to_string()))?;
    let module = param(q.module.as_ref())
        .map(ModuleKey::new)
        .transpose()
        .map_err(|e| Problem::invalid_field("module", e.to_string()))?;
    let permission = param(q.permission.as_ref())
        .map(Permission::new)
        .transpose()
        .map_err(|e| Problem::invalid_field("permission", e.to_string()))?;
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
