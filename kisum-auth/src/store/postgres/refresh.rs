//! [`RefreshTokenStore`](crate::session::RefreshTokenStore) on PostgreSQL: nothing of its own
//! (`store::sql::refresh`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;

use super::PgAuthStore;
use crate::session::{RefreshRecord, RefreshTokenStore, Rotation, TokenHash};
use crate::store::sql::refresh;

#[async_trait]
impl RefreshTokenStore for PgAuthStore {
    async fn insert_refresh_token(&self, record: &RefreshRecord) -> Result<(), StoreError> {
        refresh::insert_refresh_token(&self.pool, record).await
    }

    async fn find_refresh_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<RefreshRecord>, StoreError> {
        refresh::find_refresh_token(&self.pool, hash).await
    }

    async fn claim_grace(
        &self,
        hash: &TokenHash,
        max_uses: u32,
    ) -> Result<Option<RefreshRecord>, StoreError> {
        refresh::claim_grace(&self.pool, hash, max_uses).await
    }

    async fn rotate_refresh_token(
        &self,
        old: &TokenHash,
        at: DateTime<Utc>,
        next: &RefreshRecord,
    ) -> Result<Rotation, StoreError> {
        refresh::rotate_refresh_token(&self.pool, old, at, next).await
    }
}
