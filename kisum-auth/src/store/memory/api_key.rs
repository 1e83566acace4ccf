//! [`ApiKeyStore`] in memory, under the store's one mutex: a revocation and its event are one
//! critical section.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;
use kisum_guard::{CompanyId, InvalidationEvent, SessionId};

use super::MemoryAuthStore;
use crate::api_key::{ApiKey, ApiKeyId, ApiKeyStore};

/// The API keys held by a [`MemoryAuthStore`], by id.
#[derive(Default)]
pub(super) struct ApiKeyState {
    keys: BTreeMap<ApiKeyId, ApiKey>,
}

impl ApiKeyState {
    /// Stops naming `user` as the creator of keys (an account erasure; the keys stay).
    pub(super) fn erase(&mut self, user: kisum_guard::UserId) {
        for key in self.keys.values_mut() {
            if key.created_by == Some(user) {
                key.created_by = None;
            }
        }
    }
}

#[async_trait]
impl ApiKeyStore for MemoryAuthStore {
    async fn create_api_key(&self, key: &ApiKey) -> Result<(), StoreError> {
        let mut s = self.lock();
        if !s.companies.contains_key(&key.company_id) {
            return Err(StoreError::not_found(format!("company {}", key.company_id)));
        }
        if s.api_keys.keys.contains_key(&key.id) {
            return Err(StoreError::conflict("API key already stored"));
        }
        s.api_keys.keys.insert(key.id, key.clone());
        Ok(())
    }

    async fn get_api_key(&self, id: ApiKeyId) -> Result<Option<ApiKey>, StoreError> {
        Ok(self.lock().api_keys.keys.get(&id).cloned())
    }

    async fn list_api_keys(&self, company: CompanyId) -> Result<Vec<ApiKey>, StoreError> {
        let s = self.lock();
        let mut list: Vec<ApiKey> = s
            .api_keys
            .keys
            .values()
            .filter(|k| k.company_id == company)
            .cloned()
            .collect();
        list.sort_by_key(|k| (k.created_at, k.id));
        Ok(list)
    }

    async fn revoke_api_key(
        &self,
        company: CompanyId,
        id: ApiKeyId,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut guard = self.lock();
        let s = &mut *guard;
        let Some(key) = s
            .api_keys
            .keys
            .get_mut(&id)
            .filter(|k| k.company_id == company && k.revoked_at.is_none())
        else {
            return Ok(false);
        };
        key.revoked_at = Some(at);
        s.log.record(
            InvalidationEvent::SessionRevoked {
                session_id: SessionId::from_uuid(*id.as_uuid()),
            },
            at,
        );
        Ok(true)
    }

    async fn touch_api_key(&self, id: ApiKeyId, at: DateTime<Utc>) -> Result<(), StoreError> {
        if let Some(key) = self.lock().api_keys.keys.get_mut(&id)
            && key.last_used_at.is_none_or(|last| last < at)
        {
            key.last_used_at = Some(at);
        }
        Ok(())
    }
}
