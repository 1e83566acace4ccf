//! A company's entitlements: `GET …/entitlements`, and the writes of its subscription and
//! add-ons, each answering the new entitlements and their consistency token.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use kisum_guard::http::{ApiJson, ProblemResponse};
use kisum_guard::{AddOnKey, CompanyId, ConsistencyToken, PackageKey};
#[cfg(feature = "openapi")]
use kisum_guard::{
    Problem,
    openapi::{ServiceKeyRequired, Unavailable},
};
use serde::Deserialize;

use super::extract::{ApiPath, Caller, parse};
use super::{CONSISTENCY, CoreState, error};
#[cfg(feature = "openapi")]
use super::{KeyedPath, Written};
use crate::entitlements::Entitlements;
use crate::subscription::{CompanyAddOn, Subscription, SubscriptionStatus};

/// A company write's answer: its entitlements and the consistency token of its new version.
fn written(e: Entitlements) -> Response {
    let token = ConsistencyToken::company(e.company_id, e.entitlement_version);
    let mut response = Json(e).into_response();
    if let Ok(v) = HeaderValue::from_str(&token.to_string()) {
        response.headers_mut().insert(CONSISTENCY.clone(), v);
    }
    response
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    get,
    path = "/internal/v1/companies/{company_id}/entitlements",
    operation_id = "get_entitlements",
    tag = "entitlements",
    summary = "A company's entitlements",
    description = "An unknown company has the empty entitlements at version 0.",
    params(("company_id" = String, Path, format = Uuid, description = "The company id")),
    security(("service_key" = [])),
    responses(
        (status = 200, description = "The entitlements", body = Entitlements),
        KeyedPath,
        ServiceKeyRequired,
        Unavailable
    )
))]
pub(super) async fn entitlements(
    State(s): State<CoreState>,
    ApiPath(company): ApiPath<String>,
) -> Result<Json<Entitlements>, ProblemResponse> {
    let company_id = parse::<CompanyId>(&company)?;
    Ok(Json(s.admin.service().entitlements(company_id).await?))
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = SubscriptionRequest))]
pub(super) struct SubscriptionBody {
    package: PackageKey,
    status: SubscriptionStatus,
    current_period_end: Option<DateTime<Utc>>,
    grace_until: Option<DateTime<Utc>>,
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    put,
    path = "/internal/v1/companies/{company_id}/subscription",
    operation_id = "put_subscription",
    tag = "entitlements",
    summary = "Set a company's subscription",
    params(("company_id" = String, Path, format = Uuid, description = "The company id")),
    request_body = SubscriptionBody,
    security(("service_key" = [])),
    responses(
        (status = 200, description = "The company's entitlements, version bumped", body = Entitlements, headers(("X-Kisum-Consistency" = String, description = "The write's consistency token: present it on the next reads to see this write."))),
        Written,
        ServiceKeyRequired,
        Unavailable
    )
))]
pub(super) async fn put_subscription(
    State(s): State<CoreState>,
    Caller(actor): Caller,
    ApiPath(company): ApiPath<String>,
    ApiJson(b): ApiJson<SubscriptionBody>,
) -> Result<Response, ProblemResponse> {
    let subscription = Subscription {
        company_id: parse(&company)?,
        package: b.package,
        status: b.status,
        current_period_end: b.current_period_end,
        grace_until: b.grace_until,
    };
    let e = s
        .admin
        .set_subscription(&actor, subscription)
        .await
        .map_err(|e| error::refused(e, "package"))?;
    Ok(written(e))
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = CompanyAddOnRequest))]
pub(super) struct CompanyAddOnBody {
    status: SubscriptionStatus,
    current_period_end: Option<DateTime<Utc>>,
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    put,
    path = "/internal/v1/companies/{company_id}/addons/{key}",
    operation_id = "put_company_addon",
    tag = "entitlements",
    summary = "Set a company add-on",
    params(("company_id" = String, Path, format = Uuid, description = "The company id"), ("key" = String, Path, description = "The key")),
    request_body = CompanyAddOnBody,
    security(("service_key" = [])),
    responses(
        (status = 200, description = "The company's entitlements, version bumped", body = Entitlements, headers(("X-Kisum-Consistency" = String, description = "The write's consistency token: present it on the next reads to see this write."))),
        Written,
        ServiceKeyRequired,
        Unavailable
    )
))]
pub(super) async fn put_company_addon(
    State(s): State<CoreState>,
    Caller(actor): Caller,
    ApiPath((company, key)): ApiPath<(String, String)>,
    ApiJson(b): ApiJson<CompanyAddOnBody>,
) -> Result<Response, ProblemResponse> {
    let addon = CompanyAddOn {
        company_id: parse(&company)?,
        addon: parse(&key)?,
        status: b.status,
        current_period_end: b.current_period_end,
    };
    let e = s
        .admin
        .set_company_addon(&actor, addon)
        .await
        .map_err(|e| error::refused(e, "key"))?;
    Ok(written(e))
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    delete,
    path = "/internal/v1/companies/{company_id}/addons/{key}",
    operation_id = "delete_company_addon",
    tag = "entitlements",
    summary = "Remove a company add-on",
    params(("company_id" = String, Path, format = Uuid, description = "The company id"), ("key" = String, Path, description = "The key")),
    security(("service_key" = [])),
    responses(
        (status = 200, description = "The company's entitlements, version bumped", body = Entitlements, headers(("X-Kisum-Consistency" = String, description = "The write's consistency token: present it on the next reads to see this write."))),
        (status = 404, description = "`not_found`: the company does not hold that add-on", body = Problem, content_type = "application/problem+json"),
        KeyedPath,
        ServiceKeyRequired,
        Unavailable
    )
))]
pub(super) async fn delete_company_addon(
    State(s): State<CoreState>,
    Caller(actor): Caller,
    ApiPath((company, key)): ApiPath<(String, String)>,
) -> Result<Response, ProblemResponse> {
    let company_id = parse(&company)?;
    let addon: AddOnKey = parse(&key)?;
    let e = s
        .admin
        .remove_company_addon(&actor, company_id, &addon)
        .await
        .map_err(|e| error::refused(e, "key"))?;
    Ok(written(e))
}
