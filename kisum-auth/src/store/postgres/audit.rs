//! [`AuditStore`](crate::audit::AuditStore) on PostgreSQL: the details bound as JSON text and cast to `jsonb`.

use sqlx::Postgres;

use crate::store::sql::audit::AuditSql;
use crate::store::sql::queries::audit_insert_columns;

impl AuditSql for Postgres {
    const APPEND: &'static str = concat!(
        "INSERT INTO audit_events (",
        audit_insert_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)"
    );
}
