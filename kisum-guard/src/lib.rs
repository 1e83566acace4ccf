//! `kisum-guard`: what every Kisum-protected backend imports.
//!
//! This crate holds the wire contract shared by Auth, Core and every business backend: the
//! identity-only access-token [`Claims`], the aggregated [`AccessContext`], permission
//! [patterns](PermissionPattern) and their matching, the [`DenialCode`]s with their HTTP
//! statuses, RFC 9457 [`Problem`] documents, typed ids and the [`Clock`]. It depends on no other
//! Kisum crate and on nothing heavy.
//!
//! The guard itself is a [`tower::Layer`]: build one [`AccessGuard`] per service (keys from a
//! [`JwksSource`], access contexts from an [`AccessSource`]) and put a [`Require`]ment on each
//! route. The `remote` feature brings Auth's JWKS and internal API over HTTP
//! (`remote::HttpJwks`, `remote::RemoteAccessSource`), `redis` the shared cache tier and the
//! `kisum:events` listener, `axum` the extractors ([`Principal`], [`Access`]).
//!
//! ```
//! use std::sync::Arc;
//! use kisum_guard::{
//!     AccessContext, AccessGuard, AccessSource, GuardConfig, Require, SessionId, SourceError,
//!     StaticJwks, UserId,
//! };
//! use tower::{Layer as _, ServiceExt as _};
//!
//! /// Where contexts come from (in production: Auth, in process or over HTTP).
//! struct NoOne;
//! #[async_trait::async_trait]
//! impl AccessSource for NoOne {
//!     async fn resolve(&self, _: UserId, _: SessionId, _: &str) -> Result<AccessContext, SourceError> {
//!         Err(SourceError::Denied(kisum_guard::DenialCode::NotAMember))
//!     }
//!     async fn session_active(&self, _: UserId, _: SessionId) -> Result<bool, SourceError> {
//!         Ok(true)
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let keys = serde_json::from_str(r#"{"keys": []}"#)?;
//! let guard = AccessGuard::new(
//!     GuardConfig::new("https://auth.example.com", "kisum"),
//!     Arc::new(StaticJwks::new(keys)),
//!     Arc::new(NoOne),
//! );
//! let handler = tower::service_fn(|_req: http::Request<String>| async {
//!     Ok::<_, std::convert::Infallible>(http::Response::new(String::from("invoices")))
//! });
//! let service = guard
//!     .layer(Require::module("finance").permission("finance.invoices.read"))
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

pub mod cache;
pub mod claims;
pub mod clock;
pub mod consistency;
pub mod context;
pub mod denial;
pub mod events;
#[cfg(feature = "axum")]
pub mod extract;
pub mod http;
pub mod ids;
pub mod jwks;
pub mod layer;
pub mod permission;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "remote")]
pub mod remote;
pub mod service_key;
pub mod source;
pub mod verify;

pub use claims::{ACCESS_TOKEN_TYPE, Claims};
pub use clock::{Clock, ManualClock, SystemClock};
pub use consistency::{CONSISTENCY_HEADER, ConsistencyToken, InvalidConsistencyToken};
pub use context::{AccessContext, Grants};
pub use denial::{DenialCode, FieldError, PROBLEM_CONTENT_TYPE, Problem};
pub use events::{
    EVENTS_CHANNEL, EventPublisher, InvalidationEvent, NoEvents, events_channel,
    revoked_session_key,
};
pub use ids::{
    AddOnKey, COMPANY_MODULE, CORE_MODULE, CompanyId, CompanySlug, DelegationId, InvalidId,
    MembershipId, ModuleKey, OWNER_ROLE, PackageKey, RoleKey, SessionId, UserId,
};
pub use jwks::{JwksDocument, JwksError, JwksSource, KeyCache, StaticJwks};
pub use layer::{
    Access, AccessGuard, Guard, GuardConfig, GuardLayer, ORG_HEADER, Principal, Require, SharedTier,
};
pub use permission::{Permission, PermissionPattern, PermissionSet};
pub use service_key::{InvalidServiceKeys, Scopes, ServiceKeyRejection, ServiceKeys, ServiceScope};
pub use source::{AccessSource, SourceError};
pub use verify::{TokenRejection, TokenVerifier, VerifierConfig};
