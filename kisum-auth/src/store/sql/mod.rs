//! What Auth's two SQL backends share: the statements ([`queries`]), the decoding of rows into
//! domain values ([`rows`], over [`SqlRow`](kisum_core::db::sql::SqlRow)), and every store
//! method, written once over a [`Dialect`](kisum_core::db::sql::Dialect) ([`users`],
//! [`sessions`], [`refresh`], [`directory`], [`audit`], [`otp`]).
//!
//! What genuinely differs stays in `sqlite/` and `postgres/`, one impl per dialect and one file
//! per store trait, so a reader sees it: the statements of [`DirectorySql`](directory::DirectorySql)
//! (set membership through `json_each`/`unhex` vs `= ANY`, row locks with `FOR UPDATE`),
//! [`SessionSql`](sessions::SessionSql) and [`AuditSql`](audit::AuditSql), and the one method
//! each dialect writes its own way (`SessionStore::revoke_session`). How times and lists are
//! bound and how transactions begin (`BEGIN IMMEDIATE` vs row locks) is the
//! [`Dialect`](kisum_core::db::sql::Dialect)'s.

pub(crate) mod audit;
pub(crate) mod directory;
pub(crate) mod otp;
pub(crate) mod queries;
pub(crate) mod refresh;
pub(crate) mod rows;
pub(crate) mod sessions;
pub(crate) mod users;
