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

    /// This store, with a sign-in's writes (the session, its first refresh token, the audit
    /// event, the evictions beyond the session limit: one statement) committed without waiting
    /// for PostgreSQL to flush them to disk (`synchronous_commit = off`, decision 0051). Every
    /// other write still waits for the flush.
    ///
    /// The write is visible to every reader at once, as any commit is. Only a crash of
    /// PostgreSQL itself (not of Auth) can lose it, and only if nothing else committed since:
    /// the next synchronous commit of any connection flushes the log up to and past it, and
    /// PostgreSQL's WAL writer flushes it within `3 × wal_writer_delay` (600 ms by default)
    /// anyway. What is lost then is a sign-in whose session, refresh token and audit event all
    /// vanish together: its tokens stop working and the user signs in again.
    ///
    /// The writes go through a pool of their own, opened lazily with the same connection
    /// options plus the startup option `-c synchronous_commit=off`: a quarter of the main
    /// pool's size, at least 2 (and at most the main pool's size). Behind a pooler that drops
    /// startup options (PgBouncer's `ignore_startup_parameters = options`) sign-ins simply
    /// wait for the flush again. The sign-in's lookup of the user reads through that pool too,
    /// and its connections are kept warm between a sign-in's statements instead of going back to
    /// the pool after each ([`WarmConnections`](kisum_core::db::WarmConnections), decision 0056).
    ///
    /// Call it inside a Tokio runtime, as [`connect`](Self::connect) is: the new pool starts
    /// its maintenance task (sqlx panics without a runtime).
    #[must_use]
    pub fn with_asynchronous_sign_ins(mut self) -> Self {
        let options = (*self.pool.connect_options())
            .clone()
            .options([("synchronous_commit", "off")]);
        let main = self.pool.options();
        let max = main.get_max_connections();
        let size = (max / 4).max(2).min(max.max(1));
        let pool = kisum_core::db::pool_options::<sqlx::Postgres>()
            .max_connections(size)
            .acquire_timeout(main.get_acquire_timeout())
            .connect_lazy_with(options);
        self.sign_in = Some(std::sync::Arc::new(kisum_core::db::WarmConnections::new(
            pool,
        )));
        self
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
