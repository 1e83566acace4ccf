//! The embedded SQLite backend of [`CatalogStore`](crate::store::CatalogStore),
//! [`SubscriptionStore`](crate::store::SubscriptionStore) and [`CoreAudit`](crate::CoreAudit)
//! (feature `sqlite`).
//!
//! Ids are 16-byte BLOBs, times INTEGER microseconds since the Unix epoch, lists JSON arrays.
//! Writes run in `BEGIN IMMEDIATE` transactions (one writer at a time, others wait up to the busy
//! timeout), in WAL mode so readers are never blocked. The store methods are written once in
//! `store::sql`; what is here is what SQLite does its own way.

use super::sql::SqlCoreStore;
use crate::db::migrate::{EmbeddedMigration, MigrationSet};
use crate::db::{StoreError, open_migrated_sqlite_pool};

mod audit;
mod catalog;
mod licenses;

/// Core's SQLite migrations, tracked in `kisum_core_migrations`.
pub const MIGRATIONS: MigrationSet = MigrationSet {
    component: "core",
    table: "kisum_core_migrations",
    migrations: &[
        EmbeddedMigration {
            version: 1,
            description: "initial",
            sql: include_str!("../../../../migrations/sqlite/core/0001_initial.sql"),
        },
        EmbeddedMigration {
            version: 2,
            description: "audit",
            sql: include_str!("../../../../migrations/sqlite/core/0002_audit.sql"),
        },
        EmbeddedMigration {
            version: 3,
            description: "events",
            sql: include_str!("../../../../migrations/sqlite/core/0003_events.sql"),
        },
        EmbeddedMigration {
            version: 4,
            description: "licenses",
            sql: include_str!("../../../../migrations/sqlite/core/0004_licenses.sql"),
        },
        EmbeddedMigration {
            version: 6,
            description: "billing",
            sql: include_str!("../../../../migrations/sqlite/core/0006_billing.sql"),
        },
    ],
};

/// Catalog and company entitlements in SQLite.
pub type SqliteCoreStore = SqlCoreStore<sqlx::Sqlite>;

impl SqliteCoreStore {
    /// Opens the database at `url` (`sqlite://path`), applies pending migrations, and returns
    /// the store.
    ///
    /// # Errors
    /// As [`open_migrated_sqlite_pool`]; `Invalid` for a database migrated by a newer version.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Ok(Self::new(
            open_migrated_sqlite_pool(url, &MIGRATIONS).await?,
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
