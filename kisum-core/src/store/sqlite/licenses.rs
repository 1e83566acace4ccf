//! [`LicenseStore`](crate::license::LicenseStore) on SQLite: an activation runs in a
//! `BEGIN IMMEDIATE` transaction, which holds the database's write lock from its first
//! statement, so reading the licence and counting its seats cannot interleave with another
//! activation (SQLite has no row locks).

use sqlx::Sqlite;

use crate::store::sql::licenses::LicenseSql;

impl LicenseSql for Sqlite {
    const LOCK_LICENSE: &'static str =
        "SELECT status, expires_at, max_activations FROM licenses WHERE id = $1";
}
