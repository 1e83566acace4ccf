//! [`CoreAudit`] on PostgreSQL: the log in the `core_audit` table of the same database; times as
//! `TIMESTAMPTZ`, the detail bound as JSON text and cast to `jsonb`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_guard::CompanyId;

use super::PgCoreStore;
use crate::audit::{CoreAudit, CoreAuditRecord, MAX_LIST_LIMIT};
use crate::db::StoreError;
use crate::db::sql::{detail_to_db, store_error};
use crate::store::sql::{queries, rows};

/// Appends a record: `$7` the detail as JSON text, stored as `jsonb`.
const APPEND: &str =
    "INSERT INTO core_audit (id, at, actor, action, company_id, request_id, detail)
     VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)";

#[async_trait]
impl CoreAudit for PgCoreStore {
    async fn append(&self, record: &CoreAuditRecord) -> Result<(), StoreError> {
        record.validate()?;
        sqlx::query(APPEND)
            .bind(record.id)
            .bind(record.at)
            .bind(&record.actor)
            .bind(&record.action)
            .bind(record.company_id.map(|c| *c.as_uuid()))
            .bind(record.request_id.as_deref())
            .bind(detail_to_db(&record.detail)?)
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn list(
        &self,
        company_id: Option<CompanyId>,
        limit: u32,
    ) -> Result<Vec<CoreAuditRecord>, StoreError> {
        let limit = i64::from(limit.min(MAX_LIST_LIMIT));
        let found = match company_id {
            Some(c) => {
                sqlx::query(queries::AUDIT_OF_COMPANY)
                    .bind(*c.as_uuid())
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
            }
            None => {
                sqlx::query(queries::AUDIT_ALL)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
            }
        }
        .map_err(store_error)?;
        found.iter().map(rows::audit).collect()
    }

    async fn prune(&self, older_than: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(sqlx::query(queries::PRUNE_AUDIT)
            .bind(older_than)
            .execute(&self.pool)
            .await
            .map_err(store_error)?
            .rows_affected())
    }
}
