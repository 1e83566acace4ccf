//! [`LicenseReaper`]: applies expiry and culls floating activations that missed their
//! heartbeat, periodically, so neither waits for someone to look.

use std::time::Duration;

use super::{LicenseError, LicenseService, SeatUsage};

/// What one pass of the reaper did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReapReport {
    /// Licences recorded as expired.
    pub expired: u64,
    /// Floating activations culled.
    pub culled: u64,
}

/// Expires licences past `expires_at` (event `expired`) and culls floating activations whose
/// last heartbeat is older than the licence's interval plus the service's drift (event
/// `culled`, seat freed), in batches, with the service's clock.
///
/// Several replicas may run it at once: each expiry is a versioned write and each cull
/// removes the activation only if it has not heartbeat since it was read, so a transition is
/// recorded once.
#[derive(Debug, Clone)]
pub struct LicenseReaper {
    service: LicenseService,
    batch: u32,
}

impl LicenseReaper {
    /// How many licences and activations one pass handles at most, each (default).
    pub const BATCH: u32 = 500;
    /// How often [`run`](Self::run) is meant to pass (default for servers).
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);

    /// A reaper of `service`'s licences.
    #[must_use]
    pub fn new(service: LicenseService) -> Self {
        Self {
            service,
            batch: Self::BATCH,
        }
    }

    /// One pass: expiries, then culls, at most a batch of each.
    ///
    /// # Errors
    /// A store error (what was done before it stays done).
    pub async fn run_once(&self) -> Result<ReapReport, LicenseError> {
        let expired = self.service.expire_due(self.batch).await?;
        let culled = self.service.cull_stale(self.batch).await?;
        metrics::counter!("kisum_license_expired_total").increment(expired);
        metrics::counter!("kisum_license_culled_total").increment(culled);
        if expired + culled > 0 {
            tracing::info!(expired, culled, "licence reaper pass");
        }
        self.record_seats().await?;
        Ok(ReapReport { expired, culled })
    }

    /// Reads seat usage over the licences usable now ([`LicenseStore::seat_usage`]) and sets
    /// the gauges `kisum_license_seats_in_use` and `kisum_license_seats_total` (aggregates:
    /// a label per licence would grow the series without bound). Every pass calls it, after
    /// its expiries and culls.
    ///
    /// [`LicenseStore::seat_usage`]: super::LicenseStore::seat_usage
    ///
    /// # Errors
    /// A store error (the gauges keep their previous values).
    pub async fn record_seats(&self) -> Result<SeatUsage, LicenseError> {
        let usage = self.service.store().seat_usage(self.service.now()).await?;
        #[expect(
            clippy::cast_precision_loss,
            reason = "a gauge is an f64; seat counts stay far below 2^53"
        )]
        {
            metrics::gauge!("kisum_license_seats_in_use").set(usage.in_use as f64);
            metrics::gauge!("kisum_license_seats_total").set(usage.total as f64);
        }
        Ok(usage)
    }

    /// Passes every `interval` until the task is dropped or aborted; a failed pass is logged
    /// and retried at the next tick (spawn it: `tokio::spawn(reaper.run(interval))`).
    pub async fn run(self, interval: Duration) {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.run_once().await {
                tracing::warn!(error = %e, "licence reaper pass failed; retrying at the next tick");
            }
        }
    }
}
