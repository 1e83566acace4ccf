//! Invalidation events: what writers (Auth, Core) tell every guard and replica when access
//! changes.
//!
//! Each component keeps an ordered stream of them (an outbox table written in the transaction
//! of each change, decision 0015): numbered without holes ([`StreamEvent::seq`]), named by an
//! [`epoch`](EventsPage::epoch) that changes when the stream starts over. Readers remember the
//! last number they applied and resume from it — from the Redis stream
//! [`stream_key`]`(prefix, "auth")`, or from `GET /internal/v1/events?after=&wait=` without Redis
//! — and forget every cached context when they find a hole they cannot fill.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::ids::{CompanyId, MembershipId, SessionId};

/// The Redis stream of a component's events (`component` is `auth` or `core`) under `prefix`:
/// `kisum:events:auth`, `kisum:events:core`. Entry ids are `{seq}-0`; each entry has the fields
/// `epoch` and `event` (the event's JSON).
#[must_use]
pub fn stream_key(prefix: &str, component: &str) -> String {
    format!("{prefix}kisum:events:{component}")
}

/// The Redis key holding the epoch of a component's stream (see [`stream_key`]).
#[must_use]
pub fn stream_epoch_key(prefix: &str, component: &str) -> String {
    format!("{prefix}kisum:events:{component}:epoch")
}

/// One event of an ordered stream, with its number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StreamEvent {
    /// Its number in the stream: 1, 2, 3, … without holes.
    pub seq: u64,
    /// The event (its `kind` and fields sit beside `seq` on the wire).
    #[serde(flatten)]
    pub event: InvalidationEvent,
}

/// An answer of `GET /internal/v1/events?after=&wait=`: the events after `after`, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventsPage {
    /// The stream's name: when it differs from the one a reader knew, the stream started over
    /// (a restored or new database) and the reader forgets its caches and continues from
    /// `next`.
    pub epoch: String,
    /// The events, oldest first (empty when `wait` passed without one).
    pub events: Vec<StreamEvent>,
    /// What to ask for next (`after=next`): the number of the last event here, or the stream's
    /// head when there were none.
    pub next: u64,
}

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
    /// Events may have been lost upstream (a relayed stream had a gap it could not fill):
    /// forget every cached context, as a reader does on a gap of its own.
    Resync,
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

/// The sequence number of a stream entry id `{seq}-0` (see [`stream_key`]).
#[must_use]
pub fn entry_seq(id: &str) -> Option<u64> {
    id.split_once('-').and_then(|(seq, _)| seq.parse().ok())
}
