//! Invited people: the account an invitation creates, and accepting invitations once the
//! invitee proved they own the email.

use kisum_core::db::StoreErrorKind;
use kisum_guard::UserId;

use crate::audit::action::Action;
use crate::audit::{AuditContext, AuditEvent};
use crate::directory::DirectoryError;
use crate::identity::AccountError;
use crate::identity::{Email, User};
use crate::service::{AuthService, ClientInfo, Failure};
use crate::session::RevokeReason;

/// The account an invitation goes to.
#[derive(Debug, Clone)]
pub struct Invitee {
    /// The user, found or created.
    pub user: User,
    /// Whether they have yet to prove the email (a new account, or one never verified): their
    /// membership starts `invited`.
    pub awaiting_sign_up: bool,
}

impl AuthService {
    /// The account an invitation to `email` goes to: the existing user, or a new account with
    /// no password and an unverified email (audited as `user.invite` in `context`). The flag
    /// says whether the account's email is still unproven — a new account, one awaiting
    /// sign-up, or one someone registered without proving the address: such an invitee's
    /// memberships start `invited` and become `active` only once they prove they own the
    /// email ([`AuthService::accept_invitations`]), so registering someone else's address
    /// before they are invited yields nothing.
    ///
    /// # Errors
    /// `Store`.
    pub async fn invitee(
        &self,
        email: &Email,
        context: &AuditContext,
    ) -> Result<Invitee, AccountError> {
        if let Some(user) = self.store.find_user_by_email(email).await? {
            let awaiting = !user.email_verified;
            return Ok(Invitee {
                user,
                awaiting_sign_up: awaiting,
            });
        }
        let user = User::new(email.clone(), None, None, self.clock.now());
        match self.store.create_user(&user).await {
            Ok(()) => {}
            // Invited twice at once: the other call created it.
            Err(e) if e.kind() == StoreErrorKind::Conflict => {
                let user = self
                    .store
                    .find_user_by_email(email)
                    .await?
                    .ok_or(Failure::Store(e))?;
                let awaiting = !user.email_verified;
                return Ok(Invitee {
                    user,
                    awaiting_sign_up: awaiting,
                });
            }
            Err(e) => return Err(e.into()),
        }
        let invited = Action::UserInvite { user_id: user.id };
        let event = AuditEvent::of(self.clock.now(), &invited).with_context(context);
        crate::audit::record(self.store.as_ref(), event).await;
        Ok(Invitee {
            user,
            awaiting_sign_up: true,
        })
    }

    /// Marks `user`'s email verified (they proved they own it) and makes their `invited`
    /// memberships `active`, attributed to them from `client`.
    ///
    /// A password set before the email was ever proven may have been chosen by someone else
    /// (registering a stranger's address ahead of them). Unless the proof is presented from a
    /// session of this account (`from_own_session`: the password holder proves the mailbox),
    /// that password is cleared and every session of the account made before the proof is
    /// revoked: the mailbox owner then sets a password with "forgot password" or keeps
    /// signing in by email code.
    pub(crate) async fn email_proven(
        &self,
        mut user: User,
        from_own_session: bool,
        client: &ClientInfo,
    ) -> Result<(), DirectoryError> {
        if !user.email_verified {
            let unproven_password = user.password_hash.is_some() && !from_own_session;
            user.email_verified = true;
            if unproven_password {
                user.password_hash = None;
            }
            user.updated_at = self.clock.now();
            self.store.update_user(&user).await?;
            if unproven_password {
                let revoked = self
                    .store
                    .revoke_user_sessions(
                        user.id,
                        RevokeReason::PasswordReset,
                        self.clock.now(),
                        None,
                    )
                    .await?;
                self.announce_revoked(&revoked).await;
                self.audit(
                    Some(user.id),
                    client,
                    Action::PasswordReset {
                        reason: Some("unproven_password_cleared"),
                        revoked_sessions: revoked.len(),
                    },
                )
                .await;
            }
        }
        self.accept_invitations(user.id, client).await?;
        Ok(())
    }

    /// Makes every `invited` membership of `user` `active` (audited as `membership.accept`,
    /// announced to the guards). Called when the user proves they own their email; an embedder
    /// with its own proof can call it too.
    ///
    /// # Errors
    /// `Store`.
    pub async fn accept_invitations(
        &self,
        user: UserId,
        client: &ClientInfo,
    ) -> Result<(), DirectoryError> {
        self.directory
            .acting_as(client.audit_context(Some(user)))
            .accept_invitations(user)
            .await?;
        Ok(())
    }

    /// Marks `user`'s email as proven on the platform's word (seeding, provisioning from a
    /// directory that already verified it): the password and the sessions are kept, pending
    /// invitations are accepted. Never call it for an address nobody proved.
    ///
    /// # Errors
    /// `UserNotFound`; `Store`.
    pub async fn confirm_email(
        &self,
        user: UserId,
        client: &ClientInfo,
    ) -> Result<(), AccountError> {
        let account = self
            .store
            .get_user(user)
            .await?
            .ok_or(AccountError::UserNotFound)?;
        Ok(self.email_proven(account, true, client).await?)
    }
}
