//! [`CoreAdmin`]: every change to the catalog and to company entitlements, validated by the
//! [`EntitlementService`], recorded in the [audit log](crate::audit), and followed by an
//! [invalidation event](crate::events) for every company whose entitlements it changed.
//!
//! **Catalog edits.** A module, package or add-on edit changes the entitlements of every company
//! using it. The store raises, in the same transaction as the edit, the `entitlement_version` of
//! exactly those companies (see [`CatalogStore`](crate::CatalogStore)); `CoreAdmin` then
//! publishes one [`InvalidationEvent::Company`] per raised company, so catalog edits take effect
//! at once wherever events are delivered, and within the cache TTL elsewhere. A catalog edit
//! touching many companies publishes as many events; catalog edits are rare operator actions.
//!
//! **Order and failures.** The change is committed first; then the audit record is appended,
//! then the events are published. Neither can undo or fail the committed change: a record the
//! sink refuses is written to the log target `kisum::audit` at error level (so it is never lost
//! silently), and event publishers never fail by contract. Refused changes (unknown keys, …)
//! change nothing and are not audited.

use std::sync::Arc;

use kisum_guard::{AddOnKey, Clock, CompanyId};
use serde::Serialize;

use crate::audit::{CoreAudit, CoreAuditRecord, action, log_record};
use crate::catalog::{AddOn, Module, Package};
use crate::entitlements::Entitlements;
use crate::events::{EventPublisher, InvalidationEvent};
use crate::service::{EntitlementError, EntitlementService};
use crate::store::VersionBump;
use crate::subscription::{CompanyAddOn, Subscription};

/// Who is making a change: the name of the service key presented (never its secret) or of the
/// operator tool, and the request id when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The name recorded as the audit record's actor.
    pub name: String,
    /// The request id recorded with it.
    pub request_id: Option<String>,
}

impl Actor {
    /// An actor named `name`, without a request id.
    #[must_use]
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            request_id: None,
        }
    }

    /// With the request id.
    #[must_use]
    pub fn with_request_id(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = Some(request_id.into());
        self
    }
}

/// Audited, invalidating writes over an [`EntitlementService`].
#[derive(Clone)]
pub struct CoreAdmin {
    service: EntitlementService,
    audit: Arc<dyn CoreAudit>,
    events: Arc<dyn EventPublisher>,
    clock: Arc<dyn Clock>,
}

impl CoreAdmin {
    /// The log the store's writes append their events to (Core's stream).
    #[must_use]
    pub fn event_log(&self) -> Arc<dyn crate::outbox::EventLog> {
        self.service.event_log()
    }

    /// Writes through `service`, recording to `audit` and publishing to `events`; audit times
    /// come from `clock`.
    #[must_use]
    pub fn new(
        service: EntitlementService,
        clock: Arc<dyn Clock>,
        audit: Arc<dyn CoreAudit>,
        events: Arc<dyn EventPublisher>,
    ) -> Self {
        Self {
            service,
            audit,
            events,
            clock,
        }
    }

    /// The service, for reads.
    #[must_use]
    pub fn service(&self) -> &EntitlementService {
        &self.service
    }

    /// Creates or replaces a module, and answers the companies whose version it raised.
    ///
    /// # Errors
    /// As [`EntitlementService::put_module`].
    pub async fn put_module(
        &self,
        actor: &Actor,
        module: Module,
    ) -> Result<Vec<VersionBump>, EntitlementError> {
        let detail = detail(&module);
        let bumps = self.service.put_module(module).await?;
        self.catalog_written(actor, action::MODULE_PUT, detail, &bumps)
            .await;
        Ok(bumps)
    }

    /// Creates or replaces a package, and answers the companies whose version it raised.
    ///
    /// # Errors
    /// As [`EntitlementService::put_package`].
    pub async fn put_package(
        &self,
        actor: &Actor,
        package: Package,
    ) -> Result<Vec<VersionBump>, EntitlementError> {
        let detail = detail(&package);
        let bumps = self.service.put_package(package).await?;
        self.catalog_written(actor, action::PACKAGE_PUT, detail, &bumps)
            .await;
        Ok(bumps)
    }

    /// Creates or replaces an add-on, and answers the companies whose version it raised.
    ///
    /// # Errors
    /// As [`EntitlementService::put_addon`].
    pub async fn put_addon(
        &self,
        actor: &Actor,
        addon: AddOn,
    ) -> Result<Vec<VersionBump>, EntitlementError> {
        let detail = detail(&addon);
        let bumps = self.service.put_addon(addon).await?;
        self.catalog_written(actor, action::ADDON_PUT, detail, &bumps)
            .await;
        Ok(bumps)
    }

    /// Sets the company's subscription and answers its new entitlements.
    ///
    /// # Errors
    /// As [`EntitlementService::set_subscription`].
    pub async fn set_subscription(
        &self,
        actor: &Actor,
        subscription: Subscription,
    ) -> Result<Entitlements, EntitlementError> {
        let detail = detail(&subscription);
        let e = self.service.set_subscription(subscription).await?;
        self.company_written(actor, action::SUBSCRIPTION_PUT, detail, &e)
            .await;
        Ok(e)
    }

    /// Sets one company add-on and answers the company's new entitlements.
    ///
    /// # Errors
    /// As [`EntitlementService::set_company_addon`].
    pub async fn set_company_addon(
        &self,
        actor: &Actor,
        addon: CompanyAddOn,
    ) -> Result<Entitlements, EntitlementError> {
        let detail = detail(&addon);
        let e = self.service.set_company_addon(addon).await?;
        self.company_written(actor, action::COMPANY_ADDON_PUT, detail, &e)
            .await;
        Ok(e)
    }

    /// Removes one company add-on and answers the company's new entitlements.
    ///
    /// # Errors
    /// As [`EntitlementService::remove_company_addon`].
    pub async fn remove_company_addon(
        &self,
        actor: &Actor,
        company_id: CompanyId,
        addon: &AddOnKey,
    ) -> Result<Entitlements, EntitlementError> {
        let e = self.service.remove_company_addon(company_id, addon).await?;
        let detail = serde_json::json!({ "addon": addon });
        self.company_written(actor, action::COMPANY_ADDON_DELETE, detail, &e)
            .await;
        Ok(e)
    }

    async fn catalog_written(
        &self,
        actor: &Actor,
        action: &str,
        mut detail: serde_json::Value,
        bumps: &[VersionBump],
    ) {
        if let Some(map) = detail.as_object_mut() {
            map.insert("companies_affected".to_owned(), bumps.len().into());
        }
        self.record(actor, action, None, detail).await;
        for bump in bumps {
            self.events
                .publish(&InvalidationEvent::Company {
                    company_id: bump.company_id,
                })
                .await;
        }
    }

    async fn company_written(
        &self,
        actor: &Actor,
        action: &str,
        detail: serde_json::Value,
        e: &Entitlements,
    ) {
        self.company_changed(actor, action, detail, e.company_id, e.entitlement_version)
            .await;
    }

    /// Records a company change committed elsewhere (a billing webhook) and publishes its
    /// invalidation event, as every company write here does.
    pub(crate) async fn company_changed(
        &self,
        actor: &Actor,
        action: &str,
        mut detail: serde_json::Value,
        company_id: CompanyId,
        entitlement_version: u64,
    ) {
        if let Some(map) = detail.as_object_mut() {
            map.remove("company_id");
            map.insert("entitlement_version".to_owned(), entitlement_version.into());
        }
        self.record(actor, action, Some(company_id), detail).await;
        self.events
            .publish(&InvalidationEvent::Company { company_id })
            .await;
    }

    /// Appends an audit record (a sink failure is logged, never returned).
    pub(crate) async fn record(
        &self,
        actor: &Actor,
        action: &str,
        company_id: Option<CompanyId>,
        detail: serde_json::Value,
    ) {
        let mut record =
            CoreAuditRecord::new(self.clock.now(), actor.name.as_str(), action).with_detail(detail);
        record.company_id = company_id;
        record.request_id.clone_from(&actor.request_id);
        if let Err(e) = self.audit.append(&record).await {
            tracing::error!(target: crate::audit::AUDIT_LOG_TARGET, error = %e, "audit sink failed");
            log_record(&record, false);
        }
    }
}

/// The written item as an audit detail object (`{}` if it does not serialize to one).
fn detail(item: &impl Serialize) -> serde_json::Value {
    match serde_json::to_value(item) {
        Ok(v @ serde_json::Value::Object(_)) => v,
        _ => serde_json::Value::Object(serde_json::Map::new()),
    }
}
