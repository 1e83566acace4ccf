//! [`CoreAudit`](crate::CoreAudit) written once; how the detail is stored (JSON text, or cast
//! to `jsonb`) is the dialect's [`AuditSql`].

use async_trait::async_trait;

use super::SqlCoreStore;
use crate::audit::CoreAudit;
use chrono::{DateTime, Utc};
use kisum_guard::CompanyId;

use crate::audit::{CoreAuditRecord, MAX_LIST_LIMIT};
use crate::db::StoreError;
use crate::db::sql::{Dialect, Stmt, detail_to_db};
use crate::store::sql::{queries, rows};

/// The audit statement a dialect writes its own way.
pub(crate) trait AuditSql: Dialect {
    /// Appends a record: `$1` id, `$2` time, `$3` actor, `$4` action, `$5` company, `$6`
    /// request id, `$7` the detail as JSON text.
    const APPEND: &'static str;
}

#[async_trait]
impl<D: Dialect + AuditSql> CoreAudit for SqlCoreStore<D> {
    async fn append(&self, record: &CoreAuditRecord) -> Result<(), StoreError> {
        record.validate()?;
        Stmt::new(D::APPEND)
            .id(&record.id)
            .time(record.at)
            .text(record.actor.as_str())
            .text(record.action.as_str())
            .id_opt(record.company_id.map(|c| *c.as_uuid()))
            .text_opt(record.request_id.as_deref())
            .text(detail_to_db(&record.detail)?)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn list(
        &self,
        company_id: Option<CompanyId>,
        limit: u32,
    ) -> Result<Vec<CoreAuditRecord>, StoreError> {
        let limit = i64::from(limit.min(MAX_LIST_LIMIT));
        let statement = match company_id {
            Some(c) => Stmt::new(queries::AUDIT_OF_COMPANY).id(c.as_uuid()),
            None => Stmt::new(queries::AUDIT_ALL),
        };
        statement
            .int(limit)
            .fetch_all_as(&self.pool, rows::audit)
            .await
    }

    async fn prune(&self, older_than: DateTime<Utc>) -> Result<u64, StoreError> {
        Stmt::new(queries::PRUNE_AUDIT)
            .time(older_than)
            .execute(&self.pool)
            .await
    }
}
