//! axum extractors (feature `axum`): [`Principal`], `Option<Principal>` and [`Access`].
//!
//! A handler taking them on a route without the guard is a wiring error: it answers 500 with
//! code `guard_missing` and logs why, never a misleading 401. [`Access`] on a guarded route
//! whose requirement resolves no company is a wiring error of its own: 500
//! `access_not_resolved`.

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use super::decide::{Access, Guarded, Principal};
use crate::denial::{DenialCode, Problem};

/// Why an extractor could not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtractError {
    /// The guard layer is not installed on this route.
    GuardMissing,
    /// The route's requirement does not resolve access (no `X-Org` needed), so there is no
    /// [`Access`] to hand out.
    NoAccess,
}

impl IntoResponse for ExtractError {
    fn into_response(self) -> Response {
        tracing::error!(
            ?self,
            "kisum-guard extractor used on a route whose guard does not provide it"
        );
        let problem = match self {
            Self::GuardMissing => Problem::new(500, "guard_missing", "server misconfiguration")
                .with_detail("this route is not protected by the Kisum guard layer"),
            Self::NoAccess => Problem::new(500, "access_not_resolved", "server misconfiguration")
                .with_detail("this route's guard requirement does not resolve company access"),
        };
        problem.into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Response> {
        let guarded = parts.extensions.get::<Guarded>();
        if let Some(p) = guarded.and_then(|g| g.principal.as_ref()) {
            return Ok(p.clone());
        }
        if guarded.is_some() {
            // An optional route without a token, extracted as if required.
            let p = Problem::from(DenialCode::Unauthenticated);
            return Err(crate::http::ProblemResponse::new(p)
                .with_challenge("Bearer")
                .into_response());
        }
        Err(ExtractError::GuardMissing.into_response())
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Principal {
    type Rejection = ExtractError;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, ExtractError> {
        let guarded = parts
            .extensions
            .get::<Guarded>()
            .ok_or(ExtractError::GuardMissing)?;
        Ok(guarded.principal.clone())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Access {
    type Rejection = ExtractError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ExtractError> {
        let guarded = parts
            .extensions
            .get::<Guarded>()
            .ok_or(ExtractError::GuardMissing)?;
        guarded.access.clone().ok_or(ExtractError::NoAccess)
    }
}
