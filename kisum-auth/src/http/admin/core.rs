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
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.key));
        if let Some(id) = request_id {
            request = request.header(kisum_guard::http::REQUEST_ID_HEADER, id);
        }
        let request = match body {
            Some(b) => request
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(b.to_string())),
            None => request.body(Body::empty()),
        }
        .map_err(|e| CoreLinkError(e.to_string()))?;
        let response = self
            .router
            .clone()
            .oneshot(request)
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

/// Core over HTTP (`kisum auth` with `KISUM_CORE_URL`).
#[cfg(feature = "remote")]
#[derive(Clone)]
pub struct HttpCore {
    client: reqwest::Client,
    base: String,
    key: String,
}

#[cfg(feature = "remote")]
impl std::fmt::Debug for HttpCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpCore")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "remote")]
impl HttpCore {
    /// Calls Core at `base` (its internal base URL) presenting the service `key`.
    ///
    /// # Errors
    /// The HTTP client could not be built.
    pub fn new(base: &str, key: &str) -> Result<Self, CoreLinkError> {
        let client = reqwest::Client::builder()
            .timeout(crate::remote::RemoteEntitlements::TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| CoreLinkError(e.to_string()))?;
        Ok(Self {
            client,
            base: base.trim_end_matches('/').to_owned(),
            key: key.to_owned(),
        })
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
        let method = reqwest::Method::from_bytes(method.as_str().as_bytes())
            .map_err(|e| CoreLinkError(e.to_string()))?;
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(id) = request_id {
            request = request.header(kisum_guard::http::REQUEST_ID_HEADER, id);
        }
        if let Some(b) = body {
            request = request.json(b);
        }
        let response = request
            .send()
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
