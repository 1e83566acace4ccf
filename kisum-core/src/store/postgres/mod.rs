//! The PostgreSQL backend of [`CatalogStore`](crate::store::CatalogStore),
//! [`SubscriptionStore`](crate::store::SubscriptionStore) and [`CoreAudit`](crate::CoreAudit)
//! (feature `postgres`).
//!
//! Every write is one transaction; every entitlement version bump locks the company's version
//! row first (`INSERT … ON CONFLICT … DO UPDATE` or `UPDATE … RETURNING`), so concurrent writes to
//! one company are serialized and none is lost; catalog edits lock the affected companies' rows
//! in id order, so two of them cannot deadlock. The store methods are written once in
//! `store::sql`; what is here is what PostgreSQL does its own way.

use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;

use super::sql::SqlCoreStore;
use crate::db::migrate::MigrationSet;
use crate::db::sql::store_error;
use crate::db::{PoolSize, StoreError, open_migrated_postgres_pool};

mod audit;
mod catalog;
mod licenses;

/// Core's PostgreSQL migrations, tracked in `kisum_core_migrations`.
pub const MIGRATIONS: MigrationSet =
    super::sql::migrations!("../../../../migrations/postgres/core/");

/// Catalog and company entitlements in PostgreSQL.
pub type PgCoreStore = SqlCoreStore<sqlx::Postgres>;

impl PgCoreStore {
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

impl crate::outbox::EventLogged for PgCoreStore {
    fn event_log(&self) -> std::sync::Arc<dyn crate::outbox::EventLog> {
        std::sync::Arc::new(crate::outbox::SqlEventLog::postgres(
            self.pool().clone(),
            crate::outbox::Component::Core,
        ))
    }
}
