//! What Core's two SQL backends share: the statements that read the same in both dialects
//! ([`queries`], `$N` placeholders, which sqlx's SQLite driver accepts too), the decoding of
//! rows into domain values ([`rows`], over [`SqlRow`](crate::db::sql::SqlRow)), and every store
//! method written once over a [`Dialect`](crate::db::sql::Dialect) ([`catalog`],
//! [`subscriptions`], [`audit`]).
//!
//! What genuinely differs stays in `sqlite/` and `postgres/`, one impl per dialect, so a reader
//! sees it: the statements of [`CatalogSql`](catalog::CatalogSql) ("which companies reach this
//! module", `json_each` vs `= ANY`, and the `FOR UPDATE` row locks in id order on PostgreSQL)
//! and of [`AuditSql`](audit::AuditSql) (the `jsonb` cast). How a time or a list is bound and
//! how a transaction begins is the [`Dialect`](crate::db::sql::Dialect)'s.

pub(crate) mod audit;
pub(crate) mod catalog;
pub(crate) mod queries;
pub(crate) mod rows;
pub(crate) mod subscriptions;
