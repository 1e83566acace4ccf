//! The [`DirectoryStore`] trait and what it returns.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;
use kisum_guard::{CompanyId, CompanySlug, DelegationId, MembershipId, RoleKey, UserId};

use super::{Company, Delegation, Membership, MembershipPatch, Role};

/// A membership whose access version a write raised, and its new version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccessBump {
    /// The membership.
    pub membership_id: MembershipId,
    /// Its new access version.
    pub access_version: u64,
}

/// A membership as a write left it, with every bump the write made (in the order the
/// [`DirectoryStore`] states: the membership's own first, then its delegatees').
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedMembership {
    /// The membership after the write.
    pub membership: Membership,
    /// The access versions the write raised.
    pub bumps: Vec<AccessBump>,
}

/// A role as a write stored it, with every bump the write made (its holders', then those
/// of their delegatees, in the order the [`DirectoryStore`] states).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedRole {
    /// The role as stored.
    pub role: Role,
    /// The access versions the write raised.
    pub bumps: Vec<AccessBump>,
}

/// A delegation a write created or revoked, with every bump the write made (the receiving
/// membership's first, in the order the [`DirectoryStore`] states; none when revoking an
/// already revoked delegation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedDelegation {
    /// The delegation: as created, or as it was found before being revoked.
    pub delegation: Delegation,
    /// The access versions the write raised.
    pub bumps: Vec<AccessBump>,
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

/// A company as the `X-Org` header names it: by id or by slug.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OrgRef {
    /// By id.
    Id(CompanyId),
    /// By slug.
    Slug(CompanySlug),
}

/// A company and, when the user is a member, everything aggregation needs
/// ([`DirectoryStore::load_org_access`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgAccess {
    /// The company named.
    pub company: Company,
    /// The user's access inputs there, or `None` when the user has no membership.
    pub inputs: Option<AccessInputs>,
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
    ) -> Result<ChangedMembership, StoreError>;

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

    /// The company `org` names and, in the same consistent read, what
    /// [`load_access`](Self::load_access) gives for the user there; `None` when no company
    /// has that id or slug. The SQL backends answer in one query when no live delegation is
    /// made to the membership, two otherwise. The default reads the company, then
    /// [`load_access`](Self::load_access).
    ///
    /// # Errors
    /// `Unavailable` when the backend cannot be reached.
    async fn load_org_access(
        &self,
        org: &OrgRef,
        user_id: UserId,
    ) -> Result<Option<OrgAccess>, StoreError> {
        let company = match org {
            OrgRef::Id(id) => self.get_company(*id).await?,
            OrgRef::Slug(slug) => self.find_company_by_slug(slug).await?,
        };
        let Some(company) = company else {
            return Ok(None);
        };
        let inputs = self.load_access(company.id, user_id).await?;
        Ok(Some(OrgAccess { company, inputs }))
    }
}
