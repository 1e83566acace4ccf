//! Ending sessions: one, all of a user's, or one by id.

use kisum_core::db::StoreErrorKind;
use kisum_guard::{SessionId, UserId};

use crate::audit::action::Action;
use crate::service::{AuthService, ClientInfo};
use crate::session::RevokeReason;
use crate::session::SessionError;

impl AuthService {
    /// Ends one session of `user`.
    ///
    /// # Errors
    /// `Store`.
    pub async fn logout(
        &self,
        user: UserId,
        session: SessionId,
        client: ClientInfo,
    ) -> Result<(), SessionError> {
        match self
            .store
            .revoke_session(session, RevokeReason::Logout, self.clock.now())
            .await
        {
            Err(e) if e.kind() == StoreErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
            Ok(_) => {
                self.announce_revoked(&[session]).await;
                self.audit(
                    Some(user),
                    &client,
                    Action::Logout {
                        session_id: session,
                    },
                )
                .await;
                Ok(())
            }
        }
    }

    /// Ends every session of the user; returns them.
    ///
    /// # Errors
    /// `Store`.
    pub async fn logout_all(
        &self,
        user: UserId,
        client: ClientInfo,
    ) -> Result<Vec<SessionId>, SessionError> {
        let revoked = self
            .store
            .revoke_user_sessions(user, RevokeReason::LogoutAll, self.clock.now(), None)
            .await?;
        self.announce_revoked(&revoked).await;
        self.audit(
            Some(user),
            &client,
            Action::LogoutAll {
                revoked_sessions: revoked.clone(),
            },
        )
        .await;
        Ok(revoked)
    }

    /// Ends one of the user's own sessions.
    ///
    /// # Errors
    /// `SessionNotFound` when it is not theirs; `Store`.
    pub async fn delete_session(
        &self,
        user: UserId,
        session: SessionId,
        client: ClientInfo,
    ) -> Result<(), SessionError> {
        let found = self
            .store
            .get_session(session)
            .await?
            .filter(|s| s.user_id == user)
            .ok_or(SessionError::SessionNotFound)?;
        self.store
            .revoke_session(found.id, RevokeReason::Deleted, self.clock.now())
            .await?;
        self.announce_revoked(&[found.id]).await;
        self.audit(
            Some(user),
            &client,
            Action::SessionDelete {
                session_id: found.id,
            },
        )
        .await;
        Ok(())
    }
}
