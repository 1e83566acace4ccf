//! The catalog routes: `GET /internal/v1/{modules,packages,addons}` list every item,
//! `PUT …/{key}` creates or replaces one through [`CoreAdmin`](crate::admin::CoreAdmin)
//! (audited; every company whose entitlements change gets its version bumped and an event).

use axum::Json;
use axum::extract::State;
use kisum_guard::http::{ApiJson, ProblemResponse};
#[cfg(feature = "openapi")]
use kisum_guard::openapi::{ServiceKeyRequired, Unavailable};
use kisum_guard::{AddOnKey, ModuleKey, PackageKey, Permission};
use serde::Deserialize;

#[cfg(feature = "openapi")]
use super::Written;
use super::extract::{ApiPath, Caller, name, parse};
use super::{CoreState, error};
use crate::catalog::{AddOn, Module, ModuleKind, Package};

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    get,
    path = "/internal/v1/modules",
    operation_id = "list_modules",
    tag = "catalog",
    summary = "Every module",
    security(("service_key" = [])),
    responses(
        (status = 200, description = "Every module, by key", body = Vec<Module>),
        ServiceKeyRequired,
        Unavailable
    )
))]
pub(super) async fn list_modules(
    State(s): State<CoreState>,
) -> Result<Json<Vec<Module>>, ProblemResponse> {
    let catalog = s.admin.service().catalog().await?;
    Ok(Json(catalog.modules.values().cloned().collect()))
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = ModuleRequest))]
pub(super) struct ModuleBody {
    name: String,
    kind: ModuleKind,
    #[serde(default)]
    permissions: Vec<Permission>,
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    put,
    path = "/internal/v1/modules/{key}",
    operation_id = "put_modules",
    tag = "catalog",
    summary = "Create or replace a module",
    description = "Audited; every company whose entitlements change gets its version bumped and an invalidation event.",
    params(("key" = String, Path, description = "The key")),
    request_body = ModuleBody,
    security(("service_key" = [])),
    responses(
        (status = 200, description = "The stored module", body = Module),
        Written,
        ServiceKeyRequired,
        Unavailable
    )
))]
pub(super) async fn put_module(
    State(s): State<CoreState>,
    Caller(actor): Caller,
    ApiPath(key): ApiPath<String>,
    ApiJson(b): ApiJson<ModuleBody>,
) -> Result<Json<Module>, ProblemResponse> {
    let module = Module {
        key: parse::<ModuleKey>(&key)?,
        name: name(b.name)?,
        kind: b.kind,
        permissions: b.permissions,
    };
    s.admin
        .put_module(&actor, module.clone())
        .await
        .map_err(|e| error::refused(e, "kind"))?;
    Ok(Json(module))
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    get,
    path = "/internal/v1/packages",
    operation_id = "list_packages",
    tag = "catalog",
    summary = "Every package",
    security(("service_key" = [])),
    responses(
        (status = 200, description = "Every package, by key", body = Vec<Package>),
        ServiceKeyRequired,
        Unavailable
    )
))]
pub(super) async fn list_packages(
    State(s): State<CoreState>,
) -> Result<Json<Vec<Package>>, ProblemResponse> {
    let catalog = s.admin.service().catalog().await?;
    Ok(Json(catalog.packages.values().cloned().collect()))
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = PackageRequest))]
pub(super) struct PackageBody {
    name: String,
    is_basic: bool,
    modules: std::collections::BTreeSet<ModuleKey>,
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    put,
    path = "/internal/v1/packages/{key}",
    operation_id = "put_packages",
    tag = "catalog",
    summary = "Create or replace a package",
    description = "Audited; every company whose entitlements change gets its version bumped and an invalidation event.",
    params(("key" = String, Path, description = "The key")),
    request_body = PackageBody,
    security(("service_key" = [])),
    responses(
        (status = 200, description = "The stored package", body = Package),
        Written,
        ServiceKeyRequired,
        Unavailable
    )
))]
pub(super) async fn put_package(
    State(s): State<CoreState>,
    Caller(actor): Caller,
    ApiPath(key): ApiPath<String>,
    ApiJson(b): ApiJson<PackageBody>,
) -> Result<Json<Package>, ProblemResponse> {
    let package = Package {
        key: parse::<PackageKey>(&key)?,
        name: name(b.name)?,
        is_basic: b.is_basic,
        modules: b.modules,
    };
    s.admin
        .put_package(&actor, package.clone())
        .await
        .map_err(|e| error::refused(e, "modules"))?;
    Ok(Json(package))
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    get,
    path = "/internal/v1/addons",
    operation_id = "list_addons",
    tag = "catalog",
    summary = "Every add-on",
    security(("service_key" = [])),
    responses(
        (status = 200, description = "Every add-on, by key", body = Vec<AddOn>),
        ServiceKeyRequired,
        Unavailable
    )
))]
pub(super) async fn list_addons(
    State(s): State<CoreState>,
) -> Result<Json<Vec<AddOn>>, ProblemResponse> {
    let catalog = s.admin.service().catalog().await?;
    Ok(Json(catalog.addons.values().cloned().collect()))
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = AddOnRequest))]
pub(super) struct AddOnBody {
    name: String,
    module: ModuleKey,
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    put,
    path = "/internal/v1/addons/{key}",
    operation_id = "put_addons",
    tag = "catalog",
    summary = "Create or replace a add-on",
    description = "Audited; every company whose entitlements change gets its version bumped and an invalidation event.",
    params(("key" = String, Path, description = "The key")),
    request_body = AddOnBody,
    security(("service_key" = [])),
    responses(
        (status = 200, description = "The stored add-on", body = AddOn),
        Written,
        ServiceKeyRequired,
        Unavailable
    )
))]
pub(super) async fn put_addon(
    State(s): State<CoreState>,
    Caller(actor): Caller,
    ApiPath(key): ApiPath<String>,
    ApiJson(b): ApiJson<AddOnBody>,
) -> Result<Json<AddOn>, ProblemResponse> {
    let addon = AddOn {
        key: parse::<AddOnKey>(&key)?,
        name: name(b.name)?,
        module: b.module,
    };
    s.admin
        .put_addon(&actor, addon.clone())
        .await
        .map_err(|e| error::refused(e, "module"))?;
    Ok(Json(addon))
}
