//! Companies as the platform sees them: search, detail (members, entitlements, licences) and
//! suspension. Their subscription and add-ons, which Core keeps, are in `subscriptions`.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::Method;
use kisum_guard::http::ProblemResponse;
use kisum_guard::{CompanyId, InvalidationEvent, Problem};
use serde::{Deserialize, Serialize};

use super::core::Core;
use super::{Need, Page, next_cursor, page_size, platform, query_value};
#[cfg(feature = "openapi")]
use super::{PlatformRead, PlatformWrite};
use crate::audit::AuditOutcome;
use crate::directory::{Company, CompanyStatus};
use crate::http::AuthState;
use crate::http::companies::{ApiPath, path_id};
use crate::http::extract::{Caller, Client, param};
use crate::platform::{PlatformPermission as P, action};

/// The search of companies.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
pub(crate) struct CompanyParams {
    /// Part of the slug or name (case-insensitive).
    pub(crate) query: Option<String>,
    /// The `next_cursor` of the previous page.
    pub(crate) cursor: Option<String>,
    /// At most this many companies (default 50, at most 200).
    pub(crate) limit: Option<String>,
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    get,
    path = "/v1/admin/companies",
    operation_id = "admin_search_companies",
    tag = "admin",
    summary = "Search companies",
    description = "Permission: `platform.companies.read`. By id, a page at a time.",
    params(CompanyParams),
    security(("bearer_jwt" = [])),
    responses(
        (status = 200, description = "A page of companies", body = Page<Company>),
        (status = 400, description = "`invalid_request`: a malformed cursor or limit", body = kisum_guard::Problem, content_type = "application/problem+json"),
        PlatformRead
    )
))]
pub(crate) async fn search_companies(
    State(s): State<AuthState>,
    caller: Caller,
    client: Client,
    q: Result<Query<CompanyParams>, QueryRejection>,
) -> Result<Json<Page<Company>>, ProblemResponse> {
    platform(&s, &caller, client, Need::read(&[P::CompaniesRead])).await?;
    let Query(q) = q.map_err(|e| Problem::invalid_request(e.body_text()))?;
    let after = query_value::<CompanyId>(q.cursor.as_ref(), "cursor")?;
    let limit = page_size(q.limit.as_ref())?;
    let query = param(q.query.as_ref()).map(|v| v.chars().take(200).collect::<String>());
    let items = s
        .auth
        .store
        .search_companies(query.as_deref(), after, limit)
        .await?;
    let next_cursor = next_cursor(&items, limit, |c| c.id.to_string());
    Ok(Json(Page { items, next_cursor }))
}

/// A company with its members and what Core holds for it.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct CompanyDetail {
    pub(crate) company: Company,
    /// Its memberships, each with the member's `email` (`null` if the account is gone).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub(crate) members: Vec<serde_json::Value>,
    /// Core's entitlements of the company.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub(crate) entitlements: serde_json::Value,
    /// Core's licences of the company (`null` when Core serves no licences).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub(crate) licenses: serde_json::Value,
}

pub(super) async fn known_company(s: &AuthState, raw: &str) -> Result<Company, ProblemResponse> {
    let id: CompanyId = path_id(raw, "company")?;
    s.auth
        .store
        .get_company(id)
        .await?
        .ok_or_else(|| Problem::not_found("company").into())
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    get,
    path = "/v1/admin/companies/{id}",
    operation_id = "admin_get_company",
    tag = "admin",
    summary = "A company: members, entitlements, licences",
    description = "Permission: `platform.companies.read`.",
    params(("id" = String, Path, description = "The company id")),
    security(("bearer_jwt" = [])),
    responses(
        (status = 200, description = "The company", body = CompanyDetail),
        (status = 404, description = "`not_found`", body = kisum_guard::Problem, content_type = "application/problem+json"),
        PlatformRead
    )
))]
pub(crate) async fn get_company(
    State(s): State<AuthState>,
    caller: Caller,
    client: Client,
    core: Core,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<CompanyDetail>, ProblemResponse> {
    let acting = platform(&s, &caller, client, Need::read(&[P::CompaniesRead])).await?;
    let company = known_company(&s, &id).await?;
    let mut members = Vec::new();
    for membership in s.auth.store.list_company_memberships(company.id).await? {
        let email = s
            .auth
            .store
            .get_user(membership.user_id)
            .await?
            .map(|u| u.email.as_str().to_owned());
        let mut member = serde_json::to_value(&membership)
            .map_err(|_| Problem::new(500, "internal", "a membership cannot be shown"))?;
        if let Some(map) = member.as_object_mut() {
            map.insert("email".to_owned(), email.into());
        }
        members.push(member);
    }
    let rid = acting.request_id();
    let entitlements = core
        .call(
            Method::GET,
            &format!("/internal/v1/companies/{}/entitlements", company.id),
            None,
            rid,
        )
        .await?
        .body;
    let licenses = core
        .call(
            Method::GET,
            &format!("/internal/v1/licenses?company_id={}", company.id),
            None,
            rid,
        )
        .await?;
    let licenses = if licenses.status.is_success() {
        licenses.body
    } else {
        serde_json::Value::Null
    };
    Ok(Json(CompanyDetail {
        company,
        members,
        entitlements,
        licenses,
    }))
}

async fn set_status(
    s: AuthState,
    caller: Caller,
    client: Client,
    id: &str,
    status: CompanyStatus,
    action: &str,
) -> Result<Json<Company>, ProblemResponse> {
    let acting = platform(&s, &caller, client, Need::write(&[P::CompaniesManage])).await?;
    let company = known_company(&s, id).await?;
    let bumps = s
        .auth
        .store
        .set_company_status(company.id, status, s.auth.clock.now())
        .await?
        .ok_or_else(|| Problem::not_found("company"))?;
    for b in &bumps {
        s.events
            .publish(&InvalidationEvent::Membership {
                company_id: company.id,
                membership_id: b.membership_id,
            })
            .await;
    }
    let details = serde_json::json!({
        "from": company.status.as_str(),
        "to": status.as_str(),
        "memberships": bumps.len(),
    });
    acting
        .audit(&s, action, AuditOutcome::Success, Some(company.id), details)
        .await;
    Ok(Json(Company { status, ..company }))
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    post,
    path = "/v1/admin/companies/{id}/suspend",
    operation_id = "admin_suspend_company",
    tag = "admin",
    summary = "Suspend a company",
    description = "Permission: `platform.companies.manage`, `aal2`. Every member is then \
                   denied (`membership_inactive`) at every guard, at once where events are \
                   delivered.",
    params(("id" = String, Path, description = "The company id")),
    security(("bearer_jwt" = [])),
    responses(
        (status = 200, description = "The company, suspended", body = Company),
        (status = 404, description = "`not_found`", body = kisum_guard::Problem, content_type = "application/problem+json"),
        PlatformWrite
    )
))]
pub(crate) async fn suspend_company(
    State(s): State<AuthState>,
    caller: Caller,
    client: Client,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Company>, ProblemResponse> {
    set_status(
        s,
        caller,
        client,
        &id,
        CompanyStatus::Suspended,
        action::COMPANY_SUSPEND,
    )
    .await
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    post,
    path = "/v1/admin/companies/{id}/reactivate",
    operation_id = "admin_reactivate_company",
    tag = "admin",
    summary = "Reactivate a company",
    description = "Permission: `platform.companies.manage`, `aal2`.",
    params(("id" = String, Path, description = "The company id")),
    security(("bearer_jwt" = [])),
    responses(
        (status = 200, description = "The company, active", body = Company),
        (status = 404, description = "`not_found`", body = kisum_guard::Problem, content_type = "application/problem+json"),
        PlatformWrite
    )
))]
pub(crate) async fn reactivate_company(
    State(s): State<AuthState>,
    caller: Caller,
    client: Client,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Company>, ProblemResponse> {
    set_status(
        s,
        caller,
        client,
        &id,
        CompanyStatus::Active,
        action::COMPANY_REACTIVATE,
    )
    .await
}
