//! The linking rule (which account a provider identity signs in) and the signed-in user's
//! identities: list and unlink, never the last way in.

use chrono::{DateTime, Utc};
use kisum_core::db::{StoreError, StoreErrorKind};
use kisum_guard::UserId;

use super::outcome::{OAuthError, UnlinkError};
use super::provider::Profile;
use super::service::{OAuthService, Refusal};
use super::{Identity, IdentityId, Unlinked};
use crate::audit::action::Action;
use crate::identity::{Email, User};
use crate::service::ClientInfo;

impl OAuthService {
    /// The linking rule: the user the provider identity signs in, linking or creating as
    /// API.md says — an identity already linked signs in its user; a signed-in user linking
    /// gets it; otherwise it joins the account with that email only when the provider *and*
    /// the account proved the email, creates an account when none has it, and is refused
    /// (`link_required`) when an account has it but either side is unproven.
    pub(super) async fn account_for(
        &self,
        provider: &str,
        profile: &Profile,
        link_user: Option<UserId>,
        client: &ClientInfo,
        now: DateTime<Utc>,
    ) -> Result<UserId, Result<Refusal, OAuthError>> {
        let store = &self.inner.store;
        let failed = |e: StoreError| Err(OAuthError::from(e));
        if let Some(existing) = store
            .find_identity(provider, &profile.subject)
            .await
            .map_err(failed)?
        {
            if link_user.is_some_and(|u| u != existing.user_id) {
                return Err(Ok(Refusal("identity_in_use")));
            }
            store
                .touch_identity(
                    existing.id,
                    profile.email.as_deref(),
                    profile.email_verified,
                    now,
                )
                .await
                .map_err(failed)?;
            return self.enabled(existing.user_id).await;
        }
        if let Some(user) = link_user {
            self.link(provider, profile, user, false, client, now)
                .await?;
            return Ok(user);
        }
        let email = profile
            .email
            .as_deref()
            .and_then(|e| Email::parse(e).ok())
            .ok_or(Ok(Refusal("email_required")))?;
        // Twice: a racing sign-in may create the account between the lookup and the insert.
        for _ in 0..2 {
            match store.find_user_by_email(&email).await.map_err(failed)? {
                Some(user) if profile.email_verified && user.email_verified => {
                    if user.disabled {
                        return Err(Ok(Refusal("account_disabled")));
                    }
                    self.link(provider, profile, user.id, false, client, now)
                        .await?;
                    return Ok(user.id);
                }
                // An address nobody proved is never a key to someone else's account.
                Some(_) => return Err(Ok(Refusal("link_required"))),
                None => {
                    let mut user = User::new(email.clone(), profile.name.clone(), None, now);
                    user.email_verified = profile.email_verified;
                    match store.create_user(&user).await {
                        Ok(()) => {
                            self.audit(Some(user.id), client, Action::UserRegister {})
                                .await;
                            self.link(provider, profile, user.id, true, client, now)
                                .await?;
                            return Ok(user.id);
                        }
                        Err(e) if e.kind() == StoreErrorKind::Conflict => {}
                        Err(e) => return Err(Err(e.into())),
                    }
                }
            }
        }
        Err(Ok(Refusal("link_required")))
    }

    async fn enabled(&self, user: UserId) -> Result<UserId, Result<Refusal, OAuthError>> {
        match self.inner.store.get_user(user).await {
            Ok(Some(u)) if !u.disabled => Ok(user),
            Ok(_) => Err(Ok(Refusal("account_disabled"))),
            Err(e) => Err(Err(e.into())),
        }
    }

    /// Links the provider identity of `profile` to `user`, audited.
    async fn link(
        &self,
        provider: &str,
        profile: &Profile,
        user: UserId,
        created_account: bool,
        client: &ClientInfo,
        now: DateTime<Utc>,
    ) -> Result<(), Result<Refusal, OAuthError>> {
        let identity = Identity {
            id: IdentityId::new(),
            provider: provider.to_owned(),
            subject: profile.subject.clone(),
            user_id: user,
            email: profile.email.clone(),
            email_verified: profile.email_verified,
            created_at: now,
            last_used_at: Some(now),
        };
        match self.inner.store.insert_identity(&identity).await {
            Ok(()) => {}
            // Linked meanwhile by a racing callback of the same account.
            Err(e) if e.kind() == StoreErrorKind::Conflict => {
                return Err(Ok(Refusal("identity_in_use")));
            }
            Err(e) => return Err(Err(e.into())),
        }
        self.audit(
            Some(user),
            client,
            Action::IdentityLink {
                provider: provider.to_owned(),
                identity_id: identity.id,
                created_account,
            },
        )
        .await;
        Ok(())
    }

    /// The user's linked identities, oldest first.
    ///
    /// # Errors
    /// `Unavailable`.
    pub async fn identities(&self, user: UserId) -> Result<Vec<Identity>, StoreError> {
        self.inner.store.list_identities(user).await
    }

    /// Unlinks the user's identity `id`, never the last way in: without a password (or a
    /// passkey), one identity must stay. The store decides, counting the user's ways in inside
    /// the transaction of the delete, so a racing passkey deletion or unlink cannot slip past.
    ///
    /// # Errors
    /// `NotFound`, `LastSignInMethod`, `Failed`.
    pub async fn unlink(
        &self,
        user: UserId,
        id: IdentityId,
        client: &ClientInfo,
    ) -> Result<(), UnlinkError> {
        let store = &self.inner.store;
        let provider = store
            .list_identities(user)
            .await?
            .into_iter()
            .find(|i| i.id == id)
            .map(|i| i.provider)
            .ok_or(UnlinkError::NotFound)?;
        match store.delete_identity(user, id).await? {
            Unlinked::Deleted => {
                self.audit(
                    Some(user),
                    client,
                    Action::IdentityUnlink {
                        provider,
                        identity_id: id,
                    },
                )
                .await;
                Ok(())
            }
            Unlinked::NotFound => Err(UnlinkError::NotFound),
            Unlinked::LastWayIn => Err(UnlinkError::LastSignInMethod),
        }
    }
}
