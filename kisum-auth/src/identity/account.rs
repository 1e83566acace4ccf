//! Reading accounts, and disabling or enabling them.

use kisum_core::db::StoreError;
use kisum_guard::UserId;

use crate::audit::action::Action;
use crate::audit::{AuditContext, AuditEvent};
use crate::directory::DirectoryError;
use crate::identity::{Email, User};
use crate::service::{AuthService, Failure, failure_converts};
use crate::session::RevokeReason;

/// Why an account operation failed (inviting, confirming, disabling).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccountError {
    /// No such user.
    #[error("no such user")]
    UserNotFound,
    /// Accepting the user's invitations failed.
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    /// Nothing was refused: a store failed.
    #[error(transparent)]
    Failed(Failure),
}

failure_converts!(AccountError);

impl AuthService {
    /// The user, if any.
    ///
    /// # Errors
    /// `Store`.
    pub async fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.store.get_user(id).await
    }

    /// The user with `email`, if any.
    ///
    /// # Errors
    /// `Store`.
    pub async fn user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        self.store.find_user_by_email(email).await
    }

    /// Disables (or enables again) an account. Disabling revokes every session of the user
    /// at once and announces it, so Auth, replicas and guards stop accepting them within the
    /// freshness bound; refresh also refuses a disabled user, and sign-in, email codes and
    /// password resets already do. Audited as `user.disable` / `user.enable` in `context`.
    ///
    /// # Errors
    /// `UserNotFound`; `Store`.
    pub async fn set_disabled(
        &self,
        user: UserId,
        disabled: bool,
        context: &AuditContext,
    ) -> Result<(), AccountError> {
        let mut account = self
            .store
            .get_user(user)
            .await?
            .ok_or(AccountError::UserNotFound)?;
        let now = self.clock.now();
        if account.disabled != disabled {
            account.disabled = disabled;
            account.updated_at = now;
            self.store.update_user(&account).await?;
        }
        let revoked = if disabled {
            let revoked = self
                .store
                .revoke_user_sessions(user, RevokeReason::Admin, now, None)
                .await?;
            self.announce_revoked(&revoked).await;
            revoked.len()
        } else {
            0
        };
        let action = if disabled {
            Action::UserDisable {
                user_id: user,
                revoked_sessions: revoked,
            }
        } else {
            Action::UserEnable {
                user_id: user,
                revoked_sessions: revoked,
            }
        };
        let event = AuditEvent::of(now, &action).with_context(context);
        crate::audit::record(self.store.as_ref(), event).await;
        Ok(())
    }
}
