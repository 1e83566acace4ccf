//! [`AuditStore`] in memory: the audit log ordered by (time, id).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;
use kisum_guard::CompanyId;

use super::MemoryAuthStore;
use crate::audit::{AuditEvent, AuditEventId, AuditStore, MAX_LIST_LIMIT};
/// The smallest key at `at`: every event at or after `at` sorts at or after it.
fn audit_key_from(at: DateTime<Utc>) -> (DateTime<Utc>, AuditEventId) {
    (at, AuditEventId::from_uuid(uuid::Uuid::nil()))
}

#[async_trait]
impl AuditStore for MemoryAuthStore {
    async fn append(&self, event: &AuditEvent) -> Result<(), StoreError> {
        event.validate()?;
        let mut s = self.lock();
        if !s.audit_ids.insert(event.id) {
            return Err(StoreError::conflict("audit event exists"));
        }
        s.audit.insert((event.at, event.id), event.clone());
        Ok(())
    }

    async fn list(
        &self,
        company_id: Option<CompanyId>,
        since: Option<DateTime<Utc>>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let s = self.lock();
        let limit = usize::try_from(limit.min(MAX_LIST_LIMIT)).unwrap_or(0);
        let from = audit_key_from(since.unwrap_or(DateTime::<Utc>::MIN_UTC));
        Ok(s.audit
            .range(from..)
            .rev()
            .map(|(_, e)| e)
            .filter(|e| company_id.is_none() || e.company_id == company_id)
            .take(limit)
            .cloned()
            .collect())
    }

    async fn prune(&self, older_than: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut s = self.lock();
        let kept = s.audit.split_off(&audit_key_from(older_than));
        let pruned = std::mem::replace(&mut s.audit, kept);
        for (_, id) in pruned.keys() {
            s.audit_ids.remove(id);
        }
        Ok(u64::try_from(pruned.len()).unwrap_or(u64::MAX))
    }
}
