//! [`OneTimeStore`](crate::otp::OneTimeStore) on PostgreSQL: nothing of its own (`store::sql::otp`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;
use kisum_guard::UserId;

use super::PgAuthStore;
use crate::identity::Email;
use crate::otp::{OneTimeStore, OtpPurpose, OtpState, SecretHash};
use crate::store::sql::otp;

#[async_trait]
impl OneTimeStore for PgAuthStore {
    async fn get_otp(
        &self,
        email: &Email,
        purpose: OtpPurpose,
    ) -> Result<Option<OtpState>, StoreError> {
        otp::get_otp(&self.pool, email, purpose).await
    }

    async fn put_otp(&self, state: &OtpState) -> Result<bool, StoreError> {
        otp::put_otp(&self.pool, state).await
    }

    async fn insert_reset(
        &self,
        hash: &SecretHash,
        user: UserId,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        otp::insert_reset(&self.pool, hash, user, expires_at).await
    }

    async fn consume_reset(
        &self,
        hash: &SecretHash,
        at: DateTime<Utc>,
    ) -> Result<Option<UserId>, StoreError> {
        otp::consume_reset(&self.pool, hash, at).await
    }

    async fn spend_resets(&self, user: UserId, at: DateTime<Utc>) -> Result<u64, StoreError> {
        otp::spend_resets(&self.pool, user, at).await
    }

    async fn prune_one_time(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        otp::prune_one_time(&self.pool, before).await
    }
}
