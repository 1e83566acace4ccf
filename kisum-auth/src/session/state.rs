//! Who is calling: a bearer token and its session, and a user's sessions.

use chrono::{DateTime, Utc};
use kisum_guard::{Claims, SessionId, UserId};

use crate::service::{AuthService, Failure, failure_converts};
use crate::session::Session;

/// Why a session operation failed (authenticating a bearer token, listing or ending sessions).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The access token is missing, malformed, expired or not ours.
    #[error("authentication required")]
    Unauthenticated,
    /// The session is revoked or expired.
    #[error("session is no longer valid")]
    SessionRevoked,
    /// The session does not belong to the caller.
    #[error("no such session")]
    SessionNotFound,
    /// Nothing was refused: a store failed.
    #[error(transparent)]
    Failed(Failure),
}

failure_converts!(SessionError);

/// The caller of a request: its verified token and its live session.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The access token's claims.
    pub claims: Claims,
    /// The session the token belongs to, active now.
    pub session: Session,
}

/// What a guard asks about a session: whose it is, whether it is active, when it was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionState {
    /// The session's user.
    pub user_id: UserId,
    /// Whether it is active now.
    pub active: bool,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl AuthService {
    /// Checks a bearer access token and its session: the identity of the caller.
    ///
    /// # Errors
    /// `Unauthenticated` for a bad token, `SessionRevoked` for a revoked or expired session.
    pub async fn authenticate(&self, bearer: &str) -> Result<Authenticated, SessionError> {
        let now = self.clock.now();
        let claims = self
            .tokens
            .verify(bearer, now)
            .map_err(|_| SessionError::Unauthenticated)?;
        let session = self
            .store
            .get_session(claims.sid)
            .await?
            .filter(|s| s.user_id == claims.sub && s.is_active(now))
            .ok_or(SessionError::SessionRevoked)?;
        Ok(Authenticated { claims, session })
    }

    /// Checks a bearer access token alone (signature, issuer, audience, lifetime), not its
    /// session, remembering the tokens it verified
    /// ([`TokenService::verify_cached`](crate::tokens::TokenService::verify_cached)): for
    /// callers that learn the session's liveness elsewhere (the access caches, kept current by
    /// revocation events).
    ///
    /// # Errors
    /// `Unauthenticated` for a bad token.
    pub fn verify_token(&self, bearer: &str) -> Result<Claims, SessionError> {
        self.tokens
            .verify_cached(bearer, self.clock.now())
            .map_err(|_| SessionError::Unauthenticated)
    }

    /// Whose session it is, whether it is active now, and when it was revoked: `None` for an
    /// unknown session.
    ///
    /// # Errors
    /// `Store`.
    pub async fn session_state(&self, id: SessionId) -> Result<Option<SessionState>, SessionError> {
        let now = self.clock.now();
        Ok(self.store.get_session(id).await?.map(|s| SessionState {
            user_id: s.user_id,
            active: s.is_active(now),
            revoked_at: s.revoked_at,
        }))
    }

    /// The user's active sessions, oldest first.
    ///
    /// # Errors
    /// `Store`.
    pub async fn sessions(&self, user: UserId) -> Result<Vec<Session>, SessionError> {
        let now = self.clock.now();
        Ok(self
            .store
            .list_user_sessions(user)
            .await?
            .into_iter()
            .filter(|s| s.is_active(now))
            .collect())
    }
}
