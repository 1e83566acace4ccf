//! Invalidation events Core publishes when a company's entitlements change.
//!
//! Every write that raises a company's `entitlement_version` publishes
//! [`InvalidationEvent::Company`] for that company, so every Auth replica and every guard evicts
//! its cached access contexts at once. The transport is the embedder's: Redis `kisum:events`, or
//! `POST /internal/v1/events` to Auth in deployments without Redis. Without any transport
//! ([`NoEvents`]) the databases stay the truth and caches bound staleness with their TTL.
//!
//! Publishing never fails a request: an implementation logs its outages and returns.

use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;

pub use kisum_guard::{EventPublisher, InvalidationEvent, NoEvents};

/// Keeps every event published, in order: for tests and in-process embedding.
#[derive(Debug, Default)]
pub struct MemoryEvents {
    events: Mutex<Vec<InvalidationEvent>>,
}

impl MemoryEvents {
    /// No events yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The events published so far, oldest first.
    #[must_use]
    pub fn events(&self) -> Vec<InvalidationEvent> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Removes and returns the events published so far, oldest first.
    pub fn take(&self) -> Vec<InvalidationEvent> {
        std::mem::take(&mut *self.events.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

#[async_trait]
impl EventPublisher for MemoryEvents {
    async fn publish(&self, event: &InvalidationEvent) {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(event.clone());
    }
}
