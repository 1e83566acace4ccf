//! [`PlatformStore`] in memory, under the store's one mutex: a status change and its bumps are
//! one critical section, and so is a revocation and its count of the administrators.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;
use kisum_guard::{CompanyId, MembershipId, UserId};

use super::MemoryAuthStore;
use crate::audit::AuditEvent;
use crate::directory::{AccessBump, Company, CompanyStatus};
use crate::platform::{AuditQuery, MAX_PAGE, PlatformGrant, PlatformRole, PlatformStore, Revoked};

/// The platform grants held by a [`MemoryAuthStore`].
#[derive(Default)]
pub(super) struct PlatformState {
    grants: BTreeMap<(UserId, PlatformRole), PlatformGrant>,
}

impl PlatformState {
    /// Forgets `user`'s platform roles and the grants' mention of them (an account erasure).
    pub(super) fn erase(&mut self, user: kisum_guard::UserId) {
        self.grants.retain(|(holder, _), _| *holder != user);
        for grant in self.grants.values_mut() {
            if grant.granted_by == Some(user) {
                grant.granted_by = None;
            }
        }
    }
}

fn page(limit: u32) -> usize {
    usize::try_from(limit.min(MAX_PAGE)).unwrap_or(0)
}

#[async_trait]
impl PlatformStore for MemoryAuthStore {
    async fn grant_platform_role(&self, grant: &PlatformGrant) -> Result<bool, StoreError> {
        let mut s = self.lock();
        if !s.users.contains_key(&grant.user_id) {
            return Err(StoreError::not_found(format!("user {}", grant.user_id)));
        }
        let key = (grant.user_id, grant.role);
        if s.platform.grants.contains_key(&key) {
            return Ok(false);
        }
        s.platform.grants.insert(key, grant.clone());
        Ok(true)
    }

    async fn revoke_platform_role(
        &self,
        user: UserId,
        role: PlatformRole,
        keep_an_admin: bool,
    ) -> Result<Revoked, StoreError> {
        let mut s = self.lock();
        let grants = &mut s.platform.grants;
        if !grants.contains_key(&(user, role)) {
            return Ok(Revoked::NotHeld);
        }
        let admins = grants.keys().filter(|(_, r)| *r == PlatformRole::Admin);
        if keep_an_admin && role == PlatformRole::Admin && admins.count() < 2 {
            return Ok(Revoked::LastAdmin);
        }
        grants.remove(&(user, role));
        Ok(Revoked::Revoked)
    }

    async fn platform_roles(&self, user: UserId) -> Result<BTreeSet<PlatformRole>, StoreError> {
        Ok(self
            .lock()
            .platform
            .grants
            .keys()
            .filter(|(u, _)| *u == user)
            .map(|(_, r)| *r)
            .collect())
    }

    async fn list_platform_grants(&self) -> Result<Vec<PlatformGrant>, StoreError> {
        let mut grants: Vec<PlatformGrant> =
            self.lock().platform.grants.values().cloned().collect();
        grants.sort_by(|a, b| (a.user_id, a.role.as_str()).cmp(&(b.user_id, b.role.as_str())));
        Ok(grants)
    }

    async fn search_companies(
        &self,
        query: Option<&str>,
        after: Option<CompanyId>,
        limit: u32,
    ) -> Result<Vec<Company>, StoreError> {
        let s = self.lock();
        let needle = query.map(str::to_ascii_lowercase);
        let mut found: Vec<&Company> = s
            .companies
            .values()
            .filter(|c| after.is_none_or(|a| c.id > a))
            .filter(|c| {
                needle.as_deref().is_none_or(|n| {
                    c.slug.as_str().to_ascii_lowercase().contains(n)
                        || c.name.to_ascii_lowercase().contains(n)
                })
            })
            .collect();
        found.sort_by_key(|c| c.id);
        Ok(found.into_iter().take(page(limit)).cloned().collect())
    }

    async fn set_company_status(
        &self,
        id: CompanyId,
        status: CompanyStatus,
        at: DateTime<Utc>,
    ) -> Result<Option<Vec<AccessBump>>, StoreError> {
        let mut s = self.lock();
        let Some(company) = s.companies.get_mut(&id) else {
            return Ok(None);
        };
        if company.status == status {
            return Ok(Some(Vec::new()));
        }
        company.status = status;
        let members: Vec<MembershipId> = s
            .memberships_by_company
            .get(&id)
            .cloned()
            .unwrap_or_default();
        Ok(Some(s.bump(&members, at)))
    }

    async fn search_audit(
        &self,
        query: &AuditQuery,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let s = self.lock();
        let cursor = match query.after {
            Some(id) => match s.audit.keys().find(|(_, e)| *e == id) {
                Some(key) => Some(*key),
                None => return Ok(Vec::new()),
            },
            None => None,
        };
        Ok(s.audit
            .iter()
            .rev()
            .filter(|(key, _)| cursor.is_none_or(|c| **key < c))
            .map(|(_, e)| e)
            .filter(|e| query.company_id.is_none() || e.company_id == query.company_id)
            .filter(|e| query.actor.is_none() || e.actor_user_id == query.actor)
            .filter(|e| query.since.is_none_or(|since| e.at >= since))
            .take(page(limit))
            .cloned()
            .collect())
    }
}
