//! The embedded SQLite backend of [`CatalogStore`](crate::store::CatalogStore),
//! [`SubscriptionStore`](crate::store::SubscriptionStore) and [`CoreAudit`](crate::CoreAudit)
//! (feature `sqlite`).
//!
//! Ids are 16-byte BLOBs, times INTEGER microseconds since the Unix epoch, lists JSON arrays.
//! Writes run in `BEGIN IMMEDIATE` transactions (one writer at a time, others wait up to the busy
//! timeout), in WAL mode so readers are never blocked. The store methods are written once in
//! `store::sql`; what is here is what SQLite does its own way.

use super::sql::SqlCoreStore;
use crate::db::migrate::MigrationSet;
use crate::db::{PoolSize, StoreError, open_migrated_sqlite_pool};

mod audit;
mod catalog;
mod licenses;

/// Core's SQLite migrations, tracked in `kisum_core_migrations`.
pub const MIGRATIONS: MigrationSet = super::sql::migrations!("../../../../migrations/sqlite/core/");

/// Catalog and company entitlements in SQLite.
pub type SqliteCoreStore = SqlCoreStore<sqlx::Sqlite>;

impl SqliteCoreStore {
    /// Opens the database at `url` (`sqlite://path`), applies pending migrations, and returns
    /// the store.
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

impl crate::outbox::EventLogged for SqliteCoreStore {
    fn event_log(&self) -> std::sync::Arc<dyn crate::outbox::EventLog> {
        std::sync::Arc::new(crate::outbox::SqlEventLog::sqlite(
            self.pool().clone(),
            crate::outbox::Component::Core,
        ))
    }
}
