//! The directory: companies, memberships, roles and delegations, the store that keeps them,
//! and [`DirectoryService`], validated company administration over it.
//!
//! One file per concept: `company.rs` (companies, slugs, creation), `membership.rs` (members:
//! add, update, remove, accept), `role.rs` (roles and the reserved `company.*` permissions),
//! `delegation.rs` (delegations), `store.rs` (the [`DirectoryStore`] trait and what it returns),
//! `administrator.rs` (the [`Administrator`]: administration that never escalates). Each write
//! is "validate, write, then [`after_change`](DirectoryService)": announce the access bumps and
//! append the typed audit event.
//!
//! Who may call what is decided by the [`Administrator`] (or by the caller of the plain
//! service, e.g. registration); this layer keeps the model's rules.

use std::sync::Arc;

use kisum_core::db::StoreError;
use kisum_guard::{
    Clock, CompanyId, CompanySlug, DelegationId, MembershipId, PermissionPattern, RoleKey,
};

use crate::audit::action::Action;
use crate::audit::{AuditContext, AuditEvent, AuditStore};
use crate::events::{EventPublisher, InvalidationEvent, NoEvents};

mod administrator;
mod company;
mod delegation;
mod membership;
mod role;
mod store;

pub use administrator::{Administrator, Authority};
pub use company::{Company, CompanyStatus, CreatedCompany, slugify};
pub use delegation::{Delegation, NewDelegation};
pub use membership::{Membership, MembershipPatch, MembershipStatus};
pub use role::{COMPANY_PERMISSIONS, Role};
pub use store::{
    AccessBump, AccessInputs, ChangedDelegation, ChangedMembership, ChangedRole, DelegationGrant,
    DirectoryStore, LAST_OWNER, OrgAccess, OrgRef,
};

/// Why an administrative change was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DirectoryError {
    /// The slug is already used by another company.
    #[error("company slug `{0}` is taken")]
    SlugTaken(CompanySlug),
    /// No slug could be derived from the company name.
    #[error("cannot derive a slug from the company name; give one")]
    SlugRequired,
    /// The user already has a membership in the company.
    #[error("the user is already a member of this company")]
    AlreadyMember,
    /// No such membership in this company.
    #[error("no membership {0} in this company")]
    MembershipNotFound(MembershipId),
    /// A role key names no role of the company.
    #[error("unknown role `{0}`")]
    UnknownRole(RoleKey),
    /// The built-in `owner` role cannot be edited or deleted.
    #[error("the `owner` role is built in and cannot be changed")]
    ReservedRole,
    /// No such role.
    #[error("no role `{0}` in this company")]
    RoleNotFound(RoleKey),
    /// A member cannot delegate to themselves.
    #[error("a delegation needs two different members")]
    SelfDelegation,
    /// The delegation window is empty or already over.
    #[error("the delegation must end after it starts and in the future")]
    InvalidWindow,
    /// A delegation without permissions.
    #[error("a delegation needs at least one permission")]
    EmptyDelegation,
    /// No such delegation in this company.
    #[error("no delegation {0} in this company")]
    DelegationNotFound(DelegationId),
    /// The caller does not hold, through its own roles, what the change needs or hands out.
    #[error("{0}")]
    Forbidden(String),
    /// The change would leave the company without an active owner.
    #[error("the company would be left without an active owner; make another member owner first")]
    LastOwner,
    /// A configured bound on policy data (see [`PolicyLimits`]).
    #[error("{what}: at most {limit}")]
    LimitExceeded {
        /// The bounded field (`permissions`, `roles`, `modules`, `expires_at`, `delegations`).
        what: &'static str,
        /// The bound in force.
        limit: u64,
    },
    /// An invited membership becomes active only when the invitee proves the address.
    #[error("the invitation is pending: the invitee becomes active by proving their email address")]
    InvitationPending,
    /// Administration of the company (`company.*`) cannot be delegated.
    #[error("`{0}`: administering the company (`company.*`) cannot be delegated")]
    NotDelegable(PermissionPattern),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Bounds on policy data, so that no company can make aggregation (in Auth and in every guard
/// that reads the context) arbitrarily expensive. Every bound is a `kisum auth` setting;
/// exceeding one is refused with [`DirectoryError::LimitExceeded`] (422 `limit_exceeded`).
///
/// The defaults bound the largest possible permission set of one member to
/// `membership_roles × role_patterns + delegations_per_member × delegation_patterns`
/// (16 × 256 + 16 × 64 = 5,120 patterns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyLimits {
    /// Patterns in one role (default 256).
    pub role_patterns: usize,
    /// Stored roles in one company (default 100).
    pub company_roles: usize,
    /// Roles held by one membership (default 16).
    pub membership_roles: usize,
    /// Modules explicitly granted to one membership, and modules of one delegation
    /// (default 64).
    pub module_grants: usize,
    /// Patterns in one delegation (default 64).
    pub delegation_patterns: usize,
    /// Delegations in force or pending that one member receives (default 16).
    pub delegations_per_member: usize,
    /// The longest a delegation may last, and the furthest ahead it may start (default 365
    /// days).
    pub delegation_lifetime: chrono::TimeDelta,
}

impl Default for PolicyLimits {
    fn default() -> Self {
        Self {
            role_patterns: 256,
            company_roles: 100,
            membership_roles: 16,
            module_grants: 64,
            delegation_patterns: 64,
            delegations_per_member: 16,
            delegation_lifetime: chrono::TimeDelta::days(365),
        }
    }
}

/// `LimitExceeded` when `len` is over `limit`.
pub(crate) fn bounded(what: &'static str, len: usize, limit: usize) -> Result<(), DirectoryError> {
    if len > limit {
        Err(DirectoryError::LimitExceeded {
            what,
            limit: limit as u64,
        })
    } else {
        Ok(())
    }
}

/// Company administration with the model's rules.
///
/// With [`with_audit`](Self::with_audit), every successful change appends one audit event in
/// the same call, right after the change (attributed to the [`acting_as`](Self::acting_as)
/// context); a failed audit write is logged in full and does not undo or fail the change (see
/// [`crate::audit`]).
///
/// With [`with_events`](Self::with_events), every change that raises access versions
/// publishes one [`InvalidationEvent::Membership`] per membership whose version it raised (the
/// member edited, every holder of an edited role, the receiver of a delegation, and the
/// receivers of the delegations of those), and a new member is announced too, so guards and
/// replicas evict what they cached at once.
#[derive(Clone)]
pub struct DirectoryService {
    store: Arc<dyn DirectoryStore>,
    clock: Arc<dyn Clock>,
    audit: Option<Arc<dyn AuditStore>>,
    events: Arc<dyn EventPublisher>,
    context: AuditContext,
    limits: PolicyLimits,
}
impl DirectoryService {
    /// A service over `store`, without an audit log, publishing no events.
    #[must_use]
    pub fn new(store: Arc<dyn DirectoryStore>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            audit: None,
            events: Arc::new(NoEvents),
            context: AuditContext::default(),
            limits: PolicyLimits::default(),
        }
    }

    /// Enforces `limits` instead of the defaults.
    #[must_use]
    pub fn with_limits(mut self, limits: PolicyLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Publishes the invalidation events of every change to `events`.
    #[must_use]
    pub fn with_events(mut self, events: Arc<dyn EventPublisher>) -> Self {
        self.events = events;
        self
    }

    /// Audits every change to `audit`.
    #[must_use]
    pub fn with_audit(mut self, audit: Arc<dyn AuditStore>) -> Self {
        self.audit = Some(audit);
        self
    }

    /// The same service with its changes attributed to `context` (the acting user, their
    /// address and request id) in the audit log.
    #[must_use]
    pub fn acting_as(&self, context: AuditContext) -> Self {
        Self {
            context,
            ..self.clone()
        }
    }

    /// The tail of every directory write: tells guards and replicas that the access of the
    /// memberships `bumps` raised (in `company_id`) changed, then appends the audit event of
    /// `action`, attributed to this service's [`AuditContext`].
    async fn after_change(&self, company_id: CompanyId, bumps: &[AccessBump], action: Action) {
        for membership_id in bumps.iter().map(|b| b.membership_id) {
            let event = InvalidationEvent::Membership {
                company_id,
                membership_id,
            };
            self.events.publish(&event).await;
        }
        if let Some(audit) = &self.audit {
            let event = AuditEvent::of(self.clock.now(), &action)
                .with_company(company_id)
                .with_context(&self.context);
            crate::audit::record(audit.as_ref(), event).await;
        }
    }
}
