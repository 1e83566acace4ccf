//! [`CoreAudit`](crate::CoreAudit) on PostgreSQL: the log in the `core_audit` table of the same database; the
//! detail bound as JSON text and cast to `jsonb`.

use sqlx::Postgres;

use crate::store::sql::audit::AuditSql;

impl AuditSql for Postgres {
    const APPEND: &'static str =
        "INSERT INTO core_audit (id, at, actor, action, company_id, request_id, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)";
}
