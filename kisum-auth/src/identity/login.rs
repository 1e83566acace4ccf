//! Password sign-in, and the session every sign-in method ends with.

use std::time::Duration;

use kisum_guard::{Aal, UserId};

use crate::audit::action::Action;
use crate::identity::{Email, Password, Verification};
use crate::mfa::{MfaChallengeIssued, SecondFactorPending};
use crate::service::{AuthService, ClientInfo, Failure, failure_converts};
use crate::session::{TokenPair, amr};

/// Why a password sign-in failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoginError {
    /// Wrong email or password, or a disabled account: one answer for all.
    #[error("invalid email or password")]
    InvalidCredentials,
    /// The password was right and the user has a second factor: no session yet; finish with
    /// [`verify_second_factor`](AuthService::verify_second_factor).
    #[error("a second factor is required")]
    MfaRequired(MfaChallengeIssued),
    /// The password was right, but too many wrong second-factor codes were tried lately:
    /// retry after this long.
    #[error("too many wrong codes")]
    MfaLocked(Duration),
    /// Nothing was refused: a store, the token service or hashing failed.
    #[error(transparent)]
    Failed(Failure),
}

failure_converts!(LoginError);

impl SecondFactorPending for LoginError {
    fn mfa_required(challenge: MfaChallengeIssued) -> Self {
        Self::MfaRequired(challenge)
    }
    fn mfa_locked(after: Duration) -> Self {
        Self::MfaLocked(after)
    }
}

impl AuthService {
    /// Signs in with email and password. Unknown emails, wrong passwords and disabled accounts
    /// all answer `InvalidCredentials` after similar work (a dummy hash is verified for unknown
    /// emails). Rehashes the password when the parameters changed.
    ///
    /// # Errors
    /// `InvalidCredentials`; `MfaRequired` (with the challenge) or `MfaLocked` for a user with
    /// a second factor; `Store`.
    pub async fn login(
        &self,
        email: &str,
        password: Password,
        client: ClientInfo,
    ) -> Result<TokenPair, LoginError> {
        // The user and whether they have an authenticator app, in one read where the store
        // can (decision 0047).
        let found = match Email::parse(email) {
            Ok(email) => self.store.find_user_signing_in(&email).await?,
            Err(_) => None,
        };
        let (user, enrolled) =
            found.map_or((None, None), |(user, enrolled)| (Some(user), enrolled));
        let stored = user.as_ref().and_then(|u| u.password_hash.clone());
        let verification = self.verify(password.clone(), stored).await?;
        let failure = match (&user, &verification) {
            (None, _) => Some("unknown_email"),
            (Some(_), Verification::Invalid) => Some("bad_password"),
            (Some(u), _) if u.disabled => Some("disabled"),
            (Some(_), Verification::Valid { .. }) => None,
        };
        let actor = user.as_ref().map(|u| u.id);
        let (Some(mut user), Verification::Valid { needs_rehash }, None) =
            (user, verification, failure)
        else {
            metrics::counter!("kisum_auth_logins_total", "result" => "failure", "method" => "password")
                .increment(1);
            self.audit(
                actor,
                &client,
                Action::LoginFailure {
                    method: "password",
                    reason: failure.unwrap_or("invalid_credentials"),
                },
            )
            .await;
            return Err(LoginError::InvalidCredentials);
        };
        if needs_rehash {
            user.password_hash = Some(self.hash(password).await?);
            user.updated_at = self.clock.now();
            self.store.update_user(&user).await?;
        }
        self.sign_in_first_factor(user.id, amr::PASSWORD, "password", client, enrolled)
            .await
    }

    /// Starts a session for `user` signed in by `method` at `aal` with the method references
    /// `amr`, audited as a successful sign-in.
    pub(crate) async fn sign_in_with(
        &self,
        user: UserId,
        client: ClientInfo,
        method: &'static str,
        aal: Aal,
        amr: &[&str],
    ) -> Result<TokenPair, Failure> {
        let pair = self
            .start_session_audited(user, client, aal, amr, |session_id| Action::LoginSuccess {
                method,
                session_id,
            })
            .await?;
        metrics::counter!("kisum_auth_logins_total", "result" => "success", "method" => method.to_owned())
            .increment(1);
        Ok(pair)
    }
}
