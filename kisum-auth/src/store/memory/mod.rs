//! The in-memory backend of every Auth store trait, behind one mutex: the shared `State` here,
//! one file per store trait beside it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;
use kisum_core::outbox::MemoryEventLog;
use kisum_guard::{
    CompanyId, CompanySlug, DelegationId, InvalidationEvent, MembershipId, RoleKey, SessionId,
    UserId,
};

use crate::audit::{AuditEvent, AuditEventId};
use crate::directory::{AccessBump, Company, Delegation, Membership, Role};
use crate::identity::{Email, User};
use crate::otp::{CodeKey, CodeState};
use crate::session::{RefreshRecord, Session, TokenHash};

mod account;
mod api_key;
mod audit;
mod directory;
mod mfa;
mod oauth;
mod otp;
mod passkey;
mod phone;
mod platform;
mod refresh;
mod sessions;
mod users;

/// The maps resolving access reads on every request: keyed by ids and slugs, hashed with
/// `foldhash` (seeded at random per map) rather than SipHash.
type FastMap<K, V> = HashMap<K, V, foldhash::quality::RandomState>;

#[derive(Default)]
struct State {
    users: HashMap<UserId, User>,
    users_by_email: HashMap<Email, UserId>,
    sessions: FastMap<SessionId, Session>,
    sessions_by_user: HashMap<UserId, Vec<SessionId>>,
    companies: FastMap<CompanyId, Company>,
    companies_by_slug: FastMap<CompanySlug, CompanyId>,
    memberships: FastMap<MembershipId, Membership>,
    membership_by_pair: FastMap<(CompanyId, UserId), MembershipId>,
    memberships_by_company: FastMap<CompanyId, Vec<MembershipId>>,
    memberships_by_user: FastMap<UserId, Vec<MembershipId>>,
    roles: FastMap<CompanyId, BTreeMap<RoleKey, Arc<Role>>>,
    delegations: FastMap<DelegationId, Delegation>,
    delegations_by_company: FastMap<CompanyId, Vec<DelegationId>>,
    refresh_tokens: HashMap<TokenHash, RefreshRecord>,
    /// The audit log by (time, id), and the ids in it.
    audit: BTreeMap<(DateTime<Utc>, AuditEventId), AuditEvent>,
    audit_ids: std::collections::HashSet<AuditEventId>,
    /// One-time code states of every channel (`memory/otp.rs`).
    codes: HashMap<CodeKey, CodeState>,
    resets: HashMap<[u8; 32], (UserId, DateTime<Utc>, bool)>,
    /// TOTP enrolments and recovery codes (`memory/mfa.rs`).
    mfa: mfa::MfaState,
    /// Passkeys and ceremonies under way (`memory/passkey.rs`).
    passkeys: passkey::PasskeyState,
    /// OAuth flows, login codes and linked identities (`memory/oauth.rs`).
    oauth: oauth::OAuthState,
    /// Company API keys (`memory/api_key.rs`).
    api_keys: api_key::ApiKeyState,
    /// Verified phone numbers (`memory/phone.rs`).
    phones: phone::PhoneState,
    /// Platform roles (`memory/platform.rs`).
    platform: platform::PlatformState,
    /// The event log, appended under the same lock as the change (decision 0015).
    log: Arc<MemoryEventLog>,
}

impl State {
    /// How many ways in `user` has: a password, each linked provider identity, each passkey.
    /// Removing one, the caller holds the lock from this count to the removal.
    fn ways_in(&self, user: UserId) -> usize {
        let password = self
            .users
            .get(&user)
            .is_some_and(|u| u.password_hash.is_some());
        usize::from(password) + self.oauth.identities_of(user) + self.passkeys.passkeys_of(user)
    }

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
    /// order of the [`DirectoryStore`](crate::directory::DirectoryStore) contract: `ids` by id,
    /// then the delegatees by id.
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

impl kisum_core::outbox::EventLogged for MemoryAuthStore {
    fn event_log(&self) -> Arc<dyn kisum_core::outbox::EventLog> {
        self.lock().log.clone()
    }
}
