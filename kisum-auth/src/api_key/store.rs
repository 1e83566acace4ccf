//! [`ApiKeyStore`]: where company API keys are kept.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;
use kisum_guard::CompanyId;

use super::{ApiKey, ApiKeyId};

/// Company API keys.
///
/// Backends store times to the microsecond. A revocation appends a `session_revoked` event
/// about the key's id to the store's event log in the same transaction (decision 0015), so
/// every guard following the log denies the key as it denies a revoked session.
#[async_trait]
pub trait ApiKeyStore: Send + Sync + 'static {
    /// Stores a new key.
    ///
    /// # Errors
    /// `Conflict` for an id already stored; `NotFound` for an unknown company; `Unavailable`.
    async fn create_api_key(&self, key: &ApiKey) -> Result<(), StoreError>;

    /// Key `id`, revoked and expired ones included, or `None`.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn get_api_key(&self, id: ApiKeyId) -> Result<Option<ApiKey>, StoreError>;

    /// The company's keys, revoked and expired ones included, oldest first.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn list_api_keys(&self, company: CompanyId) -> Result<Vec<ApiKey>, StoreError>;

    /// Revokes key `id` of `company` at `at`; returns whether this call revoked it (`false`
    /// for an unknown key, another company's, or one already revoked: then nothing changes
    /// and no event is appended).
    ///
    /// # Errors
    /// `Unavailable`.
    async fn revoke_api_key(
        &self,
        company: CompanyId,
        id: ApiKeyId,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Records that key `id` was used at `at`: `last_used_at` becomes `at` unless it is
    /// already later. Nothing for an unknown key.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn touch_api_key(&self, id: ApiKeyId, at: DateTime<Utc>) -> Result<(), StoreError>;
}
