//! [`BillingStore`](crate::billing::BillingStore) written once over the dialect (decision
//! 0027). An event is inserted first (`ON CONFLICT DO NOTHING`: a replay, even a concurrent
//! one, inserts nothing and is a duplicate); the Stripe subscription's row is then locked by an
//! upsert that changes nothing (PostgreSQL holds the row lock to the end of the transaction;
//! SQLite's `BEGIN IMMEDIATE` holds the database's); only then is the change compared with the
//! state applied and written, with the company's version bump, in the same transaction.

use async_trait::async_trait;
use kisum_guard::{AddOnKey, CompanyId, PackageKey};
use sqlx::Transaction;

use super::SqlCoreStore;
use super::subscriptions::{bump_company, upsert_company_addon, upsert_subscription};
use crate::billing::{
    ApplyOutcome, BillingEventRecord, BillingOutcome, BillingStore, StripeChange,
    StripeSubscriptionState, writes,
};
use crate::db::StoreError;
use crate::db::sql::{Dialect, SqlRow, Stmt, parse_enum, parse_list, store_error};

const INSERT_EVENT: &str = "INSERT INTO billing_events
         (event_id, type, created, received_at, outcome, company_id, subscription_id, reason)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (event_id) DO NOTHING";

const SET_OUTCOME: &str = "UPDATE billing_events SET outcome = $2 WHERE event_id = $1";

const SELECT_EVENT: &str = "SELECT event_id, type, created, received_at, outcome, company_id,
            subscription_id, reason
     FROM billing_events WHERE event_id = $1";

/// The `last_created` of a row this transaction has just inserted, read as "no state yet"
/// (no Stripe event is that old).
const FRESH: i64 = i64::MIN;

/// Creates the subscription's row when missing and locks it; returns it as it was (a new row
/// holds [`FRESH`]).
const LOCK_SUBSCRIPTION: &str = "INSERT INTO billing_subscriptions
         (subscription_id, company_id, last_created, last_rank, package, addons)
     VALUES ($1, $2, $3, 0, NULL, $4)
     ON CONFLICT (subscription_id) DO UPDATE SET subscription_id = EXCLUDED.subscription_id
     RETURNING subscription_id, company_id, last_created, last_rank, package, addons";

const UPDATE_SUBSCRIPTION: &str = "UPDATE billing_subscriptions
     SET company_id = $2, last_created = $3, last_rank = $4, package = $5, addons = $6
     WHERE subscription_id = $1";

const SELECT_SUBSCRIPTION: &str =
    "SELECT subscription_id, company_id, last_created, last_rank, package, addons
     FROM billing_subscriptions WHERE subscription_id = $1";

fn event(r: &impl SqlRow) -> Result<BillingEventRecord, StoreError> {
    Ok(BillingEventRecord {
        event_id: r.text("event_id")?.to_owned(),
        kind: r.text("type")?.to_owned(),
        created: r.int("created")?,
        received_at: r.time("received_at")?,
        outcome: parse_enum(r.text("outcome")?, BillingOutcome::parse)?,
        company_id: r.uuid_opt("company_id")?.map(CompanyId::from_uuid),
        subscription_id: r.text_opt("subscription_id")?.map(str::to_owned),
        reason: r.text_opt("reason")?.map(str::to_owned),
    })
}

fn subscription(r: &impl SqlRow) -> Result<StripeSubscriptionState, StoreError> {
    Ok(StripeSubscriptionState {
        subscription_id: r.text("subscription_id")?.to_owned(),
        company_id: CompanyId::from_uuid(r.uuid("company_id")?),
        last_created: r.int("last_created")?,
        last_rank: r.int32("last_rank")?,
        package: r
            .text_opt("package")?
            .map(|p| parse_enum(p, |s| PackageKey::new(s).ok()))
            .transpose()?,
        addons: parse_list(&r.list("addons")?, AddOnKey::new)?,
    })
}

/// Inserts `record` with `outcome`; `false` when its id was there already.
async fn insert_event<D: Dialect>(
    tx: &mut Transaction<'static, D>,
    record: &BillingEventRecord,
    outcome: BillingOutcome,
) -> Result<bool, StoreError> {
    let inserted = Stmt::new(INSERT_EVENT)
        .text(record.event_id.as_str())
        .text(record.kind.as_str())
        .int(record.created)
        .time(record.received_at)
        .text(outcome.as_str())
        .id_opt(record.company_id.map(|c| *c.as_uuid()))
        .text_opt(record.subscription_id.as_deref())
        .text_opt(record.reason.as_deref())
        .execute(&mut *tx)
        .await?;
    Ok(inserted == 1)
}

async fn apply<D: Dialect>(
    store: &SqlCoreStore<D>,
    record: &BillingEventRecord,
    change: &StripeChange,
) -> Result<ApplyOutcome, StoreError> {
    let mut tx = D::begin_write(&store.pool).await?;
    if !insert_event(&mut tx, record, BillingOutcome::Applied).await? {
        tx.rollback().await.map_err(store_error)?;
        return Ok(ApplyOutcome::Duplicate);
    }
    let locked = Stmt::new(LOCK_SUBSCRIPTION)
        .text(change.subscription_id.as_str())
        .id(change.company_id.as_uuid())
        .int(FRESH)
        .list(Vec::<String>::new())
        .fetch_one(&mut tx)
        .await?;
    let previous = Some(subscription(&locked)?).filter(|s| s.last_created != FRESH);
    if previous
        .as_ref()
        .is_some_and(|p| !p.accepts(change.created, change.rank))
    {
        Stmt::new(SET_OUTCOME)
            .text(record.event_id.as_str())
            .text(BillingOutcome::Stale.as_str())
            .execute(&mut tx)
            .await?;
        tx.commit().await.map_err(store_error)?;
        return Ok(ApplyOutcome::Stale);
    }
    let (written, addons, state) = writes(previous.as_ref(), change);
    let version = bump_company(&mut tx, change.company_id).await?;
    if let Some(s) = written {
        upsert_subscription(&mut tx, &s).await?;
    }
    for a in addons {
        upsert_company_addon(&mut tx, &a).await?;
    }
    Stmt::new(UPDATE_SUBSCRIPTION)
        .text(state.subscription_id.as_str())
        .id(state.company_id.as_uuid())
        .int(state.last_created)
        .int32(state.last_rank)
        .text_opt(state.package.as_ref().map(PackageKey::as_str))
        .list(state.addons.iter().map(AddOnKey::as_str))
        .execute(&mut tx)
        .await?;
    tx.commit().await.map_err(store_error)?;
    Ok(ApplyOutcome::Applied {
        entitlement_version: version,
    })
}

#[async_trait]
impl<D: Dialect> BillingStore for SqlCoreStore<D> {
    async fn record_event(&self, record: &BillingEventRecord) -> Result<bool, StoreError> {
        let mut tx = D::begin_write(&self.pool).await?;
        let inserted = insert_event(&mut tx, record, record.outcome).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(inserted)
    }

    async fn apply_stripe_change(
        &self,
        record: &BillingEventRecord,
        change: &StripeChange,
    ) -> Result<ApplyOutcome, StoreError> {
        apply(self, record, change).await
    }

    async fn billing_event(
        &self,
        event_id: &str,
    ) -> Result<Option<BillingEventRecord>, StoreError> {
        Stmt::new(SELECT_EVENT)
            .text(event_id)
            .fetch_optional_as(&self.pool, event)
            .await
    }

    async fn stripe_subscription(
        &self,
        subscription_id: &str,
    ) -> Result<Option<StripeSubscriptionState>, StoreError> {
        Stmt::new(SELECT_SUBSCRIPTION)
            .text(subscription_id)
            .fetch_optional_as(&self.pool, subscription)
            .await
    }
}
