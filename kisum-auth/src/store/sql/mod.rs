//! What Auth's two SQL backends share: the column lists ([`queries`]) and the decoding of rows
//! into domain values ([`rows`], over [`SqlRow`](kisum_core::db::sql::SqlRow)), so a table's
//! shape is written once.
//!
//! What genuinely differs stays in `sqlite/` and `postgres/`, one impl per dialect and one file
//! per store trait, so a reader sees it: how times and lists are bound (µs integers and JSON text
//! vs `TIMESTAMPTZ` and `TEXT[]`), set membership (`json_each`/`unhex` vs `= ANY`), and locking
//! (one writer through `BEGIN IMMEDIATE` vs row locks with `FOR UPDATE`).

pub(crate) mod queries;
pub(crate) mod rows;
