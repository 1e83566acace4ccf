//! What Core's handlers extract from a request: the acting service key, path parameters whose
//! rejections are problem documents, and the checks of path keys and display names.

use std::str::FromStr;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use kisum_guard::http::{ProblemResponse, ServiceCaller};
use kisum_guard::{InvalidId, Problem};

use crate::admin::Actor;

/// The acting service key (and request id) of a write, for the audit log.
pub(super) struct Caller(pub(super) Actor);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ProblemResponse;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let ServiceCaller { name, .. } = parts
            .extensions
            .get::<ServiceCaller>()
            .ok_or_else(|| ProblemResponse::from(kisum_guard::DenialCode::Unauthenticated))?;
        let actor = Actor::new(name.as_str());
        Ok(Self(
            match kisum_guard::http::request_id_of(&parts.extensions) {
                Some(id) => actor.with_request_id(id.as_str()),
                None => actor,
            },
        ))
    }
}

/// Path parameters whose rejections are problem documents (400).
pub(super) struct ApiPath<T>(pub(super) T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ProblemResponse;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(v)) => Ok(Self(v)),
            Err(rejection) => Err(Problem::invalid_request(rejection.body_text()).into()),
        }
    }
}

/// Parses a path parameter; an invalid one is 400 `invalid_request`.
pub(super) fn parse<T: FromStr<Err = InvalidId>>(s: &str) -> Result<T, ProblemResponse> {
    s.parse()
        .map_err(|e: InvalidId| Problem::invalid_request(e.to_string()).into())
}

/// A display name: not blank.
pub(super) fn name(name: String) -> Result<String, ProblemResponse> {
    if name.trim().is_empty() {
        Err(Problem::invalid_field("name", "name must not be empty").into())
    } else {
        Ok(name)
    }
}
