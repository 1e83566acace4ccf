//! [`LicenseService`]: licence administration (validated, versioned, evented, audited:
//! [`admin`]), the licence-key operations (activate, validate, heartbeat, deactivate: [`keys`])
//! and the reaper's upkeep ([`upkeep`]), over the service's bounds ([`config`]), its certificate
//! port ([`certify`]) and its errors ([`error`]). Here: the service itself and the steps the
//! operations share (finding a licence by key, checking seats and intervals, a versioned change,
//! a transition, the audit record).

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use kisum_guard::{Clock, ModuleKey};
use uuid::Uuid;

use super::{KeyHash, License, LicenseEvent, LicenseEventType, LicenseStatus, LicenseStore};
use crate::admin::Actor;
use crate::audit::{CoreAudit, CoreAuditRecord, log_record};
use crate::db::StoreErrorKind;

mod admin;
mod certify;
mod config;
mod error;
mod keys;
mod upkeep;

pub use admin::{LicensePatch, NewLicense};
pub use certify::{ActivationCertifier, CertifyError};
pub use config::{LicenseConfig, RateLimiter};
pub use error::LicenseError;
use error::invalid;

/// The actor of the licence-key routes (a client presenting the key).
pub const KEY_ACTOR: &str = "license_key";
/// The actor of the reaper.
pub const REAPER_ACTOR: &str = "reaper";
const MAX_NAME: usize = 200;
const MAX_FINGERPRINT: usize = 256;
const HEARTBEAT_RANGE: std::ops::RangeInclusive<u32> = 10..=86_400;

/// Licences over a [`LicenseStore`]: administration, the licence-key operations, and what the
/// [`LicenseReaper`](super::LicenseReaper) applies.
#[derive(Clone)]
pub struct LicenseService {
    store: Arc<dyn LicenseStore>,
    clock: Arc<dyn Clock>,
    audit: Arc<dyn CoreAudit>,
    certifier: Arc<dyn ActivationCertifier>,
    limiter: Arc<RateLimiter>,
    config: LicenseConfig,
}

impl std::fmt::Debug for LicenseService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LicenseService")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl LicenseService {
    /// A service over `store`, reading time from `clock`, auditing to `audit` and issuing
    /// activation certificates with `certifier`, with the default [`LicenseConfig`].
    #[must_use]
    pub fn new(
        store: Arc<dyn LicenseStore>,
        clock: Arc<dyn Clock>,
        audit: Arc<dyn CoreAudit>,
        certifier: Arc<dyn ActivationCertifier>,
    ) -> Self {
        Self::with_config(store, clock, audit, certifier, LicenseConfig::default())
    }

    /// As [`new`](Self::new), with `config`.
    #[must_use]
    pub fn with_config(
        store: Arc<dyn LicenseStore>,
        clock: Arc<dyn Clock>,
        audit: Arc<dyn CoreAudit>,
        certifier: Arc<dyn ActivationCertifier>,
        config: LicenseConfig,
    ) -> Self {
        Self {
            store,
            clock,
            audit,
            certifier,
            limiter: Arc::new(RateLimiter::new(config.max_attempts, config.attempt_window)),
            config,
        }
    }

    /// The store.
    #[must_use]
    pub fn store(&self) -> &Arc<dyn LicenseStore> {
        &self.store
    }

    /// The current time of the service's clock.
    #[must_use]
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &LicenseConfig {
        &self.config
    }

    /// The licence of `key`: one answer, `InvalidKey`, for a malformed key, an unknown one or
    /// anything else (the lookup is by the key's hash, so timing tells nothing either).
    async fn by_key(&self, key: &str) -> Result<License, LicenseError> {
        self.store
            .license_by_key_hash(&KeyHash::of(key))
            .await?
            .ok_or(LicenseError::InvalidKey)
    }

    /// The licence of `key`, which must be usable now.
    async fn usable(&self, key: &str) -> Result<License, LicenseError> {
        let license = self.by_key(key).await?;
        match license.effective_status(self.clock.now()) {
            LicenseStatus::Active => Ok(license),
            s => Err(LicenseError::Inactive(s)),
        }
    }

    /// The certificate of the fingerprint's activation, reading the licence as stored now.
    async fn certify(&self, key: &str, fingerprint: &str) -> Result<String, LicenseError> {
        let license = self.by_key(key).await?;
        let activation = self
            .store
            .activations(license.id)
            .await?
            .into_iter()
            .find(|a| a.fingerprint == fingerprint)
            .ok_or(LicenseError::NotActivated)?;
        Ok(self
            .certifier
            .activation_certificate(&license, &activation, key)
            .await?)
    }

    fn cull_after(&self, license: &License, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        license.floating.then(|| {
            let interval = license
                .heartbeat_interval
                .unwrap_or(self.config.default_heartbeat_interval);
            now + TimeDelta::seconds(i64::from(interval)) + self.config.heartbeat_drift
        })
    }

    fn check_seats(&self, seats: u32) -> Result<(), LicenseError> {
        if seats == 0 || seats > self.config.max_seats {
            return Err(invalid(
                "max_activations",
                format!(
                    "max_activations must be between 1 and {}",
                    self.config.max_seats
                ),
            ));
        }
        Ok(())
    }

    fn interval(&self, floating: bool, wanted: Option<u32>) -> Result<Option<u32>, LicenseError> {
        if !floating {
            return Ok(wanted);
        }
        let i = wanted.unwrap_or(self.config.default_heartbeat_interval);
        if !HEARTBEAT_RANGE.contains(&i) {
            return Err(invalid(
                "heartbeat_interval",
                "heartbeat_interval must be between 10 and 86400 seconds",
            ));
        }
        Ok(Some(i))
    }

    /// A status transition recorded as `kind`, audited.
    async fn transition(
        &self,
        actor: &Actor,
        id: Uuid,
        kind: LicenseEventType,
        to: impl Fn(&License, DateTime<Utc>) -> Result<LicenseStatus, LicenseError> + Send + Sync,
    ) -> Result<License, LicenseError> {
        let license = self
            .change(id, actor, Some(kind), |l, now| {
                let status = to(l, now)?;
                let details = serde_json::json!({ "from": l.status.as_str() });
                Ok((
                    License {
                        status,
                        ..l.clone()
                    },
                    details,
                ))
            })
            .await?;
        let detail = serde_json::json!({ "status": license.status.as_str() });
        self.audit(actor, &license, &kind.action(), detail).await;
        Ok(license)
    }

    /// Reads the licence, applies `f` (the changed licence and the event's details), raises the
    /// version and writes it with the event of `kind`, retrying when another write came first.
    async fn change(
        &self,
        id: Uuid,
        actor: &Actor,
        kind: Option<LicenseEventType>,
        f: impl Fn(&License, DateTime<Utc>) -> Result<(License, serde_json::Value), LicenseError>
        + Send
        + Sync,
    ) -> Result<License, LicenseError> {
        let mut attempts = 0;
        loop {
            let now = self.clock.now();
            let current = self.get(id).await?;
            let (mut next, details) = f(&current, now)?;
            next.version = current.version + 1;
            next.updated_at = now;
            let event =
                kind.map(|k| LicenseEvent::new(id, k, now, actor.name.as_str(), details.clone()));
            match self.store.update_license(&next, event.as_ref()).await {
                Ok(()) => return Ok(next),
                Err(e) if e.kind() == StoreErrorKind::Conflict && attempts < 5 => attempts += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }

    async fn audit(
        &self,
        actor: &Actor,
        license: &License,
        action: &str,
        details: serde_json::Value,
    ) {
        let detail = serde_json::json!({
            "license_id": license.id, "version": license.version, "details": details,
        });
        let mut record = CoreAuditRecord::new(self.clock.now(), actor.name.as_str(), action)
            .with_company(license.company_id)
            .with_detail(detail);
        record.request_id.clone_from(&actor.request_id);
        if let Err(e) = self.audit.append(&record).await {
            tracing::error!(target: crate::audit::AUDIT_LOG_TARGET, error = %e, "audit sink failed");
            log_record(&record, false);
        }
    }
}

fn module_names(modules: Vec<ModuleKey>) -> Vec<String> {
    let mut v: Vec<String> = modules.iter().map(|m| m.as_str().to_owned()).collect();
    v.sort();
    v.dedup();
    v
}

fn check_name(name: &str) -> Result<(), LicenseError> {
    if name.trim().is_empty() || name.chars().count() > MAX_NAME {
        return Err(invalid("name", "name must be 1 to 200 characters"));
    }
    Ok(())
}

fn check_fingerprint(fingerprint: &str) -> Result<(), LicenseError> {
    if fingerprint.is_empty()
        || fingerprint.len() > MAX_FINGERPRINT
        || !fingerprint.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(invalid(
            "fingerprint",
            "fingerprint must be 1 to 256 printable ASCII characters without spaces",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_limiter_allows_the_budget_per_licence_then_refuses_until_the_window_slides() {
        let t0 = DateTime::<Utc>::UNIX_EPOCH;
        let l = RateLimiter::new(2, TimeDelta::seconds(60));
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        assert!(l.attempt(a, t0).is_ok());
        assert!(l.attempt(a, t0 + TimeDelta::seconds(10)).is_ok());
        let wait = l.attempt(a, t0 + TimeDelta::seconds(20)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(40));
        assert!(
            l.attempt(b, t0 + TimeDelta::seconds(20)).is_ok(),
            "per licence"
        );
        assert!(l.attempt(a, t0 + TimeDelta::seconds(61)).is_ok());
    }

    #[test]
    fn fingerprints_and_names_are_checked() {
        assert!(check_fingerprint("machine-1").is_ok());
        for bad in ["", "a b", &"x".repeat(257), "é"] {
            assert!(check_fingerprint(bad).is_err(), "{bad}");
        }
        assert!(check_name(" ").is_err());
        assert!(check_name(&"n".repeat(201)).is_err());
    }
}
