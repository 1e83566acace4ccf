//! The one HTTP test client of this suite: a request to the internal API with a service key and
//! a JSON body, sent through a `Router` with `oneshot`, answered as status, headers and the body
//! as JSON; plus the problem-document checks every HTTP test shares.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt as _;

/// An answer: status, headers and the body as JSON (`Null` when empty; a body that is not JSON
/// fails the test).
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
}

impl Answer {
    /// The header `name`, if present and text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a problem document with `status` and `code`, carrying the request id.
    pub(crate) fn assert_problem(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json")
        );
        assert_eq!(self.body["code"], code, "{}", self.body);
        assert_eq!(self.body["status"], status.as_u16());
        assert_eq!(self.body["type"], format!("urn:kisum:problem:{code}"));
        let id = self.header("x-request-id").expect("x-request-id");
        assert_eq!(self.body["request_id"], id);
    }

    /// Asserts the status `want` (the body in the failure message); the answer, for further
    /// checks.
    #[track_caller]
    pub(crate) fn assert_status(self, want: StatusCode) -> Self {
        assert_eq!(self.status, want, "{}", self.body);
        self
    }

    /// The field of the first per-field error of a `validation_failed` problem.
    pub(crate) fn field(&self) -> &str {
        self.body["errors"][0]["field"].as_str().unwrap()
    }
}

/// Sends `request` through `router`; every answer must carry an `X-Request-Id`.
pub(crate) async fn send(router: &Router, request: Request<Body>) -> Answer {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    assert!(headers.contains_key("x-request-id"), "every answer has one");
    Answer {
        status,
        headers,
        body,
    }
}

/// `method uri` with the service key `key` as a bearer token and `body` as JSON.
pub(crate) fn request(
    method: &str,
    uri: &str,
    key: Option<&str>,
    body: Option<&Value>,
) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(uri);
    if let Some(key) = key {
        b = b.header("authorization", format!("Bearer {key}"));
    }
    match body {
        Some(body) => b
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap(),
        None => b.body(Body::empty()).unwrap(),
    }
}
