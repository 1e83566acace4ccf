//! [`SubscriptionStore`] on PostgreSQL: times bound as `TIMESTAMPTZ`; each write locks the
//! company's version row before it changes anything.

use async_trait::async_trait;
use kisum_guard::{AddOnKey, CompanyId};

use super::{PgCoreStore, bump_company};
use crate::db::StoreError;
use crate::db::sql::{store_error, version_from_db};
use crate::entitlements::CompanyEntitlementState;
use crate::store::SubscriptionStore;
use crate::store::sql::{queries, rows};
use crate::subscription::{CompanyAddOn, Subscription};

/// Raises an existing company's version (`$1`), locking its row; no row when it has none.
const BUMP_EXISTING_COMPANY: &str = "UPDATE company_entitlements
     SET entitlement_version = entitlement_version + 1
     WHERE company_id = $1 RETURNING entitlement_version";

#[async_trait]
impl SubscriptionStore for PgCoreStore {
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
            .bind(subscription.current_period_end)
            .bind(subscription.grace_until)
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
            .bind(addon.current_period_end)
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
        // The version row first: it serializes this write with every other one of the company.
        let version: Option<i64> = sqlx::query_scalar(BUMP_EXISTING_COMPANY)
            .bind(company_id.as_uuid())
            .fetch_optional(&mut *tx)
            .await
            .map_err(store_error)?;
        let deleted = sqlx::query(queries::DELETE_COMPANY_ADDON)
            .bind(company_id.as_uuid())
            .bind(addon.as_str())
            .execute(&mut *tx)
            .await
            .map_err(store_error)?
            .rows_affected();
        match version {
            Some(v) if deleted == 1 => {
                tx.commit().await.map_err(store_error)?;
                version_from_db(v)
            }
            _ => {
                tx.rollback().await.map_err(store_error)?;
                Err(StoreError::not_found(format!("company add-on `{addon}`")))
            }
        }
    }
}
