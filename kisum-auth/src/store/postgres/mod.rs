//! The PostgreSQL backend of [`UserStore`](crate::identity::UserStore),
//! [`SessionStore`](crate::session::SessionStore), [`RefreshTokenStore`](crate::session::RefreshTokenStore),
//! [`DirectoryStore`](crate::directory::DirectoryStore), [`AuditStore`](crate::audit::AuditStore)
//! and [`OneTimeStore`](crate::otp::OneTimeStore) (feature `postgres`): what PostgreSQL writes its own way, one file per store trait that has any;
//! the rest, trait impls included, is [`SqlAuthStore`]'s, written once.
//!
//! Every write is one transaction. Access versions are raised with `UPDATE … RETURNING` inside
//! the writing transaction, so concurrent edits of one membership are serialized by its row lock
//! and each gets its own version; a refresh token is spent the same way, so of two concurrent
//! rotations exactly one finds it unspent; a refresh that succeeds is one transaction of one
//! statement and its audit event (data-modifying CTEs).
//! [`DirectoryStore::load_org_access`](crate::directory::DirectoryStore::load_org_access) takes
//! one query, two when the member receives delegations, whatever the number of roles and
//! delegations. The store methods are written once in `store::sql`;
//! what is here is what PostgreSQL does its own way.

use std::str::FromStr;

use super::sql::SqlAuthStore;
use kisum_core::db::migrate::MigrationSet;
use kisum_core::db::sql::store_error;
use kisum_core::db::{PoolSize, StoreError, open_migrated_postgres_pool};
use sqlx::postgres::PgConnectOptions;

mod account;
mod audit;
mod directory;
mod platform;
mod refresh;
mod sessions;

/// Auth's PostgreSQL migrations, tracked in `kisum_auth_migrations`.
pub const MIGRATIONS: MigrationSet =
    super::sql::migrations!("../../../../migrations/postgres/auth/");

/// Users, sessions, companies, memberships, roles, delegations and refresh tokens in PostgreSQL.
pub type PgAuthStore = SqlAuthStore<sqlx::Postgres>;

impl PgAuthStore {
    /// Connects to `url`, applies pending migrations, and returns the store.
    ///
    /// # Errors
    /// `Unavailable` when the database cannot be reached; `Invalid` for a malformed URL or a
    /// database migrated by a newer version.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_sized(url, PoolSize::POSTGRES).await
    }

    /// As [`connect`](Self::connect), with a pool of `size`.
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub async fn connect_sized(url: &str, size: PoolSize) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url).map_err(store_error)?;
        Ok(Self::new(
            open_migrated_postgres_pool(options, &MIGRATIONS, size).await?,
        ))
    }

    /// As [`connect`](Self::connect), from parsed options.
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub async fn connect_with(options: PgConnectOptions) -> Result<Self, StoreError> {
        Ok(Self::new(
            open_migrated_postgres_pool(options, &MIGRATIONS, PoolSize::POSTGRES).await?,
        ))
    }
}

impl kisum_core::outbox::EventLogged for PgAuthStore {
    fn event_log(&self) -> std::sync::Arc<dyn kisum_core::outbox::EventLog> {
        std::sync::Arc::new(kisum_core::outbox::SqlEventLog::postgres(
            self.pool().clone(),
            kisum_core::outbox::Component::Auth,
        ))
    }
}
