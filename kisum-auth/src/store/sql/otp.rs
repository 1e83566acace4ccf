//! [`OneTimeStore`](crate::otp::OneTimeStore) written once. An email-code state is replaced
//! only by its successor version, in one statement: of racing writes of one version exactly one
//! matches (SQLite has one writer at a time; under PostgreSQL's READ COMMITTED a racing
//! `UPDATE … WHERE version = n - 1` waits for the winner's row lock, re-reads the row and no
//! longer matches, and of racing inserts `ON CONFLICT DO NOTHING` lets one through). A reset
//! token is spent the same way, so of two racing uses only the first finds it live.

use async_trait::async_trait;

use super::SqlAuthStore;
use crate::otp::OneTimeStore;
use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;
use kisum_core::db::sql::{Dialect, SqlRow, Stmt, store_error};
use kisum_guard::UserId;

use crate::identity::Email;
use crate::otp::{OtpPurpose, OtpState, SecretHash, otp_numbers};
use crate::store::sql::{queries, rows};

#[async_trait]
impl<D: Dialect> OneTimeStore for SqlAuthStore<D> {
    async fn get_otp(
        &self,
        email: &Email,
        purpose: OtpPurpose,
    ) -> Result<Option<OtpState>, StoreError> {
        Stmt::new(queries::OTP_STATE)
            .text(email.as_str())
            .text(purpose.as_str())
            .fetch_optional_as(&self.pool, rows::otp)
            .await
    }

    /// Version 1 may only create the row, any later version only replace its predecessor.
    async fn put_otp(&self, state: &OtpState) -> Result<bool, StoreError> {
        let (attempts, sent_in_window, version) = otp_numbers(state)?;
        let statement = match version {
            1 => queries::INSERT_OTP,
            v if v > 1 => queries::UPDATE_OTP,
            _ => return Ok(false),
        };
        let written = Stmt::new(statement)
            .text(state.email.as_str())
            .text(state.purpose.as_str())
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
        let otps = Stmt::new(queries::PRUNE_OTPS)
            .time(before)
            .execute(&mut tx)
            .await?;
        let sms = Stmt::new(super::phone::PRUNE_CODES)
            .time(before)
            .execute(&mut tx)
            .await?;
        tx.commit().await.map_err(store_error)?;
        Ok(resets + otps + sms)
    }
}
