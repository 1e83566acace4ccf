//! Invalidation events: what Auth tells every guard and replica when access changes.
//!
//! Auth's stores append every change to Auth's event log in the transaction of the change
//! (decision 0015); guards follow that stream (its Redis stream, relayed by
//! `kisum_core::outbox::relay`, or `GET /internal/v1/events`). [`CoreRelay`] brings Core's
//! events into it, so a backend follows Auth alone.

use std::sync::Arc;

use async_trait::async_trait;
use kisum_core::outbox::{EventFeed, Origin};
use kisum_guard::follow::{FollowError, Follower, Missed};
use kisum_guard::{Clock, StreamEvent};

pub use kisum_guard::InvalidationEvent;
pub use kisum_guard::{EventPublisher, NoEvents};

/// Relays Core's stream into Auth's (decision 0015): a [`Follower`] of Core's events (its long
/// poll) that appends each to Auth's log, marked with its origin so that whichever replica is
/// first appends it and the others skip it. Guards then follow Auth alone. Every replica
/// resumes from the last Core event Auth's log holds; a hole in Core's stream appends
/// [`InvalidationEvent::Resync`] (guards forget their cached contexts).
pub struct CoreRelay {
    feed: Arc<EventFeed>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for CoreRelay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoreRelay").finish_non_exhaustive()
    }
}

impl CoreRelay {
    /// Relays into `feed` (Auth's), stamping times from `clock`.
    #[must_use]
    pub fn new(feed: Arc<EventFeed>, clock: Arc<dyn Clock>) -> Self {
        Self { feed, clock }
    }

    fn origin(epoch: &str) -> String {
        format!("core:{epoch}")
    }
}

#[async_trait]
impl Follower for CoreRelay {
    async fn resume_from(&self, epoch: &str) -> Option<u64> {
        match self.feed.log().origin_cursor(&Self::origin(epoch)).await {
            Ok(cursor) => cursor,
            // Unknown: read Core's whole retained stream (appends are once per origin).
            Err(e) => {
                tracing::warn!(error = %e, "Auth's event log unreadable; relaying Core's stream from its start");
                Some(0)
            }
        }
    }

    async fn apply(&self, epoch: &str, event: &StreamEvent) -> Result<(), FollowError> {
        let origin = Self::origin(epoch);
        self.feed
            .log()
            .append(
                &event.event,
                self.clock.now(),
                Some(Origin {
                    stream: &origin,
                    seq: event.seq,
                }),
            )
            .await
            .map_err(|e| FollowError(e.to_string()))?;
        self.feed.nudge();
        Ok(())
    }

    async fn missed(&self, _why: Missed) {
        let appended = self
            .feed
            .log()
            .append(&InvalidationEvent::Resync, self.clock.now(), None)
            .await;
        if let Err(e) = appended {
            tracing::error!(error = %e, "Core's events were missed and Auth's log is unwritable: guards bound staleness with their TTL");
        }
        self.feed.nudge();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kisum_guard::SessionId;

    #[cfg(feature = "redis")]
    #[test]
    fn the_default_marker_outlives_every_default_access_token() {
        use kisum_core::outbox::relay::RelayConfig;
        let default_tokens = crate::tokens::TokenConfig::DEFAULT_ACCESS_TTL
            .to_std()
            .unwrap();
        assert!(RelayConfig::default().marker_ttl > default_tokens);
        assert_eq!(
            RelayConfig::default().marker_ttl,
            RelayConfig::marker_ttl_for(default_tokens)
        );
        assert_eq!(
            RelayConfig::marker_ttl_for(std::time::Duration::from_secs(3600)),
            std::time::Duration::from_secs(3660)
        );
    }

    #[test]
    fn events_have_the_wire_shape_of_the_internal_api() {
        let sid = SessionId::new();
        let v =
            serde_json::to_value(InvalidationEvent::SessionRevoked { session_id: sid }).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"kind": "session_revoked", "session_id": sid.to_string()})
        );
        let back: InvalidationEvent = serde_json::from_str(r#"{"kind":"key_rotated"}"#).unwrap();
        assert_eq!(back, InvalidationEvent::KeyRotated);
        assert!(serde_json::from_str::<InvalidationEvent>(r#"{"kind":"nope"}"#).is_err());
    }
}
