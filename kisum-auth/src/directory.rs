//! Companies, memberships, roles and delegations, and the store that keeps them.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;
use kisum_guard::{
    CompanyId, CompanySlug, DelegationId, MembershipId, ModuleKey, PermissionPattern, RoleKey,
    UserId,
};
use serde::{Deserialize, Serialize};

/// Whether a company operates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompanyStatus {
    /// Operating.
    Active,
    /// Suspended: every membership is treated as inactive.
    Suspended,
}

impl CompanyStatus {
    /// The storage string.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
        }
    }

    /// Parses the storage string.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Active, Self::Suspended]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// A company (tenant).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Company {
    /// The id.
    pub id: CompanyId,
    /// The unique slug.
    pub slug: CompanySlug,
    /// Display name.
    pub name: String,
    /// Status.
    pub status: CompanyStatus,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// The state of a membership; only `active` grants access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MembershipStatus {
    /// A working member.
    Active,
    /// Invited, not yet joined.
    Invited,
    /// Temporarily barred.
    Suspended,
    /// Removed from the company.
    Revoked,
}

impl MembershipStatus {
    /// Every status.
    pub const ALL: [MembershipStatus; 4] =
        [Self::Active, Self::Invited, Self::Suspended, Self::Revoked];

    /// The storage string.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Invited => "invited",
            Self::Suspended => "suspended",
            Self::Revoked => "revoked",
        }
    }

    /// Parses the storage string.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// A user's membership in a company.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// The id.
    pub id: MembershipId,
    /// The company.
    pub company_id: CompanyId,
    /// The user.
    pub user_id: UserId,
    /// Status.
    pub status: MembershipStatus,
    /// Role keys held in the company (`owner` is built in).
    pub roles: BTreeSet<RoleKey>,
    /// Modules explicitly granted to the member.
    pub module_grants: BTreeSet<ModuleKey>,
    /// Raised by every change that can alter this member's access.
    pub access_version: u64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl Membership {
    /// A new membership at access version 1.
    #[must_use]
    pub fn new(
        company_id: CompanyId,
        user_id: UserId,
        status: MembershipStatus,
        roles: BTreeSet<RoleKey>,
        module_grants: BTreeSet<ModuleKey>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id: MembershipId::new(),
            company_id,
            user_id,
            status,
            roles,
            module_grants,
            access_version: 1,
            created_at: now,
            updated_at: now,
        }
    }
}

/// A change to a membership; `None` fields are left as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MembershipPatch {
    /// New role keys.
    pub roles: Option<BTreeSet<RoleKey>>,
    /// New module grants.
    pub module_grants: Option<BTreeSet<ModuleKey>>,
    /// New status.
    pub status: Option<MembershipStatus>,
}

/// A role of one company: a named set of permission patterns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    /// The company.
    pub company_id: CompanyId,
    /// The key, unique in the company.
    pub key: RoleKey,
    /// Display name.
    pub name: String,
    /// The patterns it grants.
    pub permissions: BTreeSet<PermissionPattern>,
}

/// A temporary grant of some of one member's permissions to another member of the same company.
///
/// At each check it yields at most what the delegator holds then (never more), it is not
/// transitive (delegated permissions are never delegated further), and it only works between
/// `starts_at` and `expires_at` while not revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delegation {
    /// The id.
    pub id: DelegationId,
    /// The company.
    pub company_id: CompanyId,
    /// The member delegating.
    pub from_membership_id: MembershipId,
    /// The member receiving.
    pub to_membership_id: MembershipId,
    /// The patterns delegated.
    pub permissions: BTreeSet<PermissionPattern>,
    /// The modules delegated; when empty, the modules named by `permissions`.
    pub modules: BTreeSet<ModuleKey>,
    /// Start of the window.
    pub starts_at: DateTime<Utc>,
    /// End of the window (exclusive).
    pub expires_at: DateTime<Utc>,
    /// When revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

impl Delegation {
    /// Whether the delegation is in force at `now`.
    #[must_use]
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.starts_at <= now && now < self.expires_at
    }
}

/// A membership whose access version a write raised, and its new version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccessBump {
    /// The membership.
    pub membership_id: MembershipId,
    /// Its new access version.
    pub access_version: u64,
}

/// Everything aggregation needs about one member, read in one consistent step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessInputs {
    /// The membership (any status).
    pub membership: Membership,
    /// The stored roles of the company that the membership holds (shared, not copied).
    pub roles: Vec<Arc<Role>>,
    /// The non-revoked delegations to the membership (expired or future ones included).
    pub delegations: Vec<DelegationGrant>,
}

/// One delegation with its delegator's current state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DelegationGrant {
    /// The delegation.
    pub delegation: Delegation,
    /// The delegator's membership now.
    pub delegator: Membership,
    /// The stored roles the delegator holds now.
    pub delegator_roles: Vec<Arc<Role>>,
}

/// The message of the `Conflict` a store answers when a change would leave a company without
/// an active owner.
pub const LAST_OWNER: &str = "the company would be left without an active owner";

/// Companies, memberships, roles and delegations.
///
/// Every write that can change a member's access raises that membership's `access_version` by
/// one in the same transaction, and also raises the version of every member holding a
/// non-revoked delegation *from* it (their delegated permissions depend on the delegator's). The
/// bumps are returned for invalidation events, in one order every backend keeps: first the
/// memberships the write changed itself, sorted by membership id, then the members bumped
/// through a delegation from one of those, sorted by membership id; each membership at most
/// once. The built-in `owner` role is not stored.
#[async_trait]
pub trait DirectoryStore: Send + Sync + 'static {
    /// Creates a company and, in the same transaction, its first membership.
    ///
    /// # Errors
    /// `Conflict` when the id or slug is taken; `Unavailable`.
    async fn create_company(
        &self,
        company: &Company,
        owner: Option<&Membership>,
    ) -> Result<(), StoreError>;

    /// The company `id`, or `None`.
    ///
    /// # Errors
    /// `Unavailable` when the backend cannot be reached.
    async fn get_company(&self, id: CompanyId) -> Result<Option<Company>, StoreError>;

    /// The company with `slug`, or `None`.
    ///
    /// # Errors
    /// `Unavailable` when the backend cannot be reached.
    async fn find_company_by_slug(&self, slug: &CompanySlug)
    -> Result<Option<Company>, StoreError>;

    /// Stores a new membership.
    ///
    /// # Errors
    /// `Conflict` when the id exists or the user already has a membership (of any status) in
    /// the company; `NotFound` when the company does not exist; `Unavailable`.
    async fn create_membership(&self, membership: &Membership) -> Result<(), StoreError>;

    /// The membership `id`, or `None`.
    ///
    /// # Errors
    /// `Unavailable` when the backend cannot be reached.
    async fn get_membership(&self, id: MembershipId) -> Result<Option<Membership>, StoreError>;

    /// The user's membership in the company, or `None`.
    ///
    /// # Errors
    /// `Unavailable` when the backend cannot be reached.
    async fn find_membership(
        &self,
        company_id: CompanyId,
        user_id: UserId,
    ) -> Result<Option<Membership>, StoreError>;

    /// Every membership of the company, oldest first.
    ///
    /// # Errors
    /// `Unavailable` when the backend cannot be reached.
    async fn list_company_memberships(
        &self,
        company_id: CompanyId,
    ) -> Result<Vec<Membership>, StoreError>;

    /// Every membership of the user, oldest first.
    ///
    /// # Errors
    /// `Unavailable` when the backend cannot be reached.
    async fn list_user_memberships(&self, user_id: UserId) -> Result<Vec<Membership>, StoreError>;

    /// Applies `patch`, sets `updated_at`, bumps, and returns the updated membership with
    /// every bump (its own first, then its delegatees' by membership id).
    ///
    /// Atomically refuses a change that turns the company's last active owner into anything
    /// else (`Conflict` with the message [`LAST_OWNER`]), also when two such changes race.
    ///
    /// # Errors
    /// `NotFound` when the membership does not exist; `Conflict` for the last active owner;
    /// `Unavailable`.
    async fn update_membership(
        &self,
        id: MembershipId,
        patch: &MembershipPatch,
        at: DateTime<Utc>,
    ) -> Result<(Membership, Vec<AccessBump>), StoreError>;

    /// Creates or replaces a role; bumps every holder.
    ///
    /// # Errors
    /// `NotFound` when the company does not exist; `Unavailable`.
    async fn put_role(&self, role: &Role, at: DateTime<Utc>)
    -> Result<Vec<AccessBump>, StoreError>;

    /// Deletes a role, removes its key from every holder, and bumps them.
    ///
    /// # Errors
    /// `NotFound` when the role does not exist; `Unavailable`.
    async fn delete_role(
        &self,
        company_id: CompanyId,
        key: &RoleKey,
        at: DateTime<Utc>,
    ) -> Result<Vec<AccessBump>, StoreError>;

    /// The role, or `None`.
    ///
    /// # Errors
    /// `Unavailable` when the backend cannot be reached.
    async fn get_role(
        &self,
        company_id: CompanyId,
        key: &RoleKey,
    ) -> Result<Option<Role>, StoreError>;

    /// Every stored role of the company, by key.
    ///
    /// # Errors
    /// `Unavailable` when the backend cannot be reached.
    async fn list_roles(&self, company_id: CompanyId) -> Result<Vec<Role>, StoreError>;

    /// Stores a new delegation and bumps the receiving membership.
    ///
    /// # Errors
    /// `Conflict` when the id exists; `NotFound` when either membership does not exist;
    /// `Unavailable`.
    async fn create_delegation(
        &self,
        delegation: &Delegation,
    ) -> Result<Vec<AccessBump>, StoreError>;

    /// Revokes a delegation of the company and bumps the receiving membership. Revoking an
    /// already revoked delegation changes nothing and returns no bump.
    ///
    /// # Errors
    /// `NotFound` when the company has no such delegation; `Unavailable`.
    async fn revoke_delegation(
        &self,
        company_id: CompanyId,
        id: DelegationId,
        at: DateTime<Utc>,
    ) -> Result<Vec<AccessBump>, StoreError>;

    /// The delegation `id`, or `None`.
    ///
    /// # Errors
    /// `Unavailable` when the backend cannot be reached.
    async fn get_delegation(&self, id: DelegationId) -> Result<Option<Delegation>, StoreError>;

    /// Every delegation of the company, oldest first, revoked ones included.
    ///
    /// # Errors
    /// `Unavailable` when the backend cannot be reached.
    async fn list_delegations(&self, company_id: CompanyId) -> Result<Vec<Delegation>, StoreError>;

    /// Everything aggregation needs for the user in the company, or `None` when the user has no
    /// membership there. SQL backends answer in a small, fixed number of queries.
    ///
    /// # Errors
    /// `Unavailable` when the backend cannot be reached.
    async fn load_access(
        &self,
        company_id: CompanyId,
        user_id: UserId,
    ) -> Result<Option<AccessInputs>, StoreError>;
}
