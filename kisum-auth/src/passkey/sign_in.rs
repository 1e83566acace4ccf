//! Passwordless sign-in with a discoverable credential: the options name no credential, the
//! assertion names its user, and an accepted one starts an `aal2` session.

use kisum_guard::{Aal, UserId};
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PublicKeyCredential, RequestChallengeResponse,
    WebauthnError,
};

use super::{
    CeremonyKind, Challenge, PASSKEY_AMR, PasskeyService, StartCeremonyError, count, json_failure,
    serialize,
};
use crate::audit::action::Action;
use crate::service::{ClientInfo, Failure, failure_converts};
use crate::session::TokenPair;

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

failure_converts!(PasskeySignInError);

impl PasskeyService {
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
                metrics::counter!("kisum_auth_logins_total", "result" => "failure", "method" => "passkey")
                    .increment(1);
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
