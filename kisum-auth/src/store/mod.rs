//! Store backends for the Auth traits ([`UserStore`], [`SessionStore`], [`DirectoryStore`],
//! [`RefreshTokenStore`], the audit log, one-time secrets, second factors).

pub mod memory;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod sql;
#[cfg(feature = "sqlite")]
pub mod sqlite;

pub use kisum_core::db::{StoreError, StoreErrorKind};

use crate::directory::DirectoryStore;
use crate::identity::UserStore;
use crate::session::RefreshTokenStore;
use crate::session::SessionStore;

/// A backend holding all of Auth's data: users, sessions, refresh tokens, the directory, the
/// audit log, one-time secrets (email and SMS codes, reset tokens), second factors (TOTP, recovery
/// codes), passkeys, provider identities, OAuth flows company API keys and platform roles. Every built-in backend is one; an
/// embedder may also back the traits separately.
pub trait AuthStore:
    UserStore
    + SessionStore
    + RefreshTokenStore
    + DirectoryStore
    + crate::audit::AuditStore
    + crate::otp::OneTimeStore
    + crate::otp::PhoneStore
    + crate::mfa::MfaStore
    + crate::passkey::PasskeyStore
    + crate::oauth::OAuthStore
    + crate::api_key::ApiKeyStore
    + crate::platform::PlatformStore
    + crate::account::AccountStore
    + kisum_core::outbox::EventLogged
{
}

impl<
    T: UserStore
        + SessionStore
        + RefreshTokenStore
        + DirectoryStore
        + crate::audit::AuditStore
        + crate::otp::OneTimeStore
        + crate::otp::PhoneStore
        + crate::mfa::MfaStore
        + crate::passkey::PasskeyStore
        + crate::oauth::OAuthStore
        + crate::api_key::ApiKeyStore
        + crate::platform::PlatformStore
        + crate::account::AccountStore
        + kisum_core::outbox::EventLogged,
> AuthStore for T
{
}
pub use memory::MemoryAuthStore;
#[cfg(feature = "postgres")]
pub use postgres::PgAuthStore;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub use sql::SqlAuthStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteAuthStore;
