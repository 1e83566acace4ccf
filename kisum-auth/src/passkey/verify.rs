//! A passkey proving a known user again (decision 0031): the second factor of a sign-in that
//! answered `mfa_required`, and a reauthentication (recent auth, step-up).
//!
//! Unlike the discoverable sign-in, the user is known before the ceremony begins — from the
//! `mfa_token`, or from the session — so the options name that user's passkeys
//! (`allowCredentials`) and the ceremony ([`CeremonyKind::Verify`]) is bound to the user. It is
//! kept in the database like every ceremony (any replica finishes it) and taken by the finish
//! (single use). The finish of a sign-in goes through the challenge's attempt counting
//! (`AuthService::finish_challenge`): a wrong assertion is a wrong code.

use std::fmt;

use kisum_guard::{Aal, UserId};
use webauthn_rs::prelude::{
    AuthenticationResult, Passkey, PasskeyAuthentication, PublicKeyCredential,
    RequestChallengeResponse, WebauthnError,
};

use super::{
    CeremonyKind, Challenge, PasskeyRecord, PasskeyService, PasskeyUse, count, json_failure,
    serialize,
};
use crate::mfa::MfaError;
use crate::service::{ClientInfo, Failure, failure_converts};
use crate::session::{Session, TokenPair};

/// The method references a passkey with user verification adds: hardware key, user (RFC 8176).
pub const PASSKEY_AMR: [&str; 2] = ["hwk", "user"];

/// The answer to a `Verify` ceremony: its id and the authenticator's assertion.
#[derive(Clone)]
pub struct PasskeyProof {
    /// From `mfa/webauthn/start` or `reauthenticate/webauthn/start`.
    pub ceremony_id: String,
    /// The `PublicKeyCredential` of `navigator.credentials.get()`.
    pub credential: PublicKeyCredential,
}

impl fmt::Debug for PasskeyProof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasskeyProof(<redacted>)")
    }
}

/// Why a passkey ceremony for a known user could not begin.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartVerifyError {
    /// The `mfa_token` is unknown, expired, spent or locked.
    #[error("invalid or expired mfa token")]
    InvalidToken,
    /// The user has no passkey to verify with.
    #[error("no passkey is registered")]
    NoPasskey,
    /// webauthn-rs could not make the options (a configuration problem).
    #[error("webauthn: {0}")]
    Webauthn(#[source] WebauthnError),
    /// Nothing was refused: a store failed.
    #[error(transparent)]
    Failed(Failure),
}

failure_converts!(StartVerifyError);

impl PasskeyService {
    /// Begins a passkey ceremony answering the sign-in challenge `mfa_token` (it takes no
    /// attempt; the finish, `POST /v1/auth/mfa/verify`, does).
    ///
    /// # Errors
    /// [`StartVerifyError`]: `InvalidToken`, `NoPasskey`, `Webauthn`, `Failed`.
    pub async fn start_second_factor(
        &self,
        mfa_token: &str,
    ) -> Result<Challenge, StartVerifyError> {
        let user = self
            .auth
            .challenge_user(mfa_token)
            .await?
            .ok_or(StartVerifyError::InvalidToken)?;
        self.start_verify(user).await
    }

    /// Begins a passkey ceremony by which signed-in `user` reauthenticates.
    ///
    /// # Errors
    /// [`StartVerifyError`]: `NoPasskey`, `Webauthn`, `Failed`.
    pub async fn start_reauthentication(
        &self,
        user: UserId,
    ) -> Result<Challenge, StartVerifyError> {
        self.start_verify(user).await
    }

    async fn start_verify(&self, user: UserId) -> Result<Challenge, StartVerifyError> {
        let passkeys: Vec<Passkey> = self
            .auth
            .store
            .list_passkeys(user)
            .await?
            .iter()
            .filter_map(|r| serde_json::from_str(&r.passkey).ok())
            .collect();
        if passkeys.is_empty() {
            return Err(StartVerifyError::NoPasskey);
        }
        let (options, state): (RequestChallengeResponse, PasskeyAuthentication) = self
            .webauthn()
            .start_passkey_authentication(&passkeys)
            .map_err(StartVerifyError::Webauthn)?;
        let options = serde_json::to_value(&options)
            .map_err(|e| StartVerifyError::Failed(json_failure(&e)))?;
        let ceremony_id = self
            .begin(CeremonyKind::Verify, Some(user), serialize(&state)?)
            .await?;
        Ok(Challenge {
            ceremony_id,
            options,
        })
    }

    /// Finishes the sign-in challenge `mfa_token` with a passkey: an `aal2` session whose `amr`
    /// is the first factor's then `hwk`, `user`. Audited as `login.success` / `login.failure`
    /// with method `mfa_passkey`; a refused assertion takes one of the token's attempts.
    ///
    /// # Errors
    /// As [`AuthService::verify_second_factor`](crate::service::AuthService::verify_second_factor):
    /// `InvalidToken`, `InvalidCode` (the assertion is refused), `Locked`, `Failed`.
    pub async fn verify_second_factor(
        &self,
        mfa_token: &str,
        proof: &PasskeyProof,
        client: ClientInfo,
    ) -> Result<TokenPair, MfaError> {
        self.auth
            .finish_challenge(
                mfa_token,
                &client,
                "mfa_passkey",
                &PASSKEY_AMR,
                async |user| match self.verify_user(user, proof).await? {
                    Ok(()) => Ok(()),
                    Err(reason) => {
                        tracing::debug!(reason, "passkey second factor refused");
                        Err(MfaError::InvalidCode)
                    }
                },
            )
            .await
    }

    /// Renews `session`'s `auth_time` with a passkey and raises it to `aal2` (step-up), adding
    /// `hwk` and `user` to its `amr`. Audited as `reauthenticate` (method `passkey`).
    ///
    /// # Errors
    /// `InvalidCode` for a refused assertion (audited), `Failed`.
    pub async fn reauthenticate(
        &self,
        session: &Session,
        proof: &PasskeyProof,
        client: &ClientInfo,
    ) -> Result<(), MfaError> {
        let checked = self.verify_user(session.user_id, proof).await?;
        if let Err(reason) = checked {
            tracing::debug!(reason, "passkey reauthentication refused");
        }
        self.auth
            .record_reauthentication(
                session,
                checked.is_ok(),
                "passkey",
                &PASSKEY_AMR,
                Aal::Aal2,
                client,
            )
            .await
    }

    /// Whether `proof` answers a `Verify` ceremony of `user` with one of `user`'s passkeys
    /// (its use recorded), or why not.
    async fn verify_user(
        &self,
        user: UserId,
        proof: &PasskeyProof,
    ) -> Result<Result<(), &'static str>, Failure> {
        let outcome = self.check_user(user, proof).await?;
        count("verify", outcome.is_ok());
        Ok(outcome)
    }

    async fn check_user(
        &self,
        user: UserId,
        proof: &PasskeyProof,
    ) -> Result<Result<(), &'static str>, Failure> {
        let Some(ceremony) = self
            .take(&proof.ceremony_id, CeremonyKind::Verify)
            .await?
            .filter(|c| c.user_id == Some(user))
        else {
            return Ok(Err("unknown_ceremony"));
        };
        let Ok(state) = serde_json::from_str::<PasskeyAuthentication>(&ceremony.state) else {
            return Ok(Err("unknown_ceremony"));
        };
        let result = match self
            .webauthn()
            .finish_passkey_authentication(&proof.credential, &state)
        {
            Ok(result) => result,
            Err(WebauthnError::CredentialPossibleCompromise) => {
                return Ok(Err("counter_regressed"));
            }
            Err(e) => {
                tracing::debug!(error = %e, "passkey assertion refused");
                return Ok(Err("bad_assertion"));
            }
        };
        let Some(record) = self
            .auth
            .store
            .find_passkey_by_credential(result.cred_id())
            .await?
            .filter(|r| r.user_id == user)
        else {
            // Deleted since the ceremony began.
            return Ok(Err("unknown_credential"));
        };
        if self.record_use(&record, &result).await? {
            Ok(Ok(()))
        } else {
            Ok(Err("counter_regressed"))
        }
    }

    /// Records an accepted assertion's counter and flags on `record`: `false` when the
    /// counter did not move forward (a racing use recorded it first) or the passkey is gone.
    pub(super) async fn record_use(
        &self,
        record: &PasskeyRecord,
        result: &AuthenticationResult,
    ) -> Result<bool, Failure> {
        let Ok(mut passkey) = serde_json::from_str::<Passkey>(&record.passkey) else {
            tracing::error!(passkey_id = %record.id, "a stored passkey does not deserialize");
            return Ok(false);
        };
        passkey.update_credential(result);
        Ok(self
            .auth
            .store
            .record_passkey_use(
                record.id,
                &PasskeyUse {
                    passkey: serialize(&passkey)?,
                    sign_count: result.counter(),
                    backup_eligible: result.backup_eligible(),
                    backup_state: result.backup_state(),
                    at: self.auth.now(),
                },
            )
            .await?)
    }
}
