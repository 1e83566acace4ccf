//! The embedded SQLite backend of [`UserStore`](crate::identity::UserStore),
//! [`SessionStore`](crate::session::SessionStore), [`RefreshTokenStore`](crate::session::RefreshTokenStore),
//! [`DirectoryStore`](crate::directory::DirectoryStore), [`AuditStore`](crate::audit::AuditStore)
//! and [`OneTimeStore`](crate::otp::OneTimeStore) (feature `sqlite`): what SQLite writes its own way, one file per store trait that has any; the
//! rest, trait impls included, is [`SqlAuthStore`]'s, written once.
//!
//! Ids and token hashes are BLOBs, times INTEGER microseconds since the Unix epoch, lists JSON
//! arrays. Writes run in `BEGIN IMMEDIATE` transactions (one writer at a time, others wait up to
//! the busy timeout), in WAL mode so readers are never blocked. Every access-version bump happens
//! in the transaction of the write that causes it, and a refresh-token rotation is one such
//! transaction, so of two concurrent rotations exactly one finds the token unspent. The store
//! methods are written once in `store::sql`; what is here is what SQLite does its own way.

use super::sql::SqlAuthStore;
use kisum_core::db::migrate::MigrationSet;
use kisum_core::db::{PoolSize, StoreError, open_migrated_sqlite_pool};

mod account;
mod audit;
mod directory;
mod platform;
mod refresh;
mod sessions;

/// Auth's SQLite migrations, tracked in `kisum_auth_migrations`.
pub const MIGRATIONS: MigrationSet = super::sql::migrations!("../../../../migrations/sqlite/auth/");

/// Users, sessions, companies, memberships, roles, delegations and refresh tokens in SQLite.
pub type SqliteAuthStore = SqlAuthStore<sqlx::Sqlite>;

impl SqliteAuthStore {
    /// Opens the database at `url` (`sqlite://path`) with the settings of
    /// [`open_migrated_sqlite_pool`], applies pending migrations, and returns the store.
    ///
    /// # Errors
    /// As [`open_migrated_sqlite_pool`]; `Invalid` for a database migrated by a newer version.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_sized(url, PoolSize::SQLITE).await
    }

    /// As [`connect`](Self::connect), with a pool of `size`.
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub async fn connect_sized(url: &str, size: PoolSize) -> Result<Self, StoreError> {
        Ok(Self::new(
            open_migrated_sqlite_pool(url, &MIGRATIONS, size).await?,
        ))
    }
}

impl kisum_core::outbox::EventLogged for SqliteAuthStore {
    fn event_log(&self) -> std::sync::Arc<dyn kisum_core::outbox::EventLog> {
        std::sync::Arc::new(kisum_core::outbox::SqlEventLog::sqlite(
            self.pool().clone(),
            kisum_core::outbox::Component::Auth,
        ))
    }
}
