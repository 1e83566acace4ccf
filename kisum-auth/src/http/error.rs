//! Problem documents for the Auth routers: every failure is a status, a machine `code` and a
//! human `title`; stores failing answer 503, never a panic.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kisum_core::db::{StoreError, StoreErrorKind};
use kisum_guard::{DenialCode, FieldError, Problem};

use crate::access::AccessError;
use crate::service::AuthError;

/// An error answered as `application/problem+json`.
#[derive(Debug)]
pub struct ApiError {
    problem: Problem,
    bearer_challenge: bool,
    retry_after: Option<u64>,
}

impl ApiError {
    /// A problem with `status`, `code` and `title`.
    #[must_use]
    pub fn new(status: StatusCode, code: &str, title: &str) -> Self {
        Self {
            problem: Problem::new(status.as_u16(), code, title),
            bearer_challenge: status == StatusCode::UNAUTHORIZED,
            retry_after: None,
        }
    }

    /// Adds a detail.
    #[must_use]
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.problem.detail = Some(detail.into());
        self
    }

    /// 400 `invalid_request`.
    #[must_use]
    pub fn invalid_request(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "invalid request",
        )
        .detail(detail)
    }

    /// 422 `validation_failed` with one field error.
    #[must_use]
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut e = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "validation failed",
        )
        .detail(message.clone());
        e.problem.errors.push(FieldError {
            field: field.to_owned(),
            message,
        });
        e
    }

    /// Names `field` as the cause (keeping the detail as its message).
    #[must_use]
    pub fn field(mut self, field: &str) -> Self {
        let message = self.problem.detail.clone().unwrap_or_default();
        self.problem.errors.push(FieldError {
            field: field.to_owned(),
            message,
        });
        self
    }

    /// 404 `not_found`.
    #[must_use]
    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "not found").detail(format!("no such {what}"))
    }

    /// 429 `rate_limited` with `Retry-After` (whole seconds, at least 1).
    #[must_use]
    pub fn rate_limited(retry_after: std::time::Duration) -> Self {
        let secs = retry_after.as_secs().max(1) + u64::from(retry_after.subsec_nanos() > 0);
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many requests",
        )
        .detail(format!("retry after {secs} s"));
        e.retry_after = Some(secs);
        e
    }

    /// 401 `unauthenticated`.
    #[must_use]
    pub fn unauthenticated() -> Self {
        DenialCode::Unauthenticated.into()
    }

    /// The problem document.
    #[must_use]
    pub fn problem(&self) -> &Problem {
        &self.problem
    }
}

impl From<DenialCode> for ApiError {
    fn from(code: DenialCode) -> Self {
        let status = StatusCode::from_u16(code.status()).unwrap_or(StatusCode::FORBIDDEN);
        Self {
            problem: Problem::from(code),
            bearer_challenge: status == StatusCode::UNAUTHORIZED,
            retry_after: None,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e.kind() {
            StoreErrorKind::Unavailable => {
                tracing::warn!(error = %e, "store unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "a dependency is unavailable; retry later",
                )
            }
            StoreErrorKind::NotFound => Self::new(StatusCode::NOT_FOUND, "not_found", "not found"),
            StoreErrorKind::Conflict => Self::new(StatusCode::CONFLICT, "conflict", "conflict"),
            _ => {
                tracing::error!(error = %e, "store failure");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "a dependency failed; retry later",
                )
            }
        }
    }
}

impl From<AccessError> for ApiError {
    fn from(e: AccessError) -> Self {
        match e {
            AccessError::Denied(code) => code.into(),
            AccessError::Unavailable(e) => e.into(),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let unauthorized =
            |code: &str, title: &str| Self::new(StatusCode::UNAUTHORIZED, code, title);
        match e {
            AuthError::InvalidEmail => Self::invalid_field("email", "not a valid email address"),
            AuthError::WeakPassword(v) => Self::invalid_field("password", v.to_string()),
            AuthError::EmailTaken => Self::new(
                StatusCode::CONFLICT,
                "email_taken",
                "email already registered",
            ),
            AuthError::InvalidCredentials => {
                unauthorized("invalid_credentials", "invalid email or password")
            }
            AuthError::InvalidRefreshToken => {
                unauthorized("invalid_refresh_token", "invalid refresh token")
            }
            AuthError::RefreshTokenReused => {
                unauthorized("refresh_token_reused", "refresh token reused")
                    .detail("the session was revoked")
            }
            AuthError::Unauthenticated => DenialCode::Unauthenticated.into(),
            AuthError::SessionRevoked => DenialCode::SessionRevoked.into(),
            AuthError::SessionNotFound => Self::not_found("session"),
            AuthError::UserNotFound => Self::not_found("user"),
            AuthError::Overloaded => {
                let mut e = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "overloaded",
                    "too many sign-ins at once",
                )
                .detail("every password-hashing worker is busy; retry shortly");
                e.retry_after = Some(1);
                e
            }
            AuthError::InvalidCode => unauthorized("invalid_code", "invalid code"),
            AuthError::OtpLocked(after) => {
                let mut e = Self::rate_limited(after);
                e.problem.code = "otp_locked".to_owned();
                e.problem.type_uri = "urn:kisum:problem:otp_locked".to_owned();
                e.problem.title = "too many wrong codes".to_owned();
                e
            }
            AuthError::InvalidResetToken => Self::new(
                StatusCode::BAD_REQUEST,
                "invalid_token",
                "invalid or expired reset token",
            ),
            AuthError::RecoveryDisabled => Self::new(
                StatusCode::NOT_IMPLEMENTED,
                "not_configured",
                "email flows are not configured on this server",
            ),
            AuthError::Company(crate::admin::DirectoryError::Store(e)) => e.into(),
            AuthError::Company(e) => Self::invalid_field("company_name", e.to_string()),
            AuthError::Store(e) => e.into(),
            other => {
                tracing::error!(error = %other, "identity service failure");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "internal error",
                )
            }
        }
    }
}

impl From<Problem> for ApiError {
    fn from(problem: Problem) -> Self {
        Self {
            problem,
            bearer_challenge: false,
            retry_after: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut answer = kisum_guard::http::ProblemResponse::new(self.problem);
        answer.retry_after = self.retry_after;
        if self.bearer_challenge {
            answer = answer.with_challenge("Bearer");
        }
        answer.into_response()
    }
}
