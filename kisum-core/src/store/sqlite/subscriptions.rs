//! [`SubscriptionStore`] on SQLite: times bound as microseconds; the write lock of
//! `BEGIN IMMEDIATE` serializes writes.

use async_trait::async_trait;
use kisum_guard::{AddOnKey, CompanyId};

use super::{SqliteCoreStore, bump_company};
use crate::db::StoreError;
use crate::db::sql::{store_error, to_micros};
use crate::entitlements::CompanyEntitlementState;
use crate::store::SubscriptionStore;
use crate::store::sql::{queries, rows};
use crate::subscription::{CompanyAddOn, Subscription};

#[async_trait]
impl SubscriptionStore for SqliteCoreStore {
    async fn company_state(
        &self,
        company_id: CompanyId,
    ) -> Result<CompanyEntitlementState, StoreError> {
        let found = sqlx::query(queries::COMPANY_STATE)
            .bind(company_id.as_uuid())
            .fetch_all(&self.pool)
            .await
            .map_err(store_error)?;
        rows::company_state(company_id, &found)
    }

    async fn put_subscription(&self, subscription: Subscription) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let version = bump_company(&mut tx, subscription.company_id).await?;
        sqlx::query(queries::UPSERT_SUBSCRIPTION)
            .bind(subscription.company_id.as_uuid())
            .bind(subscription.package.as_str())
            .bind(subscription.status.as_str())
            .bind(subscription.current_period_end.map(to_micros))
            .bind(subscription.grace_until.map(to_micros))
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(version)
    }

    async fn put_company_addon(&self, addon: CompanyAddOn) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let version = bump_company(&mut tx, addon.company_id).await?;
        sqlx::query(queries::UPSERT_COMPANY_ADDON)
            .bind(addon.company_id.as_uuid())
            .bind(addon.addon.as_str())
            .bind(addon.status.as_str())
            .bind(addon.current_period_end.map(to_micros))
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(version)
    }

    async fn remove_company_addon(
        &self,
        company_id: CompanyId,
        addon: &AddOnKey,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let deleted = sqlx::query(queries::DELETE_COMPANY_ADDON)
            .bind(company_id.as_uuid())
            .bind(addon.as_str())
            .execute(&mut *tx)
            .await
            .map_err(store_error)?
            .rows_affected();
        if deleted != 1 {
            tx.rollback().await.map_err(store_error)?;
            return Err(StoreError::not_found(format!("company add-on `{addon}`")));
        }
        let version = bump_company(&mut tx, company_id).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(version)
    }
}
