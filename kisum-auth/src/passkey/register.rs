//! Registering a passkey while signed in: the options (a discoverable credential, user
//! verification, the user's own passkeys excluded), then the authenticator's answer checked,
//! named and stored.

use kisum_core::db::{StoreError, StoreErrorKind};
use kisum_guard::UserId;
use webauthn_rs::prelude::{
    CreationChallengeResponse, Passkey, PasskeyRegistration, RegisterPublicKeyCredential,
};

use super::{
    CeremonyKind, Challenge, PasskeyId, PasskeyRecord, PasskeyService, StartCeremonyError, count,
    json_failure, serialize,
};
use crate::audit::action::Action;
use crate::service::{ClientInfo, Failure, failure_converts};

/// The longest passkey name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// The name of a passkey registered without one.
pub const DEFAULT_NAME: &str = "Passkey";

/// Why [`PasskeyService::finish_registration`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegisterPasskeyError {
    /// No such ceremony for this user: unknown, expired, already finished, or another kind.
    #[error("no registration under way with this ceremony id")]
    UnknownCeremony,
    /// The authenticator's answer does not verify (challenge, origin, relying party, user
    /// verification, signature).
    #[error("the credential does not verify")]
    InvalidCredential,
    /// This authenticator's credential is already registered.
    #[error("this passkey is already registered")]
    AlreadyRegistered,
    /// The name is longer than [`MAX_NAME_CHARS`] or holds control characters.
    #[error("a passkey name is 1 to 64 printable characters")]
    InvalidName,
    /// Nothing was refused: a store failed.
    #[error(transparent)]
    Failed(Failure),
}

failure_converts!(RegisterPasskeyError);

/// The counter and backup flags inside a serialized passkey (webauthn-rs keeps them in the
/// credential it serializes; 0 and `false` when absent).
fn counter_and_flags(passkey: &str) -> (u32, bool, bool) {
    let v: serde_json::Value = serde_json::from_str(passkey).unwrap_or_default();
    let field = |name: &str| v.get("cred").and_then(|c| c.get(name));
    (
        field("counter")
            .and_then(serde_json::Value::as_u64)
            .and_then(|c| u32::try_from(c).ok())
            .unwrap_or(0),
        field("backup_eligible")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false),
        field("backup_state")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false),
    )
}

/// A name as given, trimmed; [`DEFAULT_NAME`] when absent or blank.
fn passkey_name(name: Option<&str>) -> Result<String, RegisterPasskeyError> {
    let name = name.map_or("", str::trim);
    if name.is_empty() {
        return Ok(DEFAULT_NAME.to_owned());
    }
    if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(RegisterPasskeyError::InvalidName);
    }
    Ok(name.to_owned())
}

impl PasskeyService {
    /// discoverable credential with user verification, excluding the user's registered ones.
    ///
    /// # Errors
    /// [`StartCeremonyError`]: `NotFound` for an unknown user, a store failure.
    pub async fn start_registration(&self, user: UserId) -> Result<Challenge, StartCeremonyError> {
        let account = self
            .auth
            .store
            .get_user(user)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("user {user}")))?;
        let exclude = self
            .auth
            .store
            .list_passkeys(user)
            .await?
            .into_iter()
            .map(|p| p.credential_id)
            .collect::<Vec<_>>();
        let email = account.email.as_str();
        let (options, state): (CreationChallengeResponse, PasskeyRegistration) = self
            .webauthn()
            .start_passkey_registration(
                *user.as_uuid(),
                email,
                account.name.as_deref().unwrap_or(email),
                Some(exclude).filter(|e: &Vec<_>| !e.is_empty()),
            )
            .map_err(StartCeremonyError::Webauthn)?;
        // Passwordless sign-in finds the credential on the authenticator: ask for a
        // discoverable one (webauthn-rs's passkey default discourages it; its finish does not
        // depend on it).
        let mut options = serde_json::to_value(&options)
            .map_err(|e| StartCeremonyError::Failed(json_failure(&e)))?;
        if let Some(selection) = options
            .get_mut("publicKey")
            .and_then(|k| k.get_mut("authenticatorSelection"))
            .and_then(serde_json::Value::as_object_mut)
        {
            selection.insert("residentKey".into(), "required".into());
            selection.insert("requireResidentKey".into(), true.into());
        }
        let ceremony_id = self
            .begin(CeremonyKind::Register, Some(user), serialize(&state)?)
            .await?;
        Ok(Challenge {
            ceremony_id,
            options,
        })
    }

    /// Finishes the registration `ceremony_id` that `user` began with the authenticator's
    /// `credential`, naming the passkey `name` (default [`DEFAULT_NAME`]). Audited.
    ///
    /// # Errors
    /// [`RegisterPasskeyError`].
    pub async fn finish_registration(
        &self,
        user: UserId,
        ceremony_id: &str,
        credential: &RegisterPublicKeyCredential,
        name: Option<&str>,
        client: &ClientInfo,
    ) -> Result<PasskeyRecord, RegisterPasskeyError> {
        match self.register(user, ceremony_id, credential, name).await {
            Ok(record) => {
                count("register", true);
                self.audit(
                    Some(user),
                    client,
                    Action::PasskeyRegister {
                        passkey_id: record.id,
                    },
                )
                .await;
                Ok(record)
            }
            Err(e) => {
                count("register", false);
                let reason = match &e {
                    RegisterPasskeyError::UnknownCeremony => Some("unknown_ceremony"),
                    RegisterPasskeyError::InvalidCredential => Some("invalid_credential"),
                    RegisterPasskeyError::AlreadyRegistered => Some("already_registered"),
                    RegisterPasskeyError::InvalidName | RegisterPasskeyError::Failed(_) => None,
                };
                if let Some(reason) = reason {
                    self.audit(
                        Some(user),
                        client,
                        Action::PasskeyRegisterFailure { reason },
                    )
                    .await;
                }
                Err(e)
            }
        }
    }

    async fn register(
        &self,
        user: UserId,
        ceremony_id: &str,
        credential: &RegisterPublicKeyCredential,
        name: Option<&str>,
    ) -> Result<PasskeyRecord, RegisterPasskeyError> {
        let name = passkey_name(name)?;
        let ceremony = self
            .take(ceremony_id, CeremonyKind::Register)
            .await?
            .filter(|c| c.user_id == Some(user))
            .ok_or(RegisterPasskeyError::UnknownCeremony)?;
        let state: PasskeyRegistration = serde_json::from_str(&ceremony.state)
            .map_err(|_| RegisterPasskeyError::UnknownCeremony)?;
        let passkey: Passkey = self
            .webauthn()
            .finish_passkey_registration(credential, &state)
            .map_err(|e| {
                tracing::debug!(error = %e, "passkey registration refused");
                RegisterPasskeyError::InvalidCredential
            })?;
        let serialized = serialize(&passkey)?;
        let (sign_count, backup_eligible, backup_state) = counter_and_flags(&serialized);
        let record = PasskeyRecord {
            id: PasskeyId::new(),
            user_id: user,
            name,
            credential_id: passkey.cred_id().to_vec(),
            passkey: serialized,
            sign_count,
            backup_eligible,
            backup_state,
            created_at: self.auth.now(),
            last_used_at: None,
        };
        match self.auth.store.create_passkey(&record).await {
            Ok(()) => Ok(record),
            Err(e) if e.kind() == StoreErrorKind::Conflict => {
                Err(RegisterPasskeyError::AlreadyRegistered)
            }
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_bounded_and_default() {
        assert_eq!(passkey_name(None).unwrap(), DEFAULT_NAME);
        assert_eq!(passkey_name(Some("  ")).unwrap(), DEFAULT_NAME);
        assert_eq!(passkey_name(Some(" Laptop ")).unwrap(), "Laptop");
        assert!(passkey_name(Some(&"x".repeat(65))).is_err());
        assert!(passkey_name(Some("a\nb")).is_err());
    }
}
