//! One-time secrets: password-reset tokens and email one-time codes (OTP), stored hashed.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::StoreError;
use kisum_guard::UserId;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::identity::Email;

/// What an email code is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
}
