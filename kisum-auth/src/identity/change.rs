//! Password changes: the policy check, setting a password (resets, invitations) and changing
//! it with the current one.

use kisum_guard::{SessionId, UserId};

use crate::audit::action::Action;
use crate::identity::PolicyViolation;
use crate::identity::{Email, Password, Verification};
use crate::service::{AuthService, ClientInfo, Failure, failure_converts};
use crate::session::RevokeReason;

/// Why a password change failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// The current password is wrong.
    #[error("invalid email or password")]
    InvalidCredentials,
    /// The new password breaks the policy.
    #[error("{0}")]
    WeakPassword(PolicyViolation),
    /// No such user.
    #[error("no such user")]
    UserNotFound,
    /// Nothing was refused: a store or hashing failed.
    #[error(transparent)]
    Failed(Failure),
}

failure_converts!(PasswordError);

impl AuthService {
    pub(crate) fn check_policy(
        &self,
        password: &Password,
        email: Option<&Email>,
    ) -> Result<(), PolicyViolation> {
        self.policy.check(password, email)
    }

    /// Changes the password after checking the current one; every other session is revoked.
    /// A wrong current password is audited as a failed `password.change`.
    ///
    /// # Errors
    /// `InvalidCredentials` for a wrong current password, `WeakPassword`, `Store`.
    pub async fn change_password(
        &self,
        user: UserId,
        current_session: SessionId,
        current: Password,
        new: Password,
        client: ClientInfo,
    ) -> Result<(), PasswordError> {
        let mut account = self
            .store
            .get_user(user)
            .await?
            .ok_or(PasswordError::InvalidCredentials)?;
        if !matches!(
            self.verify(current, account.password_hash.clone()).await?,
            Verification::Valid { .. }
        ) {
            self.audit(
                Some(user),
                &client,
                Action::PasswordChangeRefused {
                    reason: "bad_password",
                },
            )
            .await;
            return Err(PasswordError::InvalidCredentials);
        }
        self.policy
            .check(&new, Some(&account.email))
            .map_err(PasswordError::WeakPassword)?;
        account.password_hash = Some(self.hash(new).await?);
        account.updated_at = self.clock.now();
        self.store.update_user(&account).await?;
        // Reset and invitation links emailed before the change no longer work.
        self.store.spend_resets(user, self.clock.now()).await?;
        let revoked = self
            .store
            .revoke_user_sessions(
                user,
                RevokeReason::PasswordChanged,
                self.clock.now(),
                Some(current_session),
            )
            .await?;
        self.announce_revoked(&revoked).await;
        self.audit(
            Some(user),
            &client,
            Action::PasswordChange {
                revoked_sessions: revoked,
            },
        )
        .await;
        Ok(())
    }
}
