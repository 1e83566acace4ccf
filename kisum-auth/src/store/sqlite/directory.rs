//! [`DirectoryStore`](crate::directory::DirectoryStore) on SQLite: roles are a JSON array read
//! with `json_each`, id lists a JSON array of hex strings turned back into BLOBs by `unhex`;
//! `BEGIN IMMEDIATE` serializes every write, so no row needs locking.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;
use kisum_guard::{CompanyId, CompanySlug, DelegationId, MembershipId, RoleKey, UserId};
use sqlx::Sqlite;

use super::SqliteAuthStore;
use crate::directory::ChangedMembership;
use crate::directory::{
    AccessBump, AccessInputs, Company, Delegation, DirectoryStore, Membership, MembershipPatch,
    Role,
};
use crate::store::sql::directory::{self, DirectorySql};

impl DirectorySql for Sqlite {
    const OWNER_BEFORE: &'static str = "SELECT company_id,
             (status = 'active'
              AND EXISTS (SELECT 1 FROM json_each(roles) WHERE value = 'owner')) AS owner
         FROM memberships WHERE id = $1";

    /// None: writes take turns (`BEGIN IMMEDIATE`), so the owner count sees every other change.
    const LOCK_OWNERS: Option<&'static str> = None;

    const OWNERS_LEFT: &'static str = "SELECT count(*) AS n FROM memberships
         WHERE company_id = $1 AND status = 'active'
           AND EXISTS (SELECT 1 FROM json_each(roles) WHERE value = 'owner')";

    const BUMP_ROLE_HOLDERS: &'static str =
        "UPDATE memberships SET access_version = access_version + 1, updated_at = $3
         WHERE company_id = $1
           AND EXISTS (SELECT 1 FROM json_each(memberships.roles) WHERE value = $2)
         RETURNING id, access_version";

    const DROP_ROLE: &'static str = "UPDATE memberships SET
             roles = (SELECT json_group_array(value) FROM json_each(memberships.roles)
                      WHERE value <> $2),
             access_version = access_version + 1, updated_at = $3
         WHERE company_id = $1
           AND EXISTS (SELECT 1 FROM json_each(memberships.roles) WHERE value = $2)
         RETURNING id, access_version";

    const BUMP_DELEGATEES: &'static str =
        "UPDATE memberships SET access_version = access_version + 1, updated_at = $2
         WHERE id IN (SELECT d.to_membership_id FROM delegations d
                      WHERE d.revoked_at IS NULL
                        AND d.from_membership_id IN (SELECT unhex(value) FROM json_each($1)))
           AND id NOT IN (SELECT unhex(value) FROM json_each($1))
         RETURNING id, access_version";

    const ROLES_BY_KEYS: &'static str = "SELECT company_id, key, name, permissions FROM roles
         WHERE company_id = $1 AND key IN (SELECT value FROM json_each($2))";
}

#[async_trait]
impl DirectoryStore for SqliteAuthStore {
    async fn create_company(
        &self,
        company: &Company,
        owner: Option<&Membership>,
    ) -> Result<(), StoreError> {
        directory::create_company(&self.pool, company, owner).await
    }

    async fn get_company(&self, id: CompanyId) -> Result<Option<Company>, StoreError> {
        directory::get_company(&self.pool, id).await
    }

    async fn find_company_by_slug(
        &self,
        slug: &CompanySlug,
    ) -> Result<Option<Company>, StoreError> {
        directory::find_company_by_slug(&self.pool, slug).await
    }

    async fn create_membership(&self, membership: &Membership) -> Result<(), StoreError> {
        directory::create_membership(&self.pool, membership).await
    }

    async fn get_membership(&self, id: MembershipId) -> Result<Option<Membership>, StoreError> {
        directory::get_membership(&self.pool, id).await
    }

    async fn find_membership(
        &self,
        company_id: CompanyId,
        user_id: UserId,
    ) -> Result<Option<Membership>, StoreError> {
        directory::find_membership(&self.pool, company_id, user_id).await
    }

    async fn list_company_memberships(
        &self,
        company_id: CompanyId,
    ) -> Result<Vec<Membership>, StoreError> {
        directory::list_company_memberships(&self.pool, company_id).await
    }

    async fn list_user_memberships(&self, user_id: UserId) -> Result<Vec<Membership>, StoreError> {
        directory::list_user_memberships(&self.pool, user_id).await
    }

    async fn update_membership(
        &self,
        id: MembershipId,
        patch: &MembershipPatch,
        at: DateTime<Utc>,
    ) -> Result<ChangedMembership, StoreError> {
        directory::update_membership(&self.pool, id, patch, at).await
    }

    async fn put_role(
        &self,
        role: &Role,
        at: DateTime<Utc>,
    ) -> Result<Vec<AccessBump>, StoreError> {
        directory::put_role(&self.pool, role, at).await
    }

    async fn delete_role(
        &self,
        company_id: CompanyId,
        key: &RoleKey,
        at: DateTime<Utc>,
    ) -> Result<Vec<AccessBump>, StoreError> {
        directory::delete_role(&self.pool, company_id, key, at).await
    }

    async fn get_role(
        &self,
        company_id: CompanyId,
        key: &RoleKey,
    ) -> Result<Option<Role>, StoreError> {
        directory::get_role(&self.pool, company_id, key).await
    }

    async fn list_roles(&self, company_id: CompanyId) -> Result<Vec<Role>, StoreError> {
        directory::list_roles(&self.pool, company_id).await
    }

    async fn create_delegation(
        &self,
        delegation: &Delegation,
    ) -> Result<Vec<AccessBump>, StoreError> {
        directory::create_delegation(&self.pool, delegation).await
    }

    async fn revoke_delegation(
        &self,
        company_id: CompanyId,
        id: DelegationId,
        at: DateTime<Utc>,
    ) -> Result<Vec<AccessBump>, StoreError> {
        directory::revoke_delegation(&self.pool, company_id, id, at).await
    }

    async fn get_delegation(&self, id: DelegationId) -> Result<Option<Delegation>, StoreError> {
        directory::get_delegation(&self.pool, id).await
    }

    async fn list_delegations(&self, company_id: CompanyId) -> Result<Vec<Delegation>, StoreError> {
        directory::list_delegations(&self.pool, company_id).await
    }

    async fn load_access(
        &self,
        company_id: CompanyId,
        user_id: UserId,
    ) -> Result<Option<AccessInputs>, StoreError> {
        directory::load_access(&self.pool, company_id, user_id).await
    }
}
