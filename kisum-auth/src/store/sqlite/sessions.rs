//! [`SessionStore`](crate::session::SessionStore) on SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;
use kisum_core::db::sql::SqlRow;
use kisum_core::db::sql::{store_error, to_micros};
use kisum_guard::{SessionId, UserId};

use super::SqliteAuthStore;
use crate::session::{RevokeReason, Session, SessionStore};
use crate::store::sql::queries;
use crate::store::sql::queries::session_columns;
use crate::store::sql::rows;

#[async_trait]
impl SessionStore for SqliteAuthStore {
    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        sqlx::query(concat!(
            "INSERT INTO sessions (",
            session_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(session.id.as_uuid())
        .bind(session.user_id.as_uuid())
        .bind(to_micros(session.created_at))
        .bind(to_micros(session.last_seen_at))
        .bind(to_micros(session.idle_expires_at))
        .bind(to_micros(session.absolute_expires_at))
        .bind(session.revoked_at.map(to_micros))
        .bind(session.revoked_reason.map(RevokeReason::as_str))
        .bind(session.user_agent.as_deref())
        .bind(session.ip.as_deref())
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn get_session(&self, id: SessionId) -> Result<Option<Session>, StoreError> {
        sqlx::query(queries::SESSION_BY_ID)
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?
            .as_ref()
            .map(rows::session)
            .transpose()
    }

    async fn list_user_sessions(&self, user_id: UserId) -> Result<Vec<Session>, StoreError> {
        sqlx::query(queries::SESSIONS_OF_USER)
            .bind(user_id.as_uuid())
            .fetch_all(&self.pool)
            .await
            .map_err(store_error)?
            .iter()
            .map(rows::session)
            .collect()
    }

    async fn touch_session(
        &self,
        id: SessionId,
        last_seen_at: DateTime<Utc>,
        idle_expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let updated = sqlx::query(queries::TOUCH_SESSION)
            .bind(id.as_uuid())
            .bind(to_micros(last_seen_at))
            .bind(to_micros(idle_expires_at))
            .execute(&self.pool)
            .await
            .map_err(store_error)?
            .rows_affected();
        if updated == 1 {
            Ok(())
        } else {
            Err(StoreError::not_found(format!("session {id}")))
        }
    }

    async fn revoke_session(
        &self,
        id: SessionId,
        reason: RevokeReason,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let updated = sqlx::query(
            "UPDATE sessions SET revoked_at = $2, revoked_reason = $3
             WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(id.as_uuid())
        .bind(to_micros(at))
        .bind(reason.as_str())
        .execute(&self.pool)
        .await
        .map_err(store_error)?
        .rows_affected();
        if updated == 1 {
            return Ok(true);
        }
        // Sessions are never deleted and never un-revoked: no transaction is needed to tell
        // "already revoked" from "missing".
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM sessions WHERE id = $1)")
                .bind(id.as_uuid())
                .fetch_one(&self.pool)
                .await
                .map_err(store_error)?;
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
        // One statement: every session is revoked atomically.
        let rows = sqlx::query(
            "UPDATE sessions SET revoked_at = $2, revoked_reason = $3
             WHERE user_id = $1 AND revoked_at IS NULL AND ($4 IS NULL OR id <> $4)
             RETURNING id, created_at",
        )
        .bind(user_id.as_uuid())
        .bind(to_micros(at))
        .bind(reason.as_str())
        .bind(except.map(|s| *s.as_uuid()))
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        let mut revoked = rows
            .iter()
            .map(|r| Ok((r.int("created_at")?, SessionId::from_uuid(r.uuid("id")?))))
            .collect::<Result<Vec<_>, StoreError>>()?;
        revoked.sort_unstable();
        Ok(revoked.into_iter().map(|(_, id)| id).collect())
    }

    async fn prune_sessions(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        sqlx::query(queries::PRUNE_REFRESH_TOKENS)
            .bind(to_micros(before))
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        let deleted = sqlx::query(queries::PRUNE_SESSIONS)
            .bind(to_micros(before))
            .execute(&mut *tx)
            .await
            .map_err(store_error)?
            .rows_affected();
        tx.commit().await.map_err(store_error)?;
        Ok(deleted)
    }
}
