//! [`SubscriptionStore`] on SQLite: nothing of its own (times are bound as microseconds by the
//! dialect); the write lock of `BEGIN IMMEDIATE` serializes writes.

use async_trait::async_trait;
use kisum_guard::{AddOnKey, CompanyId};

use super::SqliteCoreStore;
use crate::db::StoreError;
use crate::entitlements::CompanyEntitlementState;
use crate::store::SubscriptionStore;
use crate::store::sql::subscriptions;
use crate::subscription::{CompanyAddOn, Subscription};

#[async_trait]
impl SubscriptionStore for SqliteCoreStore {
    async fn company_state(
        &self,
        company_id: CompanyId,
    ) -> Result<CompanyEntitlementState, StoreError> {
        subscriptions::company_state(&self.pool, company_id).await
    }

    async fn put_subscription(&self, subscription: Subscription) -> Result<u64, StoreError> {
        subscriptions::put_subscription(&self.pool, &subscription).await
    }

    async fn put_company_addon(&self, addon: CompanyAddOn) -> Result<u64, StoreError> {
        subscriptions::put_company_addon(&self.pool, &addon).await
    }

    async fn remove_company_addon(
        &self,
        company_id: CompanyId,
        addon: &AddOnKey,
    ) -> Result<u64, StoreError> {
        subscriptions::remove_company_addon(&self.pool, company_id, addon).await
    }
}
