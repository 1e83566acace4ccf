//! A refusal as an HTTP answer, rendered by the one renderer of `kisum_guard::http`.
//!
//! The guard only decides what goes on top of the problem: its request id (the request's, or a
//! fresh one) and the `WWW-Authenticate` challenge of a 401 (plain `Bearer` when no token was
//! sent, `invalid_token` otherwise).

use bytes::Bytes;
use http::Response;
use http_body_util::{Either, Full};

use crate::denial::Problem;
use crate::http::ProblemResponse;

/// The body of a guarded response: the inner service's, or a problem document.
pub type GuardBody<B> = Either<B, Full<Bytes>>;

/// The detail of the refusal of a request that sent no token.
pub(crate) const NO_TOKEN: &str = "a bearer access token is required";

/// Renders the guard's refusal `problem` of the request `request_id` (a fresh UUIDv7 when the
/// request had none).
pub(crate) fn refusal<B>(mut problem: Problem, request_id: Option<&str>) -> Response<GuardBody<B>> {
    let request_id = request_id.map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned);
    problem.request_id = Some(request_id);
    let challenge = (problem.status == 401).then(|| match problem.code.as_str() {
        "unauthenticated" if problem.detail.as_deref() == Some(NO_TOKEN) => "Bearer".to_owned(),
        _ => format!(
            "Bearer error=\"invalid_token\", error_description=\"{}\"",
            problem.code
        ),
    });
    let mut answer = ProblemResponse::new(problem);
    answer.challenge = challenge;
    answer
        .into_http_response()
        .map(|body| Either::Right(Full::new(Bytes::from(body))))
}
