//! Core's internal HTTP API (feature `http`): the catalog and company entitlements, behind
//! service keys, for other Kisum components and billing systems — never for browsers.
//!
//! | method & path | body → answer |
//! |---|---|
//! | `GET /internal/v1/modules`, `PUT /internal/v1/modules/{key}` | `{name, kind, permissions}` → 200 the module |
//! | `GET /internal/v1/packages`, `PUT /internal/v1/packages/{key}` | `{name, is_basic, modules}` → 200 the package |
//! | `GET /internal/v1/addons`, `PUT /internal/v1/addons/{key}` | `{name, module}` → 200 the add-on |
//! | `GET /internal/v1/companies/{company_id}/entitlements` | → 200 [`Entitlements`](crate::entitlements::Entitlements) |
//! | `PUT /internal/v1/companies/{company_id}/subscription` | `{package, status, current_period_end?, grace_until?}` → 200 [`Entitlements`](crate::entitlements::Entitlements) |
//! | `PUT /internal/v1/companies/{company_id}/addons/{key}` | `{status, current_period_end?}` → 200 [`Entitlements`](crate::entitlements::Entitlements) |
//! | `DELETE /internal/v1/companies/{company_id}/addons/{key}` | → 200 [`Entitlements`](crate::entitlements::Entitlements) |
//! | `/internal/v1/licenses*` | licence administration, with [`CoreState::with_licenses`]: see [`licenses`] |
//! | `GET /internal/v1/companies/{company_id}/certificate` | → 200 `application/x-kisum-certificate`: the entitlements, signed now |
//! | `GET /internal/v1/certificate-keys` | → 200 [`CertificateKeys`](kisum_guard::certificate::CertificateKeys) |
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
//! - **Certificates** need a [`CertificateSigner`] ([`CoreState::with_certificates`]);
//!   without one both certificate routes answer 404 `certificates_not_configured`.
//! - Every answer carries `X-Request-Id` (echoed when the client sent a usable one).

use std::sync::Arc;

use axum::Router;
use axum::http::HeaderName;
use kisum_guard::{CONSISTENCY_HEADER, ServiceKeys};

use crate::admin::CoreAdmin;
use crate::certificate::CertificateSigner;
use crate::outbox::EventFeed;
#[cfg(feature = "openapi")]
pub use billing::stripe_webhook_openapi;
pub use billing::{StripeWebhook, stripe_webhook_router};
#[cfg(feature = "openapi")]
use catalog::{
    __path_list_addons, __path_list_modules, __path_list_packages, __path_put_addon,
    __path_put_module, __path_put_package,
};
use catalog::{list_addons, list_modules, list_packages, put_addon, put_module, put_package};
#[cfg(feature = "openapi")]
use certificates::{__path_certificate_keys, __path_company_certificate};
use certificates::{certificate_keys, company_certificate};
#[cfg(feature = "openapi")]
use companies::{
    __path_delete_company_addon, __path_entitlements, __path_put_company_addon,
    __path_put_subscription,
};
use companies::{delete_company_addon, entitlements, put_company_addon, put_subscription};
#[cfg(feature = "openapi")]
use events::__path_event_stream;
use events::event_stream;
#[cfg(feature = "openapi")]
pub use licenses::license_key_openapi;
pub use licenses::license_key_router;
#[cfg(feature = "openapi")]
use licenses::{
    __path_create_license, __path_get_license, __path_license_events, __path_list_licenses,
    __path_patch_license, __path_reinstate_license, __path_renew_license, __path_revoke_license,
    __path_suspend_license,
};
use licenses::{
    create_license, get_license, license_events, list_licenses, patch_license, reinstate_license,
    renew_license, revoke_license, suspend_license,
};

pub mod billing;
mod catalog;
mod certificates;
mod companies;
pub mod error;
pub mod events;
mod extract;
pub mod licenses;

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
    /// The licences served by `/internal/v1/licenses*` (those routes answer 404 without it).
    pub licenses: Option<crate::license::LicenseService>,
    /// Signs entitlement certificates; `None`: the certificate routes answer 404
    /// `certificates_not_configured`.
    pub certificates: Option<Arc<CertificateSigner>>,
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
            licenses: None,
            certificates: None,
        }
    }

    /// Serves licence administration through `licenses`.
    #[must_use]
    pub fn with_licenses(mut self, licenses: crate::license::LicenseService) -> Self {
        self.licenses = Some(licenses);
        self
    }

    /// Signs certificates with `signer`.
    #[must_use]
    pub fn with_certificates(mut self, signer: Arc<CertificateSigner>) -> Self {
        self.certificates = Some(signer);
        self
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

pub use kisum_guard::http::ApiJson;

#[cfg(feature = "openapi")]
kisum_guard::problem_responses! {
    /// A write: its path and its JSON body.
    Written {
        400 => "`invalid_request`: a malformed key or company id in the path, malformed JSON or \
                not a JSON content type",
        413 => "`payload_too_large`: the body is over the limit",
        422 => "`validation_failed`: wrong types, missing fields, or an unknown module, package \
                or add-on key (naming the field)",
    }
    /// A read or a removal: its path.
    KeyedPath { 400 => "`invalid_request`: a malformed key or company id in the path" }
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

/// A router of one of Core's public listeners (licence keys, billing webhooks): `routes` over
/// `state`, with request ids, problem documents for unknown routes and wrong methods, and the
/// 1 MiB body limit.
fn public_listener<S: Clone + Send + Sync + 'static>(routes: Router<S>, state: S) -> Router {
    let router = routes
        .fallback(|| async { kisum_guard::Problem::not_found("route") })
        .method_not_allowed_fallback(|| async { kisum_guard::Problem::method_not_allowed() })
        .layer(axum::extract::DefaultBodyLimit::max(
            kisum_guard::http::BODY_LIMIT,
        ))
        .with_state(state);
    kisum_guard::http::with_request_ids(router)
}

/// The OpenAPI document of [`internal_router`]'s routes, generated from the handlers'
/// `#[utoipa::path]`s (the servers add what every listener mounts and the document's info).
#[cfg(feature = "openapi")]
#[must_use]
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = routes().0.split_for_parts().1;
    kisum_guard::openapi::add_problem_schema(&mut doc);
    doc
}

#[cfg(feature = "openapi")]
type Routes = utoipa_axum::router::OpenApiRouter<CoreState>;
#[cfg(not(feature = "openapi"))]
type Routes = Router<CoreState>;

/// Core's routes (see [`kisum_guard::documented_routes`]) and the `(method, path)`s written.
fn routes() -> (Routes, [(&'static str, &'static str); 22]) {
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
        "/internal/v1/licenses" => post create_license, get list_licenses;
        "/internal/v1/licenses/{id}" => get get_license, patch patch_license;
        "/internal/v1/licenses/{id}/suspend" => post suspend_license;
        "/internal/v1/licenses/{id}/reinstate" => post reinstate_license;
        "/internal/v1/licenses/{id}/renew" => post renew_license;
        "/internal/v1/licenses/{id}/revoke" => post revoke_license;
        "/internal/v1/licenses/{id}/events" => get license_events;
        "/internal/v1/companies/{company_id}/certificate" => get company_certificate;
        "/internal/v1/certificate-keys" => get certificate_keys;
    }
}

#[cfg(all(test, feature = "openapi"))]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn documented_paths_are_the_mounted_ones() {
        let mounted: BTreeSet<(String, String)> = routes()
            .1
            .iter()
            .map(|&(m, p)| (m.to_owned(), p.to_owned()))
            .collect();
        assert_eq!(kisum_guard::openapi::operations(&openapi()), mounted);
    }
}
