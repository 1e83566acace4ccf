//! What Core's two SQL backends share: the statements that read the same in both dialects
//! ([`queries`], `$N` placeholders, which sqlx's SQLite driver accepts too), the decoding of
//! rows into domain values ([`rows`], over [`SqlRow`](crate::db::sql::SqlRow)), and every store
//! method written once over a [`Dialect`](crate::db::sql::Dialect) ([`catalog`],
//! [`subscriptions`], [`audit`]).
//!
//! The store is [`SqlCoreStore`], generic over its dialect; each file holds one trait's impl,
//! the methods written in it, and the steps several methods share (a version bump, an event
//! append) as private functions beside it. What genuinely differs stays in `sqlite/` and
//! `postgres/`, one impl per dialect, so a reader sees it: the statements of [`CatalogSql`](catalog::CatalogSql) ("which companies reach this
//! module", `json_each` vs `= ANY`, and the `FOR UPDATE` row locks in id order on PostgreSQL)
//! and of [`AuditSql`](audit::AuditSql) (the `jsonb` cast). How a time or a list is bound and
//! how a transaction begins is the [`Dialect`](crate::db::sql::Dialect)'s.

pub(crate) mod audit;
pub(crate) mod billing;
pub(crate) mod catalog;
pub(crate) mod licenses;
pub(crate) mod queries;
pub(crate) mod rows;
pub(crate) mod subscriptions;

/// Core's migrations: the same files, by name, in each dialect's folder `$dir`
/// (relative to the file that invokes it), listed once for both.
macro_rules! migrations {
    ($dir:literal) => {
        crate::migration_set!(
            "core",
            $dir,
            1 "initial" "0001_initial.sql",
            2 "audit" "0002_audit.sql",
            3 "events" "0003_events.sql",
            4 "licenses" "0004_licenses.sql",
            5 "catalog_version" "0005_catalog_version.sql",
            6 "billing" "0006_billing.sql",
        )
    };
}
pub(crate) use migrations;

use std::fmt;

use sqlx::Pool;

use crate::db::sql::Dialect;

/// Catalog and company entitlements in a SQL database: [`PgCoreStore`](super::PgCoreStore)
/// (feature `postgres`) or [`SqliteCoreStore`](super::SqliteCoreStore) (feature `sqlite`), each
/// opened by its `connect`.
pub struct SqlCoreStore<D: Dialect> {
    pub(crate) pool: Pool<D>,
}

impl<D: Dialect> SqlCoreStore<D> {
    /// A store over an existing pool (migrations are the caller's: see the dialect module's
    /// `MIGRATIONS`).
    #[must_use]
    pub fn new(pool: Pool<D>) -> Self {
        Self { pool }
    }

    /// The pool.
    #[must_use]
    pub fn pool(&self) -> &Pool<D> {
        &self.pool
    }
}

impl<D: Dialect> Clone for SqlCoreStore<D> {
    fn clone(&self) -> Self {
        Self::new(self.pool.clone())
    }
}

impl<D: Dialect> fmt::Debug for SqlCoreStore<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlCoreStore")
            .field("pool", &self.pool)
            .finish()
    }
}
