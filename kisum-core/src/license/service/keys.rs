//! The licence-key operations a client calls with its key: activate, validate, heartbeat and
//! deactivate (each rate limited per licence, each answer carrying a certificate).

use uuid::Uuid;

use super::{KEY_ACTOR, LicenseError, LicenseService, check_fingerprint, check_name};
use crate::admin::Actor;
use crate::license::{ActivateOutcome, Activation, License, LicenseEvent, LicenseEventType};

impl LicenseService {
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
}
