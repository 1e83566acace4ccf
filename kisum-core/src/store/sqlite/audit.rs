//! [`CoreAudit`](crate::CoreAudit) on SQLite: the log in the `core_audit` table of the same database; the detail
//! stored as JSON text.

use sqlx::Sqlite;

use crate::store::sql::audit::AuditSql;

impl AuditSql for Sqlite {
    const APPEND: &'static str =
        "INSERT INTO core_audit (id, at, actor, action, company_id, request_id, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7)";
}
