//! [`SessionStore`](crate::session::SessionStore) on PostgreSQL: revoking one session is one
//! statement that also tells "already revoked" from "missing".

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;
use kisum_core::db::sql::{SqlRow, Stmt};
use kisum_guard::{SessionId, UserId};
use sqlx::Postgres;

use super::PgAuthStore;
use crate::session::{RevokeReason, Session, SessionStore};
use crate::store::sql::sessions::{self, SessionSql};

impl SessionSql for Postgres {
    const REVOKE_USER_SESSIONS: &'static str =
        "UPDATE sessions SET revoked_at = $2, revoked_reason = $3
         WHERE user_id = $1 AND revoked_at IS NULL AND ($4::uuid IS NULL OR id <> $4)
         RETURNING id, created_at";
}

#[async_trait]
impl SessionStore for PgAuthStore {
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
        let row = Stmt::new(
            "WITH target AS (SELECT id FROM sessions WHERE id = $1),
                  revoked AS (UPDATE sessions SET revoked_at = $2, revoked_reason = $3
                              WHERE id = $1 AND revoked_at IS NULL RETURNING id)
             SELECT (SELECT count(*) FROM target) AS found, (SELECT count(*) FROM revoked) AS revoked",
        )
        .id(id.as_uuid())
        .time(at)
        .text(reason.as_str())
        .fetch_one(&self.pool)
        .await?;
        if row.int("found")? == 0 {
            return Err(StoreError::not_found(format!("session {id}")));
        }
        Ok(row.int("revoked")? == 1)
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
