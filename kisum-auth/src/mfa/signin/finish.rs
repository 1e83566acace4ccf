//! A challenge answered: the `mfa_token` and a second factor (a code of the authenticator
//! app, a recovery code, or a passkey through [`crate::passkey`]) start an `aal2` session.

use std::fmt;

use kisum_guard::{Aal, UserId};

use super::challenge::challenge_hash;
use super::{MfaError, count, wait};
use crate::audit::action::Action;
use crate::service::{AuthService, ClientInfo, Failure};
use crate::session::{TokenPair, amr};

/// The proof presented to finish a challenge or to reauthenticate.
#[derive(Clone, PartialEq, Eq)]
pub enum SecondFactorProof {
    /// A code of the user's authenticator app.
    Totp(String),
    /// One of the user's recovery codes.
    RecoveryCode(String),
}

impl fmt::Debug for SecondFactorProof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Totp(_) => "Totp(<redacted>)",
            Self::RecoveryCode(_) => "RecoveryCode(<redacted>)",
        })
    }
}

/// The method references of a session signed in with `first` then `second`: both, in order;
/// `mfa` added when they are the same reference (an email code then an app code).
fn combined_amr(first: &str, second: &str) -> Vec<String> {
    if first == second {
        vec![first.to_owned(), amr::MULTI_FACTOR.to_owned()]
    } else {
        vec![first.to_owned(), second.to_owned()]
    }
}

impl AuthService {
    /// Finishes a sign-in with its second factor: the `mfa_token` of `mfa_required` and a code
    /// of the user's app or a recovery code. Starts an `aal2` session.
    ///
    /// # Errors
    /// `Unavailable` without a secret key; `InvalidToken` for an unknown, expired or spent
    /// token; `InvalidCode` for a wrong, replayed or spent code; `Locked` once the token has
    /// taken its attempts (the last wrong one answers `Locked` too); `Secret`, `Failed`.
    pub async fn verify_second_factor(
        &self,
        mfa_token: &str,
        proof: SecondFactorProof,
        client: ClientInfo,
    ) -> Result<TokenPair, MfaError> {
        let mfa = self.mfa_or_unavailable()?;
        let (method, second) = match &proof {
            SecondFactorProof::Totp(_) => ("mfa_totp", amr::OTP),
            SecondFactorProof::RecoveryCode(_) => ("mfa_recovery_code", amr::RECOVERY_CODE),
        };
        self.finish_challenge(
            mfa_token,
            &client,
            method,
            &[second],
            async |user| match &proof {
                SecondFactorProof::Totp(code) => mfa
                    .verify_totp(user, code, &client)
                    .await
                    .map_err(MfaError::from),
                SecondFactorProof::RecoveryCode(code) => mfa
                    .use_recovery_code(user, code, &client)
                    .await
                    .map(drop)
                    .map_err(MfaError::from),
            },
        )
        .await
    }

    /// The user of the live challenge `mfa_token` (unknown, expired, spent or locked: `None`),
    /// without taking an attempt: what beginning a passkey ceremony for it needs.
    ///
    /// # Errors
    /// A store failure.
    pub(crate) async fn challenge_user(&self, mfa_token: &str) -> Result<Option<UserId>, Failure> {
        let now = self.clock.now();
        let hash = challenge_hash(mfa_token.trim());
        let Some(c) = self.store.get_mfa_challenge(&hash).await? else {
            return Ok(None);
        };
        let lockout = self.code_limits().lockout;
        let live = c.used_at.is_none()
            && now < c.expires_at
            && c.locked_at.is_none_or(|at| at + lockout <= now);
        Ok(live.then_some(c.user_id))
    }

    /// Finishes a challenge with a second factor `check`ed for its user: takes an attempt
    /// first (racing guesses cannot exceed the limit), then runs `check`, then spends the
    /// token and starts an `aal2` session whose `amr` is the first factor's then `second`.
    /// Audited (`login.failure` with `method`) and counted.
    ///
    /// # Errors
    /// As [`verify_second_factor`](Self::verify_second_factor); `check`'s error when it refuses.
    pub(crate) async fn finish_challenge(
        &self,
        mfa_token: &str,
        client: &ClientInfo,
        method: &'static str,
        second: &[&str],
        check: impl AsyncFnOnce(UserId) -> Result<(), MfaError>,
    ) -> Result<TokenPair, MfaError> {
        let limits = self.code_limits();
        let hash = challenge_hash(mfa_token.trim());
        let now = self.clock.now();
        let Some(challenge) = self
            .store
            .take_mfa_attempt(&hash, now, limits.max_attempts)
            .await?
        else {
            count("challenge", false);
            return Err(match self.store.get_mfa_challenge(&hash).await? {
                Some(c) if c.used_at.is_none() && now < c.expires_at => {
                    MfaError::Locked(wait(c.locked_at.unwrap_or(now) + limits.lockout, now))
                }
                _ => MfaError::InvalidToken,
            });
        };
        let user = challenge.user_id;
        if self.store.get_user(user).await?.is_none_or(|u| u.disabled) {
            count("challenge", false);
            return Err(MfaError::InvalidToken);
        }
        if let Err(e) = check(user).await {
            count("challenge", false);
            let locked = challenge.locked_at.is_some() && matches!(e, MfaError::InvalidCode);
            self.audit(
                Some(user),
                client,
                Action::LoginFailure {
                    method,
                    reason: if locked { "locked" } else { "invalid_code" },
                },
            )
            .await;
            return Err(if locked {
                MfaError::Locked(wait(now + limits.lockout, now))
            } else {
                e
            });
        }
        if !self.store.spend_mfa_challenge(&hash, now).await? {
            count("challenge", false);
            return Err(MfaError::InvalidToken);
        }
        count("challenge", true);
        let mut amr = vec![challenge.first_factor.clone()];
        for reference in second {
            amr.extend(
                combined_amr(&challenge.first_factor, reference)
                    .into_iter()
                    .skip(1),
            );
        }
        let amr: Vec<&str> = amr.iter().map(String::as_str).collect();
        Ok(self
            .sign_in_with(user, client.clone(), method, Aal::Aal2, &amr)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_references_of_two_factors() {
        assert_eq!(combined_amr("pwd", "otp"), ["pwd", "otp"]);
        assert_eq!(combined_amr("pwd", "rec"), ["pwd", "rec"]);
        assert_eq!(combined_amr("otp", "otp"), ["otp", "mfa"]);
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let proof = SecondFactorProof::Totp("123456".into());
        assert!(!format!("{proof:?}").contains("123456"));
    }
}
