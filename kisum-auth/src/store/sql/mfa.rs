//! [`MfaStore`](crate::mfa::MfaStore) written once. Spending a TOTP step and a recovery code are
//! single conditional `UPDATE`s (`… WHERE last_used_step < $2`, `… WHERE used_at IS NULL`): of
//! racing spends exactly one matches (SQLite has one writer at a time; under PostgreSQL's READ
//! COMMITTED a racing `UPDATE` waits for the winner's row lock, re-reads the row and no longer
//! matches). Replacing a set of recovery codes locks the user's row first, so two racing
//! replacements run one after the other and leave one set.
//!
//! The statements read the same in both dialects and are used only here, so they stay next to
//! their functions.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::sql::{Dialect, SqlRow, Stmt, store_error};
use kisum_core::db::{StoreError, StoreErrorKind};
use kisum_guard::UserId;
use sqlx::Pool;

use super::SqlAuthStore;
use super::queries::LOCK_USER;
use crate::mfa::{MfaChallenge, MfaStore, TotpRecord};
use crate::otp::SecretHash;

/// `last_used_step` reads as -1 when none was spent (`SqlRow` has no nullable integer getter).
const GET_TOTP: &str = "SELECT user_id, secret, created_at, confirmed_at, \
     COALESCE(last_used_step, -1) AS last_used_step FROM mfa_totp WHERE user_id = $1";

/// Inserts a pending enrolment, or replaces a pending one; a confirmed one is left alone (no
/// row changed).
const PUT_PENDING_TOTP: &str = "INSERT INTO mfa_totp \
     (user_id, secret, created_at, confirmed_at, last_used_step) VALUES ($1, $2, $3, NULL, NULL) \
     ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, \
     created_at = excluded.created_at, last_used_step = NULL \
     WHERE mfa_totp.confirmed_at IS NULL";

const CONFIRM_TOTP: &str = "UPDATE mfa_totp SET confirmed_at = $4, last_used_step = $3 \
     WHERE user_id = $1 AND secret = $2 AND confirmed_at IS NULL \
     AND (last_used_step IS NULL OR last_used_step < $3)";

const ACCEPT_TOTP_STEP: &str = "UPDATE mfa_totp SET last_used_step = $2 \
     WHERE user_id = $1 AND confirmed_at IS NOT NULL \
     AND (last_used_step IS NULL OR last_used_step < $2)";

const RESEAL_TOTP: &str = "UPDATE mfa_totp SET secret = $3 WHERE user_id = $1 AND secret = $2";

const DELETE_TOTP: &str = "DELETE FROM mfa_totp WHERE user_id = $1";

const DELETE_RECOVERY_CODES: &str = "DELETE FROM mfa_recovery_codes WHERE user_id = $1";

const INSERT_RECOVERY_CODE: &str = "INSERT INTO mfa_recovery_codes \
     (user_id, code_hash, created_at, used_at) VALUES ($1, $2, $3, NULL)";

const CONSUME_RECOVERY_CODE: &str = "UPDATE mfa_recovery_codes SET used_at = $3 \
     WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL";

const UNUSED_RECOVERY_CODES: &str = "SELECT COUNT(*) AS unused FROM mfa_recovery_codes \
     WHERE user_id = $1 AND used_at IS NULL";

/// The columns of `mfa_challenges`.
macro_rules! challenge_columns {
    () => {
        "token_hash, user_id, first_factor, created_at, expires_at, attempts, locked_at, used_at"
    };
}

const INSERT_CHALLENGE: &str = concat!(
    "INSERT INTO mfa_challenges (",
    challenge_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, 0, NULL, NULL)"
);

/// One attempt on a live challenge: `SET` reads the row as it was, so the attempt that reaches
/// `$3` also records `locked_at`; a racing attempt waits for the row lock and re-checks.
const TAKE_ATTEMPT: &str = concat!(
    "UPDATE mfa_challenges SET attempts = attempts + 1, \
     locked_at = CASE WHEN attempts + 1 >= $3 THEN $2 ELSE locked_at END \
     WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 AND attempts < $3 \
     RETURNING ",
    challenge_columns!()
);

const GET_CHALLENGE: &str = concat!(
    "SELECT ",
    challenge_columns!(),
    " FROM mfa_challenges WHERE token_hash = $1"
);

const SPEND_CHALLENGE: &str = "UPDATE mfa_challenges SET used_at = $2, locked_at = NULL \
     WHERE token_hash = $1 AND used_at IS NULL";

const LOCKED_AT: &str = "SELECT locked_at FROM mfa_challenges \
     WHERE user_id = $1 AND locked_at > $2 ORDER BY locked_at DESC LIMIT 1";

const PRUNE_CHALLENGES: &str = "DELETE FROM mfa_challenges WHERE expires_at < $1";

fn challenge_row<R: SqlRow>(r: &R) -> Result<MfaChallenge, StoreError> {
    let invalid = |what: &str| {
        StoreError::new(
            StoreErrorKind::Invalid,
            format!("stored challenge {what} is not valid"),
        )
    };
    Ok(MfaChallenge {
        token_hash: SecretHash(
            r.bytes("token_hash")?
                .try_into()
                .map_err(|_| invalid("digest"))?,
        ),
        user_id: UserId::from_uuid(r.uuid("user_id")?),
        first_factor: r.text("first_factor")?.to_owned(),
        created_at: r.time("created_at")?,
        expires_at: r.time("expires_at")?,
        attempts: u32::try_from(r.int32("attempts")?).map_err(|_| invalid("attempt count"))?,
        locked_at: r.time_opt("locked_at")?,
        used_at: r.time_opt("used_at")?,
    })
}

/// A step as stored (`BIGINT`).
fn step_to_db(step: u64) -> Result<i64, StoreError> {
    i64::try_from(step)
        .map_err(|_| StoreError::new(StoreErrorKind::Invalid, "time step out of range"))
}

fn totp_row<R: SqlRow>(r: &R) -> Result<TotpRecord, StoreError> {
    Ok(TotpRecord {
        user_id: UserId::from_uuid(r.uuid("user_id")?),
        secret: r.bytes("secret")?.to_vec(),
        created_at: r.time("created_at")?,
        confirmed_at: r.time_opt("confirmed_at")?,
        last_used_step: match r.int("last_used_step")? {
            -1 => None,
            s => Some(u64::try_from(s).map_err(|_| {
                StoreError::new(StoreErrorKind::Invalid, "stored time step is negative")
            })?),
        },
    })
}

/// [`MfaStore::replace_recovery_codes`]: one write transaction.
pub(crate) async fn replace_recovery_codes<D: Dialect>(
    pool: &Pool<D>,
    user: UserId,
    hashes: &[SecretHash],
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut tx = D::begin_write(pool).await?;
    let found = Stmt::new(LOCK_USER)
        .id(user.as_uuid())
        .execute(&mut tx)
        .await?;
    if found == 0 && !hashes.is_empty() {
        return Err(StoreError::not_found(format!("user {user}")));
    }
    Stmt::new(DELETE_RECOVERY_CODES)
        .id(user.as_uuid())
        .execute(&mut tx)
        .await?;
    for hash in hashes {
        Stmt::new(INSERT_RECOVERY_CODE)
            .id(user.as_uuid())
            .bytes(hash.0.as_slice())
            .time(at)
            .execute(&mut tx)
            .await?;
    }
    tx.commit().await.map_err(store_error)
}

#[async_trait]
impl<D: Dialect> MfaStore for SqlAuthStore<D> {
    async fn get_totp(&self, user: UserId) -> Result<Option<TotpRecord>, StoreError> {
        Stmt::new(GET_TOTP)
            .id(user.as_uuid())
            .fetch_optional_as(&self.pool, totp_row)
            .await
    }

    async fn put_pending_totp(
        &self,
        user: UserId,
        secret: &[u8],
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let written = Stmt::new(PUT_PENDING_TOTP)
            .id(user.as_uuid())
            .bytes(secret)
            .time(at)
            .execute(&self.pool)
            .await?;
        Ok(written == 1)
    }

    async fn confirm_totp(
        &self,
        user: UserId,
        secret: &[u8],
        step: u64,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let written = Stmt::new(CONFIRM_TOTP)
            .id(user.as_uuid())
            .bytes(secret)
            .int(step_to_db(step)?)
            .time(at)
            .execute(&self.pool)
            .await?;
        Ok(written == 1)
    }

    async fn accept_totp_step(&self, user: UserId, step: u64) -> Result<bool, StoreError> {
        let written = Stmt::new(ACCEPT_TOTP_STEP)
            .id(user.as_uuid())
            .int(step_to_db(step)?)
            .execute(&self.pool)
            .await?;
        Ok(written == 1)
    }

    async fn reseal_totp(&self, user: UserId, old: &[u8], new: &[u8]) -> Result<bool, StoreError> {
        let written = Stmt::new(RESEAL_TOTP)
            .id(user.as_uuid())
            .bytes(old)
            .bytes(new)
            .execute(&self.pool)
            .await?;
        Ok(written == 1)
    }

    async fn delete_totp(&self, user: UserId) -> Result<bool, StoreError> {
        let deleted = Stmt::new(DELETE_TOTP)
            .id(user.as_uuid())
            .execute(&self.pool)
            .await?;
        Ok(deleted > 0)
    }

    async fn replace_recovery_codes(
        &self,
        user: UserId,
        hashes: &[SecretHash],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        replace_recovery_codes(&self.pool, user, hashes, at).await
    }

    async fn consume_recovery_code(
        &self,
        user: UserId,
        hash: &SecretHash,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let spent = Stmt::new(CONSUME_RECOVERY_CODE)
            .id(user.as_uuid())
            .bytes(hash.0.as_slice())
            .time(at)
            .execute(&self.pool)
            .await?;
        Ok(spent == 1)
    }

    async fn unused_recovery_codes(&self, user: UserId) -> Result<u64, StoreError> {
        let row = Stmt::new(UNUSED_RECOVERY_CODES)
            .id(user.as_uuid())
            .fetch_one(&self.pool)
            .await?;
        u64::try_from(row.int("unused")?)
            .map_err(|_| StoreError::new(StoreErrorKind::Invalid, "negative count"))
    }

    async fn insert_mfa_challenge(&self, challenge: &MfaChallenge) -> Result<(), StoreError> {
        Stmt::new(INSERT_CHALLENGE)
            .bytes(challenge.token_hash.0.as_slice())
            .id(challenge.user_id.as_uuid())
            .text(challenge.first_factor.as_str())
            .time(challenge.created_at)
            .time(challenge.expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn take_mfa_attempt(
        &self,
        hash: &SecretHash,
        at: DateTime<Utc>,
        max_attempts: u32,
    ) -> Result<Option<MfaChallenge>, StoreError> {
        Stmt::new(TAKE_ATTEMPT)
            .bytes(hash.0.as_slice())
            .time(at)
            .int32(i32::try_from(max_attempts).unwrap_or(i32::MAX))
            .fetch_optional_as(&self.pool, challenge_row)
            .await
    }

    async fn get_mfa_challenge(
        &self,
        hash: &SecretHash,
    ) -> Result<Option<MfaChallenge>, StoreError> {
        Stmt::new(GET_CHALLENGE)
            .bytes(hash.0.as_slice())
            .fetch_optional_as(&self.pool, challenge_row)
            .await
    }

    async fn spend_mfa_challenge(
        &self,
        hash: &SecretHash,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let spent = Stmt::new(SPEND_CHALLENGE)
            .bytes(hash.0.as_slice())
            .time(at)
            .execute(&self.pool)
            .await?;
        Ok(spent == 1)
    }

    async fn mfa_locked_at(
        &self,
        user: UserId,
        since: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let row = Stmt::new(LOCKED_AT)
            .id(user.as_uuid())
            .time(since)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| r.time("locked_at")).transpose()
    }

    async fn prune_mfa_challenges(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        Stmt::new(PRUNE_CHALLENGES)
            .time(before)
            .execute(&self.pool)
            .await
    }
}
