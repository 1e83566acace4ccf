//! [`AccountStore`] in memory: the whole erasure under the one lock, checked before anything
//! changes.

use std::collections::BTreeSet;

use async_trait::async_trait;
use kisum_core::db::StoreError;
use kisum_guard::{InvalidationEvent, MembershipId, RoleKey, UserId};

use super::{MemoryAuthStore, State};
use crate::account::{
    AccountStore, ERASED_EMAIL, Erased, ErasedMembership, Erasure, LAST_OWNER_OF_COMPANY,
};
use crate::directory::{AccessBump, MembershipStatus};
use crate::otp::CodeKey;
use crate::session::RevokeReason;

#[async_trait]
impl AccountStore for MemoryAuthStore {
    async fn erase_account(&self, erasure: &Erasure) -> Result<Erased, StoreError> {
        let mut guard = self.lock();
        let s = &mut *guard;
        let user = erasure.user_id;
        let at = erasure.at;
        let Some(old) = s.users.get(&user).cloned() else {
            return Err(StoreError::not_found(format!("user {user}")));
        };
        if s.last_owner_somewhere(user) {
            return Err(StoreError::conflict(LAST_OWNER_OF_COMPANY));
        }
        let mut erased = Erased::default();
        // Sessions.
        for id in s.sessions_by_user.get(&user).cloned().unwrap_or_default() {
            let Some(session) = s.sessions.get_mut(&id) else {
                continue;
            };
            session.user_agent = None;
            session.ip = None;
            if session.revoked_at.is_none() {
                session.revoked_at = Some(at);
                session.revoked_reason = Some(RevokeReason::AccountDeleted);
                erased.sessions.push(id);
                s.log
                    .record(InvalidationEvent::SessionRevoked { session_id: id }, at);
            }
        }
        // Memberships and the delegations given or received through them.
        let mine: Vec<MembershipId> = s
            .memberships_by_user
            .get(&user)
            .cloned()
            .unwrap_or_default();
        let mine_set: BTreeSet<MembershipId> = mine.iter().copied().collect();
        let mut delegatees = BTreeSet::new();
        for d in s.delegations.values_mut() {
            let given = mine_set.contains(&d.from_membership_id);
            if d.revoked_at.is_none() && (given || mine_set.contains(&d.to_membership_id)) {
                d.revoked_at = Some(at);
                erased.delegations.push((d.company_id, d.id));
                if given && !mine_set.contains(&d.to_membership_id) {
                    delegatees.insert(d.to_membership_id);
                }
            }
        }
        erased.delegations.sort_unstable();
        for id in mine {
            let Some(m) = s.memberships.get_mut(&id) else {
                continue;
            };
            if m.status == MembershipStatus::Revoked {
                continue;
            }
            m.status = MembershipStatus::Revoked;
            m.access_version += 1;
            m.updated_at = at;
            let (company_id, access_version) = (m.company_id, m.access_version);
            erased.memberships.push(ErasedMembership {
                company_id,
                membership_id: id,
                access_version,
            });
            let event = InvalidationEvent::Membership {
                company_id,
                membership_id: id,
            };
            s.log.record(event, at);
        }
        for id in delegatees {
            let Some(m) = s.memberships.get_mut(&id) else {
                continue;
            };
            m.access_version += 1;
            m.updated_at = at;
            let bump = AccessBump {
                membership_id: id,
                access_version: m.access_version,
            };
            let company_id = m.company_id;
            erased.delegatees.push((company_id, bump));
            let event = InvalidationEvent::Membership {
                company_id,
                membership_id: id,
            };
            s.log.record(event, at);
        }
        erased.memberships.sort_unstable();
        // Credentials, identities, verified numbers, one-time secrets, platform roles, API key
        // creators.
        s.mfa.erase(user);
        s.passkeys.erase(user);
        let phone = s.phones.erase(user);
        s.oauth.erase(user);
        s.api_keys.erase(user);
        s.platform.erase(user);
        s.resets.retain(|_, (u, _, _)| *u != user);
        s.codes.retain(|key, _| match key {
            CodeKey::Email(email, _) => *email != old.email,
            CodeKey::Sms(number, _) => phone.as_ref() != Some(number),
        });
        // The profile: tombstoned, the email freed.
        s.users_by_email.remove(&old.email);
        s.users_by_email.insert(erasure.tombstone.clone(), user);
        if let Some(u) = s.users.get_mut(&user) {
            u.email = erasure.tombstone.clone();
            u.name = None;
            u.password_hash = None;
            u.email_verified = false;
            u.disabled = true;
            u.updated_at = at;
        }
        // The audit log, pseudonymised.
        let id = user.to_string();
        let pseudonym = erasure.pseudonym.to_string();
        // Whole JSON strings only: another address containing this one stays intact.
        let email = format!("\"{}\"", old.email.as_str());
        let erased_email = format!("\"{ERASED_EMAIL}\"");
        for event in s.audit.values_mut() {
            if event.actor_user_id == Some(user) {
                event.actor_user_id = Some(erasure.pseudonym);
            }
            let text = event.details.to_string();
            if text.contains(&id) || text.contains(&email) {
                let text = text.replace(&id, &pseudonym).replace(&email, &erased_email);
                if let Ok(details) = serde_json::from_str(&text) {
                    event.details = details;
                }
            }
        }
        Ok(erased)
    }
}

impl State {
    /// Whether `user` is the only active owner of a company with another non-revoked member.
    fn last_owner_somewhere(&self, user: UserId) -> bool {
        let owner = RoleKey::owner();
        let memberships = self.memberships_by_user.get(&user).into_iter().flatten();
        memberships
            .filter_map(|id| self.memberships.get(id))
            .filter(|m| m.status == MembershipStatus::Active && m.roles.contains(&owner))
            .any(|mine| {
                let others: Vec<_> = self
                    .memberships_by_company
                    .get(&mine.company_id)
                    .into_iter()
                    .flatten()
                    .filter_map(|id| self.memberships.get(id))
                    .filter(|m| m.user_id != user && m.status != MembershipStatus::Revoked)
                    .collect();
                !others.is_empty()
                    && !others
                        .iter()
                        .any(|m| m.status == MembershipStatus::Active && m.roles.contains(&owner))
            })
    }
}
