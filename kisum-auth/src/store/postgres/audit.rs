//! [`AuditStore`](crate::audit::AuditStore) on PostgreSQL: the details bound as JSON text and cast to `jsonb`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;
use kisum_guard::CompanyId;
use sqlx::Postgres;

use super::PgAuthStore;
use crate::audit::{AuditEvent, AuditStore};
use crate::store::sql::audit::{self, AuditSql};
use crate::store::sql::queries::audit_insert_columns;

impl AuditSql for Postgres {
    const APPEND: &'static str = concat!(
        "INSERT INTO audit_events (",
        audit_insert_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)"
    );
}

#[async_trait]
impl AuditStore for PgAuthStore {
    async fn append(&self, event: &AuditEvent) -> Result<(), StoreError> {
        audit::append(&self.pool, event).await
    }

    async fn list(
        &self,
        company_id: Option<CompanyId>,
        since: Option<DateTime<Utc>>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        audit::list(&self.pool, company_id, since, limit).await
    }

    async fn prune(&self, older_than: DateTime<Utc>) -> Result<u64, StoreError> {
        audit::prune(&self.pool, older_than).await
    }
}
