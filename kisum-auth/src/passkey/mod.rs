//! Passkeys (WebAuthn, issue 16; decision 0025): registering one while signed in, listing and
//! deleting them, and signing in with one, passwordless, through discoverable credentials with
//! user verification required.
//!
//! The WebAuthn ceremonies are `webauthn-rs`'s; what Kisum adds is where their state lives
//! and who they are for. A ceremony's state ([`Ceremony`]) is kept in the [`PasskeyStore`] for
//! five minutes under a random id, and *taken* (deleted and returned in one statement) by the
//! finish, so any replica finishes a ceremony another began and none is finished twice. A
//! registration is bound to the user who began it. Each accepted sign-in records the
//! authenticator's counter and backup flags; a counter that does not move forward is refused
//! (a cloned authenticator).
//!
//! [`PasskeyService`] is the one way in; the relying party is [`PasskeyConfig`].

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::TimeDelta;
use kisum_core::db::{StoreError, StoreErrorKind};
use kisum_guard::{Aal, UserId};
use webauthn_rs::Webauthn;
use webauthn_rs::prelude::{
    CreationChallengeResponse, DiscoverableAuthentication, Passkey, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, RequestChallengeResponse, WebauthnError,
};

use crate::audit::action::Action;
use crate::service::{AuthService, ClientInfo, Failure, failure_converts};
use crate::session::TokenPair;

mod config;
mod store;
mod verify;

pub use config::{PasskeyConfig, PasskeyConfigError};
pub use store::{Ceremony, CeremonyKind, PasskeyId, PasskeyRecord, PasskeyStore, PasskeyUse};
pub use verify::{PASSKEY_AMR, PasskeyProof, StartVerifyError};

/// How long a ceremony may be finished after it began (the authenticator's timeout too).
pub const CEREMONY_TTL: TimeDelta = TimeDelta::minutes(5);

/// The longest passkey name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// The name of a passkey registered without one.
pub const DEFAULT_NAME: &str = "Passkey";

/// A ceremony begun: its id, which the finish names, and the options for the browser's
/// `navigator.credentials.create()` / `.get()`.
#[derive(Debug, Clone)]
pub struct Challenge {
    /// The ceremony.
    pub ceremony_id: String,
    /// The WebAuthn options as JSON (`{"publicKey": …}`, binary values base64url): a
    /// `CreationChallengeResponse` or a `RequestChallengeResponse` of webauthn-rs.
    pub options: serde_json::Value,
}

/// Why beginning a ceremony failed: nothing the caller did.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartCeremonyError {
    /// webauthn-rs could not make the options (a configuration problem).
    #[error("webauthn: {0}")]
    Webauthn(#[source] WebauthnError),
    /// Nothing was refused: a store failed.
    #[error(transparent)]
    Failed(Failure),
}

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

/// Why [`PasskeyService::finish_sign_in`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PasskeySignInError {
    /// Unknown, expired or spent ceremony, unknown credential, an assertion that does not
    /// verify, a counter that went back, or a disabled account: one answer for all.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Nothing was refused: a store or the token service failed.
    #[error(transparent)]
    Failed(Failure),
}

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

failure_converts!(
    StartCeremonyError,
    RegisterPasskeyError,
    PasskeySignInError,
    DeletePasskeyError
);

/// Counts a passkey operation (`op`: `register`, `delete`, `login`) by its result.
fn count(op: &'static str, success: bool) {
    metrics::counter!(
        "kisum_auth_passkeys_total",
        "op" => op,
        "result" => if success { "success" } else { "failure" }
    )
    .increment(1);
}

/// A ceremony id: 256 random bits, base64url.
fn ceremony_id() -> Result<String, Failure> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| {
        Failure::Store(StoreError::new(
            StoreErrorKind::Unavailable,
            "no system randomness",
        ))
    })?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

fn json_failure(e: &serde_json::Error) -> Failure {
    Failure::Store(StoreError::new(
        StoreErrorKind::Invalid,
        format!("serializing passkey state: {e}"),
    ))
}

/// A state as stored.
fn serialize<T: serde::Serialize>(value: &T) -> Result<String, Failure> {
    serde_json::to_string(value).map_err(|e| json_failure(&e))
}

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

/// Passkeys: registration, listing, deletion and passwordless sign-in (see the [module
/// documentation](self)). Built by [`AuthBuilder::passkeys`](crate::builder::AuthBuilder::passkeys).
#[derive(Clone)]
pub struct PasskeyService {
    auth: AuthService,
    config: PasskeyConfig,
}

impl std::fmt::Debug for PasskeyService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasskeyService")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl PasskeyService {
    /// Passkeys for the relying party `config`, over `auth`'s store, clock and sessions.
    #[must_use]
    pub fn new(auth: AuthService, config: PasskeyConfig) -> Self {
        Self { auth, config }
    }

    /// The relying party.
    #[must_use]
    pub fn config(&self) -> &PasskeyConfig {
        &self.config
    }

    fn webauthn(&self) -> &Webauthn {
        &self.config.webauthn
    }

    async fn audit(&self, actor: Option<UserId>, client: &ClientInfo, action: Action) {
        self.auth.audit(actor, client, action).await;
    }

    /// Stores a new ceremony of `kind` holding `state`.
    async fn begin(
        &self,
        kind: CeremonyKind,
        user_id: Option<UserId>,
        state: String,
    ) -> Result<String, Failure> {
        let id = ceremony_id()?;
        self.auth
            .store
            .put_ceremony(&Ceremony {
                id: id.clone(),
                kind,
                user_id,
                state,
                expires_at: self.auth.now() + CEREMONY_TTL,
            })
            .await?;
        Ok(id)
    }

    /// Takes ceremony `id` if it is a `kind` ceremony that has not expired (taken either
    /// way: an id is good for one finish, right or wrong).
    async fn take(&self, id: &str, kind: CeremonyKind) -> Result<Option<Ceremony>, Failure> {
        let now = self.auth.now();
        Ok(self
            .auth
            .store
            .take_ceremony(id)
            .await?
            .filter(|c| c.kind == kind && c.expires_at > now))
    }

    /// Begins registering a passkey for `user` (signed in): the options ask for a
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
        let store = &self.auth.store;
        let passkeys = store.list_passkeys(user).await?;
        if !passkeys.iter().any(|p| p.id == id) {
            count("delete", false);
            return Err(DeletePasskeyError::NotFound);
        }
        // Never the last way in (as unlinking an identity): a password, a linked identity or
        // another passkey must remain.
        let other_ways_in = passkeys.len() > 1
            || store
                .get_user(user)
                .await?
                .is_some_and(|u| u.password_hash.is_some())
            || !store.list_identities(user).await?.is_empty();
        if !other_ways_in {
            count("delete", false);
            return Err(DeletePasskeyError::LastSignInMethod);
        }
        let deleted = store.delete_passkey(user, id).await?;
        count("delete", deleted);
        if !deleted {
            return Err(DeletePasskeyError::NotFound);
        }
        self.audit(Some(user), client, Action::PasskeyDelete { passkey_id: id })
            .await;
        Ok(())
    }

    /// Begins a passwordless sign-in: the options name no credential (the authenticator
    /// offers its discoverable ones for this relying party) and require user verification.
    ///
    /// # Errors
    /// [`StartCeremonyError`]: a store failure.
    pub async fn start_sign_in(&self) -> Result<Challenge, StartCeremonyError> {
        let (options, state): (RequestChallengeResponse, DiscoverableAuthentication) = self
            .webauthn()
            .start_discoverable_authentication()
            .map_err(StartCeremonyError::Webauthn)?;
        // webauthn-rs asks for conditional mediation (autofill); whether to use it is the
        // page's choice (`mediation: "conditional"` next to `publicKey`), a button works too.
        let mut options = serde_json::to_value(&options)
            .map_err(|e| StartCeremonyError::Failed(json_failure(&e)))?;
        if let Some(o) = options.as_object_mut() {
            o.remove("mediation");
        }
        let ceremony_id = self
            .begin(CeremonyKind::Login, None, serialize(&state)?)
            .await?;
        Ok(Challenge {
            ceremony_id,
            options,
        })
    }

    /// Finishes the sign-in `ceremony_id` with the authenticator's assertion `credential`:
    /// verifies it against the registered passkey its user handle and credential id name,
    /// records the counter and flags, and starts a session. Audited as a sign-in (method
    /// `passkey`).
    ///
    /// # Errors
    /// [`PasskeySignInError`]: `InvalidCredentials` for every refusal.
    pub async fn finish_sign_in(
        &self,
        ceremony_id: &str,
        credential: &PublicKeyCredential,
        client: ClientInfo,
    ) -> Result<TokenPair, PasskeySignInError> {
        match self.verify_assertion(ceremony_id, credential).await? {
            Ok(user) => {
                count("login", true);
                Ok(self.sign_in(user, client).await?)
            }
            Err((actor, reason)) => {
                count("login", false);
                metrics::counter!("kisum_auth_logins_total", "result" => "failure").increment(1);
                self.audit(
                    actor,
                    &client,
                    Action::LoginFailure {
                        method: "passkey",
                        reason,
                    },
                )
                .await;
                Err(PasskeySignInError::InvalidCredentials)
            }
        }
    }

    /// The user an assertion proves, its use recorded, or who it claimed to be (if anyone)
    /// and why it was refused.
    async fn verify_assertion(
        &self,
        ceremony_id: &str,
        credential: &PublicKeyCredential,
    ) -> Result<Result<UserId, (Option<UserId>, &'static str)>, Failure> {
        let Some(ceremony) = self.take(ceremony_id, CeremonyKind::Login).await? else {
            return Ok(Err((None, "unknown_ceremony")));
        };
        let Ok(state) = serde_json::from_str::<DiscoverableAuthentication>(&ceremony.state) else {
            return Ok(Err((None, "unknown_ceremony")));
        };
        let Ok((handle, credential_id)) = self
            .webauthn()
            .identify_discoverable_authentication(credential)
        else {
            return Ok(Err((None, "no_user_handle")));
        };
        let Some(record) = self
            .auth
            .store
            .find_passkey_by_credential(credential_id)
            .await?
        else {
            return Ok(Err((None, "unknown_credential")));
        };
        let user = record.user_id;
        if user.as_uuid() != &handle {
            return Ok(Err((Some(user), "user_mismatch")));
        }
        let Ok(passkey) = serde_json::from_str::<Passkey>(&record.passkey) else {
            tracing::error!(passkey_id = %record.id, "a stored passkey does not deserialize");
            return Ok(Err((Some(user), "unreadable_passkey")));
        };
        let result = match self
            .webauthn()
            .finish_discoverable_authentication_v2(credential, state, &passkey)
        {
            Ok(result) => result,
            Err(WebauthnError::CredentialPossibleCompromise) => {
                return Ok(Err((Some(user), "counter_regressed")));
            }
            Err(e) => {
                tracing::debug!(error = %e, "passkey assertion refused");
                return Ok(Err((Some(user), "bad_assertion")));
            }
        };
        match self.auth.store.get_user(user).await? {
            Some(u) if !u.disabled => {}
            _ => return Ok(Err((Some(user), "disabled"))),
        }
        let recorded = self.record_use(&record, &result).await?;
        if !recorded {
            // Deleted meanwhile, or a racing sign-in recorded this counter first.
            return Ok(Err((Some(user), "counter_regressed")));
        }
        Ok(Ok(user))
    }

    /// Starts the session of a passkey sign-in: the one place a passkey becomes a session.
    ///
    /// A passkey with user verification is two factors in one (something held, something
    /// known or been): the session starts at `aal2` with `amr = ["hwk", "user"]` (RFC 8176).
    async fn sign_in(&self, user: UserId, client: ClientInfo) -> Result<TokenPair, Failure> {
        self.auth
            .sign_in_with(user, client, "passkey", Aal::Aal2, &PASSKEY_AMR)
            .await
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

    #[test]
    fn ceremony_ids_are_long_and_distinct() {
        let a = ceremony_id().unwrap();
        assert_eq!(a.len(), 43);
        assert_ne!(a, ceremony_id().unwrap());
    }
}
