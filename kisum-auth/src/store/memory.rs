//! The in-memory backend of every Auth store trait, behind one mutex.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;
use kisum_core::outbox::MemoryEventLog;
use kisum_guard::{
    CompanyId, CompanySlug, DelegationId, InvalidationEvent, MembershipId, OWNER_ROLE, RoleKey,
    SessionId, UserId,
};

use crate::directory::ChangedMembership;
use crate::directory::{
    AccessBump, AccessInputs, Company, Delegation, DelegationGrant, DirectoryStore, LAST_OWNER,
    Membership, MembershipPatch, Role,
};
use crate::identity::{Email, User, UserStore};
use crate::otp::{OneTimeStore, OtpPurpose, OtpState, SecretHash};
use crate::session::{
    LiveRefresh, RefreshAudit, RefreshRecord, RefreshTokenStore, Rotation, TokenHash,
};
use crate::session::{RevokeReason, Session, SessionStore};

mod mfa;
mod oauth;
mod passkey;
mod platform;

#[derive(Default)]
struct State {
    users: HashMap<UserId, User>,
    users_by_email: HashMap<Email, UserId>,
    sessions: HashMap<SessionId, Session>,
    sessions_by_user: HashMap<UserId, Vec<SessionId>>,
    companies: HashMap<CompanyId, Company>,
    companies_by_slug: HashMap<CompanySlug, CompanyId>,
    memberships: HashMap<MembershipId, Membership>,
    membership_by_pair: HashMap<(CompanyId, UserId), MembershipId>,
    memberships_by_company: HashMap<CompanyId, Vec<MembershipId>>,
    memberships_by_user: HashMap<UserId, Vec<MembershipId>>,
    roles: HashMap<CompanyId, BTreeMap<RoleKey, Arc<Role>>>,
    delegations: HashMap<DelegationId, Delegation>,
    delegations_by_company: HashMap<CompanyId, Vec<DelegationId>>,
    refresh_tokens: HashMap<TokenHash, RefreshRecord>,
    /// The audit log by (time, id), and the ids in it.
    audit: BTreeMap<(DateTime<Utc>, AuditEventId), AuditEvent>,
    audit_ids: std::collections::HashSet<AuditEventId>,
    otps: HashMap<(Email, OtpPurpose), OtpState>,
    resets: HashMap<[u8; 32], (UserId, DateTime<Utc>, bool)>,
    /// TOTP enrolments and recovery codes (`memory/mfa.rs`).
    mfa: mfa::MfaState,
    /// Passkeys and ceremonies under way (`memory/passkey.rs`).
    passkeys: passkey::PasskeyState,
    /// OAuth flows, login codes and linked identities (`memory/oauth.rs`).
    oauth: oauth::OAuthState,
    /// Platform roles (`memory/platform.rs`).
    platform: platform::PlatformState,
    /// The event log, appended under the same lock as the change (decision 0015).
    log: Arc<MemoryEventLog>,
}

impl State {
    fn held_roles(&self, membership: &Membership) -> Vec<Arc<Role>> {
        let Some(roles) = self.roles.get(&membership.company_id) else {
            return Vec::new();
        };
        membership
            .roles
            .iter()
            .filter_map(|k| roles.get(k).cloned())
            .collect()
    }

    fn company_delegations(&self, company_id: CompanyId) -> impl Iterator<Item = &Delegation> {
        self.delegations_by_company
            .get(&company_id)
            .into_iter()
            .flatten()
            .filter_map(|id| self.delegations.get(id))
    }

    /// Bumps `ids` and every member holding a non-revoked delegation from one of them, in the
    /// order of the [`DirectoryStore`] contract: `ids` by id, then the delegatees by id.
    fn bump(&mut self, ids: &[MembershipId], at: DateTime<Utc>) -> Vec<AccessBump> {
        let sources: BTreeSet<MembershipId> = ids.iter().copied().collect();
        let mut targets: Vec<MembershipId> = sources.iter().copied().collect();
        let mut delegatees = BTreeSet::new();
        let companies: BTreeSet<CompanyId> = ids
            .iter()
            .filter_map(|id| self.memberships.get(id))
            .map(|m| m.company_id)
            .collect();
        for company in companies {
            for d in self.company_delegations(company) {
                if d.revoked_at.is_none()
                    && sources.contains(&d.from_membership_id)
                    && !sources.contains(&d.to_membership_id)
                {
                    delegatees.insert(d.to_membership_id);
                }
            }
        }
        targets.extend(delegatees);
        targets
            .into_iter()
            .filter_map(|id| {
                let m = self.memberships.get_mut(&id)?;
                m.access_version += 1;
                m.updated_at = at;
                self.log.record(
                    InvalidationEvent::Membership {
                        company_id: m.company_id,
                        membership_id: id,
                    },
                    at,
                );
                Some(AccessBump {
                    membership_id: id,
                    access_version: m.access_version,
                })
            })
            .collect()
    }

    fn sorted_memberships(&self, ids: Option<&Vec<MembershipId>>) -> Vec<Membership> {
        let mut v: Vec<Membership> = ids
            .into_iter()
            .flatten()
            .filter_map(|id| self.memberships.get(id).cloned())
            .collect();
        v.sort_by_key(|m| (m.created_at, m.id));
        v
    }

    fn insert_membership(&mut self, m: &Membership) -> Result<(), StoreError> {
        if !self.companies.contains_key(&m.company_id) {
            return Err(StoreError::not_found(format!("company {}", m.company_id)));
        }
        if self.memberships.contains_key(&m.id)
            || self
                .membership_by_pair
                .contains_key(&(m.company_id, m.user_id))
        {
            return Err(StoreError::conflict(
                "the user is already a member of the company",
            ));
        }
        self.memberships.insert(m.id, m.clone());
        self.membership_by_pair
            .insert((m.company_id, m.user_id), m.id);
        self.memberships_by_company
            .entry(m.company_id)
            .or_default()
            .push(m.id);
        self.memberships_by_user
            .entry(m.user_id)
            .or_default()
            .push(m.id);
        Ok(())
    }
}

/// Users, sessions, companies, memberships, roles and delegations in process memory.
#[derive(Default)]
pub struct MemoryAuthStore {
    state: Mutex<State>,
}

impl MemoryAuthStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl UserStore for MemoryAuthStore {
    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        let mut s = self.lock();
        if s.users.contains_key(&user.id) || s.users_by_email.contains_key(&user.email) {
            return Err(StoreError::conflict("email already registered"));
        }
        s.users_by_email.insert(user.email.clone(), user.id);
        s.users.insert(user.id, user.clone());
        Ok(())
    }

    async fn get_user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        Ok(self.lock().users.get(&id).cloned())
    }

    async fn find_user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        let s = self.lock();
        Ok(s.users_by_email
            .get(email)
            .and_then(|id| s.users.get(id))
            .cloned())
    }

    async fn update_user(&self, user: &User) -> Result<(), StoreError> {
        let mut s = self.lock();
        let Some(old_email) = s.users.get(&user.id).map(|u| u.email.clone()) else {
            return Err(StoreError::not_found(format!("user {}", user.id)));
        };
        if old_email != user.email {
            if s.users_by_email.contains_key(&user.email) {
                return Err(StoreError::conflict("email already registered"));
            }
            s.users_by_email.remove(&old_email);
            s.users_by_email.insert(user.email.clone(), user.id);
        }
        s.users.insert(user.id, user.clone());
        Ok(())
    }
}

#[async_trait]
impl SessionStore for MemoryAuthStore {
    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        let mut s = self.lock();
        if s.sessions.contains_key(&session.id) {
            return Err(StoreError::conflict("session id exists"));
        }
        s.sessions.insert(session.id, session.clone());
        s.sessions_by_user
            .entry(session.user_id)
            .or_default()
            .push(session.id);
        Ok(())
    }

    async fn get_session(&self, id: SessionId) -> Result<Option<Session>, StoreError> {
        Ok(self.lock().sessions.get(&id).cloned())
    }

    async fn list_user_sessions(&self, user_id: UserId) -> Result<Vec<Session>, StoreError> {
        let s = self.lock();
        let mut v: Vec<Session> = s
            .sessions_by_user
            .get(&user_id)
            .into_iter()
            .flatten()
            .filter_map(|id| s.sessions.get(id).cloned())
            .collect();
        v.sort_by_key(|x| (x.created_at, x.id));
        Ok(v)
    }

    async fn touch_session(
        &self,
        id: SessionId,
        last_seen_at: DateTime<Utc>,
        idle_expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut s = self.lock();
        let session = s
            .sessions
            .get_mut(&id)
            .ok_or_else(|| StoreError::not_found(format!("session {id}")))?;
        session.last_seen_at = last_seen_at;
        session.idle_expires_at = idle_expires_at;
        Ok(())
    }

    async fn reauthenticate_session(
        &self,
        id: SessionId,
        at: DateTime<Utc>,
        aal: kisum_guard::Aal,
        amr: &[String],
    ) -> Result<bool, StoreError> {
        let mut s = self.lock();
        let Some(session) = s.sessions.get_mut(&id).filter(|x| x.revoked_at.is_none()) else {
            return Ok(false);
        };
        session.auth_time = at;
        session.aal = aal;
        session.amr = amr.to_vec();
        Ok(true)
    }

    async fn revoke_session(
        &self,
        id: SessionId,
        reason: RevokeReason,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut s = self.lock();
        let session = s
            .sessions
            .get_mut(&id)
            .ok_or_else(|| StoreError::not_found(format!("session {id}")))?;
        if session.revoked_at.is_some() {
            return Ok(false);
        }
        session.revoked_at = Some(at);
        session.revoked_reason = Some(reason);
        s.log
            .record(InvalidationEvent::SessionRevoked { session_id: id }, at);
        Ok(true)
    }

    async fn revoke_user_sessions(
        &self,
        user_id: UserId,
        reason: RevokeReason,
        at: DateTime<Utc>,
        except: Option<SessionId>,
    ) -> Result<Vec<SessionId>, StoreError> {
        let mut s = self.lock();
        let ids = s
            .sessions_by_user
            .get(&user_id)
            .cloned()
            .unwrap_or_default();
        let mut revoked = Vec::new();
        for id in ids {
            if Some(id) == except {
                continue;
            }
            if let Some(session) = s.sessions.get_mut(&id).filter(|x| x.revoked_at.is_none()) {
                session.revoked_at = Some(at);
                session.revoked_reason = Some(reason);
                revoked.push(id);
                s.log
                    .record(InvalidationEvent::SessionRevoked { session_id: id }, at);
            }
        }
        Ok(revoked)
    }

    async fn prune_sessions(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut s = self.lock();
        let ended: Vec<SessionId> = s
            .sessions
            .values()
            .filter(|x| {
                x.revoked_at.is_some_and(|r| r < before)
                    || x.idle_expires_at < before
                    || x.absolute_expires_at < before
            })
            .map(|x| x.id)
            .collect();
        for id in &ended {
            if let Some(session) = s.sessions.remove(id)
                && let Some(ids) = s.sessions_by_user.get_mut(&session.user_id)
            {
                ids.retain(|x| x != id);
            }
        }
        let gone: std::collections::HashSet<SessionId> = ended.iter().copied().collect();
        s.refresh_tokens
            .retain(|_, r| !gone.contains(&r.session_id) && r.expires_at >= before);
        Ok(ended.len() as u64)
    }
}

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
        let s = self.lock();
        let Some(membership) = s
            .membership_by_pair
            .get(&(company_id, user_id))
            .and_then(|id| s.memberships.get(id))
        else {
            return Ok(None);
        };
        let delegations = s
            .company_delegations(company_id)
            .filter(|d| d.to_membership_id == membership.id && d.revoked_at.is_none())
            .filter_map(|d| {
                let delegator = s.memberships.get(&d.from_membership_id)?;
                Some(DelegationGrant {
                    delegation: d.clone(),
                    delegator: delegator.clone(),
                    delegator_roles: s.held_roles(delegator),
                })
            })
            .collect();
        Ok(Some(AccessInputs {
            membership: membership.clone(),
            roles: s.held_roles(membership),
            delegations,
        }))
    }
}

#[async_trait]
impl RefreshTokenStore for MemoryAuthStore {
    async fn insert_refresh_token(&self, record: &RefreshRecord) -> Result<(), StoreError> {
        let mut s = self.lock();
        if !s.sessions.contains_key(&record.session_id) {
            return Err(StoreError::not_found(format!(
                "session {}",
                record.session_id
            )));
        }
        if s.refresh_tokens.contains_key(&record.hash) {
            return Err(StoreError::conflict("refresh token exists"));
        }
        s.refresh_tokens.insert(record.hash, record.clone());
        Ok(())
    }

    async fn find_refresh_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<RefreshRecord>, StoreError> {
        Ok(self.lock().refresh_tokens.get(hash).cloned())
    }

    async fn claim_grace(
        &self,
        hash: &TokenHash,
        max_uses: u32,
    ) -> Result<Option<RefreshRecord>, StoreError> {
        let mut s = self.lock();
        Ok(s.refresh_tokens
            .get_mut(hash)
            .filter(|r| r.used_at.is_none() && r.grace_uses < max_uses)
            .map(|r| {
                r.grace_uses += 1;
                r.clone()
            }))
    }

    async fn rotate_refresh_token(
        &self,
        old: &TokenHash,
        at: DateTime<Utc>,
        next: &RefreshRecord,
    ) -> Result<Rotation, StoreError> {
        let mut s = self.lock();
        let Some(current) = s.refresh_tokens.get(old).cloned() else {
            return Err(StoreError::not_found("refresh token"));
        };
        if current.used_at.is_some() {
            return Ok(Rotation::AlreadyUsed(current));
        }
        if s.refresh_tokens.contains_key(&next.hash) {
            return Err(StoreError::conflict("refresh token exists"));
        }
        let spent = RefreshRecord {
            used_at: Some(at),
            replaced_by: Some(next.hash),
            ..current
        };
        s.refresh_tokens.insert(*old, spent.clone());
        s.refresh_tokens.insert(next.hash, next.clone());
        Ok(Rotation::Rotated(spent))
    }

    async fn refresh_live(
        &self,
        step: &LiveRefresh,
        audit: RefreshAudit<'_>,
    ) -> Result<Option<Session>, StoreError> {
        let mut s = self.lock();
        let Some(current) = s
            .refresh_tokens
            .get(&step.spend)
            .filter(|r| r.used_at.is_none() && step.at < r.expires_at)
            .cloned()
        else {
            return Ok(None);
        };
        let Some(session) = s
            .sessions
            .get(&current.session_id)
            .filter(|session| session.is_active(step.at))
            .filter(|session| s.users.get(&session.user_id).is_some_and(|u| !u.disabled))
            .cloned()
        else {
            return Ok(None);
        };
        let idle = step.idle_until.min(session.absolute_expires_at);
        let touched = Session {
            last_seen_at: step.at,
            idle_expires_at: idle,
            ..session
        };
        let event = audit(&touched);
        event.validate()?;
        if s.refresh_tokens.contains_key(&step.successor) || s.audit_ids.contains(&event.id) {
            return Err(StoreError::conflict("refresh token or audit event exists"));
        }
        let successor = RefreshRecord {
            hash: step.successor,
            session_id: touched.id,
            created_at: step.at,
            expires_at: idle,
            used_at: None,
            replaced_by: None,
            sealed: step.sealed,
            grace_uses: 0,
        };
        let spent = RefreshRecord {
            used_at: Some(step.at),
            replaced_by: Some(step.successor),
            ..current
        };
        s.refresh_tokens.insert(step.spend, spent);
        s.refresh_tokens.insert(step.successor, successor);
        s.sessions.insert(touched.id, touched.clone());
        s.audit_ids.insert(event.id);
        s.audit.insert((event.at, event.id), event);
        Ok(Some(touched))
    }
}

#[async_trait]
impl OneTimeStore for MemoryAuthStore {
    async fn get_otp(
        &self,
        email: &Email,
        purpose: OtpPurpose,
    ) -> Result<Option<OtpState>, StoreError> {
        Ok(self.lock().otps.get(&(email.clone(), purpose)).cloned())
    }

    async fn put_otp(&self, state: &OtpState) -> Result<bool, StoreError> {
        let mut s = self.lock();
        let key = (state.email.clone(), state.purpose);
        let current = s.otps.get(&key).map_or(0, |o| o.version);
        if state.version != current + 1 {
            return Ok(false);
        }
        s.otps.insert(key, state.clone());
        Ok(true)
    }

    async fn insert_reset(
        &self,
        hash: &SecretHash,
        user: UserId,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut s = self.lock();
        if !s.users.contains_key(&user) {
            return Err(StoreError::not_found(format!("user {user}")));
        }
        if s.resets.contains_key(&hash.0) {
            return Err(StoreError::conflict("reset token exists"));
        }
        s.resets.insert(hash.0, (user, expires_at, false));
        Ok(())
    }

    async fn consume_reset(
        &self,
        hash: &SecretHash,
        at: DateTime<Utc>,
    ) -> Result<Option<UserId>, StoreError> {
        let mut s = self.lock();
        match s.resets.get_mut(&hash.0) {
            Some((user, expires_at, used)) if !*used && at < *expires_at => {
                *used = true;
                Ok(Some(*user))
            }
            _ => Ok(None),
        }
    }

    async fn spend_resets(&self, user: UserId, at: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut s = self.lock();
        let mut n = 0;
        for (owner, expires_at, used) in s.resets.values_mut() {
            if *owner == user && !*used && at < *expires_at {
                *used = true;
                n += 1;
            }
        }
        Ok(n)
    }

    async fn prune_one_time(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut s = self.lock();
        let resets = s.resets.len();
        // A spent token has no spend time here: it goes once it would have expired.
        s.resets
            .retain(|_, (_, expires_at, _)| *expires_at >= before);
        let otps = s.otps.len();
        let old = |t: Option<DateTime<Utc>>| t.is_none_or(|t| t < before);
        s.otps.retain(|_, o| {
            !(old(o.expires_at)
                && old(o.locked_until)
                && old(o.last_sent_at)
                && old(o.quota_started_at))
        });
        Ok((resets - s.resets.len() + otps - s.otps.len()) as u64)
    }
}

// ---- AuditStore -----------------------------------------------------------------------------

use crate::audit::{AuditEvent, AuditEventId, AuditStore, MAX_LIST_LIMIT};

/// The smallest key at `at`: every event at or after `at` sorts at or after it.
fn audit_key_from(at: DateTime<Utc>) -> (DateTime<Utc>, AuditEventId) {
    (at, AuditEventId::from_uuid(uuid::Uuid::nil()))
}

#[async_trait]
impl AuditStore for MemoryAuthStore {
    async fn append(&self, event: &AuditEvent) -> Result<(), StoreError> {
        event.validate()?;
        let mut s = self.lock();
        if !s.audit_ids.insert(event.id) {
            return Err(StoreError::conflict("audit event exists"));
        }
        s.audit.insert((event.at, event.id), event.clone());
        Ok(())
    }

    async fn list(
        &self,
        company_id: Option<CompanyId>,
        since: Option<DateTime<Utc>>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let s = self.lock();
        let limit = usize::try_from(limit.min(MAX_LIST_LIMIT)).unwrap_or(0);
        let from = audit_key_from(since.unwrap_or(DateTime::<Utc>::MIN_UTC));
        Ok(s.audit
            .range(from..)
            .rev()
            .map(|(_, e)| e)
            .filter(|e| company_id.is_none() || e.company_id == company_id)
            .take(limit)
            .cloned()
            .collect())
    }

    async fn prune(&self, older_than: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut s = self.lock();
        let kept = s.audit.split_off(&audit_key_from(older_than));
        let pruned = std::mem::replace(&mut s.audit, kept);
        for (_, id) in pruned.keys() {
            s.audit_ids.remove(id);
        }
        Ok(u64::try_from(pruned.len()).unwrap_or(u64::MAX))
    }
}

impl kisum_core::outbox::EventLogged for MemoryAuthStore {
    fn event_log(&self) -> Arc<dyn kisum_core::outbox::EventLog> {
        self.lock().log.clone()
    }
}
