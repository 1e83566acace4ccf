//! What Core's two SQL backends share: the statements that read the same in both dialects
//! ([`queries`], `$N` placeholders, which sqlx's SQLite driver accepts too) and the decoding of
//! rows into domain values ([`rows`], over [`SqlRow`](crate::db::sql::SqlRow)).
//!
//! What genuinely differs stays in `sqlite/` and `postgres/`, one impl per dialect, so a reader
//! sees it: how a time or a list is bound (µs integers and JSON text vs `TIMESTAMPTZ` and
//! `TEXT[]`), "which companies reach this module" (`json_each` vs `= ANY`), and locking (one
//! writer through `BEGIN IMMEDIATE` vs company rows locked in id order with `FOR UPDATE`).

pub(crate) mod queries;
pub(crate) mod rows;
