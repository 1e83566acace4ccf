//! Auth's domain errors become problem documents here, at the edge: the services know nothing
//! of HTTP, and every status and `code` they can lead to is chosen in this file (or, where one
//! operation names a different field, next to that handler). Handlers answer
//! `Result<_, ProblemResponse>` ([`kisum_guard::http::ProblemResponse`], the one renderer);
//! store failures map as in Core (`kisum_core::http::error`).

use kisum_guard::http::ProblemResponse;
use kisum_guard::{DenialCode, Problem};

use crate::access::AccessError;
use crate::directory::DirectoryError;
use crate::identity::{AccountError, LoginError, PasswordError, PolicyViolation, RegisterError};
use crate::mfa::{MfaChallengeIssued, MfaError};
use crate::otp::OtpError;
use crate::service::Failure;
use crate::session::{RefreshError, SessionError};

impl From<AccessError> for ProblemResponse {
    fn from(e: AccessError) -> Self {
        match e {
            AccessError::Denied(code) => code.into(),
            AccessError::Unavailable(e) => e.into(),
        }
    }
}

/// A 401 with a code of its own (answered with `WWW-Authenticate: Bearer`).
fn unauthorized(code: &str, title: &str) -> Problem {
    Problem::new(401, code, title)
}

/// The shared "could not": a store failure maps as in Core, an overloaded hasher is a 503 with
/// `Retry-After`, anything else (token signing, a dead hashing worker) a logged 500.
impl From<Failure> for ProblemResponse {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Store(e) => e.into(),
            Failure::Overloaded => Self::new(
                Problem::new(503, "overloaded", "too many sign-ins at once")
                    .with_detail("every password-hashing worker is busy; retry shortly"),
            )
            .with_retry_after(1),
            other => {
                tracing::error!(error = %other, "identity service failure");
                kisum_core::http::error::internal_error().into()
            }
        }
    }
}

fn invalid_email() -> ProblemResponse {
    Problem::invalid_field("email", "not a valid email address").into()
}

fn weak_password(field: &str, v: &PolicyViolation) -> ProblemResponse {
    Problem::invalid_field(field, v.to_string()).into()
}

fn invalid_credentials() -> ProblemResponse {
    unauthorized("invalid_credentials", "invalid email or password").into()
}

impl From<RegisterError> for ProblemResponse {
    fn from(e: RegisterError) -> Self {
        match e {
            RegisterError::InvalidEmail => invalid_email(),
            RegisterError::WeakPassword(v) => weak_password("password", &v),
            RegisterError::EmailTaken => {
                Problem::new(409, "email_taken", "email already registered").into()
            }
            RegisterError::Company(DirectoryError::Store(e)) => e.into(),
            RegisterError::Company(e) => {
                Problem::invalid_field("company_name", e.to_string()).into()
            }
            RegisterError::Failed(f) => f.into(),
        }
    }
}

impl From<LoginError> for ProblemResponse {
    fn from(e: LoginError) -> Self {
        match e {
            LoginError::InvalidCredentials => invalid_credentials(),
            LoginError::MfaRequired(challenge) => mfa_required(&challenge),
            LoginError::MfaLocked(after) => otp_locked(after),
            LoginError::Failed(f) => f.into(),
        }
    }
}

impl From<RefreshError> for ProblemResponse {
    fn from(e: RefreshError) -> Self {
        match e {
            RefreshError::InvalidRefreshToken => {
                unauthorized("invalid_refresh_token", "invalid refresh token").into()
            }
            RefreshError::RefreshTokenReused => {
                unauthorized("refresh_token_reused", "refresh token reused")
                    .with_detail("the session was revoked")
                    .into()
            }
            RefreshError::SessionRevoked => DenialCode::SessionRevoked.into(),
            RefreshError::Failed(f) => f.into(),
        }
    }
}

impl From<SessionError> for ProblemResponse {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Unauthenticated => DenialCode::Unauthenticated.into(),
            SessionError::SessionRevoked => DenialCode::SessionRevoked.into(),
            SessionError::SessionNotFound => Problem::not_found("session").into(),
            SessionError::Failed(f) => f.into(),
        }
    }
}

/// A password change; the field of its body is `new_password`.
impl From<PasswordError> for ProblemResponse {
    fn from(e: PasswordError) -> Self {
        match e {
            PasswordError::InvalidCredentials => invalid_credentials(),
            PasswordError::WeakPassword(v) => weak_password("new_password", &v),
            PasswordError::UserNotFound => Problem::not_found("user").into(),
            PasswordError::Failed(f) => f.into(),
        }
    }
}

impl From<AccountError> for ProblemResponse {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::UserNotFound => Problem::not_found("user").into(),
            AccountError::Directory(e) => e.into(),
            AccountError::Failed(f) => f.into(),
        }
    }
}

impl From<OtpError> for ProblemResponse {
    fn from(e: OtpError) -> Self {
        match e {
            OtpError::InvalidCode => unauthorized("invalid_code", "invalid code").into(),
            OtpError::OtpLocked(after) => otp_locked(after),
            OtpError::MfaRequired(challenge) => mfa_required(&challenge),
            OtpError::InvalidResetToken => {
                Problem::new(400, "invalid_token", "invalid or expired reset token").into()
            }
            OtpError::WeakPassword(v) => weak_password("password", &v),
            OtpError::RecoveryDisabled => Problem::new(
                501,
                "not_configured",
                "email flows are not configured on this server",
            )
            .into(),
            OtpError::Directory(e) => e.into(),
            OtpError::Failed(f) => f.into(),
        }
    }
}

/// 429 `otp_locked` with `Retry-After`: too many wrong codes.
pub(super) fn otp_locked(after: std::time::Duration) -> ProblemResponse {
    let mut answer = ProblemResponse::rate_limited(after);
    let problem = &mut answer.problem;
    problem.code = "otp_locked".to_owned();
    problem.type_uri = "urn:kisum:problem:otp_locked".to_owned();
    problem.title = "too many wrong codes".to_owned();
    answer
}

/// 401 `mfa_required` with the extension members `mfa_token`, `methods` and `expires_in`.
pub(super) fn mfa_required(challenge: &MfaChallengeIssued) -> ProblemResponse {
    unauthorized("mfa_required", "a second factor is required")
        .with_detail("finish signing in with POST /v1/auth/mfa/verify")
        .with_extension("mfa_token", serde_json::json!(challenge.token))
        .with_extension("methods", serde_json::json!(challenge.methods))
        .with_extension("expires_in", serde_json::json!(challenge.expires_in))
        .into()
}

/// The problem of `POST /v1/auth/reauthenticate`'s absence: 403 `reauthentication_required`.
pub(crate) fn reauthentication_required() -> ProblemResponse {
    Problem::new(
        403,
        "reauthentication_required",
        "sign-in too long ago for this change",
    )
    .with_detail("prove who you are again with POST /v1/auth/reauthenticate")
    .into()
}

impl From<MfaError> for ProblemResponse {
    fn from(e: MfaError) -> Self {
        match e {
            MfaError::Unavailable => Problem::new(
                503,
                "mfa_unavailable",
                "second factors are not configured on this server",
            )
            .with_detail("the operator has not set KISUM_SECRET_KEY")
            .into(),
            MfaError::InvalidToken => {
                unauthorized("invalid_mfa_token", "invalid or expired mfa token").into()
            }
            MfaError::InvalidCode => unauthorized("invalid_code", "invalid code").into(),
            MfaError::Locked(after) => otp_locked(after),
            MfaError::ReauthenticationRequired => reauthentication_required(),
            MfaError::AlreadyEnrolled => Problem::new(
                409,
                "mfa_already_enrolled",
                "an authenticator app is already enrolled",
            )
            .into(),
            MfaError::NotEnrolled => {
                Problem::new(409, "mfa_not_enrolled", "no authenticator app is enrolled").into()
            }
            MfaError::Secret(e) => {
                tracing::error!(error = %e, "a second-factor secret does not open");
                Problem::new(
                    503,
                    "mfa_unavailable",
                    "second factors are not usable on this server",
                )
                .with_detail("a stored secret does not open with the configured keys")
                .into()
            }
            MfaError::Failed(f) => f.into(),
        }
    }
}

/// A refused administrative change.
impl From<DirectoryError> for ProblemResponse {
    fn from(e: DirectoryError) -> Self {
        let detail = e.to_string();
        let conflict =
            |code: &str, title: &str| Problem::new(409, code, title).with_detail(&*detail);
        let unprocessable =
            |code: &str, title: &str| Problem::new(422, code, title).with_detail(&*detail);
        match e {
            DirectoryError::SlugTaken(_) => conflict("slug_taken", "company slug taken"),
            DirectoryError::SlugRequired => Problem::invalid_field("slug", detail),
            DirectoryError::AlreadyMember => conflict("already_member", "already a member"),
            DirectoryError::MembershipNotFound(_) => Problem::not_found("membership"),
            DirectoryError::UnknownRole(_) => unprocessable("unknown_role", "unknown role"),
            DirectoryError::ReservedRole => unprocessable("reserved_role", "reserved role"),
            DirectoryError::RoleNotFound(_) => Problem::not_found("role"),
            DirectoryError::SelfDelegation => Problem::invalid_field("to_membership_id", detail),
            DirectoryError::InvalidWindow => Problem::invalid_field("expires_at", detail),
            DirectoryError::EmptyDelegation => Problem::invalid_field("permissions", detail),
            DirectoryError::DelegationNotFound(_) => Problem::not_found("delegation"),
            DirectoryError::Forbidden(_) => {
                Problem::from(DenialCode::PermissionDenied).with_detail(detail)
            }
            DirectoryError::InvitationPending => {
                conflict("invitation_pending", "invitation pending")
            }
            DirectoryError::LastOwner => conflict("last_owner", "last owner"),
            DirectoryError::LimitExceeded { what, .. } => {
                unprocessable("limit_exceeded", "limit exceeded").with_field(what, detail.clone())
            }
            DirectoryError::NotDelegable(_) => Problem::invalid_field("permissions", detail),
            DirectoryError::Store(e) => return e.into(),
        }
        .into()
    }
}
