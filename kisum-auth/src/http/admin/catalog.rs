//! The catalog (modules, packages, add-ons), read and written in Core.

use axum::Json;
use axum::extract::State;
use axum::http::Method;
use axum::response::Response;
use kisum_guard::Problem;
use kisum_guard::http::ProblemResponse;

use super::carried::{CarriedWrite, CoreObject, carry, relay};
use super::core::Core;
use super::{Need, platform};
#[cfg(feature = "openapi")]
use super::{PlatformRead, PlatformWrite};
use crate::http::AuthState;
use crate::http::companies::{ApiPath, Body, body};
use crate::http::extract::{Caller, Client};
use crate::platform::{PlatformPermission as P, action};

/// Reading the catalog: its editors and those who read companies.
const READ: &[P] = &[P::CatalogManage, P::CompaniesRead];

/// Core's path of a catalog kind, or 404.
fn kind_path(kind: &str) -> Result<&'static str, ProblemResponse> {
    match kind {
        "modules" => Ok("/internal/v1/modules"),
        "packages" => Ok("/internal/v1/packages"),
        "addons" => Ok("/internal/v1/addons"),
        _ => Err(Problem::not_found("catalog").into()),
    }
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    get,
    path = "/v1/admin/catalog/{kind}",
    operation_id = "admin_list_catalog",
    tag = "admin",
    summary = "The catalog's modules, packages or add-ons (from Core)",
    description = "Permission: `platform.catalog.manage` or `platform.companies.read`.",
    params(("kind" = String, Path, description = "`modules`, `packages` or `addons`")),
    security(("bearer_jwt" = [])),
    responses(
        (status = 200, description = "The entries", body = Vec<CoreObject>),
        (status = 404, description = "`not_found`: no such kind", body = kisum_guard::Problem, content_type = "application/problem+json"),
        PlatformRead
    )
))]
pub(crate) async fn list_catalog(
    State(s): State<AuthState>,
    caller: Caller,
    client: Client,
    core: Core,
    ApiPath(kind): ApiPath<String>,
) -> Result<Response, ProblemResponse> {
    let acting = platform(&s, &caller, client, Need::read(READ)).await?;
    let path = kind_path(&kind)?;
    Ok(relay(
        core.call(Method::GET, path, None, acting.request_id())
            .await?,
    ))
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    get,
    path = "/v1/admin/catalog/{kind}/{key}",
    operation_id = "admin_get_catalog_entry",
    tag = "admin",
    summary = "One module, package or add-on (from Core)",
    description = "Permission: `platform.catalog.manage` or `platform.companies.read`.",
    params(
        ("kind" = String, Path, description = "`modules`, `packages` or `addons`"),
        ("key" = String, Path, description = "The entry's key"),
    ),
    security(("bearer_jwt" = [])),
    responses(
        (status = 200, description = "The entry", body = CoreObject),
        (status = 404, description = "`not_found`", body = kisum_guard::Problem, content_type = "application/problem+json"),
        PlatformRead
    )
))]
pub(super) async fn get_catalog_entry(
    State(s): State<AuthState>,
    caller: Caller,
    client: Client,
    core: Core,
    ApiPath((kind, key)): ApiPath<(String, String)>,
) -> Result<Json<serde_json::Value>, ProblemResponse> {
    let acting = platform(&s, &caller, client, Need::read(READ)).await?;
    let path = kind_path(&kind)?;
    let answer = core
        .call(Method::GET, path, None, acting.request_id())
        .await?;
    answer
        .body
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e.get("key").and_then(|k| k.as_str()) == Some(key.as_str()))
        .cloned()
        .map(Json)
        .ok_or_else(|| Problem::not_found(&kind).into())
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    put,
    path = "/v1/admin/catalog/{kind}/{key}",
    operation_id = "admin_put_catalog_entry",
    tag = "admin",
    summary = "Create or replace a module, package or add-on (in Core)",
    description = "Permission: `platform.catalog.manage`, `aal2`. The body is Core's (see \
                   `PUT /internal/v1/{kind}/{key}`); every company it touches gets a new \
                   entitlement version.",
    params(
        ("kind" = String, Path, description = "`modules`, `packages` or `addons`"),
        ("key" = String, Path, description = "The entry's key"),
    ),
    request_body = CoreObject,
    security(("bearer_jwt" = [])),
    responses(
        (status = 200, description = "Core's answer", body = CoreObject),
        (status = 400, description = "`invalid_request`: a malformed key", body = kisum_guard::Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such kind", body = kisum_guard::Problem, content_type = "application/problem+json"),
        PlatformWrite
    )
))]
pub(super) async fn put_catalog_entry(
    State(s): State<AuthState>,
    caller: Caller,
    client: Client,
    core: Core,
    ApiPath((kind, key)): ApiPath<(String, String)>,
    b: Body<CoreObject>,
) -> Result<Response, ProblemResponse> {
    let acting = platform(&s, &caller, client, Need::write(&[P::CatalogManage])).await?;
    let path = kind_path(&kind)?;
    let key = catalog_key(&key)?;
    let request = serde_json::Value::Object(body(b)?.0);
    let write = CarriedWrite {
        method: Method::PUT,
        path: format!("{path}/{key}"),
        details: serde_json::json!({ "kind": kind, "key": key, "entry": request }),
        body: Some(request),
        action: action::CATALOG_PUT,
        company: None,
    };
    carry(&s, &acting, &core, write).await
}

/// A validated key of the catalog (module, package, add-on): safe to put in Core's path.
fn catalog_key(raw: &str) -> Result<String, ProblemResponse> {
    kisum_guard::ModuleKey::new(raw)
        .map(|k| k.as_str().to_owned())
        .map_err(|_| Problem::invalid_request(format!("malformed key `{raw}`")).into())
}
