//! [`LicenseService`]: licence administration (validated, versioned, evented, audited) and the
//! licence-key operations (activate, validate, heartbeat, deactivate).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use kisum_guard::{Clock, CompanyId, ModuleKey};
use serde::{Deserialize, Deserializer};
use uuid::Uuid;

use super::{
    ActivateOutcome, Activation, KeyHash, License, LicenseEvent, LicenseEventType, LicenseStatus,
    LicenseStore, action, generate_key,
};
use crate::admin::Actor;
use crate::audit::{CoreAudit, CoreAuditRecord, log_record};
use crate::db::{StoreError, StoreErrorKind};

/// Why a certificate could not be issued.
#[derive(Debug, thiserror::Error)]
#[error("certificate not issued: {0}")]
pub struct CertifyError(pub String);

/// Issues the certificate an activation answer carries (Core's certificate signer implements
/// it). Called on every activate, validate and heartbeat, with the licence as stored now (so
/// a new licence version yields a new certificate at once).
#[async_trait]
pub trait ActivationCertifier: Send + Sync + 'static {
    /// The certificate of `activation` of `license`, for the client that presented
    /// `license_key` (its payload is encrypted with SHA-256(licence key ‖ fingerprint)).
    ///
    /// # Errors
    /// When no certificate can be issued (no signing key, …).
    async fn activation_certificate(
        &self,
        license: &License,
        activation: &Activation,
        license_key: &str,
    ) -> Result<String, CertifyError>;
}

/// The service's bounds and timings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseConfig {
    /// How late a floating activation's heartbeat may be before it is culled, on top of the
    /// licence's interval (default 60 s: a client's timer, clock and network delays).
    pub heartbeat_drift: TimeDelta,
    /// The heartbeat interval of a floating licence created without one (default 300 s).
    pub default_heartbeat_interval: u32,
    /// The largest seat limit (default 100,000).
    pub max_seats: u32,
    /// Activate and deactivate attempts allowed per licence within `attempt_window`
    /// (default 30).
    pub max_attempts: u32,
    /// The sliding window of `max_attempts` (default 60 s).
    pub attempt_window: TimeDelta,
}

impl Default for LicenseConfig {
    fn default() -> Self {
        Self {
            heartbeat_drift: TimeDelta::seconds(60),
            default_heartbeat_interval: 300,
            max_seats: 100_000,
            max_attempts: 30,
            attempt_window: TimeDelta::seconds(60),
        }
    }
}

/// A per-licence sliding-window limiter of activation attempts, in this process's memory
/// (each replica limits on its own: with N replicas a licence gets at most N times the
/// budget; see decision 0018).
#[derive(Debug)]
pub struct RateLimiter {
    max: usize,
    window: TimeDelta,
    attempts: Mutex<HashMap<Uuid, VecDeque<DateTime<Utc>>>>,
}

impl RateLimiter {
    /// At most `max` attempts per licence within any `window`.
    #[must_use]
    pub fn new(max: u32, window: TimeDelta) -> Self {
        Self {
            max: usize::try_from(max).unwrap_or(usize::MAX),
            window,
            attempts: Mutex::new(HashMap::new()),
        }
    }

    /// Counts an attempt on `license` at `now`; when over the budget, refuses it (it is not
    /// counted) with how long until the next one may go.
    ///
    /// # Errors
    /// The wait, when over the budget.
    pub fn attempt(&self, license: Uuid, now: DateTime<Utc>) -> Result<(), Duration> {
        let mut map = self.attempts.lock().unwrap_or_else(PoisonError::into_inner);
        let start = now - self.window;
        map.retain(|_, q| q.back().is_some_and(|t| *t > start));
        let q = map.entry(license).or_default();
        while q.front().is_some_and(|t| *t <= start) {
            q.pop_front();
        }
        if q.len() >= self.max {
            let wait = q
                .front()
                .map_or(self.window, |oldest| *oldest + self.window - now);
            return Err(wait.to_std().unwrap_or(Duration::from_secs(1)));
        }
        q.push_back(now);
        Ok(())
    }
}

/// Why a licence operation was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LicenseError {
    /// No such licence.
    #[error("licence not found")]
    NotFound,
    /// The licence key presented is not one of a licence (whether or not any exists).
    #[error("invalid licence key")]
    InvalidKey,
    /// The licence is not usable: its effective status.
    #[error("licence is {}", .0.as_str())]
    Inactive(LicenseStatus),
    /// Every seat is taken.
    #[error("every seat of the licence is taken")]
    LimitReached,
    /// The fingerprint holds no seat of the licence.
    #[error("this fingerprint is not activated")]
    NotActivated,
    /// Too many activation attempts on this licence: retry after the duration.
    #[error("too many activation attempts")]
    RateLimited(Duration),
    /// A field is invalid.
    #[error("{field}: {message}")]
    Invalid {
        /// The request field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The transition is not allowed from the licence's status.
    #[error("cannot {action} a licence that is {}", .from.as_str())]
    Transition {
        /// The effective status.
        from: LicenseStatus,
        /// The refused action.
        action: &'static str,
    },
    /// The certificate could not be issued.
    #[error(transparent)]
    Certify(#[from] CertifyError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(field: &'static str, message: impl Into<String>) -> LicenseError {
    LicenseError::Invalid {
        field,
        message: message.into(),
    }
}

/// A licence to create.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = LicenseRequest))]
#[serde(deny_unknown_fields)]
pub struct NewLicense {
    /// The company licensed.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub company_id: CompanyId,
    /// A display name (default: "Licence").
    pub name: Option<String>,
    /// The seat limit (at least 1).
    pub max_activations: u32,
    /// Whether activations must heartbeat (default false).
    #[serde(default)]
    pub floating: bool,
    /// The heartbeat interval in seconds, for a floating licence (10 to 86,400).
    pub heartbeat_interval: Option<u32>,
    /// The expiry (none: never); must be in the future.
    pub expires_at: Option<DateTime<Utc>>,
    /// The modules it is restricted to.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<String>>))]
    pub modules: Option<Vec<ModuleKey>>,
}

/// A change to a licence's terms (each field optional; the expiry changes through renew).
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = LicensePatchRequest))]
#[serde(deny_unknown_fields)]
pub struct LicensePatch {
    /// A new display name.
    pub name: Option<String>,
    /// A new seat limit (lowering it below the activations in use removes none: new ones are
    /// refused until enough are released).
    pub max_activations: Option<u32>,
    /// Floating or not.
    pub floating: Option<bool>,
    /// A new heartbeat interval in seconds (applies from each activation's next heartbeat).
    pub heartbeat_interval: Option<u32>,
    /// New module restrictions; `null` lifts them.
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<String>>))]
    pub modules: Option<Option<Vec<ModuleKey>>>,
}

/// A present field, even `null`, is `Some` (so `null` and absent differ).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

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

    /// Creates a licence; answers it and its key, which is shown only here.
    ///
    /// # Errors
    /// `Invalid` for a bad field; a store error.
    pub async fn create(
        &self,
        actor: &Actor,
        new: NewLicense,
    ) -> Result<(License, String), LicenseError> {
        let now = self.clock.now();
        let name = new.name.unwrap_or_else(|| "Licence".to_owned());
        check_name(&name)?;
        self.check_seats(new.max_activations)?;
        let heartbeat_interval = self.interval(new.floating, new.heartbeat_interval)?;
        if new.expires_at.is_some_and(|e| e <= now) {
            return Err(invalid("expires_at", "expires_at must be in the future"));
        }
        let key = generate_key();
        let license = License {
            id: Uuid::now_v7(),
            company_id: new.company_id,
            name,
            key_hash: KeyHash::of(&key),
            max_activations: new.max_activations,
            floating: new.floating,
            heartbeat_interval,
            expires_at: new.expires_at.map(kisum_guard::to_micros),
            modules: new.modules.map(module_names),
            status: LicenseStatus::Active,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        let details = serde_json::json!({
            "max_activations": license.max_activations, "floating": license.floating,
            "expires_at": license.expires_at,
        });
        let event = LicenseEvent::new(
            license.id,
            LicenseEventType::Created,
            now,
            actor.name.as_str(),
            details,
        );
        self.store.insert_license(&license, &event).await?;
        self.audit(actor, &license, &event.kind.action(), event.details.clone())
            .await;
        Ok((license, key))
    }

    /// The licence `id`.
    ///
    /// # Errors
    /// `NotFound`; a store error.
    pub async fn get(&self, id: Uuid) -> Result<License, LicenseError> {
        self.store.license(id).await?.ok_or(LicenseError::NotFound)
    }

    /// The licence's activations.
    ///
    /// # Errors
    /// A store error.
    pub async fn activations(&self, id: Uuid) -> Result<Vec<Activation>, LicenseError> {
        Ok(self.store.activations(id).await?)
    }

    /// The company's licences, oldest first.
    ///
    /// # Errors
    /// A store error.
    pub async fn list(&self, company_id: CompanyId) -> Result<Vec<License>, LicenseError> {
        Ok(self.store.licenses_of_company(company_id).await?)
    }

    /// The licence's events, oldest first.
    ///
    /// # Errors
    /// `NotFound`; a store error.
    pub async fn events(&self, id: Uuid) -> Result<Vec<LicenseEvent>, LicenseError> {
        self.get(id).await?;
        Ok(self.store.events(id).await?)
    }

    /// Changes the licence's terms and raises its version.
    ///
    /// # Errors
    /// `NotFound`, `Invalid`; a store error.
    pub async fn patch(
        &self,
        actor: &Actor,
        id: Uuid,
        patch: LicensePatch,
    ) -> Result<License, LicenseError> {
        if let Some(name) = &patch.name {
            check_name(name)?;
        }
        if let Some(seats) = patch.max_activations {
            self.check_seats(seats)?;
        }
        let detail = serde_json::json!({
            "name": patch.name, "max_activations": patch.max_activations,
            "floating": patch.floating, "heartbeat_interval": patch.heartbeat_interval,
            "modules": patch.modules,
        });
        let license = self
            .change(id, actor, None, |l, _| {
                let mut l = l.clone();
                if let Some(name) = &patch.name {
                    l.name.clone_from(name);
                }
                if let Some(seats) = patch.max_activations {
                    l.max_activations = seats;
                }
                let floating = patch.floating.unwrap_or(l.floating);
                let wanted = patch.heartbeat_interval.or(l.heartbeat_interval);
                l.heartbeat_interval = self.interval(floating, wanted)?;
                l.floating = floating;
                if let Some(modules) = &patch.modules {
                    l.modules = modules.clone().map(module_names);
                }
                Ok((l, serde_json::Value::Null))
            })
            .await?;
        self.audit(actor, &license, action::UPDATED, detail).await;
        Ok(license)
    }

    /// Suspends an active licence (`suspended`).
    ///
    /// # Errors
    /// `NotFound`; `Transition` unless it is active; a store error.
    pub async fn suspend(&self, actor: &Actor, id: Uuid) -> Result<License, LicenseError> {
        let kind = LicenseEventType::Suspended;
        self.switch(
            actor,
            id,
            kind,
            LicenseStatus::Active,
            LicenseStatus::Suspended,
            "suspend",
        )
        .await
    }

    /// Reinstates a suspended licence (`reinstated`).
    ///
    /// # Errors
    /// `NotFound`; `Transition` unless it is suspended (an expired one is renewed instead);
    /// a store error.
    pub async fn reinstate(&self, actor: &Actor, id: Uuid) -> Result<License, LicenseError> {
        let kind = LicenseEventType::Reinstated;
        self.switch(
            actor,
            id,
            kind,
            LicenseStatus::Suspended,
            LicenseStatus::Active,
            "reinstate",
        )
        .await
    }

    /// The transition `kind` from the effective status `from` to `to`; refused from any other.
    async fn switch(
        &self,
        actor: &Actor,
        id: Uuid,
        kind: LicenseEventType,
        from: LicenseStatus,
        to: LicenseStatus,
        action: &'static str,
    ) -> Result<License, LicenseError> {
        self.transition(actor, id, kind, |l, now| match l.effective_status(now) {
            s if s == from => Ok(to),
            s => Err(LicenseError::Transition { from: s, action }),
        })
        .await
    }

    /// Revokes a licence for good (`revoked`).
    ///
    /// # Errors
    /// `NotFound`; `Transition` when it is already revoked; a store error.
    pub async fn revoke(&self, actor: &Actor, id: Uuid) -> Result<License, LicenseError> {
        self.transition(actor, id, LicenseEventType::Revoked, |l, _| {
            match l.status {
                LicenseStatus::Revoked => Err(LicenseError::Transition {
                    from: LicenseStatus::Revoked,
                    action: "revoke",
                }),
                _ => Ok(LicenseStatus::Revoked),
            }
        })
        .await
    }

    /// Moves the licence's expiry to `expires_at` (in the future; `None`: never); an expired
    /// licence becomes active again, a suspended one stays suspended (`renewed`).
    ///
    /// # Errors
    /// `NotFound`; `Invalid` for a past expiry; `Transition` for a revoked licence; a store
    /// error.
    pub async fn renew(
        &self,
        actor: &Actor,
        id: Uuid,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<License, LicenseError> {
        let now = self.clock.now();
        if expires_at.is_some_and(|e| e <= now) {
            return Err(invalid("expires_at", "expires_at must be in the future"));
        }
        let expires_at = expires_at.map(kisum_guard::to_micros);
        let details = serde_json::json!({ "expires_at": expires_at });
        let license = self
            .change(id, actor, Some(LicenseEventType::Renewed), |l, _| {
                let status = match l.status {
                    LicenseStatus::Revoked => {
                        return Err(LicenseError::Transition {
                            from: LicenseStatus::Revoked,
                            action: "renew",
                        });
                    }
                    LicenseStatus::Expired => LicenseStatus::Active,
                    s => s,
                };
                Ok((
                    License {
                        status,
                        expires_at,
                        ..l.clone()
                    },
                    details.clone(),
                ))
            })
            .await?;
        self.audit(
            actor,
            &license,
            &LicenseEventType::Renewed.action(),
            details,
        )
        .await;
        Ok(license)
    }

    /// Activates `fingerprint` on the licence of `key`: a seat is taken unless the
    /// fingerprint already holds one. Answers the activation, its certificate and whether a
    /// seat was taken.
    ///
    /// # Errors
    /// `InvalidKey`, `Invalid` (fingerprint, name), `RateLimited`, `Inactive`, `LimitReached`,
    /// `Certify`; a store error.
    pub async fn activate(
        &self,
        key: &str,
        fingerprint: &str,
        name: Option<String>,
    ) -> Result<(Activation, String, bool), LicenseError> {
        check_fingerprint(fingerprint)?;
        if let Some(name) = &name {
            check_name(name)?;
        }
        let license = self.by_key(key).await?;
        let now = self.clock.now();
        self.limiter
            .attempt(license.id, now)
            .map_err(LicenseError::RateLimited)?;
        let activation = Activation {
            id: Uuid::now_v7(),
            license_id: license.id,
            fingerprint: fingerprint.to_owned(),
            name,
            created_at: now,
            last_heartbeat_at: now,
            cull_after: self.cull_after(&license, now),
        };
        let details = serde_json::json!({
            "activation_id": activation.id, "fingerprint": fingerprint,
        });
        let event = LicenseEvent::new(
            license.id,
            LicenseEventType::Activated,
            now,
            KEY_ACTOR,
            details,
        );
        let outcome = self.store.activate(&activation, now, &event).await?;
        let result = match &outcome {
            ActivateOutcome::Activated(_) => "created",
            ActivateOutcome::AlreadyActive(_) => "existing",
            ActivateOutcome::LimitReached => "activation_limit",
            ActivateOutcome::Inactive(_) => "inactive",
            ActivateOutcome::NotFound => "invalid_key",
        };
        metrics::counter!("kisum_license_activations_total", "result" => result).increment(1);
        let (activation, created) = match outcome {
            ActivateOutcome::Activated(a) => (a, true),
            ActivateOutcome::AlreadyActive(a) => (a, false),
            ActivateOutcome::LimitReached => return Err(LicenseError::LimitReached),
            ActivateOutcome::Inactive(s) => return Err(LicenseError::Inactive(s)),
            ActivateOutcome::NotFound => return Err(LicenseError::InvalidKey),
        };
        if created {
            self.audit(
                &Actor::new(KEY_ACTOR),
                &license,
                &event.kind.action(),
                event.details,
            )
            .await;
        }
        let certificate = self.certify(key, fingerprint).await?;
        Ok((activation, certificate, created))
    }

    /// Checks that the licence of `key` is usable and that `fingerprint` holds a seat; answers
    /// the licence and a fresh certificate.
    ///
    /// # Errors
    /// `InvalidKey`, `Invalid`, `Inactive`, `NotActivated`, `Certify`; a store error.
    pub async fn validate(
        &self,
        key: &str,
        fingerprint: &str,
    ) -> Result<(License, String), LicenseError> {
        check_fingerprint(fingerprint)?;
        let license = self.usable(key).await?;
        let certificate = self.certify(key, fingerprint).await?;
        Ok((license, certificate))
    }

    /// Records a heartbeat of `fingerprint` (a floating activation's proof of life, which
    /// pushes its cull time back); answers a fresh certificate.
    ///
    /// # Errors
    /// As [`validate`](Self::validate).
    pub async fn heartbeat(&self, key: &str, fingerprint: &str) -> Result<String, LicenseError> {
        check_fingerprint(fingerprint)?;
        let license = self.usable(key).await?;
        let now = self.clock.now();
        let activation = self
            .store
            .heartbeat(license.id, fingerprint, now, self.cull_after(&license, now))
            .await?
            .ok_or(LicenseError::NotActivated)?;
        Ok(self
            .certifier
            .activation_certificate(&license, &activation, key)
            .await?)
    }

    /// Releases `fingerprint`'s seat on the licence of `key` (whatever the licence's status).
    ///
    /// # Errors
    /// `InvalidKey`, `Invalid`, `RateLimited`, `NotActivated`; a store error.
    pub async fn deactivate(&self, key: &str, fingerprint: &str) -> Result<(), LicenseError> {
        check_fingerprint(fingerprint)?;
        let license = self.by_key(key).await?;
        let now = self.clock.now();
        self.limiter
            .attempt(license.id, now)
            .map_err(LicenseError::RateLimited)?;
        let details = serde_json::json!({ "fingerprint": fingerprint });
        let event = LicenseEvent::new(
            license.id,
            LicenseEventType::Deactivated,
            now,
            KEY_ACTOR,
            details,
        );
        if !self
            .store
            .deactivate(license.id, fingerprint, &event)
            .await?
        {
            return Err(LicenseError::NotActivated);
        }
        self.audit(
            &Actor::new(KEY_ACTOR),
            &license,
            &event.kind.action(),
            event.details,
        )
        .await;
        Ok(())
    }

    /// Records the expiry of licences past `expires_at` (`expired`); how many.
    ///
    /// # Errors
    /// A store error.
    pub async fn expire_due(&self, limit: u32) -> Result<u64, LicenseError> {
        let actor = Actor::new(REAPER_ACTOR);
        let mut expired = 0;
        for l in self.store.expiring(self.clock.now(), limit).await? {
            let done = self
                .transition(&actor, l.id, LicenseEventType::Expired, |l, now| {
                    match (l.status, l.is_past_expiry(now)) {
                        (LicenseStatus::Active | LicenseStatus::Suspended, true) => {
                            Ok(LicenseStatus::Expired)
                        }
                        (from, _) => Err(LicenseError::Transition {
                            from,
                            action: "expire",
                        }),
                    }
                })
                .await;
            match done {
                Ok(_) => expired += 1,
                // Renewed or revoked meanwhile: nothing to expire.
                Err(LicenseError::Transition { .. } | LicenseError::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(expired)
    }

    /// Culls floating activations that missed their heartbeat (`culled`), freeing their
    /// seats; how many.
    ///
    /// # Errors
    /// A store error.
    pub async fn cull_stale(&self, limit: u32) -> Result<u64, LicenseError> {
        let now = self.clock.now();
        let mut culled = 0;
        for a in self.store.stale_activations(now, limit).await? {
            let details = serde_json::json!({
                "activation_id": a.id, "fingerprint": a.fingerprint,
                "last_heartbeat_at": a.last_heartbeat_at,
            });
            let event = LicenseEvent::new(
                a.license_id,
                LicenseEventType::Culled,
                now,
                REAPER_ACTOR,
                details,
            );
            if self.store.cull(&a, &event).await? {
                culled += 1;
                if let Some(l) = self.store.license(a.license_id).await? {
                    self.audit(
                        &Actor::new(REAPER_ACTOR),
                        &l,
                        &event.kind.action(),
                        event.details,
                    )
                    .await;
                }
            }
        }
        Ok(culled)
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
