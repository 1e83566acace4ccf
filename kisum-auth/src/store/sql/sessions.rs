//! [`SessionStore`](crate::session::SessionStore) written once, for both dialects; the
//! statements they write their own way are [`SessionSql`]'s. A sign-in's writes
//! ([`start_session_live`](crate::session::SessionStore::start_session_live)) are one statement
//! on PostgreSQL (data-modifying CTEs) and one write transaction on SQLite (decision 0046).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::sql::{Dialect, SqlRow, Stmt, store_error};
use kisum_core::db::{StoreError, StoreErrorKind};
use kisum_guard::{SessionId, UserId};

use super::SqlAuthStore;
use super::audit::{AuditSql, append, audit_values};
use super::refresh::insert_refresh_token;
use crate::session::{RevokeReason, Session, SessionStart, SessionStore};
use crate::store::sql::{queries, rows};

/// The session statement a dialect writes its own way.
pub(crate) trait SessionSql: Dialect {
    /// Revokes at `$2`, for reason `$3`, every live session of user `$1` but `$4` (a nullable
    /// id), in one statement; `RETURNING id, created_at`.
    const REVOKE_USER_SESSIONS: &'static str;
    /// With [`START_SESSION_WHOLE`](Self::START_SESSION_WHOLE): a sign-in's writes in one
    /// statement — the session (`$1`…`$13`, the columns of `sessions` in order), its first
    /// refresh token (`$14`…`$20`: the columns of `refresh_tokens` but the session id, which
    /// is `$1`), the audit event (`$21`…`$29`, the columns of `audit_events` in order, the
    /// details as JSON text), and the eviction: at `$3` (the session's `created_at`), for
    /// reason `$30`, revokes user `$2`'s sessions active at `$3` but the `$31` newest.
    /// Without: only that eviction — user `$1`, at `$2`, for reason `$3`, but the `$4`
    /// newest — (the inserts follow it in the write transaction). Either way `RETURNING id,
    /// created_at` of the revoked sessions.
    const START_SESSION: &'static str;
    /// Whether [`START_SESSION`](Self::START_SESSION) is the whole sign-in in one statement,
    /// committed on its own (PostgreSQL), or the eviction a write transaction starts with
    /// (SQLite, under its write lock).
    const START_SESSION_WHOLE: bool;
}

/// Binds `sessions`' columns of `session` in order.
fn session_values<'q>(statement: Stmt<'q>, session: &'q Session) -> Stmt<'q> {
    statement
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
}

/// The revoked sessions' ids, oldest first, from rows of `id, created_at`.
fn oldest_first(rows: &[impl SqlRow]) -> Result<Vec<SessionId>, StoreError> {
    let mut revoked = rows
        .iter()
        .map(|r| Ok((r.time("created_at")?, SessionId::from_uuid(r.uuid("id")?))))
        .collect::<Result<Vec<_>, StoreError>>()?;
    revoked.sort_unstable();
    Ok(revoked.into_iter().map(|(_, id)| id).collect())
}

#[async_trait]
impl<D: SessionSql + AuditSql> SessionStore for SqlAuthStore<D> {
    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        session_values(Stmt::new(queries::INSERT_SESSION), session)
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
        oldest_first(&rows)
    }

    /// On PostgreSQL one statement (`SessionSql::START_SESSION`); on SQLite one write
    /// transaction: the eviction, the session, its refresh token, the audit event.
    async fn start_session_live(
        &self,
        start: &SessionStart<'_>,
    ) -> Result<Option<Vec<SessionId>>, StoreError> {
        let (session, refresh, event) = (start.session, start.refresh, start.audit);
        if refresh.session_id != session.id {
            return Err(StoreError::new(
                StoreErrorKind::Invalid,
                "the refresh token is not the new session's",
            ));
        }
        if D::START_SESSION_WHOLE {
            let statement = session_values(Stmt::new(D::START_SESSION), session)
                .bytes(refresh.hash.0.as_slice())
                .time(refresh.created_at)
                .time(refresh.expires_at)
                .time_opt(refresh.used_at)
                .bytes_opt(refresh.replaced_by.as_ref().map(|h| h.0.as_slice()))
                .bytes_opt(refresh.sealed.as_ref().map(<[u8; 32]>::as_slice))
                .int32(i32::try_from(refresh.grace_uses).unwrap_or(i32::MAX));
            let statement = audit_values(statement, event)?
                .text(RevokeReason::Evicted.as_str())
                .int(start.others_kept());
            let rows = statement.fetch_all(self.sign_in_db()).await?;
            return oldest_first(&rows).map(Some);
        }
        let mut tx = D::begin_write(&self.pool).await?;
        let rows = Stmt::new(D::START_SESSION)
            .id(session.user_id.as_uuid())
            .time(session.created_at)
            .text(RevokeReason::Evicted.as_str())
            .int(start.others_kept())
            .fetch_all(&mut tx)
            .await?;
        session_values(Stmt::new(queries::INSERT_SESSION), session)
            .execute(&mut tx)
            .await?;
        insert_refresh_token(&mut tx, refresh).await?;
        append(&mut tx, event).await?;
        tx.commit().await.map_err(store_error)?;
        oldest_first(&rows).map(Some)
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
