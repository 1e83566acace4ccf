//! One-time secrets: one-time codes by email or SMS, password-reset tokens and sign-in links,
//! stored hashed.
//!
//! `code.rs` holds what codes of every channel share (decision 0040): their state
//! ([`CodeState`], keyed by [`CodeKey`]), the [`CodeStore`], and sending and checking a code;
//! `mod.rs` the [`OneTimeStore`] (codes and reset tokens); `recovery.rs` the email flows over it:
//! email codes, forgotten passwords, and invitation emails; `magic_link.rs` emailed sign-in links
//! (decision 0032); `phone.rs` and `sms_codes.rs` phone sign-in and verification by SMS code
//! (decision 0036).

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;
use kisum_guard::UserId;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

mod code;
mod magic_link;
mod phone;
mod recovery;
mod sms_codes;

pub use code::{CodeKey, CodeState, CodeStore};
pub use magic_link::{MAGIC_LINK_TTL, MagicLinkError, MagicLinks, magic_link_hash};
pub use phone::{PhoneStore, SmsCodes, SmsPurpose, VerifiedPhone};
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

/// One-time codes (through [`CodeStore`]; email codes are keyed [`CodeKey::Email`]) and
/// password-reset tokens.
#[async_trait]
pub trait OneTimeStore: CodeStore {
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

    /// Deletes reset tokens expired or spent before `before`, and the code states of every
    /// channel with nothing in force at or after `before` (no live code, lockout, cooldown or
    /// quota window); returns how many rows were deleted.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn prune_one_time(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}
