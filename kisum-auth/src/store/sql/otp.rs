//! [`CodeStore`] and [`OneTimeStore`] written once. Each channel keeps its code states in a
//! table of its own with the same columns after the key (`email_otps`: `email`; `sms_codes`:
//! `phone`, migration 0014), so the statements are written once for both (decision 0040).
//!
//! A code state is replaced only by its successor version, in one statement: of racing writes
//! of one version exactly one matches (SQLite has one writer at a time; under PostgreSQL's READ
//! COMMITTED a racing `UPDATE … WHERE version = n - 1` waits for the winner's row lock, re-reads
//! the row and no longer matches, and of racing inserts `ON CONFLICT DO NOTHING` lets one
//! through). A reset token is spent the same way, so of two racing uses only the first finds it
//! live.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::sql::{Dialect, SqlRow, Stmt, store_error};
use kisum_core::db::{StoreError, StoreErrorKind};
use kisum_guard::UserId;

use super::SqlAuthStore;
use crate::otp::{CodeKey, CodeState, CodeStore, OneTimeStore, SecretHash};
use crate::store::sql::{queries, rows};

/// The columns of a code state after its key (address, purpose), in the order the statements
/// bind them (`$3` to `$11`).
macro_rules! state_columns {
    () => {
        "code_hash, salt, expires_at, attempts, locked_until, last_sent_at, quota_started_at, \
         sent_in_window, version"
    };
}

/// The statements over one channel's table: `$1` the address, `$2` the purpose, then the
/// state columns.
struct CodeSql {
    /// The state of a key.
    get: &'static str,
    /// Creates the state (version 1) unless one exists.
    insert: &'static str,
    /// Replaces the state of version `$11 - 1`.
    update: &'static str,
    /// Deletes the states with nothing in force at `$1`.
    prune: &'static str,
}

/// The [`CodeSql`] of `$table`, whose address column is `$address`.
macro_rules! code_sql {
    ($table:literal, $address:literal) => {
        CodeSql {
            get: concat!(
                "SELECT ",
                state_columns!(),
                " FROM ",
                $table,
                " WHERE ",
                $address,
                " = $1 AND purpose = $2"
            ),
            insert: concat!(
                "INSERT INTO ",
                $table,
                " (",
                $address,
                ", purpose, ",
                state_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (",
                $address,
                ", purpose) DO NOTHING"
            ),
            update: concat!(
                "UPDATE ",
                $table,
                " SET code_hash = $3, salt = $4, expires_at = $5, attempts = $6, \
                 locked_until = $7, last_sent_at = $8, quota_started_at = $9, \
                 sent_in_window = $10, version = $11 WHERE ",
                $address,
                " = $1 AND purpose = $2 AND version = $11 - 1"
            ),
            prune: concat!(
                "DELETE FROM ",
                $table,
                " WHERE (expires_at IS NULL OR expires_at < $1) \
                 AND (locked_until IS NULL OR locked_until < $1) \
                 AND (last_sent_at IS NULL OR last_sent_at < $1) \
                 AND (quota_started_at IS NULL OR quota_started_at < $1)"
            ),
        }
    };
}

/// Email codes (`email_otps`, migration 0003).
static EMAIL_CODES: CodeSql = code_sql!("email_otps", "email");
/// SMS codes (`sms_codes`, migration 0014).
static SMS_CODES: CodeSql = code_sql!("sms_codes", "phone");

/// The statements of `key`'s channel.
fn statements(key: &CodeKey) -> &'static CodeSql {
    match key {
        CodeKey::Email(..) => &EMAIL_CODES,
        CodeKey::Sms(..) => &SMS_CODES,
    }
}

#[async_trait]
impl<D: Dialect> CodeStore for SqlAuthStore<D> {
    async fn get_code(&self, key: &CodeKey) -> Result<Option<CodeState>, StoreError> {
        Stmt::new(statements(key).get)
            .text(key.address())
            .text(key.purpose())
            .fetch_optional_as(&self.pool, |r| rows::code(r, key.clone()))
            .await
    }

    /// Version 1 may only create the row, any later version only replace its predecessor.
    async fn put_code(&self, state: &CodeState) -> Result<bool, StoreError> {
        let range = || {
            let what = format!("{} code counter out of range", state.key.channel());
            StoreError::new(StoreErrorKind::Invalid, what)
        };
        let attempts = i32::try_from(state.attempts).map_err(|_| range())?;
        let sent_in_window = i32::try_from(state.sent_in_window).map_err(|_| range())?;
        let version = i64::try_from(state.version).map_err(|_| range())?;
        let sql = statements(&state.key);
        let statement = match version {
            1 => sql.insert,
            v if v > 1 => sql.update,
            _ => return Ok(false),
        };
        let written = Stmt::new(statement)
            .text(state.key.address())
            .text(state.key.purpose())
            .bytes_opt(state.code_hash.as_ref().map(|h| h.0.as_slice()))
            .bytes(state.salt.as_slice())
            .time_opt(state.expires_at)
            .int32(attempts)
            .time_opt(state.locked_until)
            .time_opt(state.last_sent_at)
            .time_opt(state.quota_started_at)
            .int32(sent_in_window)
            .int(version)
            .execute(&self.pool)
            .await?;
        Ok(written == 1)
    }
}

#[async_trait]
impl<D: Dialect> OneTimeStore for SqlAuthStore<D> {
    /// The foreign key answers `NotFound` for an unknown user, the primary key `Conflict`.
    async fn insert_reset(
        &self,
        hash: &SecretHash,
        user: UserId,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Stmt::new(queries::INSERT_RESET)
            .bytes(hash.0.as_slice())
            .id(user.as_uuid())
            .time(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn consume_reset(
        &self,
        hash: &SecretHash,
        at: DateTime<Utc>,
    ) -> Result<Option<UserId>, StoreError> {
        Stmt::new(queries::CONSUME_RESET)
            .bytes(hash.0.as_slice())
            .time(at)
            .fetch_optional_as(&self.pool, |r| Ok(UserId::from_uuid(r.uuid("user_id")?)))
            .await
    }

    async fn spend_resets(&self, user: UserId, at: DateTime<Utc>) -> Result<u64, StoreError> {
        Stmt::new(queries::SPEND_RESETS)
            .id(user.as_uuid())
            .time(at)
            .execute(&self.pool)
            .await
    }

    async fn prune_one_time(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        let resets = Stmt::new(queries::PRUNE_RESETS)
            .time(before)
            .execute(&mut tx)
            .await?;
        let mut codes = 0;
        for channel in [&EMAIL_CODES, &SMS_CODES] {
            codes += Stmt::new(channel.prune)
                .time(before)
                .execute(&mut tx)
                .await?;
        }
        tx.commit().await.map_err(store_error)?;
        Ok(resets + codes)
    }
}
