//! The guarded tower [`Service`](tower::Service): locates the company, asks the
//! [decision](super::AccessGuard) and either hands the request on with a [`Guarded`] extension
//! or answers the problem.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use http_body_util::Either;
use tracing::Instrument as _;

use super::AccessGuard;
use super::require::{ORG_HEADER, OrgFrom, Require};
use super::response::{GuardBody, refusal};
use crate::denial::DenialCode;
use crate::http::REQUEST_ID_HEADER;

/// The guarded service.
#[derive(Clone)]
pub struct Guard<S> {
    pub(super) inner: S,
    pub(super) guard: AccessGuard,
    pub(super) require: Arc<Require>,
}

impl<S> std::fmt::Debug for Guard<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("require", &self.require)
            .finish_non_exhaustive()
    }
}

/// [`ORG_HEADER`] as a parsed name: a lookup by `&str` parses and lowercases the name on every
/// request.
const ORG: http::HeaderName = http::HeaderName::from_static(ORG_HEADER);

/// The company a request names, where `require` says to look.
async fn org_of(parts: &mut http::request::Parts, require: &Require) -> Option<String> {
    match require.org() {
        OrgFrom::Header => parts
            .headers
            .get(&ORG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        OrgFrom::Path(name) => path_param(parts, name).await,
    }
}

/// The path parameter `name` of the route axum matched.
#[cfg(feature = "axum")]
async fn path_param(parts: &mut http::request::Parts, name: &str) -> Option<String> {
    use axum::extract::FromRequestParts as _;
    let params = axum::extract::RawPathParams::from_request_parts(parts, &())
        .await
        .ok()?;
    params
        .iter()
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// Without axum no router names path parameters: the company is absent.
#[cfg(not(feature = "axum"))]
async fn path_param(_parts: &mut http::request::Parts, _name: &str) -> Option<String> {
    None
}

impl<S, ReqBody, ResBody> tower::Service<Request<ReqBody>> for Guard<S>
where
    S: tower::Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
{
    type Response = Response<GuardBody<ResBody>>;
    type Error = S::Error;
    type Future =
        Pin<Box<dyn std::future::Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // The clone that was driven to readiness handles this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let guard = self.guard.clone();
        let require = Arc::clone(&self.require);
        let span = tracing::debug_span!("kisum.guard", code = tracing::field::Empty);
        // At the default level the span is off: then the outcome is not recorded at all (the
        // current span would be the request's, which has no `code`, reached through the
        // subscriber's registry on every request).
        let record_code = !span.is_disabled();
        // Split before the future: it then holds the parts once, not the request and its parts.
        let (mut parts, body) = request.into_parts();
        Box::pin(
            async move {
                let org = org_of(&mut parts, &require).await;
                match guard.decide(&parts.headers, org.as_deref(), &require).await {
                    Ok(guarded) => {
                        metrics::counter!("kisum_guard_decisions_total", "code" => "allowed")
                            .increment(1);
                        if record_code {
                            tracing::Span::current().record("code", "allowed");
                        }
                        parts.extensions.insert(guarded);
                        let request = Request::from_parts(parts, body);
                        inner.call(request).await.map(|r| r.map(Either::Left))
                    }
                    Err(problem) => {
                        let code: &'static str = problem
                            .denial()
                            .map_or("access_unavailable", DenialCode::code);
                        let code = if problem.code == "invalid_request" {
                            "invalid_request"
                        } else {
                            code
                        };
                        metrics::counter!("kisum_guard_decisions_total", "code" => code)
                            .increment(1);
                        if record_code {
                            tracing::Span::current().record("code", code);
                        }
                        let rid = parts
                            .headers
                            .get(REQUEST_ID_HEADER)
                            .and_then(|v| v.to_str().ok())
                            .filter(|v| !v.is_empty() && v.len() <= 128);
                        Ok(refusal(problem, rid))
                    }
                }
            }
            .instrument(span),
        )
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]
mod tests {
    use tower::{Layer as _, Service as _};

    /// Every guarded request creates and moves its future; the rare paths (first sight of a
    /// token, a memory miss) are boxed so that the common one stays small (it was 2 KiB
    /// before, and moving it was a tenth of a warm guard's time).
    #[test]
    fn the_request_future_of_a_guarded_route_stays_small() {
        let auth = crate::testing::TestAuth::new().unwrap();
        let guard = auth.guard().build().unwrap();
        let require = super::Require::permission("finance.invoices.read").unwrap();
        let headers = http::HeaderMap::new();
        let decide = guard.decide(&headers, Some("acme"), &require);
        assert!(
            std::mem::size_of_val(&decide) <= 512,
            "{}",
            std::mem::size_of_val(&decide)
        );
        let mut svc = guard.require(require.clone()).layer(tower::service_fn(
            |_: http::Request<String>| async {
                Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
            },
        ));
        let call = svc.call(http::Request::new(String::new()));
        assert!(
            std::mem::size_of_val(&*call) <= 1024,
            "{}",
            std::mem::size_of_val(&*call)
        );
    }
}
