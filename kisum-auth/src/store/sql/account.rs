//! [`AccountStore`] written once: the erasure is one write transaction (`BEGIN IMMEDIATE` on
//! SQLite, row locks on the companies' memberships on PostgreSQL); the triggers of decision
//! 0015 append the session and membership events in it. What a dialect writes its own way is
//! [`AccountSql`]'s.

use async_trait::async_trait;
use kisum_core::db::StoreError;
use kisum_core::db::sql::{Dialect, SqlRow, Stmt, store_error, version_from_db};
use kisum_guard::{CompanyId, DelegationId, MembershipId, RoleKey, SessionId, UserId};

use super::SqlAuthStore;
use crate::account::{
    AccountStore, ERASED_EMAIL, Erased, ErasedMembership, Erasure, LAST_OWNER_OF_COMPANY,
};
use crate::directory::{AccessBump, Membership, MembershipStatus};
use crate::session::RevokeReason;
use crate::store::sql::rows;

/// The account statements a dialect writes its own way.
pub(crate) trait AccountSql: Dialect {
    /// The non-revoked memberships (`membership_columns!`) of every company where user `$1`
    /// is an active member, locked against concurrent changes where the dialect needs it.
    const COMPANIES_MEMBERSHIPS: &'static str;
    /// In the audit details: the text `$1` (the user id) replaced by `$2` (the pseudonym)
    /// and `$3` (the email as a JSON string, quotes included) by `$4`, in the rows containing
    /// either.
    const PSEUDONYMISE_DETAILS: &'static str;
}

const USER_EMAIL: &str = "SELECT email FROM users WHERE id = $1";

const REVOKE_SESSIONS: &str = "UPDATE sessions SET revoked_at = $2, revoked_reason = $3 \
     WHERE user_id = $1 AND revoked_at IS NULL RETURNING id";

const FORGET_CLIENTS: &str = "UPDATE sessions SET user_agent = NULL, ip = NULL WHERE user_id = $1";

const BUMP_DELEGATEES: &str = "UPDATE memberships \
     SET access_version = access_version + 1, updated_at = $2 \
     WHERE user_id <> $1 AND id IN (SELECT d.to_membership_id FROM delegations d \
         JOIN memberships f ON f.id = d.from_membership_id \
         WHERE f.user_id = $1 AND d.revoked_at IS NULL) \
     RETURNING id, company_id, access_version";

const REVOKE_DELEGATIONS: &str = "UPDATE delegations SET revoked_at = $2 \
     WHERE revoked_at IS NULL \
       AND (from_membership_id IN (SELECT id FROM memberships WHERE user_id = $1) \
         OR to_membership_id IN (SELECT id FROM memberships WHERE user_id = $1)) \
     RETURNING id, company_id";

const REVOKE_MEMBERSHIPS: &str = "UPDATE memberships \
     SET status = 'revoked', access_version = access_version + 1, updated_at = $2 \
     WHERE user_id = $1 AND status <> 'revoked' \
     RETURNING id, company_id, access_version";

/// What goes, by user id `$1`, in this order (children before what they reference).
const DELETE_BY_USER: [&str; 13] = [
    "DELETE FROM sms_codes WHERE phone IN (SELECT phone FROM user_phones WHERE user_id = $1)",
    "DELETE FROM user_phones WHERE user_id = $1",
    "DELETE FROM mfa_recovery_codes WHERE user_id = $1",
    "DELETE FROM mfa_totp WHERE user_id = $1",
    "DELETE FROM mfa_challenges WHERE user_id = $1",
    "DELETE FROM passkeys WHERE user_id = $1",
    "DELETE FROM passkey_ceremonies WHERE user_id = $1",
    "DELETE FROM oauth_identities WHERE user_id = $1",
    "DELETE FROM oauth_login_codes WHERE user_id = $1",
    "DELETE FROM oauth_flows WHERE link_user = $1",
    "DELETE FROM password_resets WHERE user_id = $1",
    "DELETE FROM platform_roles WHERE user_id = $1",
    "UPDATE platform_roles SET granted_by = NULL WHERE granted_by = $1",
];

const FORGET_KEY_CREATOR: &str = "UPDATE api_keys SET created_by = NULL WHERE created_by = $1";

const DELETE_OTPS: &str = "DELETE FROM email_otps WHERE email = $1";

const TOMBSTONE: &str = "UPDATE users SET email = $2, name = NULL, password_hash = NULL, \
     email_verified = $3, disabled = $4, updated_at = $5 WHERE id = $1";

const PSEUDONYMISE_ACTOR: &str =
    "UPDATE audit_events SET actor_user_id = $2 WHERE actor_user_id = $1";

/// Whether `user` is the only active owner of a company with another non-revoked member,
/// given every non-revoked membership of the companies they are active in.
fn last_owner(user: UserId, memberships: &[Membership]) -> bool {
    let owner = RoleKey::owner();
    let is_owner =
        |m: &Membership| m.status == MembershipStatus::Active && m.roles.contains(&owner);
    memberships
        .iter()
        .filter(|m| m.user_id == user && is_owner(m))
        .any(|mine| {
            let mut others = memberships
                .iter()
                .filter(|m| m.company_id == mine.company_id && m.user_id != user)
                .peekable();
            others.peek().is_some() && !others.any(is_owner)
        })
}

#[async_trait]
impl<D: AccountSql> AccountStore for SqlAuthStore<D> {
    async fn erase_account(&self, erasure: &Erasure) -> Result<Erased, StoreError> {
        let user = erasure.user_id.as_uuid();
        let at = erasure.at;
        let mut tx = D::begin_write(&self.pool).await?;
        let Some(row) = Stmt::new(USER_EMAIL)
            .id(user)
            .fetch_optional(&mut tx)
            .await?
        else {
            return Err(StoreError::not_found(format!("user {}", erasure.user_id)));
        };
        let email = row.text("email")?.to_owned();
        let memberships = Stmt::new(D::COMPANIES_MEMBERSHIPS)
            .id(user)
            .fetch_all_as(&mut tx, |r| rows::membership(r, ""))
            .await?;
        if last_owner(erasure.user_id, &memberships) {
            return Err(StoreError::conflict(LAST_OWNER_OF_COMPANY));
        }
        let mut erased = Erased::default();
        for r in Stmt::new(REVOKE_SESSIONS)
            .id(user)
            .time(at)
            .text(RevokeReason::AccountDeleted.as_str())
            .fetch_all(&mut tx)
            .await?
        {
            erased.sessions.push(SessionId::from_uuid(r.uuid("id")?));
        }
        erased.sessions.sort_unstable();
        Stmt::new(FORGET_CLIENTS).id(user).execute(&mut tx).await?;
        for r in Stmt::new(BUMP_DELEGATEES)
            .id(user)
            .time(at)
            .fetch_all(&mut tx)
            .await?
        {
            let bump = AccessBump {
                membership_id: MembershipId::from_uuid(r.uuid("id")?),
                access_version: version_from_db(r.int("access_version")?)?,
            };
            erased
                .delegatees
                .push((CompanyId::from_uuid(r.uuid("company_id")?), bump));
        }
        erased.delegatees.sort_unstable();
        for r in Stmt::new(REVOKE_DELEGATIONS)
            .id(user)
            .time(at)
            .fetch_all(&mut tx)
            .await?
        {
            erased.delegations.push((
                CompanyId::from_uuid(r.uuid("company_id")?),
                DelegationId::from_uuid(r.uuid("id")?),
            ));
        }
        erased.delegations.sort_unstable();
        for r in Stmt::new(REVOKE_MEMBERSHIPS)
            .id(user)
            .time(at)
            .fetch_all(&mut tx)
            .await?
        {
            erased.memberships.push(ErasedMembership {
                company_id: CompanyId::from_uuid(r.uuid("company_id")?),
                membership_id: MembershipId::from_uuid(r.uuid("id")?),
                access_version: version_from_db(r.int("access_version")?)?,
            });
        }
        erased.memberships.sort_unstable();
        for statement in DELETE_BY_USER {
            Stmt::new(statement).id(user).execute(&mut tx).await?;
        }
        Stmt::new(FORGET_KEY_CREATOR)
            .id(user)
            .execute(&mut tx)
            .await?;
        Stmt::new(DELETE_OTPS)
            .text(email.as_str())
            .execute(&mut tx)
            .await?;
        Stmt::new(TOMBSTONE)
            .id(user)
            .text(erasure.tombstone.as_str())
            .flag(false)
            .flag(true)
            .time(at)
            .execute(&mut tx)
            .await?;
        Stmt::new(PSEUDONYMISE_ACTOR)
            .id(user)
            .id(erasure.pseudonym.as_uuid())
            .execute(&mut tx)
            .await?;
        Stmt::new(D::PSEUDONYMISE_DETAILS)
            .text(erasure.user_id.to_string())
            .text(erasure.pseudonym.to_string())
            // Whole JSON strings only: another address containing this one stays intact.
            .text(format!("\"{email}\""))
            .text(format!("\"{ERASED_EMAIL}\""))
            .execute(&mut tx)
            .await?;
        tx.commit().await.map_err(store_error)?;
        Ok(erased)
    }
}
