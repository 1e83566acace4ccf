//! The one HTTP test client of this suite: a request with a bearer token, `X-Org` and a JSON body,
//! sent through a `Router` with `oneshot`, answered as status, headers and the body as JSON; plus
//! the problem-document check every HTTP test shares.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use serde_json::Value;
use tower::ServiceExt as _;

/// The media type of a problem document.
pub(crate) const PROBLEM_JSON: &str = "application/problem+json";

/// An answer: status, headers and the body as JSON (`Null` when empty, a string when not JSON).
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
}

impl Reply {
    /// The header `name`, if present and text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an RFC 9457 problem document with `status` and `code`.
    #[track_caller]
    pub(crate) fn assert_problem(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.body["code"], code, "{}", self.body);
        assert_eq!(self.body["status"], status.as_u16(), "{}", self.body);
        assert_eq!(
            self.body["type"],
            format!("urn:kisum:problem:{code}"),
            "{}",
            self.body
        );
        assert!(
            self.body["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{}",
            self.body
        );
        assert!(
            self.header("content-type")
                .is_some_and(|c| c.starts_with(PROBLEM_JSON)),
            "{:?}",
            self.headers
        );
    }
}

/// Sends `request` through `app`.
pub(crate) async fn call(app: &Router, request: Request<Body>) -> Reply {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 4 << 20)
        .await
        .unwrap();
    Reply {
        status,
        headers,
        body: body_of(&bytes),
    }
}

/// A body as JSON: `Null` when empty, a string when not JSON.
pub(crate) fn body_of(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
    }
}

/// A request builder for `method uri` with `token` as the bearer and `org` as `X-Org`.
pub(crate) fn request(
    method: Method,
    uri: &str,
    token: Option<&str>,
    org: Option<&str>,
) -> axum::http::request::Builder {
    let mut r = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        r = r.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    if let Some(o) = org {
        r = r.header("x-org", o);
    }
    r
}

/// `method uri` through `app` with `token`, `org` and `body` as JSON.
pub(crate) async fn send(
    app: &Router,
    method: Method,
    uri: &str,
    token: Option<&str>,
    org: Option<&str>,
    body: Option<Value>,
) -> Reply {
    let r = request(method, uri, token, org);
    let r = match body {
        Some(b) => r
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(b.to_string())),
        None => r.body(Body::empty()),
    };
    call(app, r.unwrap()).await
}
