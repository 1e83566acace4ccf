//! `kisum-guard`: what every Kisum-protected backend imports.
//!
//! This crate holds the wire contract shared by Auth, Core and every business backend: the
//! identity-only access-token [`Claims`], the aggregated [`AccessContext`], permission
//! [patterns](PermissionPattern) and their matching, the [`DenialCode`]s with their HTTP
//! statuses, RFC 9457 [`Problem`] documents, typed ids and the [`Clock`]. It depends on no other
//! Kisum crate and on nothing heavy.
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
pub use context::AccessContext;
pub use denial::{DenialCode, FieldError, PROBLEM_CONTENT_TYPE, Problem};
pub use events::{EVENTS_CHANNEL, InvalidationEvent, events_channel, revoked_session_key};
pub use ids::{
    AddOnKey, COMPANY_MODULE, CORE_MODULE, CompanyId, CompanySlug, DelegationId, InvalidId,
    MembershipId, ModuleKey, OWNER_ROLE, PackageKey, RoleKey, SessionId, UserId,
};
pub use jwks::{JwksDocument, JwksError, JwksSource, KeyCache, StaticJwks};
pub use layer::{
    Access, AccessGuard, Guard, GuardConfig, GuardLayer, ORG_HEADER, Principal, Require, SharedTier,
};
pub use permission::{Permission, PermissionPattern, PermissionSet};
pub use service_key::{InvalidServiceKeys, ServiceKeys};
pub use source::{AccessSource, SourceError};
pub use verify::{TokenRejection, TokenVerifier, VerifierConfig};
