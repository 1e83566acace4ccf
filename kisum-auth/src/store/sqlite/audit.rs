//! [`AuditStore`](crate::audit::AuditStore) on SQLite: the details stored as JSON text.

use sqlx::Sqlite;

use crate::store::sql::audit::AuditSql;
use crate::store::sql::queries::audit_insert_columns;

impl AuditSql for Sqlite {
    const APPEND: &'static str = concat!(
        "INSERT INTO audit_events (",
        audit_insert_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    );
}
