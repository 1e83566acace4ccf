//! The Core audit log: an append-only record of every change to the catalog and to company
//! entitlements, naming the service key that made it.
//!
//! Every write through [`CoreAdmin`](crate::CoreAdmin) appends one [`CoreAuditRecord`] to a
//! [`CoreAudit`] sink: in memory ([`MemoryCoreAudit`](crate::MemoryCoreAudit)), in the Core
//! database (`core_audit`, implemented by the SQLite and PostgreSQL stores), or only to the logs
//! ([`LogAudit`]). Records are never updated; they leave only by age, through
//! [`CoreAudit::prune`].
//!
//! **No secrets in records.** The actor is the *name* of a service key, never its secret; the
//! detail holds what was written to the catalog or to a company (keys, statuses, dates), which
//! is not secret.
//!
//! ```
//! use chrono::{DateTime, Utc};
//! use kisum_core::audit::{CoreAuditRecord, action};
//! use kisum_guard::CompanyId;
//!
//! let at: DateTime<Utc> = "2026-11-21T10:00:00Z".parse()?;
//! let record = CoreAuditRecord::new(at, "billing", action::SUBSCRIPTION_PUT)
//!     .with_company(CompanyId::new())
//!     .with_detail(serde_json::json!({ "package": "basic", "status": "active" }));
//! let json = serde_json::to_value(&record)?;
//! assert_eq!(json["actor"], "billing");
//! assert_eq!(json["action"], "subscription.put");
//! assert_eq!(json["detail"]["package"], "basic");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_guard::CompanyId;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::db::{StoreError, StoreErrorKind};

/// The most records one [`CoreAudit::list`] call returns, whatever limit is asked for.
pub const MAX_LIST_LIMIT: u32 = 1000;

/// The log target of [`LogAudit`] and of records that could not be stored.
pub const AUDIT_LOG_TARGET: &str = "kisum::audit";

/// The names of the audited Core actions (`noun.verb`, lowercase).
pub mod action {
    /// A module was created or replaced.
    pub const MODULE_PUT: &str = "module.put";
    /// A package was created or replaced.
    pub const PACKAGE_PUT: &str = "package.put";
    /// An add-on was created or replaced.
    pub const ADDON_PUT: &str = "addon.put";
    /// A company's subscription was set.
    pub const SUBSCRIPTION_PUT: &str = "subscription.put";
    /// A company add-on was set.
    pub const COMPANY_ADDON_PUT: &str = "company_addon.put";
    /// A company add-on was removed.
    pub const COMPANY_ADDON_DELETE: &str = "company_addon.delete";
    /// A Stripe subscription event set a company's subscription and add-ons.
    pub const BILLING_APPLIED: &str = "billing.subscription_applied";
    /// A Stripe subscription event older than the state applied was not applied.
    pub const BILLING_STALE: &str = "billing.event_stale";
    /// A Stripe event that could not be mapped was acknowledged and not applied.
    pub const BILLING_IGNORED: &str = "billing.event_ignored";
    /// A Stripe invoice was paid (recorded; the subscription events carry the state).
    pub const BILLING_INVOICE_PAID: &str = "billing.invoice_paid";
    /// A Stripe invoice payment failed (recorded; the subscription events carry the state).
    pub const BILLING_INVOICE_PAYMENT_FAILED: &str = "billing.invoice_payment_failed";
}

/// One audited change. Append-only: once stored it is never changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoreAuditRecord {
    /// The id (a UUIDv7, so ids sort roughly by time).
    pub id: Uuid,
    /// When the change was made.
    pub at: DateTime<Utc>,
    /// Who made it: the name of the service key presented (never its secret), or the name of
    /// the operator tool (`kisum-dev` seeding, …).
    pub actor: String,
    /// What was done: one of [`action`].
    pub action: String,
    /// The company changed, for subscription and company add-on writes.
    pub company_id: Option<CompanyId>,
    /// The request id, to join with the logs.
    pub request_id: Option<String>,
    /// What was written, as a JSON object (`{}` when there is nothing). Never a secret.
    pub detail: serde_json::Value,
}

impl CoreAuditRecord {
    /// A record with a new id, no company or request id, and an empty detail.
    #[must_use]
    pub fn new(at: DateTime<Utc>, actor: impl Into<String>, action: impl Into<String>) -> Self {
        Self {
            id: Uuid::now_v7(),
            at,
            actor: actor.into(),
            action: action.into(),
            company_id: None,
            request_id: None,
            detail: serde_json::Value::Object(serde_json::Map::new()),
        }
    }

    /// With the company changed.
    #[must_use]
    pub fn with_company(mut self, company_id: CompanyId) -> Self {
        self.company_id = Some(company_id);
        self
    }

    /// With the request id.
    #[must_use]
    pub fn with_request_id(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = Some(request_id.into());
        self
    }

    /// With `detail` (a JSON object; never a secret).
    #[must_use]
    pub fn with_detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }

    /// Checks what every [`CoreAudit::append`] requires: a non-empty actor and action, and an
    /// object detail.
    ///
    /// # Errors
    /// `Invalid` otherwise.
    pub fn validate(&self) -> Result<(), StoreError> {
        let invalid = |m: &str| Err(StoreError::new(StoreErrorKind::Invalid, m));
        if self.actor.is_empty() {
            return invalid("an audit record needs an actor");
        }
        if self.action.is_empty() {
            return invalid("an audit record needs an action");
        }
        if !self.detail.is_object() {
            return invalid("audit detail must be a JSON object");
        }
        Ok(())
    }
}

/// Where Core's audit records go. Append-only: there is no update, and records leave only
/// through [`prune`](Self::prune).
///
/// Backends store times to the microsecond (what PostgreSQL keeps).
#[async_trait]
pub trait CoreAudit: Send + Sync + 'static {
    /// Stores `record` as it is. The company it names need not exist anywhere.
    ///
    /// # Errors
    /// `Invalid` when [`CoreAuditRecord::validate`] fails (nothing is stored); `Conflict` when
    /// a record with its id exists; `Unavailable`.
    async fn append(&self, record: &CoreAuditRecord) -> Result<(), StoreError>;

    /// Records newest first (by `at`, then by id, both descending): only those of `company_id`
    /// when given (otherwise all), at most `limit` of them and never more than
    /// [`MAX_LIST_LIMIT`]. A `limit` of 0 returns nothing.
    ///
    /// # Errors
    /// `Unavailable`; `Invalid` when a stored record cannot be read back.
    async fn list(
        &self,
        company_id: Option<CompanyId>,
        limit: u32,
    ) -> Result<Vec<CoreAuditRecord>, StoreError>;

    /// Deletes every record strictly older than `older_than`, in one transaction; returns how
    /// many were deleted.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn prune(&self, older_than: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// Writes the record as one JSON log line on [`AUDIT_LOG_TARGET`]: at info when it was stored
/// (or the log is the audit trail), at error when it could not be stored (the log line is then
/// its only trace).
pub(crate) fn log_record(record: &CoreAuditRecord, stored: bool) {
    let json = serde_json::to_string(record).unwrap_or_default();
    if stored {
        tracing::info!(target: AUDIT_LOG_TARGET, record = %json, "audit");
    } else {
        tracing::error!(target: AUDIT_LOG_TARGET, record = %json, "audit record not stored");
    }
}

/// An audit sink that only logs: every record becomes one JSON line on the log target
/// [`AUDIT_LOG_TARGET`] (`kisum::audit`). Keeps nothing, so [`list`](CoreAudit::list) is
/// always empty; for deployments whose log pipeline is the audit trail.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogAudit;

#[async_trait]
impl CoreAudit for LogAudit {
    async fn append(&self, record: &CoreAuditRecord) -> Result<(), StoreError> {
        record.validate()?;
        log_record(record, true);
        Ok(())
    }

    async fn list(
        &self,
        _company_id: Option<CompanyId>,
        _limit: u32,
    ) -> Result<Vec<CoreAuditRecord>, StoreError> {
        Ok(Vec::new())
    }

    async fn prune(&self, _older_than: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_validate() {
        let at: DateTime<Utc> = "2026-11-21T10:00:00.123456Z".parse().unwrap();
        let r = CoreAuditRecord::new(at, "ops", action::MODULE_PUT)
            .with_request_id("req-1")
            .with_detail(serde_json::json!({"key": "finance"}));
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["company_id"], serde_json::Value::Null);
        assert_eq!(v["request_id"], "req-1");
        assert_eq!(serde_json::from_value::<CoreAuditRecord>(v).unwrap(), r);
        assert!(r.validate().is_ok());
        for bad in [
            CoreAuditRecord::new(at, "", action::MODULE_PUT),
            CoreAuditRecord::new(at, "ops", ""),
            r.clone().with_detail(serde_json::json!([1])),
        ] {
            assert_eq!(bad.validate().unwrap_err().kind(), StoreErrorKind::Invalid);
        }
    }

    #[tokio::test]
    async fn the_log_sink_validates_and_keeps_nothing() {
        let at = DateTime::<Utc>::UNIX_EPOCH;
        let ok = CoreAuditRecord::new(at, "ops", action::ADDON_PUT);
        LogAudit.append(&ok).await.unwrap();
        let bad = CoreAuditRecord::new(at, "", action::ADDON_PUT);
        assert!(LogAudit.append(&bad).await.is_err());
        assert!(LogAudit.list(None, 10).await.unwrap().is_empty());
        assert_eq!(LogAudit.prune(at).await.unwrap(), 0);
    }
}
