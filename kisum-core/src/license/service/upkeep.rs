//! What the [`LicenseReaper`](crate::license::LicenseReaper) applies: recording the expiry of
//! licences past their date and culling floating activations that missed their heartbeat.

use super::{LicenseError, LicenseService, REAPER_ACTOR};
use crate::admin::Actor;
use crate::license::{LicenseEvent, LicenseEventType, LicenseStatus};

impl LicenseService {
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
}
