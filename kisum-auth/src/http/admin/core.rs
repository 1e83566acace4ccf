//! How the administration routes reach Core: [`CoreLink`], a call to one of Core's internal
//! routes presenting Auth's own service key, in process ([`InProcessCore`], Core's router in
//! the same binary) or over HTTP (`HttpCore`, feature `remote`). Core's answer is passed on as
//! it is (its 422s name the field); only a refusal of Auth's key or an unreachable Core become
//! Auth's own 503, since the administrator can do nothing about either.

use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, Request, StatusCode, header};
use kisum_guard::Problem;
use kisum_guard::http::ProblemResponse;

/// Core's answer to one call.
#[derive(Debug, Clone, PartialEq)]
pub struct CoreAnswer {
    /// Its status.
    pub status: StatusCode,
    /// Its JSON body (`null` when it had none or it was not JSON).
    pub body: serde_json::Value,
}

/// Why Core could not be asked.
#[derive(Debug, thiserror::Error)]
#[error("core unreachable: {0}")]
pub struct CoreLinkError(pub String);

/// A call to Core's internal listener with Auth's service key.
#[async_trait]
pub trait CoreLink: Send + Sync + 'static {
    /// Sends `method path` (path and query, starting `/internal/v1/`) with the JSON `body`,
    /// presenting Auth's service key and the request id.
    ///
    /// # Errors
    /// Core could not be reached, or its answer could not be read.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        request_id: Option<&str>,
    ) -> Result<CoreAnswer, CoreLinkError>;
}

/// Core's internal router in the same process (`kisum dev`, tests), called as a tower service
/// with the service key, exactly as over HTTP.
#[derive(Clone)]
pub struct InProcessCore {
    router: axum::Router,
    key: String,
}

impl InProcessCore {
    /// Calls `router` (Core's internal router) presenting `key`.
    #[must_use]
    pub fn new(router: axum::Router, key: impl Into<String>) -> Self {
        Self {
            router,
            key: key.into(),
        }
    }
}

impl std::fmt::Debug for InProcessCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessCore").finish_non_exhaustive()
    }
}

/// The most of Core's answer read.
const ANSWER_LIMIT: usize = 4 * 1024 * 1024;

fn json_of(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap_or(serde_json::Value::Null)
}

/// The request of one call, as both links send it: `method uri` presenting `key`, with the
/// request id and the JSON `body`.
fn core_request(
    method: Method,
    uri: String,
    key: &str,
    body: Option<&serde_json::Value>,
    request_id: Option<&str>,
) -> Result<Request<String>, CoreLinkError> {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {key}"));
    if let Some(id) = request_id {
        request = request.header(kisum_guard::http::REQUEST_ID_HEADER, id);
    }
    let body = match body {
        Some(b) => {
            request = request.header(header::CONTENT_TYPE, "application/json");
            b.to_string()
        }
        None => String::new(),
    };
    request.body(body).map_err(|e| CoreLinkError(e.to_string()))
}

#[async_trait]
impl CoreLink for InProcessCore {
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        request_id: Option<&str>,
    ) -> Result<CoreAnswer, CoreLinkError> {
        use tower::ServiceExt as _;
        let request = core_request(method, path.to_owned(), &self.key, body, request_id)?;
        let response = self
            .router
            .clone()
            .oneshot(request.map(Body::from))
            .await
            .map_err(|e| CoreLinkError(e.to_string()))?;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), ANSWER_LIMIT)
            .await
            .map_err(|e| CoreLinkError(e.to_string()))?;
        Ok(CoreAnswer {
            status,
            body: json_of(&bytes),
        })
    }
}

/// Core over HTTP (`kisum auth` with `KISUM_CORE_URL`), on the client Auth's
/// [`RemoteEntitlements`](crate::remote::RemoteEntitlements) uses.
#[cfg(feature = "remote")]
#[derive(Debug, Clone)]
pub struct HttpCore {
    core: crate::remote::CoreClient,
}

#[cfg(feature = "remote")]
impl HttpCore {
    /// Calls Core with `core`: its base URL, service key and timeouts.
    #[must_use]
    pub fn new(core: crate::remote::CoreClient) -> Self {
        Self { core }
    }
}

#[cfg(feature = "remote")]
#[async_trait]
impl CoreLink for HttpCore {
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        request_id: Option<&str>,
    ) -> Result<CoreAnswer, CoreLinkError> {
        let request = core_request(
            method,
            self.core.url(path),
            self.core.key(),
            body,
            request_id,
        )?;
        let request =
            reqwest::Request::try_from(request).map_err(|e| CoreLinkError(e.to_string()))?;
        let response = self
            .core
            .execute(request)
            .await
            .map_err(|e| CoreLinkError(e.without_url().to_string()))?;
        let status = StatusCode::from_u16(response.status().as_u16())
            .map_err(|e| CoreLinkError(e.to_string()))?;
        let bytes = response
            .bytes()
            .await
            .map_err(|e| CoreLinkError(e.without_url().to_string()))?;
        Ok(CoreAnswer {
            status,
            body: json_of(&bytes),
        })
    }
}

/// The [`CoreLink`] of the administration routes, carried as a request extension (see
/// [`with_core`](super::with_core)).
#[derive(Clone)]
pub(crate) struct CoreHandle(pub(crate) Arc<dyn CoreLink>);

/// The core link of a request, if the router was given one.
#[derive(Clone)]
pub(crate) struct Core(pub(super) Option<Arc<dyn CoreLink>>);

impl<S: Send + Sync> FromRequestParts<S> for Core {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts.extensions.get::<CoreHandle>().map(|h| h.0.clone()),
        ))
    }
}

/// 503 `core_unavailable`: Core is not configured, unreachable, or refused Auth's key.
pub(super) fn core_unavailable(detail: &str) -> ProblemResponse {
    Problem::new(503, "core_unavailable", "core is unavailable")
        .with_detail(detail)
        .into()
}

impl Core {
    /// Calls Core; its answer, or 503 when it cannot be had.
    pub(super) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        request_id: Option<&str>,
    ) -> Result<CoreAnswer, ProblemResponse> {
        let Some(link) = &self.0 else {
            return Err(core_unavailable("no core link is configured"));
        };
        let answer = link
            .call(method, path, body, request_id)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "platform administration: core unreachable");
                core_unavailable("core is unreachable")
            })?;
        if matches!(
            answer.status,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        ) || answer.status.is_server_error()
        {
            tracing::warn!(status = %answer.status, path, "platform administration: core refused");
            return Err(core_unavailable("core refused the call"));
        }
        Ok(answer)
    }
}
