//! Identity: users, their credentials, and what Auth does for a person before a session
//! exists.
//!
//! `mod.rs` holds [`User`], [`Email`] and the [`UserStore`]; `password.rs` the argon2id hasher and
//! the policy; `hashing.rs` hashing off the runtime, bounded; `change.rs` password changes; `register.rs` registration (and the company it may create);
//! `login.rs` password sign-in; `invite.rs` invited people; `account.rs` reading and disabling
//! accounts. Sessions are in [`crate::session`], one-time codes and resets in [`crate::otp`].

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;
use kisum_guard::UserId;
use serde::{Deserialize, Serialize};

mod account;
mod change;
mod hashing;
mod invite;
mod login;
mod password;
mod register;

pub use account::AccountError;
pub use change::PasswordError;
pub use hashing::{HashGate, Overloaded};
pub use invite::Invitee;
pub use login::LoginError;
pub use password::{
    Argon2Params, COMMON_PASSWORDS, CredentialError, Password, PasswordHasher, PasswordPolicy,
    PolicyViolation, Verification,
};
pub use register::{RegisterError, Registered};

/// An email address, trimmed and lowercased so that uniqueness is case-insensitive.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

/// A string that is not an acceptable email address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid email address")]
pub struct InvalidEmail;

impl Email {
    /// Normalizes and checks an address: one `@`, non-empty local part, a dotted domain, no
    /// spaces or control characters, at most 254 bytes.
    ///
    /// # Errors
    /// [`InvalidEmail`] when the address is not acceptable.
    pub fn parse(s: &str) -> Result<Self, InvalidEmail> {
        let s = s.trim().to_lowercase();
        let (local, domain) = s.split_once('@').ok_or(InvalidEmail)?;
        let ok = s.len() <= 254
            && !local.is_empty()
            && local.len() <= 64
            && !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && !s.chars().any(|c| c.is_whitespace() || c.is_control());
        if ok { Ok(Self(s)) } else { Err(InvalidEmail) }
    }

    /// The normalized address.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({:?})", self.0)
    }
}

impl<'de> Deserialize<'de> for Email {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A password hash in PHC string form (`$argon2id$…`). Redacted in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a PHC string.
    #[must_use]
    pub fn new(phc: impl Into<String>) -> Self {
        Self(phc.into())
    }

    /// The PHC string, for verification and storage only.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

/// A person who can sign in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The id (the `sub` of their tokens).
    pub id: UserId,
    /// Their email, unique case-insensitively.
    pub email: Email,
    /// Display name.
    pub name: Option<String>,
    /// Their password hash; `None` for users who sign in by other means (OTP, invitation pending).
    pub password_hash: Option<PasswordHash>,
    /// Whether the email was verified.
    pub email_verified: bool,
    /// A disabled user cannot sign in.
    pub disabled: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last update.
    pub updated_at: DateTime<Utc>,
}

impl User {
    /// A new, enabled, unverified user.
    #[must_use]
    pub fn new(
        email: Email,
        name: Option<String>,
        password_hash: Option<PasswordHash>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id: UserId::new(),
            email,
            name,
            password_hash,
            email_verified: false,
            disabled: false,
            created_at: now,
            updated_at: now,
        }
    }

    /// Whether this is the account of an invitee who has not taken it up: no password and an
    /// unverified email (see [`AuthService::invitee`](crate::service::AuthService::invitee)).
    #[must_use]
    pub fn awaiting_sign_up(&self) -> bool {
        self.password_hash.is_none() && !self.email_verified
    }
}

/// Users by id and by email.
#[async_trait]
pub trait UserStore: Send + Sync + 'static {
    /// Stores a new user.
    ///
    /// # Errors
    /// `Conflict` when the id or the (normalized) email is taken; `Unavailable`.
    async fn create_user(&self, user: &User) -> Result<(), StoreError>;

    /// The user with `id`, or `None`.
    ///
    /// # Errors
    /// `Unavailable` when the backend cannot be reached.
    async fn get_user(&self, id: UserId) -> Result<Option<User>, StoreError>;

    /// The user with `email` (already normalized by [`Email`]), or `None`.
    ///
    /// # Errors
    /// `Unavailable` when the backend cannot be reached.
    async fn find_user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError>;

    /// The user with `email`, as [`find_user_by_email`](Self::find_user_by_email), with whether
    /// they have a confirmed authenticator app when the store reads that in the same query
    /// (`None`: not read; the password sign-in then asks
    /// [`MfaStore::get_totp`](crate::mfa::MfaStore::get_totp), as it always did). The SQL
    /// stores answer both in one statement; the default (and the memory store) answers `None`.
    ///
    /// # Errors
    /// `Unavailable` when the backend cannot be reached.
    async fn find_user_signing_in(
        &self,
        email: &Email,
    ) -> Result<Option<(User, Option<bool>)>, StoreError> {
        Ok(self.find_user_by_email(email).await?.map(|u| (u, None)))
    }

    /// Replaces every field of the stored user `user.id`.
    ///
    /// # Errors
    /// `NotFound` when no such user exists; `Conflict` when the new email is another user's.
    async fn update_user(&self, user: &User) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(
            Email::parse("  Owner@ACME.test ").unwrap().as_str(),
            "owner@acme.test"
        );
        for bad in [
            "",
            "owner",
            "@acme.test",
            "owner@",
            "owner@acme",
            "a@b@c.d",
            "own er@acme.test",
            "a@.acme.test",
            "a@acme..test",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(serde_json::from_str::<Email>("\"nope\"").is_err());
    }

    #[test]
    fn password_hashes_never_print() {
        let h = PasswordHash::new("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA");
        assert_eq!(format!("{h:?}"), "PasswordHash(<redacted>)");
        let u = User::new(
            Email::parse("a@b.co").unwrap(),
            None,
            Some(h),
            chrono::DateTime::UNIX_EPOCH,
        );
        assert!(!format!("{u:?}").contains("argon2"));
    }
}
