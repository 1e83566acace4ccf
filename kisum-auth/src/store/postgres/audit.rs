//! [`AuditStore`](crate::audit::AuditStore) on PostgreSQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::sql::store_error;
use kisum_core::db::{StoreError, StoreErrorKind};
use kisum_guard::CompanyId;

use super::PgAuthStore;
use crate::audit::{AuditEvent, AuditStore, MAX_LIST_LIMIT};
use crate::store::sql::queries;
use crate::store::sql::rows;

#[async_trait]
impl AuditStore for PgAuthStore {
    async fn append(&self, event: &AuditEvent) -> Result<(), StoreError> {
        event.validate()?;
        let details = serde_json::to_string(&event.details).map_err(|e| {
            StoreError::new(StoreErrorKind::Invalid, "audit details cannot be encoded")
                .with_source(e)
        })?;
        sqlx::query(
            "INSERT INTO audit_events
                 (id, at, actor_user_id, company_id, action, outcome, ip, request_id, details)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)",
        )
        .bind(event.id.as_uuid())
        .bind(event.at)
        .bind(event.actor_user_id.map(|u| *u.as_uuid()))
        .bind(event.company_id.map(|c| *c.as_uuid()))
        .bind(&event.action)
        .bind(event.outcome.as_str())
        .bind(event.ip.as_deref())
        .bind(event.request_id.as_deref())
        .bind(details)
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn list(
        &self,
        company_id: Option<CompanyId>,
        since: Option<DateTime<Utc>>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let mut query = sqlx::query(queries::audit_list(company_id.is_some(), since.is_some()));
        if let Some(c) = company_id {
            query = query.bind(*c.as_uuid());
        }
        if let Some(since) = since {
            query = query.bind(since);
        }
        query
            .bind(i64::from(limit.min(MAX_LIST_LIMIT)))
            .fetch_all(&self.pool)
            .await
            .map_err(store_error)?
            .iter()
            .map(rows::audit)
            .collect()
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
