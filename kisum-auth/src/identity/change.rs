//! Password changes: the policy check, setting a password (resets, invitations) and changing
//! it with the current one.

use kisum_guard::{SessionId, UserId};

use crate::audit::action::Action;
use crate::identity::{Email, Password, Verification};
use crate::service::{AuthError, AuthService, ClientInfo};
use crate::session::RevokeReason;

impl AuthService {
    pub(crate) fn check_policy(
        &self,
        password: &Password,
        email: Option<&Email>,
    ) -> Result<(), AuthError> {
        self.policy
            .check(password, email)
            .map_err(AuthError::WeakPassword)
    }

    /// Stores a new password hash and revokes every session of the user for `reason`
    /// (audited as a password reset). The emailed token reached the address: the email counts
    /// as verified and the user's pending invitations are accepted.
    pub(crate) async fn set_password(
        &self,
        user: UserId,
        password: Password,
        reason: RevokeReason,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let mut account = self
            .store
            .get_user(user)
            .await?
            .ok_or(AuthError::InvalidResetToken)?;
        self.check_policy(&password, Some(&account.email))?;
        account.password_hash = Some(self.hash(password).await?);
        account.email_verified = true;
        account.updated_at = self.clock.now();
        self.store.update_user(&account).await?;
        // Every other reset or invitation link of the account is spent with this one.
        self.store.spend_resets(user, self.clock.now()).await?;
        self.accept_invitations(user, client).await?;
        let revoked = self
            .store
            .revoke_user_sessions(user, reason, self.clock.now(), None)
            .await?;
        self.announce_revoked(&revoked).await;
        self.audit(
            Some(user),
            client,
            Action::PasswordReset {
                reason: None,
                revoked_sessions: revoked.len(),
            },
        )
        .await;
        Ok(())
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
    ) -> Result<(), AuthError> {
        let mut account = self
            .store
            .get_user(user)
            .await?
            .ok_or(AuthError::InvalidCredentials)?;
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
            return Err(AuthError::InvalidCredentials);
        }
        self.policy
            .check(&new, Some(&account.email))
            .map_err(AuthError::WeakPassword)?;
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
