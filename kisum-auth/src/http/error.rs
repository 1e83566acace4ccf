//! Auth's domain errors become problem documents here, at the edge: the services know nothing
//! of HTTP, and every status and `code` they can lead to is chosen in this file (or, where one
//! operation names a different field, next to that handler). Handlers answer
//! `Result<_, ProblemResponse>` ([`kisum_guard::http::ProblemResponse`], the one renderer);
//! store failures map as in Core (`kisum_core::http::error`).

use kisum_guard::http::ProblemResponse;
use kisum_guard::{DenialCode, Problem};

use crate::access::AccessError;
use crate::directory::DirectoryError;
use crate::service::AuthError;

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

impl From<AuthError> for ProblemResponse {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::InvalidEmail => {
                Problem::invalid_field("email", "not a valid email address").into()
            }
            AuthError::WeakPassword(v) => Problem::invalid_field("password", v.to_string()).into(),
            AuthError::EmailTaken => {
                Problem::new(409, "email_taken", "email already registered").into()
            }
            AuthError::InvalidCredentials => {
                unauthorized("invalid_credentials", "invalid email or password").into()
            }
            AuthError::InvalidRefreshToken => {
                unauthorized("invalid_refresh_token", "invalid refresh token").into()
            }
            AuthError::RefreshTokenReused => {
                unauthorized("refresh_token_reused", "refresh token reused")
                    .with_detail("the session was revoked")
                    .into()
            }
            AuthError::Unauthenticated => DenialCode::Unauthenticated.into(),
            AuthError::SessionRevoked => DenialCode::SessionRevoked.into(),
            AuthError::SessionNotFound => Problem::not_found("session").into(),
            AuthError::UserNotFound => Problem::not_found("user").into(),
            AuthError::Overloaded => Self::new(
                Problem::new(503, "overloaded", "too many sign-ins at once")
                    .with_detail("every password-hashing worker is busy; retry shortly"),
            )
            .with_retry_after(1),
            AuthError::InvalidCode => unauthorized("invalid_code", "invalid code").into(),
            AuthError::OtpLocked(after) => {
                let mut answer = Self::rate_limited(after);
                let problem = &mut answer.problem;
                problem.code = "otp_locked".to_owned();
                problem.type_uri = "urn:kisum:problem:otp_locked".to_owned();
                problem.title = "too many wrong codes".to_owned();
                answer
            }
            AuthError::InvalidResetToken => {
                Problem::new(400, "invalid_token", "invalid or expired reset token").into()
            }
            AuthError::RecoveryDisabled => Problem::new(
                501,
                "not_configured",
                "email flows are not configured on this server",
            )
            .into(),
            AuthError::Company(DirectoryError::Store(e)) | AuthError::Store(e) => e.into(),
            AuthError::Company(e) => Problem::invalid_field("company_name", e.to_string()).into(),
            other => {
                tracing::error!(error = %other, "identity service failure");
                kisum_core::http::error::internal_error().into()
            }
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
