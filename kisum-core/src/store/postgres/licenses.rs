//! [`LicenseStore`](crate::license::LicenseStore) on PostgreSQL: an activation locks the
//! licence row (`FOR UPDATE`) before counting its seats, so concurrent activations of one
//! licence are serialized and the seat limit holds.

use sqlx::Postgres;

use crate::store::sql::licenses::LicenseSql;

impl LicenseSql for Postgres {
    const LOCK_LICENSE: &'static str =
        "SELECT status, expires_at, max_activations FROM licenses WHERE id = $1 FOR UPDATE";
}
