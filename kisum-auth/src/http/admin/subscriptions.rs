//! A company's subscription and add-ons as the platform changes them: each carried to Core
//! with Auth's service key, checked (`platform.subscriptions.manage`, `aal2`) and audited by
//! Auth.

use axum::extract::State;
use axum::http::Method;
use axum::response::Response;
use kisum_guard::http::ProblemResponse;
use kisum_guard::{AddOnKey, Problem};

#[cfg(feature = "openapi")]
use super::PlatformWrite;
use super::carried::{CarriedWrite, CoreObject, carry};
use super::companies::known_company;
use super::core::Core;
use super::{Need, platform};
use crate::directory::Company;
use crate::http::AuthState;
use crate::http::companies::{ApiPath, Body, body};
use crate::http::extract::{Caller, Client};
use crate::platform::{PlatformPermission as P, action};

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    put,
    path = "/v1/admin/companies/{id}/subscription",
    operation_id = "admin_put_subscription",
    tag = "admin",
    summary = "Set a company's subscription (in Core)",
    description = "Permission: `platform.subscriptions.manage`, `aal2`. The body is Core's: \
                   `{package, status, current_period_end?, grace_until?}`; the answer is \
                   Core's `Entitlements`.",
    params(("id" = String, Path, description = "The company id")),
    request_body = CoreObject,
    security(("bearer_jwt" = [])),
    responses(
        (status = 200, description = "The company's entitlements", body = CoreObject),
        (status = 404, description = "`not_found`", body = kisum_guard::Problem, content_type = "application/problem+json"),
        PlatformWrite
    )
))]
pub(crate) async fn put_subscription(
    State(s): State<AuthState>,
    caller: Caller,
    client: Client,
    core: Core,
    ApiPath(id): ApiPath<String>,
    b: Body<CoreObject>,
) -> Result<Response, ProblemResponse> {
    let acting = platform(&s, &caller, client, Need::write(&[P::SubscriptionsManage])).await?;
    let company = known_company(&s, &id).await?;
    let request = serde_json::Value::Object(body(b)?.0);
    let write = CarriedWrite {
        method: Method::PUT,
        path: format!("/internal/v1/companies/{}/subscription", company.id),
        details: serde_json::json!({ "subscription": request }),
        body: Some(request),
        action: action::SUBSCRIPTION_PUT,
        company: Some(company.id),
    };
    carry(&s, &acting, &core, write).await
}

/// The company and add-on key of an add-on route (the key validated before it goes into
/// Core's path).
async fn addon_target(
    s: &AuthState,
    id: &str,
    key: &str,
) -> Result<(Company, AddOnKey), ProblemResponse> {
    let company = known_company(s, id).await?;
    let key = AddOnKey::new(key)
        .map_err(|e| ProblemResponse::from(Problem::invalid_request(e.to_string())))?;
    Ok((company, key))
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    put,
    path = "/v1/admin/companies/{id}/addons/{key}",
    operation_id = "admin_put_addon",
    tag = "admin",
    summary = "Set a company add-on (in Core)",
    description = "Permission: `platform.subscriptions.manage`, `aal2`. The body is Core's: \
                   `{status, current_period_end?}`.",
    params(
        ("id" = String, Path, description = "The company id"),
        ("key" = String, Path, description = "The add-on key"),
    ),
    request_body = CoreObject,
    security(("bearer_jwt" = [])),
    responses(
        (status = 200, description = "The company's entitlements", body = CoreObject),
        (status = 400, description = "`invalid_request`: a malformed key", body = kisum_guard::Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = kisum_guard::Problem, content_type = "application/problem+json"),
        PlatformWrite
    )
))]
pub(crate) async fn put_addon(
    State(s): State<AuthState>,
    caller: Caller,
    client: Client,
    core: Core,
    ApiPath((id, key)): ApiPath<(String, String)>,
    b: Body<CoreObject>,
) -> Result<Response, ProblemResponse> {
    let acting = platform(&s, &caller, client, Need::write(&[P::SubscriptionsManage])).await?;
    let (company, key) = addon_target(&s, &id, &key).await?;
    let request = serde_json::Value::Object(body(b)?.0);
    let write = CarriedWrite {
        method: Method::PUT,
        path: format!("/internal/v1/companies/{}/addons/{key}", company.id),
        details: serde_json::json!({ "addon": key, "company_addon": request }),
        body: Some(request),
        action: action::ADDON_PUT,
        company: Some(company.id),
    };
    carry(&s, &acting, &core, write).await
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    delete,
    path = "/v1/admin/companies/{id}/addons/{key}",
    operation_id = "admin_delete_addon",
    tag = "admin",
    summary = "Remove a company add-on (in Core)",
    description = "Permission: `platform.subscriptions.manage`, `aal2`. Its module is denied \
                   at once where events are delivered.",
    params(
        ("id" = String, Path, description = "The company id"),
        ("key" = String, Path, description = "The add-on key"),
    ),
    security(("bearer_jwt" = [])),
    responses(
        (status = 200, description = "The company's entitlements", body = CoreObject),
        (status = 400, description = "`invalid_request`: a malformed key", body = kisum_guard::Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = kisum_guard::Problem, content_type = "application/problem+json"),
        PlatformWrite
    )
))]
pub(crate) async fn delete_addon(
    State(s): State<AuthState>,
    caller: Caller,
    client: Client,
    core: Core,
    ApiPath((id, key)): ApiPath<(String, String)>,
) -> Result<Response, ProblemResponse> {
    let acting = platform(&s, &caller, client, Need::write(&[P::SubscriptionsManage])).await?;
    let (company, key) = addon_target(&s, &id, &key).await?;
    let write = CarriedWrite {
        method: Method::DELETE,
        path: format!("/internal/v1/companies/{}/addons/{key}", company.id),
        body: None,
        action: action::ADDON_DELETE,
        company: Some(company.id),
        details: serde_json::json!({ "addon": key }),
    };
    carry(&s, &acting, &core, write).await
}
