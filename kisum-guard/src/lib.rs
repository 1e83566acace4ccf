//! `kisum-guard`: what every Kisum-protected backend imports.
//!
//! This crate holds the wire contract shared by Auth, Core and every business backend: the
//! identity-only access-token [`Claims`], the aggregated [`AccessContext`], permission
//! [patterns](PermissionPattern) and their matching, the [`DenialCode`]s with their HTTP
//! statuses, RFC 9457 [`Problem`] documents, typed ids and the [`Clock`]. It depends on no other
//! Kisum crate and on nothing heavy.
//!
//! The guard itself is a tower layer: build one [`AccessGuard`] per service and put a
//! [`Require`]ment on each route. With the `remote` feature the guard is built from Auth's
//! URLs (`tls` for `https`), `redis` adds the shared cache tier and the `kisum:events`
//! listener, `axum` the extractors ([`Principal`], [`Access`]) and the HTTP edge
//! ([`http`]), `test-util` the test kit ([`testing`]) that stands in for Auth, `certificate`
//! the offline verification of Core's signed entitlement certificates
//! (`kisum_guard::certificate`).
//!
//! ```no_run
//! # #[cfg(all(feature = "remote", feature = "axum"))]
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! use axum::{Router, routing::get};
//! use kisum_guard::{Access, AccessGuard, Require, remote::RemoteAuth};
//!
//! let auth = RemoteAuth::new("http://auth:8080", "http://auth:8081", "this-service-key");
//! let guard = AccessGuard::builder(auth).audience("kisum").build()?;
//! let app: Router = Router::new().route(
//!     "/v1/finance/invoices",
//!     get(|a: Access| async move { a.company_id.to_string() })
//!         .route_layer(guard.require(Require::permission("finance.invoices.read")?)),
//! );
//! # Ok(()) }
//! ```
//!
//! # One path per item
//!
//! Like axum, the root holds the items nearly every user names — the wire types above, ids,
//! permissions, service keys, and the guard's [`AccessGuard`], [`Require`], [`Principal`] and
//! [`Access`] — and everything else lives in exactly one module: [`guard`] (the builder, the
//! tower layer and service, configuration, the shared tier), [`http`] (the one HTTP edge),
//! [`jwks`] and [`verify`] (keys and token verification), [`source`] (where access contexts
//! come from), [`cache`], [`remote`], [`redis`] and [`testing`]. Nothing is reachable by two
//! paths.
//!
//! A guard with sources of your own (here: no keys, nobody is a member):
//!
//! ```
//! use std::sync::Arc;
//! use kisum_guard::source::{AccessSource, SourceError};
//! use kisum_guard::{AccessContext, AccessGuard, DenialCode, Require, SessionId, UserId};
//! use tower::{Layer as _, ServiceExt as _};
//!
//! /// Where contexts come from (in production: Auth, in process or over HTTP).
//! struct NoOne;
//! #[async_trait::async_trait]
//! impl AccessSource for NoOne {
//!     async fn resolve(&self, _: UserId, _: SessionId, _: &str) -> Result<AccessContext, SourceError> {
//!         Err(SourceError::Denied(DenialCode::NotAMember))
//!     }
//!     async fn session_active(&self, _: UserId, _: SessionId) -> Result<bool, SourceError> {
//!         Ok(true)
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let keys = serde_json::from_str(r#"{"keys": []}"#)?;
//! let guard = AccessGuard::with_sources(
//!     Arc::new(kisum_guard::jwks::StaticJwks::new(keys)),
//!     Arc::new(NoOne),
//! )
//! .issuer("https://auth.example.com")
//! .build()?;
//! let handler = tower::service_fn(|_req: http::Request<String>| async {
//!     Ok::<_, std::convert::Infallible>(http::Response::new(String::from("invoices")))
//! });
//! let service = guard
//!     .require(Require::permission("finance.invoices.read")?)
//!     .layer(handler);
//! // No token: 401 with a problem document saying why.
//! let response = service.oneshot(http::Request::new(String::new())).await?;
//! assert_eq!(response.status(), 401);
//! assert_eq!(response.headers()["www-authenticate"], "Bearer");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The wire types:
//!
//! ```
//! use kisum_guard::{AccessContext, DenialCode, Permission};
//!
//! let json = r#"{
//!   "user_id": "01936f3e-1a2b-7c3d-8e4f-5a6b7c8d9e0f",
//!   "session_id": "01936f3e-1a2b-7c3d-8e4f-5a6b7c8d9e10",
//!   "company_id": "01936f3e-1a2b-7c3d-8e4f-5a6b7c8d9e11",
//!   "membership_id": "01936f3e-1a2b-7c3d-8e4f-5a6b7c8d9e12",
//!   "roles": ["finance-viewer"],
//!   "modules": ["company", "finance"],
//!   "entitled_modules": ["company", "core", "finance"],
//!   "permissions": ["finance.invoices.read"],
//!   "core_app_visible": false,
//!   "access_version": 4,
//!   "entitlement_version": 9,
//!   "computed_at": "2026-11-21T10:00:00Z"
//! }"#;
//! let access: AccessContext = serde_json::from_str(json)?;
//! let read = Permission::new("finance.invoices.read")?;
//! let write = Permission::new("finance.invoices.write")?;
//! assert_eq!(access.check("finance", &read), Ok(()));
//! assert_eq!(access.check("finance", &write), Err(DenialCode::PermissionDenied));
//! assert_eq!(access.check("core", &Permission::new("core.home.view")?), Err(DenialCode::ModuleNotGranted));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod api_key;
pub mod cache;
#[cfg(feature = "certificate")]
pub mod certificate;
mod claims;
mod clock;
mod consistency;
mod context;
mod denial;
mod events;
pub mod follow;
pub mod guard;
pub mod http;
mod ids;
pub mod jwks;
pub mod key_files;
#[cfg(feature = "openapi")]
pub mod openapi;
mod permission;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "remote")]
pub mod remote;
pub mod seal;
mod service_key;
mod sharded;
pub mod source;
#[cfg(feature = "test-util")]
pub mod testing;
pub mod verify;

pub use claims::{ACCESS_TOKEN_TYPE, Claims};
pub use clock::{Clock, ManualClock, SystemClock, to_micros};
pub use consistency::{CONSISTENCY_HEADER, ConsistencyToken, InvalidConsistencyToken};
pub use context::{Aal, AccessContext, Grants};
pub use denial::{DenialCode, FieldError, PROBLEM_CONTENT_TYPE, Problem};
pub use events::{
    EventPublisher, EventsPage, InvalidationEvent, NoEvents, StreamEvent, entry_seq,
    revoked_session_key, stream_epoch_key, stream_key,
};
pub use guard::{Access, AccessGuard, Principal, Require};
pub use ids::{
    AddOnKey, COMPANY_MODULE, CORE_MODULE, CompanyId, CompanySlug, DelegationId, InvalidId,
    MembershipId, ModuleKey, OWNER_ROLE, PackageKey, RoleKey, SessionId, UserId,
};
pub use permission::{
    AdmittedModules, CompiledPatterns, Permission, PermissionPattern, PermissionSet,
};
pub use service_key::{InvalidServiceKeys, Scopes, ServiceKeyRejection, ServiceKeys, ServiceScope};
