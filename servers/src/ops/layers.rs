//! The layer stack every listener gets: request ids, request metrics, security headers, CORS,
//! load shedding, request timeout and body limit.

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use kisum_guard::http::{BODY_LIMIT, ProblemResponse, REQUEST_ID_HEADER};
use kisum_guard::{PROBLEM_CONTENT_TYPE, Problem};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use super::{
    DEFAULT_MAX_CONCURRENT_REQUESTS, DEFAULT_REQUEST_TIMEOUT, HTTP_REQUEST_DURATION,
    HTTP_REQUESTS_SHED_TOTAL, HTTP_REQUESTS_TOTAL, OVERLOADED_RETRY_AFTER_SECS,
};

/// Settings of [`layers`].
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Largest accepted request body in bytes; larger ones get a 413 problem.
    pub body_limit: usize,
    /// Browser origins allowed by CORS; none by default.
    pub cors_origins: Vec<HeaderValue>,
    /// Whether to send `Strict-Transport-Security` (when the public URL is https).
    pub hsts: bool,
    /// How many proxies in front of the listener append to `X-Forwarded-For` (0: none, the
    /// header is untrusted). The client address is the entry the outermost trusted proxy
    /// saw (the `n`-th from the right); with fewer entries, or an unparsable one, it is the
    /// connection's peer address (see `crate::app::finish`).
    pub trusted_proxy_hops: u8,
    /// The longest a request may take (its body read included) before it is answered 503
    /// `timeout` and its handler dropped.
    pub request_timeout: Duration,
    /// The most requests served at once (one count for the whole router); beyond it requests
    /// are answered 503 `overloaded` with `Retry-After` at once, not queued.
    pub max_concurrent_requests: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            body_limit: BODY_LIMIT,
            cors_origins: Vec::new(),
            hsts: false,
            trusted_proxy_hops: 0,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
        }
    }
}

pub use kisum_guard::http::MakeRequestUuidV7;

/// Applies the stack every server shares, outermost first:
/// 1. request id: a propagated `X-Request-Id` (at most [`MAX_REQUEST_ID_LEN`](super::MAX_REQUEST_ID_LEN) characters of
///    letters, digits, `-`, `_`, `.`, `:`) or a fresh UUIDv7, set on the request (the guard
///    and handlers read it), echoed on the response;
/// 2. a `request` tracing span carrying `request_id`, method and path (never the query), so
///    every log line of the request has the id; one `INFO` line per response;
/// 3. security headers: `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`,
///    `Referrer-Policy: no-referrer`, and HSTS when [`HttpSettings::hsts`];
/// 4. CORS for the allowed origins only (no origin by default);
/// 5. request count and latency by method, matched route and status;
/// 6. the concurrency limit: beyond [`HttpSettings::max_concurrent_requests`] requests in
///    flight, a 503 `overloaded` problem with `Retry-After: 1` at once (`/health`, `/ready` and
///    `/metrics` are never refused, so probes and scrapes see an overloaded server as alive);
/// 7. the request timeout: a request not answered within [`HttpSettings::request_timeout`]
///    (body upload included) gets a 503 `timeout` problem and its handler is dropped;
/// 8. the body limit, answered as a 413 `application/problem+json`.
///
/// Apply it last, over the whole router (ops routes included).
pub fn layers(router: Router, settings: &HttpSettings) -> Router {
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(settings.cors_origins.iter().cloned()))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            REQUEST_ID_HEADER,
            HeaderName::from_static(kisum_guard::guard::ORG_HEADER),
            HeaderName::from_static(kisum_guard::CONSISTENCY_HEADER),
        ])
        .expose_headers([
            REQUEST_ID_HEADER,
            HeaderName::from_static(kisum_guard::CONSISTENCY_HEADER),
        ])
        .max_age(Duration::from_secs(600));
    let hsts = settings
        .hsts
        .then(|| HeaderValue::from_static("max-age=63072000; includeSubDomains"));
    // One count for the whole router: `Router::layer` wraps every route on its own, so the
    // semaphore is created here and shared by the clones of the middleware.
    let edge = Arc::new(Edge {
        in_flight: Semaphore::new(settings.max_concurrent_requests.min(Semaphore::MAX_PERMITS)),
        max_in_flight: settings.max_concurrent_requests,
        timeout: settings.request_timeout,
        body_limit: settings.body_limit,
    });
    // `Router::layer` wraps in reverse: the last `.layer` is the outermost.
    router
        .layer(RequestBodyLimitLayer::new(settings.body_limit))
        // The limit above replaces axum's own 2 MB default, so both never disagree.
        .layer(DefaultBodyLimit::disable())
        // Items 5 to 8 of the stack in one middleware: each `from_fn` clones and boxes the
        // stack below it for every request.
        .layer(middleware::from_fn(move |req, next| {
            edge_of(Arc::clone(&edge), req, next)
        }))
        .layer(cors)
        .layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            hsts,
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &http::Request<axum::body::Body>| {
                    let id = req
                        .headers()
                        .get(REQUEST_ID_HEADER)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default();
                    tracing::info_span!(
                        "request",
                        request_id = %id,
                        method = %req.method(),
                        path = %req.uri().path(),
                    )
                })
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID_HEADER))
        .layer(SetRequestIdLayer::new(REQUEST_ID_HEADER, MakeRequestUuidV7))
        .layer(middleware::from_fn(drop_unusual_request_id))
}

use kisum_guard::http::drop_unusual_request_id;
#[cfg(test)]
use kisum_guard::http::usable_request_id;

/// What items 5 to 8 of [`layers`] need, shared by the clones of the middleware.
struct Edge {
    in_flight: Semaphore,
    max_in_flight: usize,
    timeout: Duration,
    body_limit: usize,
}

/// Counts and times the request by method, matched route and status, around the rest of
/// [`edge_of`]'s work.
async fn edge_of(edge: Arc<Edge>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = match *req.method() {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    };
    let response = shed_load(&edge, req, next).await;
    let labels = [
        ("method", method.to_owned()),
        ("route", route),
        ("status", response.status().as_u16().to_string()),
    ];
    metrics::counter!(HTTP_REQUESTS_TOTAL, &labels).increment(1);
    metrics::histogram!(HTTP_REQUEST_DURATION, &labels).record(start.elapsed().as_secs_f64());
    response
}

/// Turns any 413 that is not already a problem document (the body limit's, an extractor's)
/// into one.
fn problem_for_too_large(
    limit: usize,
    request_id: Option<&HeaderValue>,
    response: Response,
) -> Response {
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_CONTENT_TYPE.as_bytes()));
    if response.status() != StatusCode::PAYLOAD_TOO_LARGE || is_problem {
        return response;
    }
    let problem = Problem::new(413, "payload_too_large", "Request body too large")
        .with_detail(format!("the request body exceeds {limit} bytes"));
    with_request_id(problem, request_id).into_response()
}

/// `problem` with the request's id, when it has a readable one.
fn with_request_id(problem: Problem, request_id: Option<&HeaderValue>) -> Problem {
    match request_id.and_then(|v| v.to_str().ok()) {
        Some(id) => problem.with_request_id(id),
        None => problem,
    }
}

/// Answers 503 `timeout` when the rest of the stack has not answered within the timeout (the
/// handler, and the body it reads, are dropped); a bare 413 below becomes a problem.
async fn answer_within(edge: &Edge, req: Request, next: Next) -> Response {
    // A clone of the header shares its bytes: nothing is copied unless a problem needs it.
    let request_id = req.headers().get(REQUEST_ID_HEADER).cloned();
    if let Ok(response) = tokio::time::timeout(edge.timeout, next.run(req)).await {
        return problem_for_too_large(edge.body_limit, request_id.as_ref(), response);
    }
    tracing::warn!(
        timeout_ms = edge.timeout.as_millis(),
        "request timed out: answered 503"
    );
    let problem = Problem::new(503, "timeout", "Request timed out").with_detail(format!(
        "the request was not answered within {} ms",
        edge.timeout.as_millis()
    ));
    with_request_id(problem, request_id.as_ref()).into_response()
}

/// Whether `path` is an ops endpoint, which load shedding never refuses.
fn is_ops_path(path: &str) -> bool {
    matches!(path, "/health" | "/ready" | "/metrics")
}

/// Serves the request while fewer than the most allowed are in flight; otherwise answers 503
/// `overloaded` with `Retry-After` at once (no queue: a flood cannot pile up work).
async fn shed_load(edge: &Edge, req: Request, next: Next) -> Response {
    if is_ops_path(req.uri().path()) {
        return answer_within(edge, req, next).await;
    }
    let Ok(permit) = edge.in_flight.try_acquire() else {
        metrics::counter!(HTTP_REQUESTS_SHED_TOTAL).increment(1);
        let problem = Problem::new(503, "overloaded", "Server overloaded").with_detail(format!(
            "{} requests are in flight on this listener; retry shortly",
            edge.max_in_flight
        ));
        let problem = with_request_id(problem, req.headers().get(REQUEST_ID_HEADER));
        return ProblemResponse::new(problem)
            .with_retry_after(OVERLOADED_RETRY_AFTER_SECS)
            .into_response();
    };
    let response = answer_within(edge, req, next).await;
    drop(permit);
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::MAX_REQUEST_ID_LEN;

    #[test]
    fn request_ids_worth_propagating() {
        assert!(usable_request_id(&HeaderValue::from_static(
            "abc-123_x.y:z"
        )));
        assert!(!usable_request_id(&HeaderValue::from_static("")));
        assert!(!usable_request_id(&HeaderValue::from_static("a b")));
        assert!(!usable_request_id(&HeaderValue::from_static(
            "{\"json\":1}"
        )));
        let long = "a".repeat(MAX_REQUEST_ID_LEN + 1);
        assert!(!usable_request_id(&HeaderValue::from_str(&long).unwrap()));
    }
}
