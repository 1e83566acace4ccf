//! What a first factor leads to: a session, or (for a user with a confirmed authenticator app)
//! the challenge issued instead, or the lockout. Every first-factor sign-in ends in
//! [`AuthService::sign_in_first_factor`] (or, when it starts its session its own way,
//! [`AuthService::require_no_second_factor`]).

use std::fmt;
use std::time::Duration;

use kisum_guard::{Aal, UserId};

use super::{count, wait};
use crate::audit::action::Action;
use crate::mfa::MfaChallenge;
use crate::otp::SecretHash;
use crate::service::{AuthService, ClientInfo, Failure};
use crate::session::{RefreshToken, TokenPair};

/// The second factors a challenge can be answered with (`methods` of `mfa_required`), for a
/// user without a passkey.
pub const CHALLENGE_METHODS: [&str; 2] = [METHOD_TOTP, METHOD_RECOVERY_CODE];

/// `methods` of `mfa_required`: a code of the authenticator app.
pub const METHOD_TOTP: &str = "totp";
/// `methods` of `mfa_required`: a passkey (`webauthn`, begun by `POST
/// /v1/auth/mfa/webauthn/start`); listed when the user has registered one.
pub const METHOD_WEBAUTHN: &str = "webauthn";
/// `methods` of `mfa_required`: a recovery code.
pub const METHOD_RECOVERY_CODE: &str = "recovery_code";

/// A first factor passed and a second is needed: what the client gets instead of a session.
/// `Debug` redacts the token.
#[derive(Clone, PartialEq, Eq)]
pub struct MfaChallengeIssued {
    /// The opaque, single-use token `POST /v1/auth/mfa/verify` takes.
    pub token: String,
    /// The second factors it can be answered with.
    pub methods: Vec<&'static str>,
    /// Seconds until the token stops working.
    pub expires_in: i64,
}

impl fmt::Debug for MfaChallengeIssued {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MfaChallengeIssued")
            .field("token", &"<redacted>")
            .field("methods", &self.methods)
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// What a first factor leads to for a user.
#[derive(Debug)]
pub(crate) enum SecondFactor {
    /// None is enrolled: sign in.
    NotNeeded,
    /// Answer the challenge.
    Required(MfaChallengeIssued),
    /// Too many wrong second-factor codes lately: retry after this long.
    Locked(Duration),
}

/// The error of a first-factor sign-in (a password, an emailed link, a provider) whose user
/// must still give a second factor: each operation keeps its own error, built here.
pub(crate) trait SecondFactorPending: From<Failure> {
    /// The first factor passed; answer the challenge (`mfa_required`).
    fn mfa_required(challenge: MfaChallengeIssued) -> Self;
    /// The first factor passed, but too many wrong second-factor codes were tried lately:
    /// retry after this long.
    fn mfa_locked(after: Duration) -> Self;
}

/// The digest an `mfa_token` is stored under.
pub(super) fn challenge_hash(token: &str) -> SecretHash {
    SecretHash::of(&[b"kisum-mfa-challenge", token.as_bytes()])
}

impl AuthService {
    /// After `user` passed the first factor `first` (`pwd`, `otp`): whether a second is
    /// needed, and if so the challenge (stored; audited as `mfa.challenge`). A user with a
    /// confirmed app always gets one, even when no secret key is configured (verification then
    /// answers `mfa_unavailable`: a missing key never signs anyone in with one factor).
    pub(crate) async fn second_factor(
        &self,
        user: UserId,
        first: &'static str,
        client: &ClientInfo,
    ) -> Result<SecondFactor, Failure> {
        self.second_factor_given(user, first, client, None).await
    }

    /// [`second_factor`](Self::second_factor), told whether `user` has a confirmed
    /// authenticator app when the caller read that with the user
    /// ([`UserStore::find_user_signing_in`](crate::identity::UserStore::find_user_signing_in));
    /// `None` reads it here.
    pub(crate) async fn second_factor_given(
        &self,
        user: UserId,
        first: &'static str,
        client: &ClientInfo,
        enrolled: Option<bool>,
    ) -> Result<SecondFactor, Failure> {
        let enrolled = match enrolled {
            Some(known) => known,
            None => self
                .store
                .get_totp(user)
                .await?
                .is_some_and(|r| r.confirmed_at.is_some()),
        };
        if !enrolled {
            return Ok(SecondFactor::NotNeeded);
        }
        let now = self.clock.now();
        let lockout = self.code_limits().lockout;
        if let Some(locked) = self.store.mfa_locked_at(user, now - lockout).await? {
            count("challenge", false);
            return Ok(SecondFactor::Locked(wait(locked + lockout, now)));
        }
        let token = RefreshToken::generate()?;
        let ttl = self.assurance.challenge_ttl;
        // A registered passkey answers a challenge too (decision 0031); it does not by itself
        // make a password sign-in ask for a second factor.
        let mut methods = vec![METHOD_TOTP];
        if !self.store.list_passkeys(user).await?.is_empty() {
            methods.push(METHOD_WEBAUTHN);
        }
        methods.push(METHOD_RECOVERY_CODE);
        let challenge = MfaChallenge {
            token_hash: challenge_hash(token.expose()),
            user_id: user,
            first_factor: first.to_owned(),
            created_at: now,
            expires_at: now + ttl,
            attempts: 0,
            locked_at: None,
            used_at: None,
        };
        self.store.insert_mfa_challenge(&challenge).await?;
        self.audit(
            Some(user),
            client,
            Action::MfaChallenge {
                first_factor: first,
            },
        )
        .await;
        Ok(SecondFactor::Required(MfaChallengeIssued {
            token: token.expose().to_owned(),
            methods,
            expires_in: ttl.num_seconds(),
        }))
    }

    /// The end of a first-factor sign-in: `user` passed the first factor `first` (its method
    /// reference). Without a second factor to give, starts an `aal1` session whose `amr` is
    /// `[first]`, audited as signed in by `method`; otherwise answers the challenge or the
    /// lockout, and no session starts. `enrolled`: as in
    /// [`second_factor_given`](Self::second_factor_given).
    ///
    /// # Errors
    /// [`SecondFactorPending::mfa_required`], [`SecondFactorPending::mfa_locked`]; a store or
    /// the token service failing.
    pub(crate) async fn sign_in_first_factor<E: SecondFactorPending>(
        &self,
        user: UserId,
        first: &'static str,
        method: &'static str,
        client: ClientInfo,
        enrolled: Option<bool>,
    ) -> Result<TokenPair, E> {
        let pending = self
            .second_factor_given(user, first, &client, enrolled)
            .await?;
        no_second_factor::<E>(pending)?;
        Ok(self
            .sign_in_with(user, client, method, Aal::Aal1, &[first])
            .await?)
    }

    /// Whether `user`, past the first factor `first`, may have a session without a second
    /// factor; for a sign-in that starts its session its own way.
    ///
    /// # Errors
    /// As [`sign_in_first_factor`](Self::sign_in_first_factor).
    #[cfg_attr(
        not(feature = "oauth"),
        expect(
            dead_code,
            reason = "only provider sign-in (feature `oauth`) starts its own session"
        )
    )]
    pub(crate) async fn require_no_second_factor<E: SecondFactorPending>(
        &self,
        user: UserId,
        first: &'static str,
        client: &ClientInfo,
    ) -> Result<(), E> {
        no_second_factor(self.second_factor(user, first, client).await?)
    }
}

/// `Ok` when no second factor is needed; the challenge or the lockout as `E` otherwise.
fn no_second_factor<E: SecondFactorPending>(pending: SecondFactor) -> Result<(), E> {
    match pending {
        SecondFactor::NotNeeded => Ok(()),
        SecondFactor::Required(challenge) => Err(E::mfa_required(challenge)),
        SecondFactor::Locked(after) => Err(E::mfa_locked(after)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_show_in_debug() {
        let issued = MfaChallengeIssued {
            token: "s3cret-token".into(),
            methods: CHALLENGE_METHODS.to_vec(),
            expires_in: 300,
        };
        assert!(!format!("{issued:?}").contains("s3cret"));
    }
}
