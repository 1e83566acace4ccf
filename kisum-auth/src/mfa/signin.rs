//! The second factor in sign-in, on [`AuthService`] (decision 0022): a first factor of a user
//! with a confirmed authenticator app yields a challenge (the opaque `mfa_token`) instead of a
//! session; [`AuthService::verify_second_factor`] finishes it. Also "recent auth" (the
//! `auth_time` of a session), reauthentication, and the factor changes that need it.
//!
//! The challenge lives in the database (any replica finishes it), as a SHA-256 of the token:
//! single use, [`AssuranceConfig::challenge_ttl`] long, and limited like email codes (the
//! [`OtpConfig`](crate::otp::OtpConfig) attempts and lockout): every verification takes an
//! attempt before its code is checked, so racing guesses cannot exceed the limit; the attempt
//! that reaches it locks the user's second factor for the lockout (sign-ins meanwhile answer
//! `otp_locked` once their first factor passes).

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use kisum_guard::{Aal, SessionId, UserId};

use crate::audit::action::Action;
use crate::identity::{Password, Verification};
use crate::mfa::{
    ConfirmTotpError, DisableTotpError, EnrolTotpError, Mfa, MfaChallenge, RecoveryCode,
    RegenerateRecoveryCodesError, TotpEnrolment, UseRecoveryCodeError, VerifyTotpError,
};
use crate::otp::{OtpConfig, SecretHash};
use crate::secrets::SecretError;
use crate::service::{AuthService, ClientInfo, Failure, failure_converts};
use crate::session::{RefreshToken, RevokeReason, Session, TokenPair, amr};

/// How long a sign-in may wait for its second factor, and what "recent auth" means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AssuranceConfig {
    /// How long an `mfa_token` works (default 5 minutes).
    pub challenge_ttl: TimeDelta,
    /// How long after sign-in or reauthentication a session may make sensitive changes
    /// (password change, factor changes) without reauthenticating (default 10 minutes).
    pub recent_auth: TimeDelta,
}

impl AssuranceConfig {
    /// The default "recent auth" window: 10 minutes.
    pub const DEFAULT_RECENT_AUTH: TimeDelta = TimeDelta::minutes(10);
}

impl Default for AssuranceConfig {
    fn default() -> Self {
        Self {
            challenge_ttl: TimeDelta::minutes(5),
            recent_auth: Self::DEFAULT_RECENT_AUTH,
        }
    }
}

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

/// Why a second-factor verification or a factor change failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MfaError {
    /// No secret key is configured (`KISUM_SECRET_KEY`), so authenticator apps cannot be used.
    #[error("second factors are not configured on this server")]
    Unavailable,
    /// The `mfa_token` is unknown, expired or spent.
    #[error("invalid or expired mfa token")]
    InvalidToken,
    /// A wrong, stale or replayed code.
    #[error("invalid code")]
    InvalidCode,
    /// Too many wrong codes; retry after this long.
    #[error("too many wrong codes")]
    Locked(Duration),
    /// The session proved who it is too long ago.
    #[error("reauthentication required")]
    ReauthenticationRequired,
    /// An authenticator app is enrolled already.
    #[error("an authenticator app is already enrolled")]
    AlreadyEnrolled,
    /// No authenticator app (enrolment) to confirm, disable or use.
    #[error("no authenticator app is enrolled")]
    NotEnrolled,
    /// A stored secret does not open (the key configuration lost its key, or tampering).
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// Nothing was refused: a store failed.
    #[error(transparent)]
    Failed(Failure),
}

failure_converts!(MfaError);

impl From<EnrolTotpError> for MfaError {
    fn from(e: EnrolTotpError) -> Self {
        match e {
            EnrolTotpError::AlreadyEnrolled => Self::AlreadyEnrolled,
            EnrolTotpError::Secret(e) => Self::Secret(e),
            EnrolTotpError::Failed(f) => Self::Failed(f),
        }
    }
}

impl From<ConfirmTotpError> for MfaError {
    fn from(e: ConfirmTotpError) -> Self {
        match e {
            ConfirmTotpError::NotPending => Self::NotEnrolled,
            ConfirmTotpError::AlreadyConfirmed => Self::AlreadyEnrolled,
            ConfirmTotpError::InvalidCode => Self::InvalidCode,
            ConfirmTotpError::Secret(e) => Self::Secret(e),
            ConfirmTotpError::Failed(f) => Self::Failed(f),
        }
    }
}

impl From<VerifyTotpError> for MfaError {
    fn from(e: VerifyTotpError) -> Self {
        match e {
            // For a proof, "no app" is just a wrong code.
            VerifyTotpError::NotEnrolled | VerifyTotpError::InvalidCode => Self::InvalidCode,
            VerifyTotpError::Secret(e) => Self::Secret(e),
            VerifyTotpError::Failed(f) => Self::Failed(f),
        }
    }
}

impl From<UseRecoveryCodeError> for MfaError {
    fn from(e: UseRecoveryCodeError) -> Self {
        match e {
            UseRecoveryCodeError::InvalidCode => Self::InvalidCode,
            UseRecoveryCodeError::Failed(f) => Self::Failed(f),
        }
    }
}

impl From<RegenerateRecoveryCodesError> for MfaError {
    fn from(e: RegenerateRecoveryCodesError) -> Self {
        match e {
            RegenerateRecoveryCodesError::NotEnrolled => Self::NotEnrolled,
            RegenerateRecoveryCodesError::Secret(e) => Self::Secret(e),
            RegenerateRecoveryCodesError::Failed(f) => Self::Failed(f),
        }
    }
}

impl From<DisableTotpError> for MfaError {
    fn from(e: DisableTotpError) -> Self {
        match e {
            DisableTotpError::NotEnrolled => Self::NotEnrolled,
            DisableTotpError::Failed(f) => Self::Failed(f),
        }
    }
}

/// The digest an `mfa_token` is stored under.
fn challenge_hash(token: &str) -> SecretHash {
    SecretHash::of(&[b"kisum-mfa-challenge", token.as_bytes()])
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

/// Counts an MFA event for `kisum_mfa_events_total`.
pub(crate) fn count(event: &'static str, ok: bool) {
    let result = if ok { "success" } else { "failure" };
    metrics::counter!("kisum_mfa_events_total", "event" => event, "result" => result).increment(1);
}

/// Whole seconds until `until`, at least one.
fn wait(until: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (until - now)
        .to_std()
        .unwrap_or(Duration::from_secs(1))
        .max(Duration::from_secs(1))
}

impl AuthService {
    /// The second-factor service, when a secret key is configured.
    #[must_use]
    pub fn mfa(&self) -> Option<&Mfa> {
        self.mfa.as_ref()
    }

    fn mfa_or_unavailable(&self) -> Result<&Mfa, MfaError> {
        self.mfa.as_ref().ok_or(MfaError::Unavailable)
    }

    /// The email-code limits that second-factor codes share.
    fn code_limits(&self) -> OtpConfig {
        self.recovery_config().map(|r| r.config).unwrap_or_default()
    }

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
        let enrolled = self
            .store
            .get_totp(user)
            .await?
            .is_some_and(|r| r.confirmed_at.is_some());
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

    /// Whether `session` proved who it is recently enough for a sensitive change.
    ///
    /// # Errors
    /// `ReauthenticationRequired` when its `auth_time` is older than the recent-auth window.
    pub fn require_recent_auth(&self, session: &Session) -> Result<(), MfaError> {
        if session.authenticated_within(self.assurance.recent_auth, self.clock.now()) {
            Ok(())
        } else {
            Err(MfaError::ReauthenticationRequired)
        }
    }

    /// Renews `session`'s `auth_time` with a password or a second factor; a second factor also
    /// raises the session to `aal2` (step-up). Audited as `reauthenticate`.
    ///
    /// # Errors
    /// `InvalidCode` for a wrong password or code (audited); `Unavailable` for a second factor
    /// without a secret key; `Failed`.
    pub async fn reauthenticate(
        &self,
        session: &Session,
        proof: Reauthentication,
        client: ClientInfo,
    ) -> Result<(), MfaError> {
        let user = session.user_id;
        let (ok, method, added) = match proof {
            Reauthentication::Password(password) => {
                let stored = self
                    .store
                    .get_user(user)
                    .await?
                    .and_then(|u| u.password_hash);
                let valid = matches!(
                    self.verify(password, stored).await?,
                    Verification::Valid { .. }
                );
                (valid, "password", amr::PASSWORD)
            }
            Reauthentication::SecondFactor(SecondFactorProof::Totp(code)) => {
                let mfa = self.mfa_or_unavailable()?;
                match mfa.verify_totp(user, &code, &client).await {
                    Ok(()) => (true, "totp", amr::OTP),
                    Err(e) => match MfaError::from(e) {
                        MfaError::InvalidCode => (false, "totp", amr::OTP),
                        other => return Err(other),
                    },
                }
            }
            Reauthentication::SecondFactor(SecondFactorProof::RecoveryCode(code)) => {
                let mfa = self.mfa_or_unavailable()?;
                match mfa.use_recovery_code(user, &code, &client).await {
                    Ok(_) => (true, "recovery_code", amr::RECOVERY_CODE),
                    Err(UseRecoveryCodeError::InvalidCode) => {
                        (false, "recovery_code", amr::RECOVERY_CODE)
                    }
                    Err(UseRecoveryCodeError::Failed(f)) => return Err(f.into()),
                }
            }
        };
        let aal = if added == amr::PASSWORD {
            session.aal
        } else {
            Aal::Aal2
        };
        self.record_reauthentication(session, ok, method, &[added], aal, &client)
            .await
    }

    /// What every reauthentication ends with once its proof was checked (`ok`): counted, the
    /// refusal audited (`InvalidCode`), or the session's `auth_time` renewed, its level set to
    /// `aal` and the `added` method references joined to its `amr`, audited.
    pub(crate) async fn record_reauthentication(
        &self,
        session: &Session,
        ok: bool,
        method: &'static str,
        added: &[&str],
        aal: Aal,
        client: &ClientInfo,
    ) -> Result<(), MfaError> {
        let user = session.user_id;
        count("reauthenticate", ok);
        if !ok {
            self.audit(Some(user), client, Action::ReauthenticateRefused { method })
                .await;
            return Err(MfaError::InvalidCode);
        }
        let mut methods = session.amr.clone();
        for reference in added {
            if !methods.iter().any(|m| m == reference) {
                methods.push((*reference).to_owned());
            }
        }
        let now = self.clock.now();
        if !self
            .store
            .reauthenticate_session(session.id, now, aal, &methods)
            .await?
        {
            return Err(MfaError::InvalidToken);
        }
        self.audit(
            Some(user),
            client,
            Action::Reauthenticate {
                method,
                session_id: session.id,
                aal: aal.as_str(),
            },
        )
        .await;
        Ok(())
    }

    /// Starts a TOTP enrolment for the caller of `session` (needs recent auth).
    ///
    /// # Errors
    /// `Unavailable`, `ReauthenticationRequired`, `AlreadyEnrolled`, `Secret`, `Failed`.
    pub async fn enrol_totp(
        &self,
        session: &Session,
        client: &ClientInfo,
    ) -> Result<TotpEnrolment, MfaError> {
        let mfa = self.mfa_or_unavailable()?;
        self.require_recent_auth(session)?;
        let user = self
            .store
            .get_user(session.user_id)
            .await?
            .ok_or(MfaError::InvalidToken)?;
        let enrolled = mfa.enrol_totp(user.id, user.email.as_str(), client).await;
        count("enrol", enrolled.is_ok());
        Ok(enrolled?)
    }

    /// Confirms the caller's pending enrolment with a first code: the recovery codes, shown
    /// once. Unless `keep_other_sessions`, the user's other sessions end (a new factor means
    /// "sign me out of the devices I no longer trust").
    ///
    /// # Errors
    /// `Unavailable`, `NotEnrolled`, `AlreadyEnrolled`, `InvalidCode`, `Secret`, `Failed`.
    pub async fn confirm_totp(
        &self,
        session: &Session,
        code: &str,
        keep_other_sessions: bool,
        client: &ClientInfo,
    ) -> Result<Vec<RecoveryCode>, MfaError> {
        let mfa = self.mfa_or_unavailable()?;
        let confirmed = mfa.confirm_totp(session.user_id, code, client).await;
        count("confirm", confirmed.is_ok());
        let codes = confirmed?;
        if !keep_other_sessions {
            self.end_other_sessions(session, client).await?;
        }
        Ok(codes)
    }

    /// Removes the caller's authenticator app and recovery codes (needs recent auth); unless
    /// `keep_other_sessions`, the user's other sessions end.
    ///
    /// # Errors
    /// `Unavailable`, `ReauthenticationRequired`, `NotEnrolled`, `Failed`.
    pub async fn disable_totp(
        &self,
        session: &Session,
        keep_other_sessions: bool,
        client: &ClientInfo,
    ) -> Result<(), MfaError> {
        let mfa = self.mfa_or_unavailable()?;
        self.require_recent_auth(session)?;
        let disabled = mfa.disable_totp(session.user_id, client).await;
        count("disable", disabled.is_ok());
        disabled?;
        if !keep_other_sessions {
            self.end_other_sessions(session, client).await?;
        }
        Ok(())
    }

    /// Replaces the caller's recovery codes with a fresh set (needs recent auth).
    ///
    /// # Errors
    /// `Unavailable`, `ReauthenticationRequired`, `NotEnrolled`, `Secret`, `Failed`.
    pub async fn regenerate_recovery_codes(
        &self,
        session: &Session,
        client: &ClientInfo,
    ) -> Result<Vec<RecoveryCode>, MfaError> {
        let mfa = self.mfa_or_unavailable()?;
        self.require_recent_auth(session)?;
        let codes = mfa.regenerate_recovery_codes(session.user_id, client).await;
        count("regenerate", codes.is_ok());
        Ok(codes?)
    }

    /// Ends every session of `session`'s user but it, for a changed factor (announced and
    /// audited).
    pub(crate) async fn end_other_sessions(
        &self,
        session: &Session,
        client: &ClientInfo,
    ) -> Result<Vec<SessionId>, Failure> {
        let revoked = self
            .store
            .revoke_user_sessions(
                session.user_id,
                RevokeReason::FactorChanged,
                self.clock.now(),
                Some(session.id),
            )
            .await?;
        self.announce_revoked(&revoked).await;
        if !revoked.is_empty() {
            self.audit(
                Some(session.user_id),
                client,
                Action::FactorSessionsRevoke {
                    revoked_sessions: revoked.clone(),
                },
            )
            .await;
        }
        Ok(revoked)
    }
}

/// What `POST /v1/auth/reauthenticate` presents. `Debug` redacts it.
pub enum Reauthentication {
    /// The account password.
    Password(Password),
    /// A second factor.
    SecondFactor(SecondFactorProof),
}

impl fmt::Debug for Reauthentication {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Password(_) => f.write_str("Password(<redacted>)"),
            Self::SecondFactor(p) => write!(f, "SecondFactor({p:?})"),
        }
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
        let issued = MfaChallengeIssued {
            token: "s3cret-token".into(),
            methods: CHALLENGE_METHODS.to_vec(),
            expires_in: 300,
        };
        assert!(!format!("{issued:?}").contains("s3cret"));
        let proof = SecondFactorProof::Totp("123456".into());
        assert!(!format!("{proof:?}").contains("123456"));
        let reauth = Reauthentication::SecondFactor(SecondFactorProof::RecoveryCode("abcd".into()));
        assert!(!format!("{reauth:?}").contains("abcd"));
    }
}
