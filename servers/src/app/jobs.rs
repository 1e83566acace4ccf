//! The background jobs: reloading the signing keys, and pruning what can no longer be used
//! (sessions, tokens and codes; old events of the event log).

use std::sync::Arc;

use chrono::TimeDelta;
use kisum_auth::key_rotation::KeyRotation;
use kisum_guard::Clock;

/// Starts reloading the signing keys ([`KeyRotation::spawn`]): every reload interval, and at
/// once on SIGHUP (Unix). The SIGHUP handler is in place when this returns, so the signal no
/// longer ends the process.
pub fn spawn_key_rotation(rotation: Arc<KeyRotation>) -> tokio::task::JoinHandle<()> {
    #[cfg(unix)]
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(mut hangup) => {
            let on_hangup = Arc::clone(&rotation);
            tokio::spawn(async move {
                while hangup.recv().await.is_some() {
                    tracing::info!("SIGHUP: reloading the signing keys");
                    on_hangup.reload_soon();
                }
            });
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP: the signing keys reload periodically only");
        }
    }
    rotation.spawn()
}

/// How long ended sessions, spent tokens and stale codes are kept before the pruning job
/// deletes them (a spent refresh token presented within it is still recognised as reuse).
pub const PRUNE_RETENTION: TimeDelta = TimeDelta::days(30);

/// How often the pruning job runs.
pub const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Deletes events older than a day from a component's event log (the newest is always kept),
/// every [`PRUNE_EVERY`]: readers further behind than that get a gap (410) and flush.
pub fn spawn_event_pruning(
    feed: Arc<kisum_core::outbox::EventFeed>,
    clock: Arc<dyn Clock>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(PRUNE_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let before = clock.now() - chrono::TimeDelta::days(1);
            match feed.log().prune(before).await {
                Ok(n) => tracing::info!(events = n, %before, "pruned the event log"),
                Err(e) => {
                    tracing::warn!(error = %e, "pruning the event log failed; retrying later")
                }
            }
        }
    })
}

/// Starts the job that deletes what can no longer be used ([`kisum_auth::service::AuthService::prune`]) every
/// [`PRUNE_EVERY`], first right away. A failed run is logged and retried at the next tick.
pub fn spawn_pruning(auth: kisum_auth::service::AuthService) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(PRUNE_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if let Err(e) = auth.prune(PRUNE_RETENTION).await {
                tracing::warn!(error = %e, "pruning expired sessions and tokens failed; retrying later");
            }
        }
    })
}
