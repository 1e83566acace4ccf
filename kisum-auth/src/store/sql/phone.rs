//! [`PhoneStore`](crate::otp::PhoneStore) written once, with its statements (SMS code states
//! are written with every channel's, in `otp.rs`). A number is kept unique by the
//! `user_phones.phone` constraint, so of two users proving one number only the first keeps it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::sql::{Dialect, SqlRow, Stmt};
use kisum_core::db::{StoreError, StoreErrorKind};
use kisum_guard::UserId;

use super::SqlAuthStore;
use crate::otp::{PhoneStore, VerifiedPhone};
use crate::sms::Phone;

const USER_BY_PHONE: &str = "SELECT user_id FROM user_phones WHERE phone = $1";

const PHONE_OF: &str = "SELECT phone, verified_at FROM user_phones WHERE user_id = $1";

const SET_PHONE: &str = "INSERT INTO user_phones (user_id, phone, verified_at) VALUES ($1, $2, $3) \
                         ON CONFLICT (user_id) DO UPDATE \
                         SET phone = excluded.phone, verified_at = excluded.verified_at";

fn phone_row(r: &impl SqlRow) -> Result<VerifiedPhone, StoreError> {
    Ok(VerifiedPhone {
        phone: Phone::parse(r.text("phone")?).map_err(|_| {
            StoreError::new(StoreErrorKind::Invalid, "stored phone number is not valid")
        })?,
        verified_at: r.time("verified_at")?,
    })
}

#[async_trait]
impl<D: Dialect> PhoneStore for SqlAuthStore<D> {
    async fn user_by_phone(&self, phone: &Phone) -> Result<Option<UserId>, StoreError> {
        Stmt::new(USER_BY_PHONE)
            .text(phone.as_str())
            .fetch_optional_as(&self.pool, |r| Ok(UserId::from_uuid(r.uuid("user_id")?)))
            .await
    }

    async fn phone_of(&self, user: UserId) -> Result<Option<VerifiedPhone>, StoreError> {
        Stmt::new(PHONE_OF)
            .id(user.as_uuid())
            .fetch_optional_as(&self.pool, phone_row)
            .await
    }

    /// The foreign key answers `NotFound` for an unknown user, the unique number `Conflict`.
    async fn set_phone(
        &self,
        user: UserId,
        phone: &Phone,
        verified_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Stmt::new(SET_PHONE)
            .id(user.as_uuid())
            .text(phone.as_str())
            .time(verified_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
