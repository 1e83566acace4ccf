//! `DELETE /v1/auth/me`: the erasure of an account, then its announcement (session
//! revocations and membership bumps to every guard) and its audit under the pseudonym.

use kisum_core::db::StoreErrorKind;
use kisum_guard::UserId;

use super::{AccountError, Erasure};
use crate::audit::AuditEvent;
use crate::audit::action::Action;
use crate::events::InvalidationEvent;
use crate::service::{AuthService, ClientInfo};

impl AuthService {
    /// Erases `user`'s account (see [`AccountStore::erase_account`](super::AccountStore)):
    /// every session ends at every guard, memberships end as a removal does (bumped, announced,
    /// audited as `membership.remove` in each company), and `account.deleted` is audited. Every
    /// audit event about it, these included, names the pseudonym, which is returned.
    ///
    /// # Errors
    /// `LastOwner` while the user is the only owner of a company with other members (nothing
    /// changes); `NotFound`; `Failed` when a store fails.
    pub async fn delete_account(
        &self,
        user: UserId,
        client: &ClientInfo,
    ) -> Result<UserId, AccountError> {
        let erasure = Erasure::new(user, self.now());
        let erased = match self.store.erase_account(&erasure).await {
            Ok(erased) => erased,
            Err(e) if e.kind() == StoreErrorKind::Conflict => return Err(AccountError::LastOwner),
            Err(e) if e.kind() == StoreErrorKind::NotFound => return Err(AccountError::NotFound),
            Err(e) => return Err(e.into()),
        };
        self.announce_revoked(&erased.sessions).await;
        let pseudonym = erasure.pseudonym;
        let bumped = erased
            .memberships
            .iter()
            .map(|m| (m.company_id, m.membership_id))
            .chain(erased.delegatees.iter().map(|(c, b)| (*c, b.membership_id)));
        for (company_id, membership_id) in bumped {
            self.events
                .publish(&InvalidationEvent::Membership {
                    company_id,
                    membership_id,
                })
                .await;
        }
        let context = client.audit_context(Some(pseudonym));
        for m in &erased.memberships {
            let removed = Action::MembershipRemove {
                membership_id: m.membership_id,
                user_id: pseudonym,
                access_version: m.access_version,
                revoked_delegations: erased
                    .delegations
                    .iter()
                    .filter(|(c, _)| *c == m.company_id)
                    .map(|(_, d)| *d)
                    .collect(),
            };
            let event = AuditEvent::of(erasure.at, &removed)
                .with_company(m.company_id)
                .with_context(&context);
            crate::audit::record(self.store.as_ref(), event).await;
        }
        let deleted = Action::AccountDelete {
            revoked_sessions: erased.sessions.len(),
            revoked_memberships: erased.memberships.len(),
        };
        let event = AuditEvent::of(erasure.at, &deleted).with_context(&context);
        crate::audit::record(self.store.as_ref(), event).await;
        Ok(pseudonym)
    }
}
