//! `kisum-auth`: identity and access.
//!
//! Users, sessions, companies, memberships, per-company roles (with the built-in `owner`),
//! delegations, and the heart of Kisum: [access aggregation](access), which turns a session, an
//! `X-Org` value and the company's entitlements into one [`AccessContext`] or one
//! [`DenialCode`](kisum_guard::DenialCode), and explains its decisions step by step.
//!
//! ```
//! use std::sync::Arc;
//! use chrono::TimeDelta;
//! use kisum_auth::{AccessService, DirectoryService, MemoryAuthStore, Session, SessionStore};
//! use kisum_core::{AddOn, CompanyAddOn, EntitlementService, MemoryCoreStore, Module, ModuleKind, SubscriptionStatus};
//! use kisum_guard::{AddOnKey, Clock, ModuleKey, Permission, SystemClock, UserId};
//!
//! # fn block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! # block_on(async {
//! let clock: Arc<dyn Clock> = Arc::new(SystemClock);
//! let auth = Arc::new(MemoryAuthStore::new());
//! let core = EntitlementService::new(Arc::new(MemoryCoreStore::new()), clock.clone());
//! core.put_module(Module { key: ModuleKey::new("finance")?, name: "Finance".into(), kind: ModuleKind::Addon, permissions: vec![] }).await?;
//! core.put_addon(AddOn { key: AddOnKey::new("finance")?, name: "Finance".into(), module: ModuleKey::new("finance")? }).await?;
//!
//! let owner = UserId::new();
//! let company = DirectoryService::new(auth.clone(), clock.clone()).create_company("Acme", None, owner).await?.company;
//! core.set_company_addon(CompanyAddOn {
//!     company_id: company.id, addon: AddOnKey::new("finance")?, status: SubscriptionStatus::Active, current_period_end: None,
//! }).await?;
//! let session = Session::new(owner, clock.now(), TimeDelta::hours(1), TimeDelta::days(1));
//! auth.create_session(&session).await?;
//!
//! let access = AccessService::new(auth.clone(), auth.clone(), Arc::new(core), clock);
//! let ctx = access.resolve(owner, session.id, Some("acme")).await?;
//! assert!(ctx.allows(&Permission::new("finance.invoices.write")?));
//! assert!(!ctx.core_app_visible, "no basic subscription");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

pub mod access;
pub mod account;
pub mod api_key;
// The audit log needs `serde_json`, an optional dependency enabled by these features.
pub mod audit;
#[cfg(feature = "http")]
pub mod builder;
#[cfg(feature = "console")]
pub mod console;
pub mod directory;
pub mod email;
pub mod events;
mod guard_source;
#[cfg(feature = "http")]
pub mod http;
pub mod identity;
mod jws;
pub mod key_rotation;
pub mod keys;
pub mod mfa;
pub mod oauth;
pub mod otp;
pub mod passkey;
pub mod platform;
pub mod ratelimit;
#[cfg(feature = "remote")]
pub mod remote;
pub mod secrets;
pub mod service;
pub mod session;
pub mod sms;
pub mod store;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod tokens;

pub use access::{
    AccessError, AccessService, CertifiedEntitlements, EntitlementSource, Explanation, Step,
    aggregate,
};
pub use directory::{
    AccessBump, AccessInputs, Administrator, Authority, COMPANY_PERMISSIONS, ChangedDelegation,
    ChangedMembership, ChangedRole, Company, CompanyStatus, CreatedCompany, Delegation,
    DelegationGrant, DirectoryError, DirectoryService, DirectoryStore, Membership, MembershipPatch,
    MembershipStatus, NewDelegation, OrgAccess, OrgRef, PolicyLimits, Role, slugify,
};
pub use identity::{Email, InvalidEmail, PasswordHash, User, UserStore};
pub use kisum_guard::AccessContext;
pub use session::{RevokeReason, Session, SessionStore};
#[cfg(feature = "postgres")]
pub use store::PgAuthStore;
#[cfg(feature = "sqlite")]
pub use store::SqliteAuthStore;
pub use store::{AuthStore, MemoryAuthStore};
