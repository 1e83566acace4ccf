//! [`SessionStore`](crate::session::SessionStore) written once, for both dialects; the one
//! statement they write their own way is [`SessionSql`]'s.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;
use kisum_core::db::sql::{Dialect, SqlRow, Stmt, store_error};
use kisum_guard::{SessionId, UserId};

use super::SqlAuthStore;
use crate::session::{RevokeReason, Session, SessionStore};
use crate::store::sql::{queries, rows};

/// The session statement a dialect writes its own way.
pub(crate) trait SessionSql: Dialect {
    /// Revokes at `$2`, for reason `$3`, every live session of user `$1` but `$4` (a nullable
    /// id), in one statement; `RETURNING id, created_at`.
    const REVOKE_USER_SESSIONS: &'static str;
}

#[async_trait]
impl<D: SessionSql> SessionStore for SqlAuthStore<D> {
    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        Stmt::new(queries::INSERT_SESSION)
            .id(session.id.as_uuid())
            .id(session.user_id.as_uuid())
            .time(session.created_at)
            .time(session.last_seen_at)
            .time(session.idle_expires_at)
            .time(session.absolute_expires_at)
            .time_opt(session.revoked_at)
            .text_opt(session.revoked_reason.map(RevokeReason::as_str))
            .text_opt(session.user_agent.as_deref())
            .text_opt(session.ip.as_deref())
            .text(session.aal.as_str())
            .list(&session.amr)
            .time(session.auth_time)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn get_session(&self, id: SessionId) -> Result<Option<Session>, StoreError> {
        Stmt::new(queries::SESSION_BY_ID)
            .id(id.as_uuid())
            .fetch_optional_as(&self.pool, rows::session)
            .await
    }

    async fn list_user_sessions(&self, user_id: UserId) -> Result<Vec<Session>, StoreError> {
        Stmt::new(queries::SESSIONS_OF_USER)
            .id(user_id.as_uuid())
            .fetch_all_as(&self.pool, rows::session)
            .await
    }

    async fn touch_session(
        &self,
        id: SessionId,
        last_seen_at: DateTime<Utc>,
        idle_expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let updated = Stmt::new(queries::TOUCH_SESSION)
            .id(id.as_uuid())
            .time(last_seen_at)
            .time(idle_expires_at)
            .execute(&self.pool)
            .await?;
        if updated == 1 {
            Ok(())
        } else {
            Err(StoreError::not_found(format!("session {id}")))
        }
    }

    async fn reauthenticate_session(
        &self,
        id: SessionId,
        at: DateTime<Utc>,
        aal: kisum_guard::Aal,
        amr: &[String],
    ) -> Result<bool, StoreError> {
        let updated = Stmt::new(queries::REAUTHENTICATE_SESSION)
            .id(id.as_uuid())
            .time(at)
            .text(aal.as_str())
            .list(amr)
            .execute(&self.pool)
            .await?;
        Ok(updated == 1)
    }

    async fn revoke_session(
        &self,
        id: SessionId,
        reason: RevokeReason,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let updated = Stmt::new(queries::REVOKE_SESSION)
            .id(id.as_uuid())
            .time(at)
            .text(reason.as_str())
            .execute(&self.pool)
            .await?;
        if updated == 1 {
            return Ok(true);
        }
        // Only when nothing changed (rare) a second look: sessions are never un-revoked, so no
        // transaction is needed to tell "already revoked" from "missing".
        let exists = Stmt::new(queries::SESSION_EXISTS)
            .id(id.as_uuid())
            .fetch_one(&self.pool)
            .await?
            .flag("found")?;
        if exists {
            Ok(false)
        } else {
            Err(StoreError::not_found(format!("session {id}")))
        }
    }

    /// The revoked sessions oldest first.
    async fn revoke_user_sessions(
        &self,
        user_id: UserId,
        reason: RevokeReason,
        at: DateTime<Utc>,
        except: Option<SessionId>,
    ) -> Result<Vec<SessionId>, StoreError> {
        let rows = Stmt::new(D::REVOKE_USER_SESSIONS)
            .id(user_id.as_uuid())
            .time(at)
            .text(reason.as_str())
            .id_opt(except.map(|s| *s.as_uuid()))
            .fetch_all(&self.pool)
            .await?;
        let mut revoked = rows
            .iter()
            .map(|r| Ok((r.time("created_at")?, SessionId::from_uuid(r.uuid("id")?))))
            .collect::<Result<Vec<_>, StoreError>>()?;
        revoked.sort_unstable();
        Ok(revoked.into_iter().map(|(_, id)| id).collect())
    }

    /// The refresh tokens of the sessions first (their foreign key), in one transaction.
    async fn prune_sessions(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        Stmt::new(queries::PRUNE_REFRESH_TOKENS)
            .time(before)
            .execute(&mut tx)
            .await?;
        let deleted = Stmt::new(queries::PRUNE_SESSIONS)
            .time(before)
            .execute(&mut tx)
            .await?;
        tx.commit().await.map_err(store_error)?;
        Ok(deleted)
    }
}
