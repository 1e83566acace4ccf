//! [`AuditStore`](crate::audit::AuditStore) written once; how the details are stored (JSON
//! text, or cast to `jsonb`) is the dialect's [`AuditSql`].

use async_trait::async_trait;

use super::SqlAuthStore;
use crate::audit::AuditStore;
use chrono::{DateTime, Utc};
use kisum_core::db::sql::{Db, Dialect, Stmt};
use kisum_core::db::{StoreError, StoreErrorKind};
use kisum_guard::CompanyId;

use crate::audit::{AuditEvent, MAX_LIST_LIMIT};
use crate::store::sql::{queries, rows};

/// The audit statement a dialect writes its own way.
pub(crate) trait AuditSql: Dialect {
    /// Appends an event: the columns of `audit_insert_columns!` in order, `$9` the details as
    /// JSON text.
    const APPEND: &'static str;
}

/// [`AuditStore::append`](crate::audit::AuditStore::append).
pub(crate) async fn append<'c, D: AuditSql>(
    db: impl Into<Db<'c, D>>,
    event: &AuditEvent,
) -> Result<(), StoreError> {
    audit_values(Stmt::new(D::APPEND), event)?
        .execute(db)
        .await?;
    Ok(())
}

/// Binds the columns of `audit_insert_columns!` of `event` in order, the details as JSON text,
/// after [`AuditEvent::validate`].
///
/// # Errors
/// `Invalid` when the event is invalid or its details cannot be encoded.
pub(crate) fn audit_values<'q>(
    statement: Stmt<'q>,
    event: &'q AuditEvent,
) -> Result<Stmt<'q>, StoreError> {
    event.validate()?;
    let details = serde_json::to_string(&event.details).map_err(|e| {
        StoreError::new(StoreErrorKind::Invalid, "audit details cannot be encoded").with_source(e)
    })?;
    Ok(statement
        .id(event.id.as_uuid())
        .time(event.at)
        .id_opt(event.actor_user_id.map(|u| *u.as_uuid()))
        .id_opt(event.company_id.map(|c| *c.as_uuid()))
        .text(event.action.as_str())
        .text(event.outcome.as_str())
        .text_opt(event.ip.as_deref())
        .text_opt(event.request_id.as_deref())
        .text(details))
}

#[async_trait]
impl<D: Dialect + AuditSql> AuditStore for SqlAuthStore<D> {
    async fn append(&self, event: &AuditEvent) -> Result<(), StoreError> {
        append(&self.pool, event).await
    }

    async fn list(
        &self,
        company_id: Option<CompanyId>,
        since: Option<DateTime<Utc>>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let mut statement = Stmt::new(queries::audit_list(company_id.is_some(), since.is_some()));
        if let Some(c) = company_id {
            statement = statement.id(c.as_uuid());
        }
        if let Some(since) = since {
            statement = statement.time(since);
        }
        statement
            .int(i64::from(limit.min(MAX_LIST_LIMIT)))
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
