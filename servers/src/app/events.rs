//! The event streams: a component's log relayed to Redis, Core's read into Auth's; events
//! delivered straight to the guards of this process (`kisum dev`), and counted on the way.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kisum_auth::events::EventPublisher;
use kisum_guard::{AccessGuard, Clock, InvalidationEvent};

use super::StartError;
use crate::config::RedisConfig;

/// Events delivered straight to the guards of this process: `kisum dev`.
#[derive(Clone, Default)]
pub struct LocalEvents {
    guards: Arc<std::sync::Mutex<Vec<AccessGuard>>>,
}

impl LocalEvents {
    /// Delivers to `guard` from now on.
    pub fn subscribe(&self, guard: AccessGuard) {
        if let Ok(mut g) = self.guards.lock() {
            g.push(guard);
        }
    }

    async fn deliver(&self, event: &InvalidationEvent) {
        let guards = self.guards.lock().map(|g| g.clone()).unwrap_or_default();
        for g in guards {
            g.apply(event).await;
        }
    }
}

#[async_trait]
impl EventPublisher for LocalEvents {
    async fn publish(&self, event: &InvalidationEvent) {
        self.deliver(event).await;
    }
}

/// Counts entitlement-version bumps (for `/metrics`) on the way to `inner`.
pub struct CountedEvents<E>(pub E);

#[async_trait]
impl<E: EventPublisher> EventPublisher for CountedEvents<E> {
    async fn publish(&self, event: &InvalidationEvent) {
        if matches!(event, InvalidationEvent::Company { .. }) {
            metrics::counter!("kisum_core_entitlement_bumps_total").increment(1);
        }
        self.0.publish(event).await;
    }
}

/// Relays a component's event log to its Redis stream, when Redis is configured; revocation
/// markers outlive access tokens of `access_ttl` (Auth's; `None` for Core, which revokes no
/// session).
///
/// # Errors
/// A malformed Redis URL.
pub fn relay(
    feed: &Arc<kisum_core::outbox::EventFeed>,
    component: kisum_core::outbox::Component,
    redis: Option<&RedisConfig>,
    access_ttl: Option<Duration>,
) -> Result<Option<tokio::task::JoinHandle<()>>, StartError> {
    use kisum_core::outbox::relay::{self, RelayConfig};
    let Some(r) = redis else {
        return Ok(None);
    };
    let mut config = RelayConfig {
        prefix: r.prefix.clone(),
        max_len: r.stream_max_len,
        ..RelayConfig::default()
    };
    if let Some(ttl) = access_ttl {
        config.marker_ttl = RelayConfig::marker_ttl_for(ttl);
    }
    relay::spawn(r.url.expose(), component, Arc::clone(feed), config)
        .map(Some)
        .map_err(|e| StartError::new("redis", e))
}

/// Auth's streams: its own relayed to Redis (when configured), and Core's read from Core's
/// long poll into Auth's (so guards follow Auth alone).
///
/// # Errors
/// A malformed Redis or Core URL.
pub fn auth_streams(
    feed: &Arc<kisum_core::outbox::EventFeed>,
    redis: Option<&RedisConfig>,
    core_url: &str,
    service_key: &str,
    access_ttl: Duration,
    clock: Arc<dyn Clock>,
) -> Result<Vec<tokio::task::JoinHandle<()>>, StartError> {
    let mut tasks: Vec<_> = relay(
        feed,
        kisum_core::outbox::Component::Auth,
        redis,
        Some(access_ttl),
    )?
    .into_iter()
    .collect();
    let core = kisum_guard::remote::EventsFeedClient::new(core_url, service_key)
        .map_err(|e| StartError::new("core events feed", e))?;
    tasks.push(core.spawn(Arc::new(kisum_auth::events::CoreRelay::new(
        Arc::clone(feed),
        clock,
    ))));
    Ok(tasks)
}
