//! [`RefreshTokenStore`](crate::session::RefreshTokenStore) written once, for both dialects. A rotation is one
//! write transaction whose `UPDATE … WHERE used_at IS NULL` spends the token: SQLite's write lock
//! (`BEGIN IMMEDIATE`) makes concurrent rotations take turns, PostgreSQL's row lock makes a
//! waiting one re-check `used_at IS NULL` once the winner commits; either way only the first
//! finds the token unspent. A refresh that succeeds is
//! [`refresh_live`](crate::session::RefreshTokenStore::refresh_live): it spends, stores the
//! successor, touches the session and appends the audit event at once — on PostgreSQL in one
//! statement (decision 0030), on SQLite in one write transaction (decision 0020).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;
use kisum_core::db::sql::{Db, Dialect, Stmt, store_error};

use super::SqlAuthStore;
use super::audit::{AuditSql, append};
use crate::audit::AuditOutcome;
use crate::audit::action;
use crate::session::{
    LiveRefresh, RefreshAudit, RefreshRecord, RefreshTokenStore, Rotation, Session, TokenHash,
};
use crate::store::sql::{queries, rows};

/// The refresh statement a dialect writes its own way.
pub(crate) trait RefreshSql: Dialect {
    /// With [`REFRESH_LIVE_WHOLE`](Self::REFRESH_LIVE_WHOLE): the whole refresh — spends the
    /// live token `$1` at `$2` naming its successor `$3`, stores the successor (`$5` sealed,
    /// expiring at `$4` capped by the session's absolute expiry), touches the session and
    /// appends the audit event (`$6` its id, `$7` its action, `$8` its outcome, `$9` the
    /// client's address, `$10` the request id; the session's user as actor, the session's id
    /// in the details, as [`RefreshAudit::event_for`] writes them); without: only touches the
    /// session of the live token `$1` at `$2`, idle until `$3` capped the same way. Either way
    /// only when the token is unspent and unexpired, its session active and its user not
    /// disabled at `$2`; returns the session's columns as touched, or no row.
    const REFRESH_LIVE: &'static str;
    /// Whether [`REFRESH_LIVE`](Self::REFRESH_LIVE) is the whole refresh in one statement,
    /// committed on its own (PostgreSQL's data-modifying CTEs), or leaves the spend, the
    /// successor and the audit event to the next statements of a write transaction (SQLite,
    /// under its write lock).
    const REFRESH_LIVE_WHOLE: bool;
}

/// A count as stored (`INTEGER`), saturating.
fn count_to_db(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Inserts a refresh token; `Conflict` when its hash exists, `NotFound` (the foreign key) when
/// its session does not.
pub(super) async fn insert_refresh_token<'c, D: Dialect>(
    db: impl Into<Db<'c, D>>,
    record: &RefreshRecord,
) -> Result<(), StoreError> {
    Stmt::new(queries::INSERT_REFRESH)
        .bytes(record.hash.0.as_slice())
        .id(record.session_id.as_uuid())
        .time(record.created_at)
        .time(record.expires_at)
        .time_opt(record.used_at)
        .bytes_opt(record.replaced_by.as_ref().map(|h| h.0.as_slice()))
        .bytes_opt(record.sealed.as_ref().map(<[u8; 32]>::as_slice))
        .int32(count_to_db(record.grace_uses))
        .execute(db)
        .await?;
    Ok(())
}

/// Reads a refresh token by its hash, from the pool or inside a transaction.
async fn find_refresh_token<'c, D: Dialect>(
    db: impl Into<Db<'c, D>>,
    hash: &TokenHash,
) -> Result<Option<RefreshRecord>, StoreError> {
    Stmt::new(queries::REFRESH_BY_HASH)
        .bytes(hash.0.as_slice())
        .fetch_optional_as(db, rows::refresh)
        .await
}

#[async_trait]
impl<D: RefreshSql + AuditSql> RefreshTokenStore for SqlAuthStore<D> {
    async fn insert_refresh_token(&self, record: &RefreshRecord) -> Result<(), StoreError> {
        insert_refresh_token(&self.pool, record).await
    }

    async fn find_refresh_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<RefreshRecord>, StoreError> {
        find_refresh_token(&self.pool, hash).await
    }

    async fn claim_grace(
        &self,
        hash: &TokenHash,
        max_uses: u32,
    ) -> Result<Option<RefreshRecord>, StoreError> {
        Stmt::new(queries::CLAIM_GRACE)
            .bytes(hash.0.as_slice())
            .int32(count_to_db(max_uses))
            .fetch_optional_as(&self.pool, rows::refresh)
            .await
    }

    async fn rotate_refresh_token(
        &self,
        old: &TokenHash,
        at: DateTime<Utc>,
        next: &RefreshRecord,
    ) -> Result<Rotation, StoreError> {
        let mut tx = D::begin_write(&self.pool).await?;
        let spent = Stmt::new(queries::SPEND_REFRESH)
            .bytes(old.0.as_slice())
            .time(at)
            .bytes(next.hash.0.as_slice())
            .fetch_optional(&mut tx)
            .await?;
        let Some(spent) = spent else {
            let found = find_refresh_token(&mut tx, old).await?;
            tx.rollback().await.map_err(store_error)?;
            return match found {
                Some(record) => Ok(Rotation::AlreadyUsed(record)),
                None => Err(StoreError::not_found("refresh token")),
            };
        };
        let spent = rows::refresh(&spent)?;
        insert_refresh_token(&mut tx, next).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(Rotation::Rotated(spent))
    }

    /// One write transaction — on PostgreSQL `BEGIN`, `RefreshSql::REFRESH_LIVE`, the audit
    /// event, `COMMIT`.
    async fn refresh_live(
        &self,
        step: &LiveRefresh,
        audit: &RefreshAudit,
    ) -> Result<Option<Session>, StoreError> {
        let statement = Stmt::new(D::REFRESH_LIVE)
            .bytes(step.spend.0.as_slice())
            .time(step.at);
        if D::REFRESH_LIVE_WHOLE {
            return statement
                .bytes(step.successor.0.as_slice())
                .time(step.idle_until)
                .bytes_opt(step.sealed.as_ref().map(<[u8; 32]>::as_slice))
                .id(audit.id.as_uuid())
                .text(action::REFRESH)
                .text(AuditOutcome::Success.as_str())
                .text_opt(audit.ip.as_deref())
                .text_opt(audit.request_id.as_deref())
                .fetch_optional_as(&self.pool, rows::session)
                .await;
        }
        let mut tx = D::begin_write(&self.pool).await?;
        let Some(session) = statement
            .time(step.idle_until)
            .fetch_optional_as(&mut tx, rows::session)
            .await?
        else {
            tx.rollback().await.map_err(store_error)?;
            return Ok(None);
        };
        // Under the write lock taken by `BEGIN IMMEDIATE`: the token is still unspent.
        Stmt::new(queries::SPEND_REFRESH)
            .bytes(step.spend.0.as_slice())
            .time(step.at)
            .bytes(step.successor.0.as_slice())
            .fetch_optional(&mut tx)
            .await?
            .ok_or_else(|| StoreError::conflict("the refresh token was spent concurrently"))?;
        let successor = RefreshRecord {
            hash: step.successor,
            session_id: session.id,
            created_at: step.at,
            expires_at: session.idle_expires_at,
            used_at: None,
            replaced_by: None,
            sealed: step.sealed,
            grace_uses: 0,
        };
        insert_refresh_token(&mut tx, &successor).await?;
        append(&mut tx, &audit.event_for(&session)).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(Some(session))
    }
}
