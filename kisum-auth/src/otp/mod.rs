//! One-time secrets: password-reset tokens and email one-time codes (OTP), stored hashed.
//!
//! `mod.rs` holds the stored state and the [`OneTimeStore`]; `recovery.rs` the flows over it:
//! requesting and verifying codes, forgotten passwords, and invitation emails; `magic_link.rs`
//! emailed sign-in links (decision 0032); `phone.rs` and `sms_codes.rs` phone sign-in and
//! verification by SMS code (decision 0036).

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;
use kisum_guard::UserId;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::identity::Email;

mod magic_link;
mod phone;
mod recovery;
mod sms_codes;

pub use magic_link::{MAGIC_LINK_TTL, MagicLinkError, MagicLinks, magic_link_hash};
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub(crate) use phone::SmsCodeRow;
pub use phone::{PhoneStore, SmsCodeState, SmsCodes, SmsPurpose, VerifiedPhone};
pub use recovery::{OtpConfig, OtpError, Recovery};
pub use sms_codes::PhoneError;

/// What an email code is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OtpPurpose {
    /// Sign in without a password.
    Login,
    /// Prove the email address.
    VerifyEmail,
}

impl OtpPurpose {
    /// The storage string.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::VerifyEmail => "verify_email",
        }
    }

    /// Parses the storage string.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Login, Self::VerifyEmail]
            .into_iter()
            .find(|p| p.as_str() == s)
    }
}

/// A SHA-256 digest of a one-time secret.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecretHash(pub [u8; 32]);

impl SecretHash {
    /// The digest of `parts`, length-prefixed so that no two inputs collide by concatenation.
    #[must_use]
    pub fn of(parts: &[&[u8]]) -> Self {
        let mut h = Sha256::new();
        for p in parts {
            h.update((p.len() as u64).to_be_bytes());
            h.update(p);
        }
        Self(h.finalize().into())
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash(<redacted>)")
    }
}

/// The state of one email's codes for one purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtpState {
    /// The email.
    pub email: Email,
    /// The purpose.
    pub purpose: OtpPurpose,
    /// The current code's hash (salted with `salt`), if a code is outstanding.
    pub code_hash: Option<SecretHash>,
    /// Random salt of the current code.
    pub salt: [u8; 16],
    /// When the current code stops working.
    pub expires_at: Option<DateTime<Utc>>,
    /// Wrong guesses against the current code.
    pub attempts: u32,
    /// No verification before this instant.
    pub locked_until: Option<DateTime<Utc>>,
    /// When the last code was sent (resend cooldown).
    pub last_sent_at: Option<DateTime<Utc>>,
    /// Start of the current daily quota window.
    pub quota_started_at: Option<DateTime<Utc>>,
    /// Codes sent in the current quota window.
    pub sent_in_window: u32,
    /// Optimistic-concurrency version: every write raises it by one.
    pub version: u64,
}

impl OtpState {
    /// The state of an email that never received a code.
    #[must_use]
    pub fn empty(email: Email, purpose: OtpPurpose) -> Self {
        Self {
            email,
            purpose,
            code_hash: None,
            salt: [0; 16],
            expires_at: None,
            attempts: 0,
            locked_until: None,
            last_sent_at: None,
            quota_started_at: None,
            sent_in_window: 0,
            version: 0,
        }
    }
}

/// The stored columns of an [`OtpState`] as a SQL backend reads them (times already decoded).
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub(crate) struct OtpRow<'r> {
    pub(crate) email: &'r str,
    pub(crate) purpose: &'r str,
    pub(crate) code_hash: Option<&'r [u8]>,
    pub(crate) salt: &'r [u8],
    pub(crate) expires_at: Option<DateTime<Utc>>,
    pub(crate) attempts: i64,
    pub(crate) locked_until: Option<DateTime<Utc>>,
    pub(crate) last_sent_at: Option<DateTime<Utc>>,
    pub(crate) quota_started_at: Option<DateTime<Utc>>,
    pub(crate) sent_in_window: i64,
    pub(crate) version: i64,
}

#[cfg(any(feature = "postgres", feature = "sqlite"))]
impl OtpRow<'_> {
    /// The state, or `Invalid` when a stored value is out of range.
    pub(crate) fn decode(self) -> Result<OtpState, StoreError> {
        use kisum_core::db::StoreErrorKind;
        let invalid = |what: &str| {
            StoreError::new(
                StoreErrorKind::Invalid,
                format!("stored email code {what} is not valid"),
            )
        };
        let count = |v: i64, what: &str| u32::try_from(v).map_err(|_| invalid(what));
        Ok(OtpState {
            email: Email::parse(self.email).map_err(|_| invalid("email"))?,
            purpose: OtpPurpose::parse(self.purpose).ok_or_else(|| invalid("purpose"))?,
            code_hash: self
                .code_hash
                .map(|h| h.try_into().map(SecretHash).map_err(|_| invalid("hash")))
                .transpose()?,
            salt: self.salt.try_into().map_err(|_| invalid("salt"))?,
            expires_at: self.expires_at,
            attempts: count(self.attempts, "attempt count")?,
            locked_until: self.locked_until,
            last_sent_at: self.last_sent_at,
            quota_started_at: self.quota_started_at,
            sent_in_window: count(self.sent_in_window, "quota count")?,
            version: u64::try_from(self.version).map_err(|_| invalid("version"))?,
        })
    }
}

/// `(attempts, sent_in_window, version)` of `state` as stored (`INTEGER`, `INTEGER`, `BIGINT`).
///
/// # Errors
/// `Invalid` for a value the columns cannot hold.
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub(crate) fn otp_numbers(state: &OtpState) -> Result<(i32, i32, i64), StoreError> {
    let out_of_range = || {
        StoreError::new(
            kisum_core::db::StoreErrorKind::Invalid,
            "email code counter out of range",
        )
    };
    Ok((
        i32::try_from(state.attempts).map_err(|_| out_of_range())?,
        i32::try_from(state.sent_in_window).map_err(|_| out_of_range())?,
        i64::try_from(state.version).map_err(|_| out_of_range())?,
    ))
}

/// Email codes and password-reset tokens.
#[async_trait]
pub trait OneTimeStore: Send + Sync + 'static {
    /// The state for `email` and `purpose`, or `None`.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn get_otp(
        &self,
        email: &Email,
        purpose: OtpPurpose,
    ) -> Result<Option<OtpState>, StoreError>;

    /// Writes `state` if the stored version is still `state.version - 1` (or nothing is stored
    /// and `state.version` is 1); returns whether it was written. Two concurrent guesses cannot
    /// both count as the same attempt.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn put_otp(&self, state: &OtpState) -> Result<bool, StoreError>;

    /// Stores a password-reset token's hash for `user`, valid until `expires_at`.
    ///
    /// # Errors
    /// `Conflict` for an existing hash; `Unavailable`.
    async fn insert_reset(
        &self,
        hash: &SecretHash,
        user: UserId,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Spends the reset token atomically: the user when it was unspent and unexpired at `at`,
    /// `None` otherwise (unknown, spent or expired). Spends it only once.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn consume_reset(
        &self,
        hash: &SecretHash,
        at: DateTime<Utc>,
    ) -> Result<Option<UserId>, StoreError>;

    /// Spends every unspent reset token of `user` at `at` (a password change makes the links
    /// already emailed useless); returns how many.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn spend_resets(&self, user: UserId, at: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Deletes reset tokens expired or spent before `before`, and email-code and SMS-code
    /// states (the latter where the store is also a [`PhoneStore`]) with nothing in force at or after `before` (no live code, lockout, cooldown or quota
    /// window); returns how many rows were deleted.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn prune_one_time(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}
