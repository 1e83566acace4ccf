//! Problem documents for the Core router: every failure is a status, a machine `code` and a
//! human `title`; an unreachable store answers 503, any other store failure 500, never a panic.

use axum::extract::rejection::PathRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kisum_guard::{DenialCode, FieldError, Problem};

use crate::db::{StoreError, StoreErrorKind};
use crate::service::EntitlementError;

/// An error answered as `application/problem+json`.
#[derive(Debug)]
pub struct ApiError {
    // Boxed: handlers return `Result<_, ApiError>` everywhere; keep the `Err` variant small.
    problem: Box<Problem>,
}

impl ApiError {
    /// A problem with `status`, `code` and `title`.
    #[must_use]
    pub fn new(status: StatusCode, code: &str, title: &str) -> Self {
        Self {
            problem: Box::new(Problem::new(status.as_u16(), code, title)),
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

    /// 404 `not_found`.
    #[must_use]
    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "not found").detail(format!("no such {what}"))
    }

    /// 401 `unauthenticated` (answered with `WWW-Authenticate: Bearer`).
    #[must_use]
    pub fn unauthenticated() -> Self {
        Self {
            problem: Box::new(Problem::from(DenialCode::Unauthenticated)),
        }
    }

    /// An entitlement change refused: unknown keys and invalid references are 422 on `field`
    /// (the request field naming the key), a company add-on not held is 404, a store failure
    /// as `From<StoreError>` (503 when unavailable, 500 otherwise).
    #[must_use]
    pub fn entitlement(e: EntitlementError, field: &str) -> Self {
        match e {
            EntitlementError::UnknownModule(_)
            | EntitlementError::UnknownPackage(_)
            | EntitlementError::UnknownAddOn(_)
            | EntitlementError::AddOnForCoreModule { .. } => {
                Self::invalid_field(field, e.to_string())
            }
            EntitlementError::ForeignPermission { .. } => {
                Self::invalid_field("permissions", e.to_string())
            }
            EntitlementError::AddOnNotHeld(_) => {
                Self::new(StatusCode::NOT_FOUND, "not_found", "not found").detail(e.to_string())
            }
            EntitlementError::Store(e) => e.into(),
        }
    }

    /// The problem document.
    #[must_use]
    pub fn problem(&self) -> &Problem {
        &self.problem
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if e.kind() == StoreErrorKind::Unavailable {
            tracing::warn!(error = %e, "store unavailable");
            Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "a dependency is unavailable; retry later",
            )
        } else {
            tracing::error!(error = %e, "store failure");
            Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "internal error",
            )
        }
    }
}

impl From<Problem> for ApiError {
    fn from(problem: Problem) -> Self {
        Self {
            problem: Box::new(problem),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        Self::invalid_request(r.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let unauthorized = self.problem.status == StatusCode::UNAUTHORIZED.as_u16();
        let mut answer = kisum_guard::http::ProblemResponse::new(*self.problem);
        if unauthorized {
            answer = answer.with_challenge("Bearer");
        }
        answer.into_response()
    }
}
