//! Licence administration: create, read, list, patch, suspend, reinstate, revoke and renew,
//! each validated, versioned, evented and audited; and the requests that create and patch.

use chrono::{DateTime, Utc};
use kisum_guard::{CompanyId, ModuleKey};
use serde::{Deserialize, Deserializer};
use uuid::Uuid;

use super::{LicenseError, LicenseService, check_name, invalid, module_names};
use crate::admin::Actor;
use crate::license::{
    Activation, KeyHash, License, LicenseEvent, LicenseEventType, LicenseStatus, action,
    generate_key,
};

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

impl LicenseService {
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
}
