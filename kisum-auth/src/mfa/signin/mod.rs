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
//!
//! One file per step: `challenge` (what a first factor leads to: the session, or the challenge
//! issued), `finish` (the challenge answered with a second factor), `reauth` (recent auth and
//! reauthentication), `factors` (enrolling, confirming and removing the authenticator app, new
//! recovery codes, and ending the other sessions on such a change). Here: the settings, the one
//! error of these operations, and what the steps share.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::mfa::{
    ConfirmTotpError, DisableTotpError, EnrolTotpError, Mfa, RegenerateRecoveryCodesError,
    UseRecoveryCodeError, VerifyTotpError,
};
use crate::otp::OtpConfig;
use crate::secrets::SecretError;
use crate::service::{AuthService, Failure, failure_converts};

mod challenge;
mod factors;
mod finish;
mod reauth;

pub use challenge::{
    CHALLENGE_METHODS, METHOD_RECOVERY_CODE, METHOD_TOTP, METHOD_WEBAUTHN, MfaChallengeIssued,
};
pub(crate) use challenge::{SecondFactor, SecondFactorPending};
pub use finish::SecondFactorProof;
pub use reauth::Reauthentication;

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
}
