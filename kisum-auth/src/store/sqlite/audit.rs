//! [`AuditStore`](crate::audit::AuditStore) on SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::sql::{store_error, to_micros};
use kisum_core::db::{StoreError, StoreErrorKind};
use kisum_guard::CompanyId;

use super::SqliteAuthStore;
use crate::audit::{AuditEvent, AuditStore, MAX_LIST_LIMIT};
use crate::store::sql::queries;
use crate::store::sql::queries::audit_insert_columns;
use crate::store::sql::rows;

#[async_trait]
impl AuditStore for SqliteAuthStore {
    async fn append(&self, event: &AuditEvent) -> Result<(), StoreError> {
        event.validate()?;
        let details = serde_json::to_string(&event.details).map_err(|e| {
            StoreError::new(StoreErrorKind::Invalid, "audit details cannot be encoded")
                .with_source(e)
        })?;
        sqlx::query(concat!(
            "INSERT INTO audit_events (",
            audit_insert_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
        .bind(event.id.as_uuid())
        .bind(to_micros(event.at))
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
            query = query.bind(to_micros(since));
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
            .bind(to_micros(older_than))
            .execute(&self.pool)
            .await
            .map_err(store_error)?
            .rows_affected())
    }
}
