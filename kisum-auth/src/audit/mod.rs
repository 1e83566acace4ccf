//! Audit events: an append-only record of who did what, in which company, with what outcome.
//!
//! Every security-relevant action (sign-in, refresh, sign-out, password change, directory edits)
//! appends one [`AuditEvent`] to an [`AuditStore`]. Events are never updated (but for an account
//! erasure, which pseudonymises them: decision 0037); they leave the
//! store only by age, through [`AuditStore::prune`] (`kisum audit prune --older-than`).
//!
//! **No secrets in events.** Passwords, password hashes, refresh or access tokens, reset tokens,
//! one-time codes and keys must never be written to an event — not in [`details`](AuditEvent::details),
//! not in any other field. Name the thing instead (a session id, a membership id, a role key).
//! A failed sign-in of an unknown email names no one and records no email either: people type
//! passwords into the email field.
//!
//! **A failed audit write never fails the request.** The flows write their event with
//! [`record`] right after the change it describes (in the same call, before answering): by then
//! the change is committed, so answering an error would misreport what happened and invite a
//! retry of a write that succeeded. Instead the event is logged at `error` level in full (it
//! holds no secret), so nothing is lost silently: the log carries what the store could not.
//!
//! ```
//! use chrono::{DateTime, Utc};
//! use kisum_auth::audit::{AuditEvent, AuditOutcome, action};
//! use kisum_guard::UserId;
//!
//! let at: DateTime<Utc> = "2026-11-21T10:00:00Z".parse()?;
//! let event = AuditEvent::new(at, action::LOGIN_FAILURE, AuditOutcome::Failure)
//!     .with_actor(UserId::new())
//!     .with_details(serde_json::json!({ "reason": "bad_password" }));
//! let json = serde_json::to_value(&event)?;
//! assert_eq!(json["action"], "login.failure");
//! assert_eq!(json["outcome"], "failure");
//! assert_eq!(json["details"]["reason"], "bad_password");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::{StoreError, StoreErrorKind};
use kisum_guard::{CompanyId, UserId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The most events one [`AuditStore::list`] call returns, whatever limit is asked for.
pub const MAX_LIST_LIMIT: u32 = 1000;

pub mod action;

/// The id of an audit event (a UUIDv7, so ids sort roughly by time).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = uuid::Uuid))]
#[serde(transparent)]
pub struct AuditEventId(Uuid);

impl AuditEventId {
    /// A new time-ordered (UUIDv7) id.
    #[must_use]
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }

    /// Wraps an existing UUID.
    #[must_use]
    pub const fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }

    /// The underlying UUID.
    #[must_use]
    pub const fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl Default for AuditEventId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for AuditEventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for AuditEventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuditEventId({})", self.0)
    }
}

/// How an audited action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    /// It was done.
    Success,
    /// It was attempted and failed (bad credentials, invalid input, a spent token).
    Failure,
    /// It was refused for lack of permission.
    Denied,
}

impl AuditOutcome {
    /// Every outcome.
    pub const ALL: [AuditOutcome; 3] = [Self::Success, Self::Failure, Self::Denied];

    /// The wire and storage string.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Denied => "denied",
        }
    }

    /// Parses the storage string.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// One audited action. Append-only: once stored it is never changed, except that an account's
/// erasure replaces the person's id and email in it by a pseudonym (decision 0037).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEvent {
    /// The id.
    pub id: AuditEventId,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// The user who acted, when known (`None` for a failed sign-in of an unknown email, or an
    /// operator acting with the service key).
    pub actor_user_id: Option<UserId>,
    /// The company acted in, if any.
    pub company_id: Option<CompanyId>,
    /// What was done: one of [`action`] (`login.success`, `role.put`, …).
    pub action: String,
    /// How it ended.
    pub outcome: AuditOutcome,
    /// The client's address, as the edge saw it.
    pub ip: Option<String>,
    /// The request id, to join with the logs.
    pub request_id: Option<String>,
    /// Anything else worth keeping, as a JSON object (`{}` when there is nothing). Never a
    /// secret: no password, token, code or key, hashed or not. Strings in it must not contain
    /// NUL characters (PostgreSQL refuses them).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub details: serde_json::Value,
}

impl AuditEvent {
    /// An event with a new id, no actor, company, ip or request id, and empty details.
    #[must_use]
    pub fn new(at: DateTime<Utc>, action: impl Into<String>, outcome: AuditOutcome) -> Self {
        Self {
            id: AuditEventId::new(),
            at,
            actor_user_id: None,
            company_id: None,
            action: action.into(),
            outcome,
            ip: None,
            request_id: None,
            details: serde_json::Value::Object(serde_json::Map::new()),
        }
    }

    /// With the acting user.
    #[must_use]
    pub fn with_actor(mut self, user: UserId) -> Self {
        self.actor_user_id = Some(user);
        self
    }

    /// With the company acted in.
    #[must_use]
    pub fn with_company(mut self, company: CompanyId) -> Self {
        self.company_id = Some(company);
        self
    }

    /// With the client's address.
    #[must_use]
    pub fn with_ip(mut self, ip: impl Into<String>) -> Self {
        self.ip = Some(ip.into());
        self
    }

    /// With the request id.
    #[must_use]
    pub fn with_request_id(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = Some(request_id.into());
        self
    }

    /// With `details` (a JSON object; never a secret).
    #[must_use]
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }

    /// Checks what every [`AuditStore::append`] requires: a non-empty action and object
    /// details.
    ///
    /// # Errors
    /// `Invalid` otherwise.
    pub fn validate(&self) -> Result<(), StoreError> {
        if self.action.is_empty() {
            return Err(StoreError::new(
                StoreErrorKind::Invalid,
                "an audit event needs an action",
            ));
        }
        if !self.details.is_object() {
            return Err(StoreError::new(
                StoreErrorKind::Invalid,
                "audit details must be a JSON object",
            ));
        }
        Ok(())
    }
}

/// Who acted and from where: what every event written for one request shares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditContext {
    /// The acting user, when known.
    pub actor: Option<UserId>,
    /// The client's address.
    pub ip: Option<String>,
    /// The request id.
    pub request_id: Option<String>,
}

impl AuditEvent {
    /// The event of `action` at `at`: its name, outcome and details.
    #[must_use]
    pub fn of(at: DateTime<Utc>, action: &action::Action) -> Self {
        Self::new(at, action.name(), action.outcome()).with_details(action.details())
    }
}

impl AuditEvent {
    /// With the actor, ip and request id of `context` (those it has).
    #[must_use]
    pub fn with_context(mut self, context: &AuditContext) -> Self {
        self.actor_user_id = context.actor.or(self.actor_user_id);
        self.ip = context.ip.clone().or(self.ip);
        self.request_id = context.request_id.clone().or(self.request_id);
        self
    }
}

/// Appends `event` to `store`. A failed write does not fail the caller: it is logged at `error`
/// level with the whole event (which never holds a secret), so the record survives in the logs
/// (see the [module docs](self)).
pub async fn record(store: &dyn AuditStore, event: AuditEvent) {
    if let Err(error) = store.append(&event).await {
        let event = serde_json::to_string(&event).unwrap_or_default();
        tracing::error!(%error, %event, "audit event not stored");
    }
}

/// The audit log. Append-only: there is no update, and events leave only through
/// [`prune`](Self::prune).
///
/// Backends store times to the microsecond (what PostgreSQL keeps); callers pass such times or
/// accept the truncation. Callers must keep secrets out of every event (see the
/// [module docs](self)).
#[async_trait]
pub trait AuditStore: Send + Sync + 'static {
    /// Stores `event` as it is. The user and company it names need not exist (a failed sign-in
    /// names no one; events outlive deleted rows).
    ///
    /// # Errors
    /// `Invalid` when [`AuditEvent::validate`] fails (nothing is stored); `Conflict` when an
    /// event with its id exists; `Unavailable`.
    async fn append(&self, event: &AuditEvent) -> Result<(), StoreError>;

    /// Events newest first (by `at`, then by id, both descending): only those of `company_id`
    /// when given (otherwise all, with or without a company), only those at or after `since`
    /// when given (inclusive), at most `limit` of them — and never more than
    /// [`MAX_LIST_LIMIT`]. A `limit` of 0 returns nothing.
    ///
    /// # Errors
    /// `Unavailable`; `Invalid` when a stored event cannot be read back.
    async fn list(
        &self,
        company_id: Option<CompanyId>,
        since: Option<DateTime<Utc>>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError>;

    /// Deletes every event strictly older than `older_than` (an event at exactly `older_than`
    /// stays), in one transaction; returns how many were deleted.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn prune(&self, older_than: DateTime<Utc>) -> Result<u64, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialize_in_snake_case() {
        let at: DateTime<Utc> = "2026-11-21T10:00:00.123456Z".parse().unwrap();
        let company = CompanyId::new();
        let e = AuditEvent::new(at, action::ROLE_PUT, AuditOutcome::Denied)
            .with_company(company)
            .with_ip("203.0.113.7")
            .with_request_id("req-1")
            .with_details(serde_json::json!({"role": "finance-viewer"}));
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["outcome"], "denied");
        assert_eq!(v["action"], "role.put");
        assert_eq!(v["company_id"], company.to_string());
        assert_eq!(v["actor_user_id"], serde_json::Value::Null);
        assert_eq!(v["request_id"], "req-1");
        assert_eq!(v["id"], e.id.to_string());
        let back: AuditEvent = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn outcomes_round_trip_their_storage_strings() {
        for o in AuditOutcome::ALL {
            assert_eq!(AuditOutcome::parse(o.as_str()), Some(o));
            assert_eq!(serde_json::to_value(o).unwrap(), o.as_str());
        }
        assert_eq!(AuditOutcome::parse("nope"), None);
    }

    #[test]
    fn events_need_an_action_and_object_details() {
        let at = DateTime::<Utc>::UNIX_EPOCH;
        assert!(
            AuditEvent::new(at, action::LOGOUT, AuditOutcome::Success)
                .validate()
                .is_ok()
        );
        let empty = AuditEvent::new(at, "", AuditOutcome::Success);
        assert_eq!(
            empty.validate().unwrap_err().kind(),
            StoreErrorKind::Invalid
        );
        let list = AuditEvent::new(at, action::LOGOUT, AuditOutcome::Success)
            .with_details(serde_json::json!([1, 2]));
        assert_eq!(list.validate().unwrap_err().kind(), StoreErrorKind::Invalid);
    }
}
