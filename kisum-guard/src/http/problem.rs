//! [`ProblemResponse`]: the one renderer of problem documents, and every handler's error type.

use http::StatusCode;
use http::header::{self, HeaderMap, HeaderValue};

use super::REQUEST_ID_HEADER;
use crate::denial::{PROBLEM_CONTENT_TYPE, Problem};

/// A problem document on its way out: the one place where a [`Problem`] becomes an HTTP answer,
/// and the error type of every Kisum handler (`Result<T, ProblemResponse>`; domain errors map
/// into it with `From` at each crate's edge).
///
/// The status is the problem's; the body is `application/problem+json`; every answer carries
/// `Cache-Control: no-store` (errors are about this request, never to be cached) and, when the
/// problem names its request, `X-Request-Id`. A 401 carries `WWW-Authenticate: Bearer` unless a
/// more precise challenge is set; `Retry-After` is added when set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProblemResponse {
    /// The problem (boxed: handlers return `Result<_, ProblemResponse>` everywhere, and the
    /// `Err` variant stays small).
    pub problem: Box<Problem>,
    /// The `WWW-Authenticate` value, if any (for 401s).
    pub challenge: Option<String>,
    /// `Retry-After`, in whole seconds, if any (for 429 and 503).
    pub retry_after: Option<u64>,
}

impl ProblemResponse {
    /// `problem`, with no `Retry-After` and, for a 401, the challenge `Bearer`.
    #[must_use]
    pub fn new(problem: Problem) -> Self {
        let challenge =
            (problem.status == StatusCode::UNAUTHORIZED.as_u16()).then(|| "Bearer".to_owned());
        Self {
            problem: Box::new(problem),
            challenge,
            retry_after: None,
        }
    }

    /// With `WWW-Authenticate: value`.
    #[must_use]
    pub fn with_challenge(mut self, value: impl Into<String>) -> Self {
        self.challenge = Some(value.into());
        self
    }

    /// With `Retry-After: seconds`.
    #[must_use]
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// 429 `rate_limited`, with `Retry-After` in whole seconds (rounded up, at least 1).
    #[must_use]
    pub fn rate_limited(retry_after: std::time::Duration) -> Self {
        let secs = retry_after.as_secs().max(1) + u64::from(retry_after.subsec_nanos() > 0);
        Self::new(
            Problem::new(429, "rate_limited", "too many requests")
                .with_detail(format!("retry after {secs} s")),
        )
        .with_retry_after(secs)
    }

    /// The answer: the problem's status, the headers above, and the JSON body (a router maps
    /// the body into its own type with [`http::Response::map`]).
    #[must_use]
    pub fn into_http_response(self) -> http::Response<Vec<u8>> {
        let status =
            StatusCode::from_u16(self.problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(id) = &self.problem.request_id
            && let Ok(v) = HeaderValue::from_str(id)
        {
            headers.insert(REQUEST_ID_HEADER, v);
        }
        if let Some(challenge) = &self.challenge
            && let Ok(v) = HeaderValue::from_str(challenge)
        {
            headers.insert(header::WWW_AUTHENTICATE, v);
        }
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        let body = serde_json::to_vec(&self.problem).unwrap_or_default();
        let mut response = http::Response::new(body);
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        response
    }
}

/// The problems every router answers the same way.
impl Problem {
    /// 400 `invalid_request` with `detail`.
    #[must_use]
    pub fn invalid_request(detail: impl Into<String>) -> Self {
        Self::new(400, "invalid_request", "invalid request").with_detail(detail)
    }

    /// 422 `validation_failed` naming one invalid `field` (`message` is also the detail).
    #[must_use]
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        Self::new(422, "validation_failed", "validation failed").with_field(field, message)
    }

    /// Adds a field error on `field` with `message`, which also becomes the detail.
    #[must_use]
    pub fn with_field(mut self, field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        self.detail = Some(message.clone());
        self.errors.push(crate::FieldError {
            field: field.to_owned(),
            message,
        });
        self
    }

    /// 404 `not_found`: "no such `what`".
    #[must_use]
    pub fn not_found(what: &str) -> Self {
        Self::new(404, "not_found", "not found").with_detail(format!("no such {what}"))
    }

    /// 405 `method_not_allowed` (every router's method fallback).
    #[must_use]
    pub fn method_not_allowed() -> Self {
        Self::new(405, "method_not_allowed", "method not allowed")
            .with_detail("this route does not answer that method")
    }
}

impl From<crate::DenialCode> for ProblemResponse {
    fn from(code: crate::DenialCode) -> Self {
        Self::new(Problem::from(code))
    }
}

impl From<Problem> for ProblemResponse {
    fn from(problem: Problem) -> Self {
        Self::new(problem)
    }
}

#[cfg(feature = "axum")]
impl axum::response::IntoResponse for ProblemResponse {
    fn into_response(self) -> axum::response::Response {
        self.into_http_response().map(axum::body::Body::from)
    }
}

#[cfg(feature = "axum")]
impl axum::response::IntoResponse for Problem {
    fn into_response(self) -> axum::response::Response {
        ProblemResponse::new(self).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_renderer_owns_every_problem_header() {
        let problem = Problem::new(429, "rate_limited", "too many requests").with_request_id("r-1");
        let response = ProblemResponse::new(problem.clone())
            .with_retry_after(7)
            .with_challenge("Bearer")
            .into_http_response();
        let headers = response.headers();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(headers[header::CONTENT_TYPE], PROBLEM_CONTENT_TYPE);
        assert_eq!(headers[header::CACHE_CONTROL], "no-store");
        assert_eq!(headers[REQUEST_ID_HEADER], "r-1");
        assert_eq!(headers[header::RETRY_AFTER], "7");
        assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer");
        assert_eq!(
            serde_json::from_slice::<Problem>(response.body()).unwrap(),
            problem
        );
        let bare =
            ProblemResponse::new(Problem::new(404, "not_found", "not found")).into_http_response();
        let bare = bare.headers();
        assert!(!bare.contains_key(REQUEST_ID_HEADER) && !bare.contains_key(header::RETRY_AFTER));
    }
}
