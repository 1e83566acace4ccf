//! [`SessionStore`](crate::session::SessionStore) on PostgreSQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;
use kisum_core::db::sql::SqlRow;
use kisum_core::db::sql::store_error;
use kisum_guard::{SessionId, UserId};
use uuid::Uuid;

use super::PgAuthStore;
use crate::session::{RevokeReason, Session, SessionStore};
use crate::store::sql::queries;
use crate::store::sql::queries::session_columns;
use crate::store::sql::rows;

#[async_trait]
impl SessionStore for PgAuthStore {
    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        sqlx::query(concat!(
            "INSERT INTO sessions (",
            session_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(session.id.as_uuid())
        .bind(session.user_id.as_uuid())
        .bind(session.created_at)
        .bind(session.last_seen_at)
        .bind(session.idle_expires_at)
        .bind(session.absolute_expires_at)
        .bind(session.revoked_at)
        .bind(session.revoked_reason.map(RevokeReason::as_str))
        .bind(&session.user_agent)
        .bind(&session.ip)
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
            .bind(last_seen_at)
            .bind(idle_expires_at)
            .execute(&self.pool)
            .await
            .map_err(store_error)?
            .rows_affected();
        if updated == 0 {
            return Err(StoreError::not_found(format!("session {id}")));
        }
        Ok(())
    }

    async fn revoke_session(
        &self,
        id: SessionId,
        reason: RevokeReason,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "WITH target AS (SELECT id FROM sessions WHERE id = $1),
                  revoked AS (UPDATE sessions SET revoked_at = $2, revoked_reason = $3
                              WHERE id = $1 AND revoked_at IS NULL RETURNING id)
             SELECT (SELECT count(*) FROM target) AS found, (SELECT count(*) FROM revoked) AS revoked",
        )
        .bind(id.as_uuid())
        .bind(at)
        .bind(reason.as_str())
        .fetch_one(&self.pool)
        .await
        .map_err(store_error)?;
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
        let ids: Vec<Uuid> = sqlx::query_scalar(
            "UPDATE sessions SET revoked_at = $2, revoked_reason = $3
             WHERE user_id = $1 AND revoked_at IS NULL AND ($4::uuid IS NULL OR id <> $4)
             RETURNING id",
        )
        .bind(user_id.as_uuid())
        .bind(at)
        .bind(reason.as_str())
        .bind(except.map(|s| *s.as_uuid()))
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        let mut ids: Vec<SessionId> = ids.into_iter().map(SessionId::from_uuid).collect();
        ids.sort();
        Ok(ids)
    }

    async fn prune_sessions(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        sqlx::query(queries::PRUNE_REFRESH_TOKENS)
            .bind(before)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        let deleted = sqlx::query(queries::PRUNE_SESSIONS)
            .bind(before)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?
            .rows_affected();
        tx.commit().await.map_err(store_error)?;
        Ok(deleted)
    }
}
