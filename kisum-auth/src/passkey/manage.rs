//! A user's passkeys: the list, and deleting one (never the last way in).

use kisum_core::db::StoreError;
use kisum_guard::UserId;

use super::{PasskeyId, PasskeyRecord, PasskeyService, count};
use crate::audit::action::Action;
use crate::oauth::Unlinked;
use crate::service::{ClientInfo, Failure, failure_converts};

/// Why [`PasskeyService::delete`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeletePasskeyError {
    /// No such passkey among the user's own.
    #[error("no such passkey")]
    NotFound,
    /// It is the user's last way in: no password, no linked identity, no other passkey.
    #[error("the last way to sign in cannot be removed")]
    LastSignInMethod,
    /// Nothing was refused: a store failed.
    #[error(transparent)]
    Failed(Failure),
}

failure_converts!(DeletePasskeyError);

impl PasskeyService {
    /// The user's passkeys, oldest first.
    ///
    /// # Errors
    /// A store failure.
    pub async fn list(&self, user: UserId) -> Result<Vec<PasskeyRecord>, StoreError> {
        self.auth.store.list_passkeys(user).await
    }

    /// Deletes the user's passkey `id`, unless it is their last way in. Audited.
    ///
    /// # Errors
    /// [`DeletePasskeyError`]: `NotFound` when it is not one of the user's;
    /// `LastSignInMethod` when the user has no password, no linked identity and no other
    /// passkey.
    pub async fn delete(
        &self,
        user: UserId,
        id: PasskeyId,
        client: &ClientInfo,
    ) -> Result<(), DeletePasskeyError> {
        // Never the last way in (as unlinking an identity): a password, a linked identity or
        // another passkey must remain. The store counts them in the transaction of the delete,
        // so two racing removals cannot both pass.
        let deleted = self.auth.store.delete_passkey(user, id, true).await?;
        count("delete", deleted == Unlinked::Deleted);
        match deleted {
            Unlinked::Deleted => {}
            Unlinked::NotFound => return Err(DeletePasskeyError::NotFound),
            Unlinked::LastWayIn => return Err(DeletePasskeyError::LastSignInMethod),
        }
        self.audit(Some(user), client, Action::PasskeyDelete { passkey_id: id })
            .await;
        Ok(())
    }
}
