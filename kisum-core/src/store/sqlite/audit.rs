//! [`CoreAudit`] on SQLite: the log in the `core_audit` table of the same database; the detail
//! stored as JSON text.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_guard::CompanyId;
use sqlx::Sqlite;

use super::SqliteCoreStore;
use crate::audit::{CoreAudit, CoreAuditRecord};
use crate::db::StoreError;
use crate::store::sql::audit::{self, AuditSql};

impl AuditSql for Sqlite {
    const APPEND: &'static str =
        "INSERT INTO core_audit (id, at, actor, action, company_id, request_id, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7)";
}

#[async_trait]
impl CoreAudit for SqliteCoreStore {
    async fn append(&self, record: &CoreAuditRecord) -> Result<(), StoreError> {
        audit::append(&self.pool, record).await
    }

    async fn list(
        &self,
        company_id: Option<CompanyId>,
        limit: u32,
    ) -> Result<Vec<CoreAuditRecord>, StoreError> {
        audit::list(&self.pool, company_id, limit).await
    }

    async fn prune(&self, older_than: DateTime<Utc>) -> Result<u64, StoreError> {
        audit::prune(&self.pool, older_than).await
    }
}
