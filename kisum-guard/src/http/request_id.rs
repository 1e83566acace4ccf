//! Request ids: the one header (`X-Request-Id`), which client-supplied ids are propagated, fresh
//! UUIDv7 ids through tower-http, and [`with_request_ids`], which stamps the id into every
//! problem document a router answers.

#[cfg(feature = "axum")]
use http::header;
use http::header::{HeaderName, HeaderValue};

#[cfg(feature = "axum")]
use crate::denial::{PROBLEM_CONTENT_TYPE, Problem};

/// The request-id header, read from clients and proxies and set on every answer.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

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
