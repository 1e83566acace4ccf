//! Invalidation events: what writers (Auth, Core) tell every guard and replica when access
//! changes, published on the Redis channel [`EVENTS_CHANNEL`] (after the key prefix) or posted
//! to Auth's `POST /internal/v1/events` in deployments without Redis.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::ids::{CompanyId, MembershipId, SessionId};

/// The Redis channel invalidation events are published on (after the key prefix).
pub const EVENTS_CHANNEL: &str = "kisum:events";

/// An invalidation event, as published and as accepted by `POST /internal/v1/events`.
///
/// ```
/// use kisum_guard::InvalidationEvent;
/// let e: InvalidationEvent = serde_json::from_str(r#"{"kind": "key_rotated"}"#)?;
/// assert_eq!(e, InvalidationEvent::KeyRotated);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InvalidationEvent {
    /// A session was revoked: deny its `sid` from now on.
    SessionRevoked {
        /// The session.
        session_id: SessionId,
    },
    /// A membership's access changed (its `access_version` was raised).
    Membership {
        /// The company.
        company_id: CompanyId,
        /// The membership.
        membership_id: MembershipId,
    },
    /// A company's entitlements changed (its `entitlement_version` was raised).
    Company {
        /// The company.
        company_id: CompanyId,
    },
    /// Signing keys were rotated: refetch the JWKS.
    KeyRotated,
}

/// Where a writer (Auth, Core) sends invalidation events: Redis, Auth's internal listener, the
/// guards of the same process, or nowhere ([`NoEvents`]).
///
/// One trait for every writer: the event is the same wherever it comes from, and what a
/// transport needs beyond it (the lifetime of a revocation marker in Redis, a URL, a key) is
/// the transport's own setting.
#[async_trait]
pub trait EventPublisher: Send + Sync + 'static {
    /// Publishes `event`. Never fails and never waits long: an outage is logged by the
    /// implementation and the write the event follows stands (guards then bound staleness with
    /// their TTL).
    async fn publish(&self, event: &InvalidationEvent);
}

/// Publishes nothing: for deployments without a transport (the databases are the truth and
/// caches expire by their TTL).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEvents;

#[async_trait]
impl EventPublisher for NoEvents {
    async fn publish(&self, _event: &InvalidationEvent) {}
}

/// The Redis key of a session's revocation marker, under `prefix` (may be empty).
#[must_use]
pub fn revoked_session_key(prefix: &str, session: SessionId) -> String {
    format!("{prefix}revoked:session:{session}")
}

/// The Redis channel of invalidation events under `prefix` (may be empty).
#[must_use]
pub fn events_channel(prefix: &str) -> String {
    format!("{prefix}{EVENTS_CHANNEL}")
}
