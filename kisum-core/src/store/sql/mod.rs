//! What Core's two SQL backends share: the statements that read the same in both dialects
//! ([`queries`], `$N` placeholders, which sqlx's SQLite driver accepts too), the decoding of
//! rows into domain values ([`rows`], over [`SqlRow`](crate::db::sql::SqlRow)), and every store
//! method written once over a [`Dialect`](crate::db::sql::Dialect) ([`catalog`],
//! [`subscriptions`], [`audit`]).
//!
//! The store is [`SqlCoreStore`], generic over its dialect, and its trait impls are written
//! once too, next to the methods they call. What genuinely differs stays in `sqlite/` and
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
