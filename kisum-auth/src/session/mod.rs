//! Sessions: the `sid` of every access token, with idle and absolute lifetimes.
//!
//! `mod.rs` holds [`Session`], the [`SessionStore`] and the lifetimes ([`SessionConfig`]);
//! `issue.rs` starts sessions and issues token pairs; `refresh.rs` the refresh tokens and their
//! rotation with reuse detection; `logout.rs` ends sessions; `state.rs` answers who is calling.

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use kisum_core::db::StoreError;
use kisum_guard::{Aal, SessionId, UserId};
use serde::{Deserialize, Serialize};

use crate::tokens::IssuedToken;

mod issue;
mod logout;
mod refresh;
mod state;

pub use refresh::{
    LiveRefresh, MAX_GRACE_USES, RefreshAudit, RefreshError, RefreshRecord, RefreshToken,
    RefreshTokenStore, Rotation, TokenHash,
};
pub use state::{Authenticated, SessionError, SessionState};

/// Why a session was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevokeReason {
    /// The user signed out of this session.
    Logout,
    /// The user signed out everywhere.
    LogoutAll,
    /// The user deleted the session from their session list.
    Deleted,
    /// The password was changed.
    PasswordChanged,
    /// The password was reset.
    PasswordReset,
    /// A spent refresh token was presented again.
    RefreshReuse,
    /// Evicted by the concurrent-session limit.
    Evicted,
    /// Revoked by an operator.
    Admin,
    /// A second factor was added or removed (the other sessions of the user end).
    FactorChanged,
    /// The user deleted their account.
    AccountDeleted,
}

impl RevokeReason {
    /// Every reason.
    pub const ALL: [RevokeReason; 10] = [
        Self::Logout,
        Self::LogoutAll,
        Self::Deleted,
        Self::PasswordChanged,
        Self::PasswordReset,
        Self::RefreshReuse,
        Self::Evicted,
        Self::Admin,
        Self::FactorChanged,
        Self::AccountDeleted,
    ];

    /// The wire and storage string.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::LogoutAll => "logout_all",
            Self::Deleted => "deleted",
            Self::PasswordChanged => "password_changed",
            Self::PasswordReset => "password_reset",
            Self::RefreshReuse => "refresh_reuse",
            Self::Evicted => "evicted",
            Self::Admin => "admin",
            Self::FactorChanged => "factor_changed",
            Self::AccountDeleted => "account_deleted",
        }
    }

    /// Parses the storage string.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// A signed-in session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The id (the `sid` claim).
    pub id: SessionId,
    /// The user.
    pub user_id: UserId,
    /// Sign-in time.
    pub created_at: DateTime<Utc>,
    /// Last refresh.
    pub last_seen_at: DateTime<Utc>,
    /// The session ends if not refreshed before this instant.
    pub idle_expires_at: DateTime<Utc>,
    /// The session ends at this instant whatever happens.
    pub absolute_expires_at: DateTime<Utc>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Why it was revoked.
    pub revoked_reason: Option<RevokeReason>,
    /// The client's user agent at sign-in.
    pub user_agent: Option<String>,
    /// The client's address at sign-in.
    pub ip: Option<String>,
    /// The assurance level: `aal2` once two factors were shown (at sign-in, or later through
    /// `POST /v1/auth/reauthenticate` with a second factor).
    pub aal: Aal,
    /// When the user last proved who they are (sign-in or reauthentication): "recent auth" is
    /// measured from it. A refresh does not move it.
    pub auth_time: DateTime<Utc>,
    /// How the user proved it, as RFC 8176 method references (`pwd`, `otp`, …; see
    /// [`amr`]).
    pub amr: Vec<String>,
}

/// The authentication method references (RFC 8176) a session records.
pub mod amr {
    /// A password.
    pub const PASSWORD: &str = "pwd";
    /// A one-time code: an email code (first factor) or an authenticator app code (RFC 6238).
    pub const OTP: &str = "otp";
    /// A code sent by SMS (RFC 8176).
    pub const SMS: &str = "sms";
    /// A recovery code. Not registered by RFC 8176 (it is a one-time code of its own kind);
    /// named apart so a relying party can tell a user who should regenerate their codes.
    pub const RECOVERY_CODE: &str = "rec";
    /// Several factors, added when the methods alone would not show it (an email code
    /// followed by an authenticator app code: `["otp", "mfa"]`).
    pub const MULTI_FACTOR: &str = "mfa";
    /// A sign-in through an external identity provider (OAuth / OpenID Connect). Not
    /// registered by RFC 8176, which names no federated method; `fed` is the value several
    /// identity providers use for it.
    pub const FEDERATED: &str = "fed";
}

impl Session {
    /// A session for `user_id` starting at `now`.
    #[must_use]
    pub fn new(user_id: UserId, now: DateTime<Utc>, idle: TimeDelta, absolute: TimeDelta) -> Self {
        let absolute_expires_at = now
            .checked_add_signed(absolute)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let idle_expires_at = now
            .checked_add_signed(idle)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
            .min(absolute_expires_at);
        Self {
            id: SessionId::new(),
            user_id,
            created_at: now,
            last_seen_at: now,
            idle_expires_at,
            absolute_expires_at,
            revoked_at: None,
            revoked_reason: None,
            user_agent: None,
            ip: None,
            aal: Aal::Aal1,
            auth_time: now,
            amr: Vec::new(),
        }
    }

    /// This session signed in at `aal` by the methods `amr`.
    #[must_use]
    pub fn with_assurance(mut self, aal: Aal, amr: &[&str]) -> Self {
        self.aal = aal;
        self.amr = amr.iter().map(|&m| m.to_owned()).collect();
        self
    }

    /// Whether the user proved who they are within `window` before `now`.
    #[must_use]
    pub fn authenticated_within(&self, window: TimeDelta, now: DateTime<Utc>) -> bool {
        now.signed_duration_since(self.auth_time) <= window
    }

    /// Whether the session is usable at `now`: not revoked, not idle too long, not too old.
    #[must_use]
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && now < self.idle_expires_at && now < self.absolute_expires_at
    }
}

/// Sessions by id and by user.
///
/// Backends return revoked and expired sessions as stored; callers decide with
/// [`Session::is_active`].
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Stores a new session.
    ///
    /// # Errors
    /// `Conflict` when the id exists; `Unavailable`.
    async fn create_session(&self, session: &Session) -> Result<(), StoreError>;

    /// The session `id`, or `None`.
    ///
    /// # Errors
    /// `Unavailable` when the backend cannot be reached.
    async fn get_session(&self, id: SessionId) -> Result<Option<Session>, StoreError>;

    /// Every session of the user, oldest first, revoked and expired ones included.
    ///
    /// # Errors
    /// `Unavailable` when the backend cannot be reached.
    async fn list_user_sessions(&self, user_id: UserId) -> Result<Vec<Session>, StoreError>;

    /// Records activity: sets `last_seen_at` and `idle_expires_at`.
    ///
    /// # Errors
    /// `NotFound` when the session does not exist; `Unavailable`.
    async fn touch_session(
        &self,
        id: SessionId,
        last_seen_at: DateTime<Utc>,
        idle_expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Revokes one session. Returns `true` when this call revoked it, `false` when it already was
    /// revoked (the first revocation's time and reason are kept).
    ///
    /// # Errors
    /// `NotFound` when the session does not exist; `Unavailable`.
    async fn revoke_session(
        &self,
        id: SessionId,
        reason: RevokeReason,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Revokes every not-yet-revoked session of the user except `except`, and returns their ids.
    ///
    /// # Errors
    /// `Unavailable` when the backend cannot be reached.
    async fn revoke_user_sessions(
        &self,
        user_id: UserId,
        reason: RevokeReason,
        at: DateTime<Utc>,
        except: Option<SessionId>,
    ) -> Result<Vec<SessionId>, StoreError>;

    /// Records a reauthentication of session `id`: `auth_time` becomes `at`, the level `aal`
    /// and the methods `amr` (the caller passes the merged list). Returns `false`, writing
    /// nothing, when the session is revoked or unknown.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn reauthenticate_session(
        &self,
        id: SessionId,
        at: DateTime<Utc>,
        aal: Aal,
        amr: &[String],
    ) -> Result<bool, StoreError>;

    /// Deletes the sessions that ended (revoked, idle-expired or past their absolute expiry)
    /// before `before`, with their refresh tokens, and every refresh token that expired before
    /// `before`; returns how many sessions were deleted. The pruning job calls it with a
    /// retention margin, so reuse of a recently spent token is still recognised.
    ///
    /// # Errors
    /// `Unavailable` when the backend cannot be reached.
    async fn prune_sessions(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;

    /// The writes of a sign-in at once: stores `start.session`, its first refresh token
    /// `start.refresh` and the sign-in's audit event `start.audit`, and revokes (reason
    /// `evicted`, at the session's `created_at`) the user's oldest sessions active at that time
    /// beyond [`SessionStart::max_per_user`] — all or nothing. Returns the ids it revoked,
    /// oldest first.
    ///
    /// `None`: this store does not do it at once; nothing was written, and the caller takes
    /// the step-by-step path ([`create_session`](Self::create_session), the eviction,
    /// [`RefreshTokenStore::insert_refresh_token`], the audit append), which is correct, only
    /// slower. The default is always `None`.
    ///
    /// # Errors
    /// `Conflict` when the session id or the token hash exists; `Invalid` when the audit event
    /// is invalid; `Unavailable` — nothing written.
    async fn start_session_live(
        &self,
        start: &SessionStart<'_>,
    ) -> Result<Option<Vec<SessionId>>, StoreError> {
        let _ = start;
        Ok(None)
    }
}

/// What a sign-in writes, for [`SessionStore::start_session_live`].
#[derive(Debug, Clone, Copy)]
pub struct SessionStart<'a> {
    /// The new session.
    pub session: &'a Session,
    /// Its first refresh token (of this session, unspent).
    pub refresh: &'a RefreshRecord,
    /// The sign-in's audit event.
    pub audit: &'a crate::audit::AuditEvent,
    /// The most active sessions the user may hold, the new one included (`0` counts as `1`):
    /// the oldest active others beyond it are revoked. `None`: no limit.
    pub max_per_user: Option<u32>,
}

impl SessionStart<'_> {
    /// How many of the user's other active sessions, newest first, stay: `max_per_user - 1`
    /// (at least 0); without a limit, all of them (`i64::MAX`).
    #[must_use]
    pub fn others_kept(&self) -> i64 {
        self.max_per_user
            .map_or(i64::MAX, |max| i64::from(max.max(1)) - 1)
    }
}

/// Session lifetimes and the refresh reuse grace window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// A session ends when not refreshed for this long (default 7 days).
    pub idle: TimeDelta,
    /// A session ends this long after sign-in whatever happens (default 30 days).
    pub absolute: TimeDelta,
    /// Tolerance for presenting the immediate predecessor of the current refresh token (racing
    /// browser tabs): off (zero) by default, capped at 30 s.
    pub reuse_grace: TimeDelta,
    /// The most sessions one user may hold at once (default 50; `None`: no limit). A sign-in
    /// beyond it revokes the user's oldest active sessions (reason `evicted`). Two sign-ins
    /// racing may briefly leave one session over the limit; the next sign-in corrects it.
    pub max_per_user: Option<u32>,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            idle: TimeDelta::days(7),
            absolute: TimeDelta::days(30),
            reuse_grace: TimeDelta::zero(),
            max_per_user: Some(50),
        }
    }
}

/// What a successful sign-in or refresh hands the client.
#[derive(Debug, Clone)]
pub struct TokenPair {
    /// The access token.
    pub access: IssuedToken,
    /// The new refresh token (shown once).
    pub refresh: RefreshToken,
    /// Seconds until the refresh token expires.
    pub refresh_expires_in: i64,
    /// The session.
    pub session_id: SessionId,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    #[test]
    fn sessions_end_when_idle_or_old_or_revoked() {
        let s = Session::new(
            UserId::new(),
            t(0),
            TimeDelta::seconds(100),
            TimeDelta::seconds(1_000),
        );
        assert!(s.is_active(t(99)));
        assert!(!s.is_active(t(100)), "idle expiry");
        let mut touched = s.clone();
        touched.idle_expires_at = t(1_500).min(touched.absolute_expires_at);
        assert!(touched.is_active(t(999)));
        assert!(!touched.is_active(t(1_000)), "absolute expiry");
        let mut revoked = s;
        revoked.revoked_at = Some(t(1));
        assert!(!revoked.is_active(t(2)));
    }

    #[test]
    fn idle_expiry_never_exceeds_absolute_and_huge_lifetimes_do_not_overflow() {
        let s = Session::new(
            UserId::new(),
            t(0),
            TimeDelta::seconds(500),
            TimeDelta::seconds(100),
        );
        assert_eq!(s.idle_expires_at, t(100));
        let s = Session::new(UserId::new(), t(0), TimeDelta::MAX, TimeDelta::MAX);
        assert!(s.is_active(t(1_000_000)));
    }

    #[test]
    fn reasons_round_trip() {
        for r in RevokeReason::ALL {
            assert_eq!(RevokeReason::parse(r.as_str()), Some(r));
            assert_eq!(
                serde_json::to_string(&r).unwrap(),
                format!("\"{}\"", r.as_str())
            );
        }
    }
}
