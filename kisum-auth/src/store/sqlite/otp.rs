//! [`OneTimeStore`](crate::otp::OneTimeStore) on SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;
use kisum_core::db::sql::{store_error, to_micros};
use kisum_guard::UserId;
use uuid::Uuid;

use super::SqliteAuthStore;
use crate::identity::Email;
use crate::otp::{OneTimeStore, OtpPurpose, OtpState, SecretHash, otp_numbers};
use crate::store::sql::queries;
use crate::store::sql::queries::otp_columns;
use crate::store::sql::rows;

#[async_trait]
impl OneTimeStore for SqliteAuthStore {
    async fn get_otp(
        &self,
        email: &Email,
        purpose: OtpPurpose,
    ) -> Result<Option<OtpState>, StoreError> {
        sqlx::query(queries::OTP_STATE)
            .bind(email.as_str())
            .bind(purpose.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?
            .as_ref()
            .map(rows::otp)
            .transpose()
    }

    async fn put_otp(&self, state: &OtpState) -> Result<bool, StoreError> {
        let (attempts, sent_in_window, version) = otp_numbers(state)?;
        // Version 1 may only create the row; any later version only replaces its predecessor.
        // Each statement is atomic (SQLite has one writer at a time), so of racing writes of
        // the same version exactly one matches.
        let sql = match version {
            1 => concat!(
                "INSERT INTO email_otps (",
                otp_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 ON CONFLICT (email, purpose) DO NOTHING"
            ),
            v if v > 1 => {
                "UPDATE email_otps SET code_hash = $3, salt = $4, expires_at = $5, attempts = $6,
                     locked_until = $7, last_sent_at = $8, quota_started_at = $9,
                     sent_in_window = $10, version = $11
                 WHERE email = $1 AND purpose = $2 AND version = $11 - 1"
            }
            _ => return Ok(false),
        };
        let written = sqlx::query(sql)
            .bind(state.email.as_str())
            .bind(state.purpose.as_str())
            .bind(state.code_hash.as_ref().map(|h| h.0.as_slice()))
            .bind(state.salt.as_slice())
            .bind(state.expires_at.map(to_micros))
            .bind(attempts)
            .bind(state.locked_until.map(to_micros))
            .bind(state.last_sent_at.map(to_micros))
            .bind(state.quota_started_at.map(to_micros))
            .bind(sent_in_window)
            .bind(version)
            .execute(&self.pool)
            .await
            .map_err(store_error)?
            .rows_affected();
        Ok(written == 1)
    }

    async fn insert_reset(
        &self,
        hash: &SecretHash,
        user: UserId,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // The foreign key answers `NotFound` for an unknown user, the primary key `Conflict`.
        sqlx::query(queries::INSERT_RESET)
            .bind(hash.0.as_slice())
            .bind(user.as_uuid())
            .bind(to_micros(expires_at))
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn consume_reset(
        &self,
        hash: &SecretHash,
        at: DateTime<Utc>,
    ) -> Result<Option<UserId>, StoreError> {
        let user: Option<Uuid> = sqlx::query_scalar(queries::CONSUME_RESET)
            .bind(hash.0.as_slice())
            .bind(to_micros(at))
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(user.map(UserId::from_uuid))
    }

    async fn spend_resets(&self, user: UserId, at: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(sqlx::query(queries::SPEND_RESETS)
            .bind(user.as_uuid())
            .bind(to_micros(at))
            .execute(&self.pool)
            .await
            .map_err(store_error)?
            .rows_affected())
    }

    async fn prune_one_time(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        let resets = sqlx::query(queries::PRUNE_RESETS)
            .bind(to_micros(before))
            .execute(&mut *tx)
            .await
            .map_err(store_error)?
            .rows_affected();
        let otps = sqlx::query(queries::PRUNE_OTPS)
            .bind(to_micros(before))
            .execute(&mut *tx)
            .await
            .map_err(store_error)?
            .rows_affected();
        tx.commit().await.map_err(store_error)?;
        Ok(resets + otps)
    }
}
