//! Core's internal HTTP API (feature `http`): the catalog and company entitlements, behind
//! service keys, for other Kisum components and billing systems — never for browsers.
//!
//! | method & path | body → answer |
//! |---|---|
//! | `GET /internal/v1/modules`, `PUT /internal/v1/modules/{key}` | `{name, kind, permissions}` → 200 the module |
//! | `GET /internal/v1/packages`, `PUT /internal/v1/packages/{key}` | `{name, is_basic, modules}` → 200 the package |
//! | `GET /internal/v1/addons`, `PUT /internal/v1/addons/{key}` | `{name, module}` → 200 the add-on |
//! | `GET /internal/v1/companies/{company_id}/entitlements` | → 200 [`Entitlements`] |
//! | `PUT /internal/v1/companies/{company_id}/subscription` | `{package, status, current_period_end?, grace_until?}` → 200 [`Entitlements`] |
//! | `PUT /internal/v1/companies/{company_id}/addons/{key}` | `{status, current_period_end?}` → 200 [`Entitlements`] |
//! | `DELETE /internal/v1/companies/{company_id}/addons/{key}` | → 200 [`Entitlements`] |
//!
//! - **Service keys.** Every route, and the 404 of unknown routes, requires
//!   `Authorization: Bearer <secret>` matching one of the configured [`ServiceKeys`] (named,
//!   several valid at once for rotation, compared in constant time); otherwise 401
//!   `unauthenticated` with `WWW-Authenticate: Bearer`. The key's *name* is the audit actor.
//! - **Writes** go through [`CoreAdmin`]: each is audited and publishes
//!   `InvalidationEvent::Company` for every company whose entitlements it changed. Company
//!   writes answer `X-Kisum-Consistency: <ConsistencyToken::company(company, new version)>`.
//!   Catalog writes answer the stored item and no token (they may touch many companies, each
//!   of which gets its version raised and its event; see [`crate::admin`]).
//! - **Errors** are RFC 9457 problem documents with `code` and `request_id`: malformed JSON or
//!   a missing JSON content type 400 `invalid_request`; wrong types or missing fields 422
//!   `validation_failed`; unknown module, package or add-on keys 422 `validation_failed` naming
//!   the field; bodies over 1 MiB 413 `payload_too_large`; a company add-on not held 404
//!   `not_found`; an unknown route 404 `not_found`; a wrong method 405 `method_not_allowed`;
//!   an unreachable store 503 `unavailable`.
//! - **Path parameters** that are not a valid company id (a UUID) or key
//!   (`[a-z][a-z0-9_-]{0,63}`) answer 400 `invalid_request`: the caller is a program with a
//!   bug, not a reader asking for something missing — and an unknown but well-formed company is
//!   not an error at all (it has the empty entitlements at version 0).
//! - Every answer carries `X-Request-Id` (echoed when the client sent a usable one).

use std::str::FromStr;

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use kisum_guard::{
    AddOnKey, CONSISTENCY_HEADER, CompanyId, ConsistencyToken, InvalidId, ModuleKey, PackageKey,
    Permission, ServiceKeys,
};
use serde::Deserialize;

use crate::admin::{Actor, CoreAdmin};
use crate::catalog::{AddOn, Module, ModuleKind, Package};
use crate::entitlements::Entitlements;
use crate::outbox::EventFeed;
use crate::subscription::{CompanyAddOn, Subscription, SubscriptionStatus};
#[cfg(feature = "openapi")]
use events::__path_event_stream;
use events::event_stream;
use std::sync::Arc;

pub mod error;
pub mod events;

use kisum_guard::Problem;
use kisum_guard::http::ProblemResponse;

/// The `X-Kisum-Consistency` header.
pub static CONSISTENCY: HeaderName = HeaderName::from_static(CONSISTENCY_HEADER);

/// What the internal router needs.
#[derive(Clone)]
pub struct CoreState {
    /// Audited, invalidating writes (and reads through its service).
    pub admin: CoreAdmin,
    /// The accepted service keys.
    pub service_keys: ServiceKeys,
    /// Core's event stream, served by `GET /internal/v1/events`.
    pub feed: Arc<EventFeed>,
}

impl CoreState {
    /// The state of a router writing through `admin` and accepting `service_keys`, serving
    /// the event stream of `admin`'s store (see [`with_feed`](Self::with_feed)).
    #[must_use]
    pub fn new(admin: CoreAdmin, service_keys: ServiceKeys) -> Self {
        let feed = Arc::new(EventFeed::new(admin.event_log()));
        Self {
            admin,
            service_keys,
            feed,
        }
    }

    /// Serves `feed` (the one the publisher nudges, so long polls wake at once).
    #[must_use]
    pub fn with_feed(mut self, feed: Arc<EventFeed>) -> Self {
        self.feed = feed;
        self
    }
}

impl axum::extract::FromRef<CoreState> for Arc<EventFeed> {
    fn from_ref(state: &CoreState) -> Self {
        Arc::clone(&state.feed)
    }
}

/// The service key the current request presented (set by the shared middleware).
pub use kisum_guard::http::ServiceCaller;

/// The acting service key (and request id) of a write, for the audit log.
struct Caller(Actor);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ProblemResponse;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let ServiceCaller { name, .. } = parts
            .extensions
            .get::<ServiceCaller>()
            .ok_or_else(|| ProblemResponse::from(kisum_guard::DenialCode::Unauthenticated))?;
        let actor = Actor::new(name.as_str());
        Ok(Self(
            match kisum_guard::http::request_id_of(&parts.extensions) {
                Some(id) => actor.with_request_id(id.as_str()),
                None => actor,
            },
        ))
    }
}

pub use kisum_guard::http::ApiJson;

/// Path parameters whose rejections are problem documents (400).
struct ApiPath<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ProblemResponse;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(v)) => Ok(Self(v)),
            Err(rejection) => Err(Problem::invalid_request(rejection.body_text()).into()),
        }
    }
}

/// Parses a path parameter; an invalid one is 400 `invalid_request`.
fn parse<T: FromStr<Err = InvalidId>>(s: &str) -> Result<T, ProblemResponse> {
    s.parse()
        .map_err(|e: InvalidId| Problem::invalid_request(e.to_string()).into())
}

/// A display name: not blank.
fn name(name: String) -> Result<String, ProblemResponse> {
    if name.trim().is_empty() {
        Err(Problem::invalid_field("name", "name must not be empty").into())
    } else {
        Ok(name)
    }
}

/// A company write's answer: its entitlements and the consistency token of its new version.
fn written(e: Entitlements) -> Response {
    let token = ConsistencyToken::company(e.company_id, e.entitlement_version);
    let mut response = Json(e).into_response();
    if let Ok(v) = HeaderValue::from_str(&token.to_string()) {
        response.headers_mut().insert(CONSISTENCY.clone(), v);
    }
    response
}

// ---- catalog -------------------------------------------------------------------------------

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
        (status = 401, description = "`unauthenticated`: no service key, or not one of the accepted keys", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`: a store the route needs is unreachable", body = Problem, content_type = "application/problem+json")
    )
))]
async fn list_modules(State(s): State<CoreState>) -> Result<Json<Vec<Module>>, ProblemResponse> {
    let catalog = s.admin.service().catalog().await?;
    Ok(Json(catalog.modules.values().cloned().collect()))
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = ModuleRequest))]
struct ModuleBody {
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
        (status = 400, description = "`invalid_request`: a malformed key or company id in the path, malformed JSON or not a JSON content type", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`: no service key, or not one of the accepted keys", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`: the body is over the limit", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: wrong types, missing fields, or an unknown module, package or add-on key (naming the field)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`: a store the route needs is unreachable", body = Problem, content_type = "application/problem+json")
    )
))]
async fn put_module(
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
        (status = 401, description = "`unauthenticated`: no service key, or not one of the accepted keys", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`: a store the route needs is unreachable", body = Problem, content_type = "application/problem+json")
    )
))]
async fn list_packages(State(s): State<CoreState>) -> Result<Json<Vec<Package>>, ProblemResponse> {
    let catalog = s.admin.service().catalog().await?;
    Ok(Json(catalog.packages.values().cloned().collect()))
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = PackageRequest))]
struct PackageBody {
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
        (status = 400, description = "`invalid_request`: a malformed key or company id in the path, malformed JSON or not a JSON content type", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`: no service key, or not one of the accepted keys", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`: the body is over the limit", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: wrong types, missing fields, or an unknown module, package or add-on key (naming the field)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`: a store the route needs is unreachable", body = Problem, content_type = "application/problem+json")
    )
))]
async fn put_package(
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
        (status = 401, description = "`unauthenticated`: no service key, or not one of the accepted keys", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`: a store the route needs is unreachable", body = Problem, content_type = "application/problem+json")
    )
))]
async fn list_addons(State(s): State<CoreState>) -> Result<Json<Vec<AddOn>>, ProblemResponse> {
    let catalog = s.admin.service().catalog().await?;
    Ok(Json(catalog.addons.values().cloned().collect()))
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = AddOnRequest))]
struct AddOnBody {
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
        (status = 400, description = "`invalid_request`: a malformed key or company id in the path, malformed JSON or not a JSON content type", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`: no service key, or not one of the accepted keys", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`: the body is over the limit", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: wrong types, missing fields, or an unknown module, package or add-on key (naming the field)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`: a store the route needs is unreachable", body = Problem, content_type = "application/problem+json")
    )
))]
async fn put_addon(
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

// ---- companies -----------------------------------------------------------------------------

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
        (status = 400, description = "`invalid_request`: a malformed key or company id in the path", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`: no service key, or not one of the accepted keys", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`: a store the route needs is unreachable", body = Problem, content_type = "application/problem+json")
    )
))]
async fn entitlements(
    State(s): State<CoreState>,
    ApiPath(company): ApiPath<String>,
) -> Result<Json<Entitlements>, ProblemResponse> {
    let company_id = parse::<CompanyId>(&company)?;
    Ok(Json(s.admin.service().entitlements(company_id).await?))
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = SubscriptionRequest))]
struct SubscriptionBody {
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
        (status = 400, description = "`invalid_request`: a malformed key or company id in the path, malformed JSON or not a JSON content type", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`: no service key, or not one of the accepted keys", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`: the body is over the limit", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: wrong types, missing fields, or an unknown module, package or add-on key (naming the field)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`: a store the route needs is unreachable", body = Problem, content_type = "application/problem+json")
    )
))]
async fn put_subscription(
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
struct CompanyAddOnBody {
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
        (status = 400, description = "`invalid_request`: a malformed key or company id in the path, malformed JSON or not a JSON content type", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`: no service key, or not one of the accepted keys", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`: the body is over the limit", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: wrong types, missing fields, or an unknown module, package or add-on key (naming the field)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`: a store the route needs is unreachable", body = Problem, content_type = "application/problem+json")
    )
))]
async fn put_company_addon(
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
        (status = 400, description = "`invalid_request`: a malformed key or company id in the path", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`: no service key, or not one of the accepted keys", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: the company does not hold that add-on", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`: a store the route needs is unreachable", body = Problem, content_type = "application/problem+json")
    )
))]
async fn delete_company_addon(
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

/// Core's internal router (`/internal/v1/*`, see the [module docs](self)), behind service keys,
/// with request ids and the 1 MiB body limit. Mount it on the internal listener only.
///
/// ```
/// use std::sync::Arc;
/// use axum::{body::Body, http::{Request, StatusCode}};
/// use kisum_core::{CoreAdmin, CoreState, EntitlementService, MemoryCoreAudit, MemoryCoreStore, NoEvents, internal_router};
/// use kisum_guard::SystemClock;
/// use tower::ServiceExt as _;
///
/// # tokio_test_block_on(async {
/// let clock = Arc::new(SystemClock);
/// let service = EntitlementService::new(Arc::new(MemoryCoreStore::new()), clock.clone());
/// let admin = CoreAdmin::new(service, clock, Arc::new(MemoryCoreAudit::new()), Arc::new(NoEvents));
/// let router = internal_router(CoreState::new(admin, "billing:a-long-billing-secret".parse()?));
///
/// let put = Request::put("/internal/v1/modules/finance")
///     .header("authorization", "Bearer a-long-billing-secret")
///     .header("content-type", "application/json")
///     .body(Body::from(r#"{"name": "Finance", "kind": "addon", "permissions": ["finance.invoices.read"]}"#))?;
/// assert_eq!(router.clone().oneshot(put).await?.status(), StatusCode::OK);
///
/// let anonymous = Request::get("/internal/v1/modules").body(Body::empty())?;
/// assert_eq!(router.oneshot(anonymous).await?.status(), StatusCode::UNAUTHORIZED);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
pub fn internal_router(state: CoreState) -> Router {
    #[cfg(feature = "openapi")]
    let (routes, _) = routes().0.split_for_parts();
    #[cfg(not(feature = "openapi"))]
    let (routes, _) = routes();
    let keys = state.service_keys.clone();
    kisum_guard::http::internal_edge(routes, keys, state)
}

/// The OpenAPI document of [`internal_router`]'s routes, generated from the handlers'
/// `#[utoipa::path]`s (the servers add what every listener mounts and the document's info).
#[cfg(feature = "openapi")]
#[must_use]
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().0.split_for_parts().1
}

#[cfg(feature = "openapi")]
type Routes = utoipa_axum::router::OpenApiRouter<CoreState>;
#[cfg(not(feature = "openapi"))]
type Routes = Router<CoreState>;

/// Core's routes (see [`kisum_guard::documented_routes`]) and the `(method, path)`s written.
fn routes() -> (Routes, [(&'static str, &'static str); 11]) {
    kisum_guard::documented_routes! { CoreState;
        "/internal/v1/modules" => get list_modules;
        "/internal/v1/modules/{key}" => put put_module;
        "/internal/v1/packages" => get list_packages;
        "/internal/v1/packages/{key}" => put put_package;
        "/internal/v1/addons" => get list_addons;
        "/internal/v1/addons/{key}" => put put_addon;
        "/internal/v1/companies/{company_id}/entitlements" => get entitlements;
        "/internal/v1/companies/{company_id}/subscription" => put put_subscription;
        "/internal/v1/companies/{company_id}/addons/{key}" => put put_company_addon, delete delete_company_addon;
        "/internal/v1/events" => get event_stream;
    }
}

#[cfg(all(test, feature = "openapi"))]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn documented_paths_are_the_mounted_ones() {
        let doc = openapi();
        let documented: BTreeSet<(String, String)> = doc
            .paths
            .paths
            .iter()
            .flat_map(|(path, item)| {
                serde_json::to_value(item)
                    .unwrap()
                    .as_object()
                    .unwrap()
                    .keys()
                    .filter(|k| *k != "parameters")
                    .map(|m| (m.clone(), path.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        let mounted: BTreeSet<(String, String)> = routes()
            .1
            .iter()
            .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
            .collect();
        assert_eq!(documented, mounted);
    }
}
