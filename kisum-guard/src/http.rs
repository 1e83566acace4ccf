//! The HTTP edge every Kisum listener shares — the guard layer, Auth, Core, the reference module
//! and the servers' own answers: one bearer parser, one request-id header, and one renderer of
//! problem documents ([`ProblemResponse`]) that owns the content type, `Cache-Control: no-store`,
//! `WWW-Authenticate`, `Retry-After` and `X-Request-Id`.

use http::StatusCode;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::denial::{PROBLEM_CONTENT_TYPE, Problem};

/// The request-id header, read from clients and proxies and set on every answer.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The default request body limit of every Kisum listener (1 MiB).
pub const BODY_LIMIT: usize = 1 << 20;

/// The longest request id propagated from a client or proxy; longer ones are replaced.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// Whether a client-supplied request id is safe to propagate into logs and responses: 1 to
/// [`MAX_REQUEST_ID_LEN`] letters, digits, `-`, `_`, `.` or `:`.
#[must_use]
pub fn usable_request_id(v: &HeaderValue) -> bool {
    let b = v.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_REQUEST_ID_LEN
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b':'))
}

/// Fresh request ids for tower-http's `SetRequestIdLayer`: UUIDv7, so they sort by time.
#[cfg(feature = "axum")]
#[derive(Debug, Clone, Copy, Default)]
pub struct MakeRequestUuidV7;

#[cfg(feature = "axum")]
impl tower_http::request_id::MakeRequestId for MakeRequestUuidV7 {
    fn make_request_id<B>(
        &mut self,
        _request: &http::Request<B>,
    ) -> Option<tower_http::request_id::RequestId> {
        HeaderValue::from_str(&uuid::Uuid::now_v7().to_string())
            .ok()
            .map(tower_http::request_id::RequestId::new)
    }
}

/// The request id tower-http's `SetRequestIdLayer` put on the request, if any.
#[cfg(feature = "axum")]
#[must_use]
pub fn request_id_of(extensions: &http::Extensions) -> Option<String> {
    extensions
        .get::<tower_http::request_id::RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .map(str::to_owned)
}

/// Request ids for a whole router, with tower-http: a usable `X-Request-Id` from the client
/// or a proxy is kept ([`usable_request_id`]; anything else is dropped), otherwise a fresh
/// UUIDv7 is set; the id is on the request ([`request_id_of`]), echoed on the response,
/// written into every problem document, and carried by a `request` tracing span.
#[cfg(feature = "axum")]
pub fn with_request_ids<S: Clone + Send + Sync + 'static>(
    router: axum::Router<S>,
) -> axum::Router<S> {
    // `Router::layer` wraps in reverse: the last one is the outermost.
    router
        .layer(axum::middleware::from_fn(stamp_problems))
        .layer(tower_http::request_id::PropagateRequestIdLayer::new(
            REQUEST_ID_HEADER,
        ))
        .layer(tower_http::request_id::SetRequestIdLayer::new(
            REQUEST_ID_HEADER,
            MakeRequestUuidV7,
        ))
        .layer(axum::middleware::from_fn(drop_unusual_request_id))
}

/// Removes a client-sent `X-Request-Id` that is not [usable](usable_request_id) (or sent
/// twice), so a fresh one is made.
#[cfg(feature = "axum")]
pub async fn drop_unusual_request_id(
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let usable = request
        .headers()
        .get_all(REQUEST_ID_HEADER)
        .iter()
        .enumerate()
        .all(|(i, v)| i == 0 && usable_request_id(v));
    if !usable {
        request.headers_mut().remove(REQUEST_ID_HEADER);
    }
    next.run(request).await
}

/// Writes the request's id into the problem document a handler answered (handlers render
/// problems without knowing the request), inside a `request` span.
#[cfg(feature = "axum")]
async fn stamp_problems(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let Some(id) = request_id_of(request.extensions()) else {
        return next.run(request).await;
    };
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %request.uri().path()
    );
    let response = tracing::Instrument::instrument(next.run(request), span).await;
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_CONTENT_TYPE.as_bytes()));
    if !is_problem {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let body = match serde_json::from_slice::<Problem>(&bytes) {
        Ok(problem) if problem.request_id.as_deref() != Some(id.as_str()) => {
            serde_json::to_vec(&problem.with_request_id(id)).unwrap_or_else(|_| bytes.to_vec())
        }
        _ => bytes.to_vec(),
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    axum::response::Response::from_parts(parts, axum::body::Body::from(body))
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive, surrounding
/// spaces trimmed), or `None` when there is no such header or it is empty.
///
/// ```
/// use http::HeaderMap;
/// let mut h = HeaderMap::new();
/// h.insert("authorization", "bearer  abc ".parse().unwrap());
/// assert_eq!(kisum_guard::http::bearer(&h), Some("abc"));
/// h.insert("authorization", "Basic abc".parse().unwrap());
/// assert_eq!(kisum_guard::http::bearer(&h), None);
/// ```
#[must_use]
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

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

/// A JSON request body, the same in every Kisum router: anything but
/// `Content-Type: application/json` or malformed JSON is 400 `invalid_request`; a body over the
/// size limit 413 `payload_too_large`; a body that parses but does not fit `T` is 422
/// `validation_failed` naming the field from the deserializer's path
/// ([`FieldError::from_path_error`](crate::FieldError::from_path_error)).
#[cfg(feature = "axum")]
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

#[cfg(feature = "axum")]
impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequest<S> for ApiJson<T> {
    type Rejection = ProblemResponse;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ProblemResponse> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(str::trim)
            .is_some_and(|m| {
                let m = m.to_ascii_lowercase();
                m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
            });
        if !json {
            return Err(Problem::invalid_request(
                "Expected request with `Content-Type: application/json`",
            )
            .into());
        }
        let bytes = <bytes::Bytes as axum::extract::FromRequest<S>>::from_request(req, state)
            .await
            .map_err(|_| Problem::new(413, "payload_too_large", "request body too large"))?;
        decode_json(&bytes).map(Self)
    }
}

/// Decodes a JSON body into `T` with the problem [`ApiJson`] answers when it cannot.
///
/// # Errors
/// 400 `invalid_request` for malformed JSON, 422 `validation_failed` (naming the field) for a
/// body that does not fit `T`.
#[cfg(feature = "axum")]
pub fn decode_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ProblemResponse> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        use serde_json::error::Category;
        match e.inner().classify() {
            Category::Data => {
                let field = crate::FieldError::from_path_error(&e);
                let mut p = Problem::new(422, "validation_failed", "validation failed")
                    .with_detail(format!(
                        "Failed to deserialize the JSON body into the target type: {e}"
                    ));
                p.errors.push(field);
                p
            }
            Category::Syntax | Category::Eof | Category::Io => malformed(&e),
        }
    })?;
    // Trailing characters after the value.
    de.end().map_err(|e| malformed(&e))?;
    Ok(value)
}

#[cfg(feature = "axum")]
fn malformed(e: &dyn std::fmt::Display) -> Problem {
    Problem::invalid_request(format!("Failed to parse the request body as JSON: {e}"))
}

/// Mounts each handler at its path, so that a route cannot exist without its OpenAPI document.
///
/// In a crate built with its `openapi` feature (the `cfg` is the *calling* crate's), every route
/// comes from its handler's `#[utoipa::path]` through `utoipa_axum::routes!`, into a
/// `utoipa_axum::router::OpenApiRouter<$state>`; without it (an embedder that wants no utoipa),
/// the same handlers are mounted as a plain `axum::Router<$state>` at the paths written in the
/// call. Also answers the `(method, path)`s written, for a test comparing them with the document.
///
/// ```text
/// let (routes, mounted) = kisum_guard::documented_routes! { MyState;
///     "/v1/things" => get list_things, post create_thing;
///     "/internal/v1/things/{id}" => delete delete_thing (scoped ServiceScope::Admin);
/// };
/// ```
///
/// `scoped` guards the route by a service-key scope ([`scoped`]).
#[macro_export]
macro_rules! documented_routes {
    ($state:ty; $($path:literal => $($method:ident $handler:ident),+ $((scoped $scope:expr))?;)+) => {{
        #[cfg(feature = "openapi")]
        let router = ::utoipa_axum::router::OpenApiRouter::<$state>::new()
            $(.routes({
                let route = ::utoipa_axum::routes!($($handler),+);
                $(let route = {
                    let (schemas, paths, method_router) = route;
                    (schemas, paths, $crate::http::scoped(method_router, $scope))
                };)?
                route
            }))+;
        #[cfg(not(feature = "openapi"))]
        let router = ::axum::Router::<$state>::new()
            $(.route($path, {
                let route = ::axum::routing::MethodRouter::new()$(.$method($handler))+;
                $(let route = $crate::http::scoped(route, $scope);)?
                route
            }))+;
        (router, [$($((stringify!($method), $path)),+),+])
    }};
}

/// The service whose key an internal request carried, and what that key may call: put in the
/// request's extensions by [`service_key`] (for handlers and the audit log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceCaller {
    /// The key's name (never its secret).
    pub name: String,
    /// The key's scopes.
    pub scopes: crate::Scopes,
}

/// Middleware of an internal listener (with `axum::middleware::from_fn_with_state(keys, ..)`):
/// requires `Authorization: Bearer <secret>` matching one of `keys` (compared in constant time)
/// and records the [`ServiceCaller`]; anything else is answered 401 `unauthenticated`.
///
/// # Errors
/// None: a refusal is the response.
#[cfg(feature = "axum")]
pub async fn service_key(
    axum::extract::State(keys): axum::extract::State<crate::ServiceKeys>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let presented = bearer(request.headers()).unwrap_or_default();
    match keys.identify(presented) {
        Some(caller) => {
            tracing::debug!(service = caller.name.as_str(), "service key accepted");
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        None => {
            tracing::info!("internal request without a valid service key");
            ProblemResponse::new(
                Problem::from(crate::DenialCode::Unauthenticated)
                    .with_detail("a valid service key is required"),
            )
            .with_challenge("Bearer")
            .into_response()
        }
    }
}

/// The edge every internal listener shares, around its `routes`: callers need a service key
/// ([`service_key`] over `keys`), unknown routes answer 404 and wrong methods 405 as problems,
/// bodies are bounded by [`BODY_LIMIT`], and requests carry ids ([`with_request_ids`]).
#[cfg(feature = "axum")]
pub fn internal_edge<S: Clone + Send + Sync + 'static>(
    routes: axum::Router<S>,
    keys: crate::ServiceKeys,
    state: S,
) -> axum::Router {
    let router = routes
        .fallback(|| async { Problem::not_found("route") })
        .method_not_allowed_fallback(|| async { Problem::method_not_allowed() })
        .layer(axum::middleware::from_fn_with_state(keys, service_key))
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state);
    with_request_ids(router)
}

/// `route` callable only with a service key holding `scope` (after [`service_key`]); others are
/// answered 403 `insufficient_scope`. Method-not-allowed answers are unaffected.
#[cfg(feature = "axum")]
pub fn scoped<S: Clone + Send + Sync + 'static>(
    route: axum::routing::MethodRouter<S>,
    scope: crate::ServiceScope,
) -> axum::routing::MethodRouter<S> {
    use axum::response::IntoResponse as _;
    route.route_layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| async move {
            match request.extensions().get::<ServiceCaller>() {
                Some(c) if c.scopes.contains(scope) => next.run(request).await,
                caller => {
                    let name = caller.map_or("?", |c| c.name.as_str());
                    Problem::new(403, "insufficient_scope", "insufficient scope")
                        .with_detail(format!("service key `{name}` lacks the `{scope}` scope"))
                        .into_response()
                }
            }
        },
    ))
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

    #[test]
    fn bearer_tokens_are_parsed_one_way() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        for (value, want) in [
            ("Bearer abc", Some("abc")),
            ("BEARER abc", Some("abc")),
            ("Bearer   ", None),
            ("Bearer", None),
            ("Token abc", None),
        ] {
            h.insert(header::AUTHORIZATION, value.parse().unwrap());
            assert_eq!(bearer(&h), want, "{value}");
        }
    }
}
