//! [`DirectoryStore`] in memory: companies, memberships, roles and delegations; access-version
//! bumps through the store's `State::bump`.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;
use kisum_guard::{
    CompanyId, CompanySlug, DelegationId, MembershipId, OWNER_ROLE, RoleKey, UserId,
};

use super::MemoryAuthStore;
use crate::directory::{
    AccessBump, AccessInputs, ChangedMembership, Company, Delegation, DelegationGrant,
    DirectoryStore, LAST_OWNER, Membership, MembershipPatch, OrgAccess, OrgRef, Role,
};
#[async_trait]
impl DirectoryStore for MemoryAuthStore {
    async fn create_company(
        &self,
        company: &Company,
        owner: Option<&Membership>,
    ) -> Result<(), StoreError> {
        let mut s = self.lock();
        if s.companies.contains_key(&company.id) || s.companies_by_slug.contains_key(&company.slug)
        {
            return Err(StoreError::conflict(format!(
                "company slug `{}` is taken",
                company.slug
            )));
        }
        if let Some(m) = owner
            && (m.company_id != company.id || s.memberships.contains_key(&m.id))
        {
            return Err(StoreError::conflict(
                "the owner membership does not fit the company",
            ));
        }
        s.companies.insert(company.id, company.clone());
        s.companies_by_slug.insert(company.slug.clone(), company.id);
        if let Some(m) = owner {
            s.insert_membership(m)?;
        }
        Ok(())
    }

    async fn get_company(&self, id: CompanyId) -> Result<Option<Company>, StoreError> {
        Ok(self.lock().companies.get(&id).cloned())
    }

    async fn find_company_by_slug(
        &self,
        slug: &CompanySlug,
    ) -> Result<Option<Company>, StoreError> {
        let s = self.lock();
        Ok(s.companies_by_slug
            .get(slug)
            .and_then(|id| s.companies.get(id))
            .cloned())
    }

    async fn create_membership(&self, membership: &Membership) -> Result<(), StoreError> {
        self.lock().insert_membership(membership)
    }

    async fn get_membership(&self, id: MembershipId) -> Result<Option<Membership>, StoreError> {
        Ok(self.lock().memberships.get(&id).cloned())
    }

    async fn find_membership(
        &self,
        company_id: CompanyId,
        user_id: UserId,
    ) -> Result<Option<Membership>, StoreError> {
        let s = self.lock();
        Ok(s.membership_by_pair
            .get(&(company_id, user_id))
            .and_then(|id| s.memberships.get(id))
            .cloned())
    }

    async fn list_company_memberships(
        &self,
        company_id: CompanyId,
    ) -> Result<Vec<Membership>, StoreError> {
        let s = self.lock();
        Ok(s.sorted_memberships(s.memberships_by_company.get(&company_id)))
    }

    async fn list_user_memberships(&self, user_id: UserId) -> Result<Vec<Membership>, StoreError> {
        let s = self.lock();
        Ok(s.sorted_memberships(s.memberships_by_user.get(&user_id)))
    }

    async fn update_membership(
        &self,
        id: MembershipId,
        patch: &MembershipPatch,
        at: DateTime<Utc>,
    ) -> Result<ChangedMembership, StoreError> {
        let mut s = self.lock();
        let m = s
            .memberships
            .get_mut(&id)
            .ok_or_else(|| StoreError::not_found(format!("membership {id}")))?;
        let before = m.clone();
        if let Some(roles) = &patch.roles {
            m.roles.clone_from(roles);
        }
        if let Some(grants) = &patch.module_grants {
            m.module_grants.clone_from(grants);
        }
        if let Some(status) = patch.status {
            m.status = status;
        }
        let active_owner = |m: &Membership| {
            m.status == crate::directory::MembershipStatus::Active && m.roles.contains(OWNER_ROLE)
        };
        if active_owner(&before)
            && !s
                .memberships
                .values()
                .any(|o| o.company_id == before.company_id && active_owner(o))
        {
            s.memberships.insert(id, before);
            return Err(StoreError::conflict(LAST_OWNER));
        }
        let bumps = s.bump(&[id], at);
        let m = s
            .memberships
            .get(&id)
            .cloned()
            .ok_or_else(|| StoreError::not_found(format!("membership {id}")))?;
        Ok(ChangedMembership {
            membership: m,
            bumps,
        })
    }

    async fn put_role(
        &self,
        role: &Role,
        at: DateTime<Utc>,
    ) -> Result<Vec<AccessBump>, StoreError> {
        let mut s = self.lock();
        if !s.companies.contains_key(&role.company_id) {
            return Err(StoreError::not_found(format!(
                "company {}",
                role.company_id
            )));
        }
        s.roles
            .entry(role.company_id)
            .or_default()
            .insert(role.key.clone(), Arc::new(role.clone()));
        let holders: Vec<MembershipId> = s
            .sorted_memberships(s.memberships_by_company.get(&role.company_id))
            .into_iter()
            .filter(|m| m.roles.contains(&role.key))
            .map(|m| m.id)
            .collect();
        Ok(s.bump(&holders, at))
    }

    async fn delete_role(
        &self,
        company_id: CompanyId,
        key: &RoleKey,
        at: DateTime<Utc>,
    ) -> Result<Vec<AccessBump>, StoreError> {
        let mut s = self.lock();
        if s.roles
            .get_mut(&company_id)
            .and_then(|r| r.remove(key))
            .is_none()
        {
            return Err(StoreError::not_found(format!("role `{key}`")));
        }
        let ids = s
            .memberships_by_company
            .get(&company_id)
            .cloned()
            .unwrap_or_default();
        let mut holders = Vec::new();
        for id in ids {
            if let Some(m) = s.memberships.get_mut(&id)
                && m.roles.remove(key)
            {
                holders.push(id);
            }
        }
        Ok(s.bump(&holders, at))
    }

    async fn get_role(
        &self,
        company_id: CompanyId,
        key: &RoleKey,
    ) -> Result<Option<Role>, StoreError> {
        Ok(self
            .lock()
            .roles
            .get(&company_id)
            .and_then(|r| r.get(key))
            .map(|r| Role::clone(r)))
    }

    async fn list_roles(&self, company_id: CompanyId) -> Result<Vec<Role>, StoreError> {
        Ok(self
            .lock()
            .roles
            .get(&company_id)
            .map(|r| r.values().map(|x| Role::clone(x)).collect())
            .unwrap_or_default())
    }

    async fn create_delegation(
        &self,
        delegation: &Delegation,
    ) -> Result<Vec<AccessBump>, StoreError> {
        let mut s = self.lock();
        if s.delegations.contains_key(&delegation.id) {
            return Err(StoreError::conflict("delegation id exists"));
        }
        for id in [delegation.from_membership_id, delegation.to_membership_id] {
            if s.memberships
                .get(&id)
                .is_none_or(|m| m.company_id != delegation.company_id)
            {
                return Err(StoreError::not_found(format!("membership {id}")));
            }
        }
        s.delegations.insert(delegation.id, delegation.clone());
        s.delegations_by_company
            .entry(delegation.company_id)
            .or_default()
            .push(delegation.id);
        Ok(s.bump(&[delegation.to_membership_id], delegation.created_at))
    }

    async fn revoke_delegation(
        &self,
        company_id: CompanyId,
        id: DelegationId,
        at: DateTime<Utc>,
    ) -> Result<Vec<AccessBump>, StoreError> {
        let mut s = self.lock();
        let d = s
            .delegations
            .get_mut(&id)
            .filter(|d| d.company_id == company_id)
            .ok_or_else(|| StoreError::not_found(format!("delegation {id}")))?;
        if d.revoked_at.is_some() {
            return Ok(Vec::new());
        }
        d.revoked_at = Some(at);
        let to = d.to_membership_id;
        Ok(s.bump(&[to], at))
    }

    async fn get_delegation(&self, id: DelegationId) -> Result<Option<Delegation>, StoreError> {
        Ok(self.lock().delegations.get(&id).cloned())
    }

    async fn list_delegations(&self, company_id: CompanyId) -> Result<Vec<Delegation>, StoreError> {
        let s = self.lock();
        let mut v: Vec<Delegation> = s.company_delegations(company_id).cloned().collect();
        v.sort_by_key(|d| (d.created_at, d.id));
        Ok(v)
    }

    async fn load_access(
        &self,
        company_id: CompanyId,
        user_id: UserId,
    ) -> Result<Option<AccessInputs>, StoreError> {
        Ok(self.lock().access_inputs(company_id, user_id))
    }

    /// Under one lock: the company, then its member's inputs.
    async fn load_org_access(
        &self,
        org: &OrgRef,
        user_id: UserId,
    ) -> Result<Option<OrgAccess>, StoreError> {
        let s = self.lock();
        let company = match org {
            OrgRef::Id(id) => s.companies.get(id),
            OrgRef::Slug(slug) => s
                .companies_by_slug
                .get(slug)
                .and_then(|id| s.companies.get(id)),
        };
        Ok(company.map(|company| OrgAccess {
            inputs: s.access_inputs(company.id, user_id),
            company: company.clone(),
        }))
    }
}

impl super::State {
    /// What [`DirectoryStore::load_access`] answers.
    fn access_inputs(&self, company_id: CompanyId, user_id: UserId) -> Option<AccessInputs> {
        let membership = self
            .membership_by_pair
            .get(&(company_id, user_id))
            .and_then(|id| self.memberships.get(id))?;
        let delegations = self
            .company_delegations(company_id)
            .filter(|d| d.to_membership_id == membership.id && d.revoked_at.is_none())
            .filter_map(|d| {
                let delegator = self.memberships.get(&d.from_membership_id)?;
                Some(DelegationGrant {
                    delegation: d.clone(),
                    delegator: delegator.clone(),
                    delegator_roles: self.held_roles(delegator),
                })
            })
            .collect();
        Some(AccessInputs {
            membership: membership.clone(),
            roles: self.held_roles(membership),
            delegations,
        })
    }
}
