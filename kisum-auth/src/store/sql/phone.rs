//! [`PhoneStore`](crate::otp::PhoneStore) written once, with its statements. An SMS code state
//! is replaced only by its successor version, in one statement, as an email code's (see
//! `otp.rs`); a number is kept unique by the `user_phones.phone` constraint, so of two users
//! proving one number only the first keeps it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::sql::{Dialect, SqlRow, Stmt};
use kisum_core::db::{StoreError, StoreErrorKind};
use kisum_guard::UserId;

use super::SqlAuthStore;
use crate::otp::{PhoneStore, SmsCodeRow, SmsCodeState, SmsPurpose, VerifiedPhone};
use crate::sms::Phone;

/// The columns of `sms_codes`, in the order the statements bind them.
macro_rules! columns {
    () => {
        "phone, purpose, code_hash, salt, expires_at, attempts, locked_until, last_sent_at, \
         quota_started_at, sent_in_window, version"
    };
}

const CODE: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM sms_codes WHERE phone = $1 AND purpose = $2"
);

const INSERT_CODE: &str = concat!(
    "INSERT INTO sms_codes (",
    columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
     ON CONFLICT (phone, purpose) DO NOTHING"
);

/// Replaces the state of version `$11 - 1` (same parameters as [`INSERT_CODE`]).
const UPDATE_CODE: &str = "UPDATE sms_codes SET code_hash = $3, salt = $4, expires_at = $5, \
                           attempts = $6, locked_until = $7, last_sent_at = $8, \
                           quota_started_at = $9, sent_in_window = $10, version = $11 \
                           WHERE phone = $1 AND purpose = $2 AND version = $11 - 1";

/// Deletes SMS code states with nothing in force at `$1` (as `PRUNE_OTPS` for email codes);
/// run by `prune_one_time`.
pub(crate) const PRUNE_CODES: &str = "DELETE FROM sms_codes
             WHERE (expires_at IS NULL OR expires_at < $1)
               AND (locked_until IS NULL OR locked_until < $1)
               AND (last_sent_at IS NULL OR last_sent_at < $1)
               AND (quota_started_at IS NULL OR quota_started_at < $1)";

const USER_BY_PHONE: &str = "SELECT user_id FROM user_phones WHERE phone = $1";

const PHONE_OF: &str = "SELECT phone, verified_at FROM user_phones WHERE user_id = $1";

const SET_PHONE: &str = "INSERT INTO user_phones (user_id, phone, verified_at) VALUES ($1, $2, $3) \
                         ON CONFLICT (user_id) DO UPDATE \
                         SET phone = excluded.phone, verified_at = excluded.verified_at";

fn code_row(r: &impl SqlRow) -> Result<SmsCodeState, StoreError> {
    SmsCodeRow {
        phone: r.text("phone")?,
        purpose: r.text("purpose")?,
        code_hash: r.bytes_opt("code_hash")?,
        salt: r.bytes("salt")?,
        expires_at: r.time_opt("expires_at")?,
        attempts: i64::from(r.int32("attempts")?),
        locked_until: r.time_opt("locked_until")?,
        last_sent_at: r.time_opt("last_sent_at")?,
        quota_started_at: r.time_opt("quota_started_at")?,
        sent_in_window: i64::from(r.int32("sent_in_window")?),
        version: r.int("version")?,
    }
    .decode()
}

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
    async fn get_sms_code(
        &self,
        phone: &Phone,
        purpose: SmsPurpose,
    ) -> Result<Option<SmsCodeState>, StoreError> {
        Stmt::new(CODE)
            .text(phone.as_str())
            .text(purpose.as_str())
            .fetch_optional_as(&self.pool, code_row)
            .await
    }

    /// Version 1 may only create the row, any later version only replace its predecessor.
    async fn put_sms_code(&self, s: &SmsCodeState) -> Result<bool, StoreError> {
        let range = || StoreError::new(StoreErrorKind::Invalid, "sms code counter out of range");
        let attempts = i32::try_from(s.attempts).map_err(|_| range())?;
        let sent = i32::try_from(s.sent_in_window).map_err(|_| range())?;
        let version = i64::try_from(s.version).map_err(|_| range())?;
        let statement = match version {
            1 => INSERT_CODE,
            v if v > 1 => UPDATE_CODE,
            _ => return Ok(false),
        };
        let written = Stmt::new(statement)
            .text(s.phone.as_str())
            .text(s.purpose.as_str())
            .bytes_opt(s.code_hash.as_ref().map(|h| h.0.as_slice()))
            .bytes(s.salt.as_slice())
            .time_opt(s.expires_at)
            .int32(attempts)
            .time_opt(s.locked_until)
            .time_opt(s.last_sent_at)
            .time_opt(s.quota_started_at)
            .int32(sent)
            .int(version)
            .execute(&self.pool)
            .await?;
        Ok(written == 1)
    }

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
