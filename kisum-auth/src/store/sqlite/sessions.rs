//! [`SessionStore`](crate::session::SessionStore) on SQLite: revoking one session is an update
//! and, when it changed nothing, a look whether the session exists.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;
use kisum_core::db::sql::{SqlRow, Stmt};
use kisum_guard::{SessionId, UserId};
use sqlx::Sqlite;

use super::SqliteAuthStore;
use crate::session::{RevokeReason, Session, SessionStore};
use crate::store::sql::sessions::{self, SessionSql};

impl SessionSql for Sqlite {
    const REVOKE_USER_SESSIONS: &'static str =
        "UPDATE sessions SET revoked_at = $2, revoked_reason = $3
         WHERE user_id = $1 AND revoked_at IS NULL AND ($4 IS NULL OR id <> $4)
         RETURNING id, created_at";
}

#[async_trait]
impl SessionStore for SqliteAuthStore {
    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        sessions::create_session(&self.pool, session).await
    }

    async fn get_session(&self, id: SessionId) -> Result<Option<Session>, StoreError> {
        sessions::get_session(&self.pool, id).await
    }

    async fn list_user_sessions(&self, user_id: UserId) -> Result<Vec<Session>, StoreError> {
        sessions::list_user_sessions(&self.pool, user_id).await
    }

    async fn touch_session(
        &self,
        id: SessionId,
        last_seen_at: DateTime<Utc>,
        idle_expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sessions::touch_session(&self.pool, id, last_seen_at, idle_expires_at).await
    }

    async fn revoke_session(
        &self,
        id: SessionId,
        reason: RevokeReason,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let updated = Stmt::new(
            "UPDATE sessions SET revoked_at = $2, revoked_reason = $3
             WHERE id = $1 AND revoked_at IS NULL",
        )
        .id(id.as_uuid())
        .time(at)
        .text(reason.as_str())
        .execute(&self.pool)
        .await?;
        if updated == 1 {
            return Ok(true);
        }
        // Sessions are never un-revoked: no transaction is needed to tell "already revoked" from
        // "missing".
        let exists = Stmt::new("SELECT EXISTS (SELECT 1 FROM sessions WHERE id = $1) AS found")
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

    async fn revoke_user_sessions(
        &self,
        user_id: UserId,
        reason: RevokeReason,
        at: DateTime<Utc>,
        except: Option<SessionId>,
    ) -> Result<Vec<SessionId>, StoreError> {
        sessions::revoke_user_sessions(&self.pool, user_id, reason, at, except).await
    }

    async fn prune_sessions(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        sessions::prune_sessions(&self.pool, before).await
    }
}
