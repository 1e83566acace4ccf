//! The in-memory backends (the core store and the audit log): for tests, examples and single-process embedding without persistence.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_guard::{AddOnKey, CompanyId, InvalidationEvent};

use super::{CatalogStore, SubscriptionStore, VersionBump};
use crate::audit::{CoreAudit, CoreAuditRecord, MAX_LIST_LIMIT};
use crate::catalog::{AddOn, Catalog, Module, Package};
use crate::db::StoreError;
use crate::entitlements::CompanyEntitlementState;
use crate::outbox::MemoryEventLog;
use crate::subscription::{CompanyAddOn, Subscription};

#[derive(Default)]
struct State {
    catalog: Arc<Catalog>,
    /// Raised by every catalog edit ([`CatalogStore::catalog_version`]).
    catalog_version: u64,
    /// Hashed with `foldhash` (seeded at random): read on every access resolution.
    companies: HashMap<CompanyId, CompanyEntitlementState, foldhash::quality::RandomState>,
    /// The event log, appended under the same lock as the change (decision 0015).
    log: Arc<MemoryEventLog>,
    /// Stripe events received and subscriptions applied (decision 0027).
    billing: crate::billing::store::MemoryBilling,
}

impl State {
    /// The catalog, to edit: its version is raised.
    fn edit_catalog(&mut self) -> &mut Catalog {
        self.catalog_version += 1;
        Arc::make_mut(&mut self.catalog)
    }

    fn bump_where(
        &mut self,
        affected: impl Fn(&CompanyEntitlementState) -> bool,
    ) -> Vec<VersionBump> {
        let mut bumps: Vec<VersionBump> = self
            .companies
            .values_mut()
            .filter(|c| affected(c))
            .map(|c| {
                c.entitlement_version += 1;
                VersionBump {
                    company_id: c.company_id,
                    entitlement_version: c.entitlement_version,
                }
            })
            .collect();
        bumps.sort_by_key(|b| b.company_id);
        for b in &bumps {
            self.changed(b.company_id);
        }
        bumps
    }

    /// Appends the company's event (this store has no injected clock: the log's times only
    /// decide pruning, and the system clock is what a pruning job compares them with).
    fn changed(&self, company_id: CompanyId) {
        use kisum_guard::Clock as _;
        self.log.record(
            InvalidationEvent::Company { company_id },
            kisum_guard::SystemClock.now(),
        );
    }

    fn company(&mut self, company_id: CompanyId) -> &mut CompanyEntitlementState {
        self.companies
            .entry(company_id)
            .or_insert_with(|| CompanyEntitlementState::empty(company_id))
    }
}

/// Creates or replaces one of the company's add-ons, keeping them sorted by key.
fn upsert_addon(company: &mut CompanyEntitlementState, addon: CompanyAddOn) {
    match company
        .add_ons
        .binary_search_by(|a| a.addon.cmp(&addon.addon))
    {
        Ok(i) => {
            if let Some(slot) = company.add_ons.get_mut(i) {
                *slot = addon;
            }
        }
        Err(i) => company.add_ons.insert(i, addon),
    }
}

/// Catalog and entitlements kept in process memory behind one mutex.
#[derive(Default)]
pub struct MemoryCoreStore {
    state: Mutex<State>,
}

impl MemoryCoreStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl CatalogStore for MemoryCoreStore {
    async fn put_module(&self, module: Module) -> Result<Vec<VersionBump>, StoreError> {
        let mut state = self.lock();
        let key = module.key.clone();
        state.edit_catalog().modules.insert(key.clone(), module);
        let catalog = Arc::clone(&state.catalog);
        Ok(state.bump_where(|c| {
            let by_package = c
                .subscription
                .as_ref()
                .and_then(|s| catalog.packages.get(&s.package))
                .is_some_and(|p| p.modules.contains(&key));
            let by_addon = c.add_ons.iter().any(|a| {
                catalog
                    .addons
                    .get(&a.addon)
                    .is_some_and(|a| a.module == key)
            });
            by_package || by_addon
        }))
    }

    async fn put_package(&self, package: Package) -> Result<Vec<VersionBump>, StoreError> {
        let mut state = self.lock();
        let key = package.key.clone();
        state.edit_catalog().packages.insert(key.clone(), package);
        Ok(state.bump_where(|c| c.subscription.as_ref().is_some_and(|s| s.package == key)))
    }

    async fn put_addon(&self, addon: AddOn) -> Result<Vec<VersionBump>, StoreError> {
        let mut state = self.lock();
        let key = addon.key.clone();
        state.edit_catalog().addons.insert(key.clone(), addon);
        Ok(state.bump_where(|c| c.add_ons.iter().any(|a| a.addon == key)))
    }

    async fn catalog(&self) -> Result<Arc<Catalog>, StoreError> {
        Ok(Arc::clone(&self.lock().catalog))
    }

    async fn catalog_version(&self) -> Result<Option<u64>, StoreError> {
        Ok(Some(self.lock().catalog_version))
    }

    async fn versioned_catalog(&self) -> Result<(Option<u64>, Arc<Catalog>), StoreError> {
        let state = self.lock();
        Ok((Some(state.catalog_version), Arc::clone(&state.catalog)))
    }
}

#[async_trait]
impl SubscriptionStore for MemoryCoreStore {
    async fn company_state(
        &self,
        company_id: CompanyId,
    ) -> Result<CompanyEntitlementState, StoreError> {
        Ok(self
            .lock()
            .companies
            .get(&company_id)
            .cloned()
            .unwrap_or_else(|| CompanyEntitlementState::empty(company_id)))
    }

    async fn put_subscription(&self, subscription: Subscription) -> Result<u64, StoreError> {
        let mut state = self.lock();
        let company_id = subscription.company_id;
        let company = state.company(company_id);
        company.subscription = Some(subscription);
        company.entitlement_version += 1;
        let version = company.entitlement_version;
        state.changed(company_id);
        Ok(version)
    }

    async fn put_company_addon(&self, addon: CompanyAddOn) -> Result<u64, StoreError> {
        let mut state = self.lock();
        let company_id = addon.company_id;
        let company = state.company(company_id);
        upsert_addon(company, addon);
        company.entitlement_version += 1;
        let version = company.entitlement_version;
        state.changed(company_id);
        Ok(version)
    }

    async fn remove_company_addon(
        &self,
        company_id: CompanyId,
        addon: &AddOnKey,
    ) -> Result<u64, StoreError> {
        let mut state = self.lock();
        let Some(company) = state.companies.get_mut(&company_id) else {
            return Err(StoreError::not_found(format!("company add-on `{addon}`")));
        };
        let before = company.add_ons.len();
        company.add_ons.retain(|a| &a.addon != addon);
        if company.add_ons.len() == before {
            return Err(StoreError::not_found(format!("company add-on `{addon}`")));
        }
        company.entitlement_version += 1;
        let version = company.entitlement_version;
        state.changed(company_id);
        Ok(version)
    }
}

/// The audit log kept in process memory: for tests and single-process embedding.
#[derive(Debug, Default)]
pub struct MemoryCoreAudit {
    records: Mutex<Vec<CoreAuditRecord>>,
}

impl MemoryCoreAudit {
    /// An empty log.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl CoreAudit for MemoryCoreAudit {
    async fn append(&self, record: &CoreAuditRecord) -> Result<(), StoreError> {
        record.validate()?;
        let mut records = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        if records.iter().any(|r| r.id == record.id) {
            return Err(StoreError::conflict("audit record id already exists"));
        }
        records.push(CoreAuditRecord {
            at: kisum_guard::to_micros(record.at),
            ..record.clone()
        });
        Ok(())
    }

    async fn list(
        &self,
        company_id: Option<CompanyId>,
        limit: u32,
    ) -> Result<Vec<CoreAuditRecord>, StoreError> {
        let records = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        let mut found: Vec<CoreAuditRecord> = records
            .iter()
            .filter(|r| company_id.is_none_or(|c| r.company_id == Some(c)))
            .cloned()
            .collect();
        found.sort_by(|a, b| b.at.cmp(&a.at).then(b.id.cmp(&a.id)));
        found.truncate(usize::try_from(limit.min(MAX_LIST_LIMIT)).unwrap_or(0));
        Ok(found)
    }

    async fn prune(&self, older_than: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut records = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        let before = records.len();
        records.retain(|r| r.at >= older_than);
        Ok(u64::try_from(before - records.len()).unwrap_or(u64::MAX))
    }
}

impl crate::outbox::EventLogged for MemoryCoreStore {
    fn event_log(&self) -> Arc<dyn crate::outbox::EventLog> {
        self.lock().log.clone()
    }
}

#[async_trait]
impl crate::billing::BillingStore for MemoryCoreStore {
    async fn record_event(
        &self,
        record: &crate::billing::BillingEventRecord,
    ) -> Result<bool, StoreError> {
        let mut state = self.lock();
        if state.billing.events.contains_key(&record.event_id) {
            return Ok(false);
        }
        state
            .billing
            .events
            .insert(record.event_id.clone(), stored(record));
        Ok(true)
    }

    async fn apply_stripe_change(
        &self,
        record: &crate::billing::BillingEventRecord,
        change: &crate::billing::StripeChange,
    ) -> Result<crate::billing::ApplyOutcome, StoreError> {
        use crate::billing::{ApplyOutcome, BillingOutcome};
        let mut state = self.lock();
        if state.billing.events.contains_key(&record.event_id) {
            return Ok(ApplyOutcome::Duplicate);
        }
        let previous = state
            .billing
            .subscriptions
            .get(&change.subscription_id)
            .cloned();
        if previous
            .as_ref()
            .is_some_and(|p| !p.accepts(change.created, change.rank))
        {
            let record = crate::billing::BillingEventRecord {
                outcome: BillingOutcome::Stale,
                ..stored(record)
            };
            state.billing.events.insert(record.event_id.clone(), record);
            return Ok(ApplyOutcome::Stale);
        }
        let (subscription, addons, applied) = crate::billing::writes(previous.as_ref(), change);
        let company = state.company(change.company_id);
        if let Some(subscription) = subscription {
            company.subscription = Some(subscription);
        }
        for addon in addons {
            upsert_addon(company, addon);
        }
        company.entitlement_version += 1;
        let version = company.entitlement_version;
        state.changed(change.company_id);
        state
            .billing
            .subscriptions
            .insert(applied.subscription_id.clone(), applied);
        let record = crate::billing::BillingEventRecord {
            outcome: BillingOutcome::Applied,
            ..stored(record)
        };
        state.billing.events.insert(record.event_id.clone(), record);
        Ok(ApplyOutcome::Applied {
            entitlement_version: version,
        })
    }

    async fn billing_event(
        &self,
        event_id: &str,
    ) -> Result<Option<crate::billing::BillingEventRecord>, StoreError> {
        Ok(self.lock().billing.events.get(event_id).cloned())
    }

    async fn stripe_subscription(
        &self,
        subscription_id: &str,
    ) -> Result<Option<crate::billing::StripeSubscriptionState>, StoreError> {
        Ok(self
            .lock()
            .billing
            .subscriptions
            .get(subscription_id)
            .cloned())
    }
}

/// The record as a database keeps it (times to the microsecond).
fn stored(record: &crate::billing::BillingEventRecord) -> crate::billing::BillingEventRecord {
    crate::billing::BillingEventRecord {
        received_at: kisum_guard::to_micros(record.received_at),
        ..record.clone()
    }
}
