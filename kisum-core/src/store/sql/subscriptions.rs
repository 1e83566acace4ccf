//! [`SubscriptionStore`](crate::store::SubscriptionStore) written once: every write raises the
//! company's version first, which on PostgreSQL also locks the company's version row for the
//! rest of the transaction (and on SQLite the write transaction holds the database's lock), so
//! concurrent writes to one company are serialized and none is lost.

use async_trait::async_trait;

use super::SqlCoreStore;
use crate::store::SubscriptionStore;
use kisum_guard::{AddOnKey, CompanyId};
use sqlx::Transaction;

use crate::db::StoreError;
use crate::db::sql::{Dialect, SqlRow, Stmt, store_error, version_from_db};
use crate::entitlements::CompanyEntitlementState;
use crate::store::sql::{queries, rows};
use crate::subscription::{CompanyAddOn, Subscription};

/// Raises company `$1`'s version if it has one, `RETURNING entitlement_version`; no row when
/// it has none.
const BUMP_EXISTING_COMPANY: &str = "UPDATE company_entitlements
     SET entitlement_version = entitlement_version + 1
     WHERE company_id = $1 RETURNING entitlement_version";

/// Raises the company's version by one (creating it at 1) and returns it.
pub(crate) async fn bump_company<D: Dialect>(
    tx: &mut Transaction<'static, D>,
    company_id: CompanyId,
) -> Result<u64, StoreError> {
    let row = Stmt::new(queries::BUMP_COMPANY)
        .id(company_id.as_uuid())
        .fetch_one(&mut *tx)
        .await?;
    version_from_db(row.int("entitlement_version")?)
}

/// Creates or replaces the company's subscription, in `tx` (whose caller bumps the version).
pub(crate) async fn upsert_subscription<D: Dialect>(
    tx: &mut Transaction<'static, D>,
    subscription: &Subscription,
) -> Result<(), StoreError> {
    Stmt::new(queries::UPSERT_SUBSCRIPTION)
        .id(subscription.company_id.as_uuid())
        .text(subscription.package.as_str())
        .text(subscription.status.as_str())
        .time_opt(subscription.current_period_end)
        .time_opt(subscription.grace_until)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Creates or replaces one company add-on, in `tx` (whose caller bumps the version).
pub(crate) async fn upsert_company_addon<D: Dialect>(
    tx: &mut Transaction<'static, D>,
    addon: &CompanyAddOn,
) -> Result<(), StoreError> {
    Stmt::new(queries::UPSERT_COMPANY_ADDON)
        .id(addon.company_id.as_uuid())
        .text(addon.addon.as_str())
        .text(addon.status.as_str())
        .time_opt(addon.current_period_end)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

#[async_trait]
impl<D: Dialect> SubscriptionStore for SqlCoreStore<D> {
    async fn company_state(
        &self,
        company_id: CompanyId,
    ) -> Result<CompanyEntitlementState, StoreError> {
        let found = Stmt::new(queries::COMPANY_STATE)
            .id(company_id.as_uuid())
            .fetch_all(&self.pool)
            .await?;
        rows::company_state(company_id, &found)
    }

    async fn put_subscription(&self, subscription: Subscription) -> Result<u64, StoreError> {
        let mut tx = D::begin_write(&self.pool).await?;
        let version = bump_company(&mut tx, subscription.company_id).await?;
        upsert_subscription(&mut tx, &subscription).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(version)
    }

    async fn put_company_addon(&self, addon: CompanyAddOn) -> Result<u64, StoreError> {
        let mut tx = D::begin_write(&self.pool).await?;
        let version = bump_company(&mut tx, addon.company_id).await?;
        upsert_company_addon(&mut tx, &addon).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(version)
    }

    async fn remove_company_addon(
        &self,
        company_id: CompanyId,
        addon: &AddOnKey,
    ) -> Result<u64, StoreError> {
        let mut tx = D::begin_write(&self.pool).await?;
        // The version row first: it serializes this write with every other one of the company.
        let version = Stmt::new(BUMP_EXISTING_COMPANY)
            .id(company_id.as_uuid())
            .fetch_optional(&mut tx)
            .await?;
        let deleted = Stmt::new(queries::DELETE_COMPANY_ADDON)
            .id(company_id.as_uuid())
            .text(addon.as_str())
            .execute(&mut tx)
            .await?;
        match version {
            Some(row) if deleted == 1 => {
                let version = version_from_db(row.int("entitlement_version")?)?;
                tx.commit().await.map_err(store_error)?;
                Ok(version)
            }
            _ => {
                tx.rollback().await.map_err(store_error)?;
                Err(StoreError::not_found(format!("company add-on `{addon}`")))
            }
        }
    }
}
