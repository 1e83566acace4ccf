//! Invalidation events: what Auth tells every guard and replica when access changes.
//!
//! With Redis configured, a revoked session is written as `revoked:session:{id}` (with a TTL at
//! least the longest access-token lifetime, so guards deny that `sid` until its tokens are dead
//! anyway) and every event is published on the `kisum:events` channel. Without Redis the
//! database stays the truth and guards bound staleness with their TTL. Publishing never fails a
//! request: a Redis outage is logged and the answer stands.

pub use kisum_guard::{EVENTS_CHANNEL, InvalidationEvent};
pub use kisum_guard::{EventPublisher, NoEvents};

#[cfg(feature = "redis")]
pub use self::redis_publisher::RedisEvents;

#[cfg(feature = "redis")]
mod redis_publisher {
    use std::time::Duration;

    use async_trait::async_trait;
    use redis::aio::{ConnectionManager, ConnectionManagerConfig};

    use super::{EventPublisher, InvalidationEvent};

    /// Publishes on Redis: markers under `{prefix}revoked:session:{id}`, events on
    /// `{prefix}kisum:events`.
    ///
    /// A revocation marker must outlive every access token of the revoked session: set
    /// [`with_marker_ttl`](Self::with_marker_ttl) to the access-token lifetime plus a minute
    /// (the default, [`Self::DEFAULT_MARKER_TTL`], fits the default 10-minute tokens).
    #[derive(Clone)]
    pub struct RedisEvents {
        conn: ConnectionManager,
        prefix: String,
        budget: Duration,
        marker_ttl: Duration,
    }

    impl std::fmt::Debug for RedisEvents {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("RedisEvents")
                .field("prefix", &self.prefix)
                .finish_non_exhaustive()
        }
    }

    impl RedisEvents {
        /// How long a revocation marker lives by default: the default access-token lifetime
        /// plus a minute of leeway (11 minutes).
        pub const DEFAULT_MARKER_TTL: Duration = Duration::from_secs(
            crate::tokens::TokenConfig::DEFAULT_ACCESS_TTL
                .num_seconds()
                .unsigned_abs()
                + 60,
        );

        /// The marker lifetime for access tokens living `access_ttl`: a minute longer.
        #[must_use]
        pub fn marker_ttl_for(access_ttl: Duration) -> Duration {
            access_ttl.saturating_add(Duration::from_secs(60))
        }

        /// A publisher to the Redis at `url` (connected lazily; an unreachable Redis is
        /// tolerated and logged at each publish), with key `prefix` and a per-call time budget.
        ///
        /// # Errors
        /// A malformed URL.
        pub fn new(url: &str, prefix: &str, budget: Duration) -> Result<Self, redis::RedisError> {
            let client = redis::Client::open(url)?;
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(budget))
                .set_response_timeout(Some(budget))
                .set_number_of_retries(0);
            let conn = ConnectionManager::new_lazy_with_config(client, config)?;
            Ok(Self {
                conn,
                prefix: prefix.to_owned(),
                budget,
                marker_ttl: Self::DEFAULT_MARKER_TTL,
            })
        }

        /// Keeps revocation markers for `ttl` (see [`Self::marker_ttl_for`]).
        #[must_use]
        pub fn with_marker_ttl(mut self, ttl: Duration) -> Self {
            self.marker_ttl = ttl;
            self
        }

        /// How long revocation markers are kept.
        #[must_use]
        pub fn marker_ttl(&self) -> Duration {
            self.marker_ttl
        }

        /// The revocation marker key of `session`.
        #[must_use]
        pub fn revoked_key(&self, session: kisum_guard::SessionId) -> String {
            kisum_guard::revoked_session_key(&self.prefix, session)
        }

        /// The channel events go to.
        #[must_use]
        pub fn channel(&self) -> String {
            kisum_guard::events_channel(&self.prefix)
        }

        async fn send(&self, event: &InvalidationEvent) -> Result<(), String> {
            let ttl = self.marker_ttl;
            let payload = serde_json::to_string(event).map_err(|e| e.to_string())?;
            let mut pipe = redis::pipe();
            if let InvalidationEvent::SessionRevoked { session_id } = event {
                pipe.set_ex(self.revoked_key(*session_id), 1, ttl.as_secs().max(1))
                    .ignore();
            }
            pipe.publish(self.channel(), payload).ignore();
            let mut conn = self.conn.clone();
            match tokio::time::timeout(
                self.budget.saturating_mul(2),
                pipe.query_async::<()>(&mut conn),
            )
            .await
            {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("timed out".to_owned()),
            }
        }
    }

    #[async_trait]
    impl EventPublisher for RedisEvents {
        async fn publish(&self, event: &InvalidationEvent) {
            if let Err(e) = self.send(event).await {
                tracing::warn!(error = %e, "redis unavailable: invalidation event not published; guards fall back to their TTL");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kisum_guard::SessionId;

    #[cfg(feature = "redis")]
    #[test]
    fn the_default_marker_outlives_every_default_access_token() {
        assert_eq!(
            RedisEvents::DEFAULT_MARKER_TTL,
            std::time::Duration::from_secs(660)
        );
        assert_eq!(
            RedisEvents::marker_ttl_for(std::time::Duration::from_secs(3600)),
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
