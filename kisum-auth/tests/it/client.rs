//! The one HTTP test client of this suite: builds a request (method, URI, bearer token, JSON
//! body, extra headers such as `X-Org`), sends it through a `Router` with `oneshot`, and answers
//! `(status, headers, body as JSON)`; plus the problem-document checks every HTTP test shares.
//!
//! Two ways to read a body, because the suites were written with both: [`TestRequest::send`]
//! keeps a body that is not JSON as a JSON string (so a test can show it), while
//! [`TestRequest::send_json`] fails the test when the body is not JSON. An empty body is
//! `Value::Null` either way.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use serde_json::{Value, json};
use tower::ServiceExt as _;

/// An answer: its status, its headers and its body as JSON (`Null` when empty).
pub(crate) type Answer = (StatusCode, HeaderMap, Value);

/// A request being built; headers go out in the order they were added, `Content-Type` last.
pub(crate) struct TestRequest {
    builder: axum::http::request::Builder,
    body: Option<Value>,
}

impl TestRequest {
    /// `method uri`, without headers or body.
    pub(crate) fn new(method: Method, uri: &str) -> Self {
        Self {
            builder: Request::builder().method(method).uri(uri),
            body: None,
        }
    }

    /// `Authorization: Bearer token`, when there is a token.
    pub(crate) fn bearer(mut self, token: Option<&str>) -> Self {
        if let Some(t) = token {
            self.builder = self
                .builder
                .header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        self
    }

    /// `X-Org: org`, when there is an org.
    pub(crate) fn org(self, org: Option<&str>) -> Self {
        match org {
            Some(org) => self.header("x-org", org),
            None => self,
        }
    }

    /// One more header.
    pub(crate) fn header(mut self, name: &str, value: &str) -> Self {
        self.builder = self.builder.header(name, value);
        self
    }

    /// Each of `extra`, in order.
    pub(crate) fn headers(self, extra: &[(&str, &str)]) -> Self {
        extra.iter().fold(self, |r, (k, v)| r.header(k, v))
    }

    /// `body` as `application/json`, when there is one.
    pub(crate) fn json(mut self, body: Option<Value>) -> Self {
        self.body = body;
        self
    }

    /// The request as built.
    pub(crate) fn build(self) -> Request<Body> {
        match self.body {
            Some(b) => self
                .builder
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(b.to_string()))
                .unwrap(),
            None => self.builder.body(Body::empty()).unwrap(),
        }
    }

    /// Sends it through `router`; a body that is not JSON comes back as a JSON string.
    pub(crate) async fn send(self, router: &Router) -> Answer {
        send(router, self.build()).await
    }

    /// Sends it through `router`; a body that is not JSON fails the test.
    pub(crate) async fn send_json(self, router: &Router) -> Answer {
        send_json(router, self.build()).await
    }
}

/// Sends `request` through `router`; a body that is not JSON comes back as a JSON string.
pub(crate) async fn send(router: &Router, request: Request<Body>) -> Answer {
    let (status, headers, bytes) = exchange(router, request).await;
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    (status, headers, value)
}

/// Sends `request` through `router`; a body that is not JSON fails the test.
pub(crate) async fn send_json(router: &Router, request: Request<Body>) -> Answer {
    let (status, headers, bytes) = exchange(router, request).await;
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (status, headers, value)
}

async fn exchange(router: &Router, request: Request<Body>) -> (StatusCode, HeaderMap, Vec<u8>) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, headers, bytes.to_vec())
}

/// `method uri` with `bearer`, a JSON `body` and the `extra` headers.
fn request(
    method: Method,
    uri: &str,
    bearer: Option<&str>,
    body: Option<Value>,
    extra: &[(&str, &str)],
) -> TestRequest {
    TestRequest::new(method, uri)
        .bearer(bearer)
        .headers(extra)
        .json(body)
}

/// `method uri` through `router` with `bearer`, a JSON `body` and the `extra` headers; a body
/// that is not JSON comes back as a JSON string.
pub(crate) async fn call(
    router: &Router,
    method: Method,
    uri: &str,
    bearer: Option<&str>,
    body: Option<Value>,
    extra: &[(&str, &str)],
) -> Answer {
    request(method, uri, bearer, body, extra).send(router).await
}

/// As [`call`], but a body that is not JSON fails the test.
pub(crate) async fn call_json(
    router: &Router,
    method: Method,
    uri: &str,
    bearer: Option<&str>,
    body: Option<Value>,
    extra: &[(&str, &str)],
) -> Answer {
    let request = request(method, uri, bearer, body, extra);
    request.send_json(router).await
}

/// `GET uri` in `org` (`X-Org`) through `router` with `bearer`.
pub(crate) async fn get_in(router: &Router, uri: &str, bearer: Option<&str>, org: &str) -> Answer {
    let request = TestRequest::new(Method::GET, uri).bearer(bearer);
    request.org(Some(org)).send(router).await
}

/// `GET uri` through `router` with `bearer`; a body that is not JSON comes back as a JSON
/// string (as [`call`] without extra headers, and so the verbs below).
pub(crate) async fn get(router: &Router, uri: &str, bearer: Option<&str>) -> Answer {
    call(router, Method::GET, uri, bearer, None, &[]).await
}

/// `DELETE uri` through `router` with `bearer`.
pub(crate) async fn delete(router: &Router, uri: &str, bearer: Option<&str>) -> Answer {
    call(router, Method::DELETE, uri, bearer, None, &[]).await
}

/// `POST uri` through `router` with `bearer` and a JSON `body` (a `Value` or `None`).
pub(crate) async fn post(
    router: &Router,
    uri: &str,
    bearer: Option<&str>,
    body: impl Into<Option<Value>>,
) -> Answer {
    call(router, Method::POST, uri, bearer, body.into(), &[]).await
}

/// Registers `email` with `password` through `router`'s `POST /v1/auth/register`: the body of
/// its `201 Created` (the user and the first session's tokens).
pub(crate) async fn register(router: &Router, email: &str, password: &str) -> Value {
    let (status, _, body) = post(
        router,
        "/v1/auth/register",
        None,
        json!({"email": email, "password": password}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

/// Asserts an RFC 9457 problem document: status `want`, `code`, the `status` member,
/// `application/problem+json`, and a request id equal to the `X-Request-Id` header.
#[track_caller]
pub(crate) fn assert_problem(
    status: StatusCode,
    headers: &HeaderMap,
    body: &Value,
    want: StatusCode,
    code: &str,
) {
    assert_problem_of(status, headers, body, want, code, "the answer");
}

/// [`assert_problem`] on a whole answer; the problem document, for further checks.
#[track_caller]
pub(crate) fn problem(answer: Answer, want: StatusCode, code: &str) -> Value {
    let (status, headers, body) = answer;
    assert_problem(status, &headers, &body, want, code);
    body
}

/// [`assert_problem`], naming `what` (say `"GET /v1/…"`) in every failure message.
#[track_caller]
pub(crate) fn assert_problem_of(
    status: StatusCode,
    headers: &HeaderMap,
    body: &Value,
    want: StatusCode,
    code: &str,
    what: &str,
) {
    assert_eq!(status, want, "{what}: {body}");
    assert_eq!(body["code"], code, "{what}: {body}");
    assert_eq!(body["status"], want.as_u16(), "{what}");
    assert_eq!(
        headers[header::CONTENT_TYPE],
        "application/problem+json",
        "{what}"
    );
    assert!(
        body["request_id"].as_str().is_some_and(|s| !s.is_empty()),
        "{what}: {body}"
    );
    assert_eq!(
        body["request_id"].as_str(),
        headers["x-request-id"].to_str().ok(),
        "{what}"
    );
}

/// Asserts a `422 validation_failed` problem ([`problem`]) whose first per-field error names
/// `field`; the problem document.
#[track_caller]
pub(crate) fn assert_invalid_field(answer: Answer, field: &str) -> Value {
    let body = problem(
        answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(body["errors"][0]["field"], field, "{body}");
    body
}

/// The field of the first per-field error of a `validation_failed` problem (`""` if none).
pub(crate) fn field(problem: &Value) -> &str {
    problem["errors"][0]["field"].as_str().unwrap_or_default()
}
