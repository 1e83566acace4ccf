//! What every server mounts: health, readiness, metrics, and the shared layer stack, through
//! `Router` + `oneshot`, and graceful shutdown over a real socket.

use std::io::Write;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::routing::{get, post};
use http::{HeaderValue, Method, Request, StatusCode, header};
use kisum_servers::ops::{self, CheckStatus, HttpSettings, Readiness, check_fn};
use tower::ServiceExt as _;

fn app(readiness: Readiness, settings: &HttpSettings) -> Router {
    global_json_logs();
    let routes = Router::new()
        .route(
            "/v1/things/{id}",
            get(|| async {
                tracing::info!("handler ran");
                "thing"
            }),
        )
        .route("/v1/echo", post(|body: Bytes| async move { body }))
        .merge(ops::router(readiness, ops::prometheus().unwrap()));
    ops::layers(routes, settings)
}

fn plain() -> Router {
    app(Readiness::new(), &HttpSettings::default())
}

async fn send(app: &Router, req: Request<Body>) -> (StatusCode, http::HeaderMap, String) {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

fn get_req(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

#[tokio::test]
async fn health_is_200() {
    let (status, _, body) = send(&plain(), get_req("/health")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, r#"{"status":"ok"}"#);
}

#[tokio::test]
async fn ready_is_200_with_every_check_and_an_optional_failure_is_degraded() {
    let readiness = Readiness::new()
        .with(check_fn("database", true, || async { CheckStatus::Ok }))
        .with(check_fn("redis", false, || async {
            CheckStatus::Failed("connection refused".into())
        }))
        .with(check_fn("jwks", true, || async {
            CheckStatus::Degraded("serving cached keys".into())
        }));
    let (status, _, body) =
        send(&app(readiness, &HttpSettings::default()), get_req("/ready")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "status": "ready",
            "checks": {
                "database": {"status": "ok", "required": true},
                "jwks": {"status": "degraded", "required": true, "error": "serving cached keys"},
                "redis": {"status": "degraded", "required": false, "error": "connection refused"},
            }
        })
    );
}

#[tokio::test]
async fn ready_is_503_when_a_required_check_fails_or_hangs() {
    let readiness = Readiness::new()
        .timeout(Duration::from_millis(50))
        .with(check_fn("database", true, || async {
            CheckStatus::Failed("pool timed out".into())
        }))
        .with(check_fn("core", true, || async {
            std::future::pending::<()>().await;
            CheckStatus::Ok
        }))
        .with(check_fn("redis", false, || async { CheckStatus::Ok }));
    let (status, _, body) =
        send(&app(readiness, &HttpSettings::default()), get_req("/ready")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["status"], "unavailable");
    assert_eq!(json["checks"]["database"]["status"], "failed");
    assert_eq!(json["checks"]["core"]["status"], "failed");
    assert_eq!(json["checks"]["core"]["error"], "no answer within 50 ms");
    assert_eq!(json["checks"]["redis"]["status"], "ok");
}

#[tokio::test]
async fn a_request_id_is_generated_as_uuid_v7_and_echoed() {
    let (_, headers, _) = send(&plain(), get_req("/v1/things/1")).await;
    let id = headers["x-request-id"].to_str().unwrap();
    let uuid = uuid::Uuid::parse_str(id).unwrap();
    assert_eq!(uuid.get_version_num(), 7);
    // Every answer, including a 404, carries one.
    let (status, headers, _) = send(&plain(), get_req("/nowhere")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(headers.contains_key("x-request-id"));
}

#[tokio::test]
async fn a_usable_request_id_is_propagated_and_an_unusual_one_replaced() {
    let req = Request::get("/health")
        .header("x-request-id", "edge-42.abc")
        .body(Body::empty())
        .unwrap();
    let (_, headers, _) = send(&plain(), req).await;
    assert_eq!(headers["x-request-id"], "edge-42.abc");

    let long = "x".repeat(ops::MAX_REQUEST_ID_LEN + 1);
    for bad in ["has space", "{\"inject\":1}", long.as_str()] {
        let req = Request::get("/health")
            .header("x-request-id", bad)
            .body(Body::empty())
            .unwrap();
        let (_, headers, _) = send(&plain(), req).await;
        let id = headers["x-request-id"].to_str().unwrap();
        assert_ne!(id, bad);
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    }
}

thread_local! {
    /// This thread's captured log output, while a test captures.
    static CAPTURED: std::cell::RefCell<Option<Vec<u8>>> = const { std::cell::RefCell::new(None) };
}

/// Writes to this thread's capture buffer, or nowhere.
struct ThreadCapture;

impl Write for ThreadCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURED.with_borrow_mut(|c| {
            if let Some(c) = c {
                c.extend_from_slice(buf);
            }
        });
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One JSON subscriber for the whole test binary, installed before any request of this module
/// reaches a tracing call site (a scoped subscriber races the other test threads over the
/// call sites' cached interest). It writes only for a test that captures.
fn global_json_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_writer(|| ThreadCapture)
            .with_max_level(tracing::Level::INFO)
            .try_init();
    });
}

#[tokio::test(flavor = "current_thread")]
async fn every_log_line_of_a_request_carries_its_request_id() {
    global_json_logs();
    CAPTURED.set(Some(Vec::new()));
    let req = Request::get("/v1/things/7?token=secret-in-query")
        .header("x-request-id", "trace-me-1")
        .body(Body::empty())
        .unwrap();
    let (status, _, _) = send(&plain(), req).await;
    assert_eq!(status, StatusCode::OK);
    let logs = String::from_utf8(CAPTURED.take().unwrap()).unwrap();
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        lines.len() >= 2,
        "the handler's line and the response line: {logs}"
    );
    for line in &lines {
        assert_eq!(line["span"]["request_id"], "trace-me-1", "{line}");
        assert_eq!(line["span"]["path"], "/v1/things/7", "{line}");
    }
    assert!(logs.contains("handler ran"));
    assert!(
        !logs.contains("secret-in-query"),
        "the query is never logged: {logs}"
    );
}

#[tokio::test]
async fn security_headers_on_every_response_and_hsts_only_over_https() {
    for uri in ["/health", "/nowhere"] {
        let (_, headers, _) = send(&plain(), get_req(uri)).await;
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["x-frame-options"], "DENY");
        assert_eq!(headers["referrer-policy"], "no-referrer");
        assert!(!headers.contains_key("strict-transport-security"));
    }
    let https = HttpSettings {
        hsts: true,
        ..HttpSettings::default()
    };
    let (_, headers, _) = send(&app(Readiness::new(), &https), get_req("/health")).await;
    assert_eq!(
        headers["strict-transport-security"],
        "max-age=63072000; includeSubDomains"
    );
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413_problem() {
    let small = HttpSettings {
        body_limit: 16,
        ..HttpSettings::default()
    };
    let app = app(Readiness::new(), &small);
    let ok = Request::post("/v1/echo")
        .body(Body::from("0123456789abcdef"))
        .unwrap();
    let (status, _, body) = send(&app, ok).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "0123456789abcdef")
    );

    // Declared too large (Content-Length) and streamed too large (no length) alike.
    let declared = Request::post("/v1/echo")
        .header("x-request-id", "big-1")
        .header(header::CONTENT_LENGTH, "17")
        .body(Body::from("0123456789abcdefX"))
        .unwrap();
    let chunks: Vec<Result<Bytes, std::io::Error>> =
        vec![Ok(Bytes::from("0123456789")), Ok(Bytes::from("abcdefXYZ"))];
    let streamed = Request::post("/v1/echo")
        .header("x-request-id", "big-1")
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .unwrap();
    for req in [declared, streamed] {
        let (status, headers, body) = send(&app, req).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
        assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
        let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(problem["status"], 413);
        assert_eq!(problem["code"], "payload_too_large");
        assert_eq!(problem["request_id"], "big-1");
        assert_eq!(headers["x-content-type-options"], "nosniff");
    }
}

#[tokio::test]
async fn the_default_body_limit_is_one_mib() {
    let at = Request::post("/v1/echo")
        .body(Body::from(vec![b'a'; kisum_guard::http::BODY_LIMIT]))
        .unwrap();
    assert_eq!(send(&plain(), at).await.0, StatusCode::OK);
    let over = Request::post("/v1/echo")
        .body(Body::from(vec![b'a'; kisum_guard::http::BODY_LIMIT + 1]))
        .unwrap();
    assert_eq!(send(&plain(), over).await.0, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn cors_answers_listed_origins_only() {
    let settings = HttpSettings {
        cors_origins: vec![HeaderValue::from_static("https://app.example.com")],
        ..HttpSettings::default()
    };
    let app = app(Readiness::new(), &settings);
    let preflight = |origin: &'static str| {
        Request::builder()
            .method(Method::OPTIONS)
            .uri("/v1/things/1")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
            .header(
                header::ACCESS_CONTROL_REQUEST_HEADERS,
                "authorization,x-org",
            )
            .body(Body::empty())
            .unwrap()
    };
    let (status, headers, _) = send(&app, preflight("https://app.example.com")).await;
    assert!(status.is_success(), "{status}");
    assert_eq!(
        headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://app.example.com"
    );
    let allowed = headers[header::ACCESS_CONTROL_ALLOW_HEADERS]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        allowed.contains("authorization") && allowed.contains("x-org"),
        "{allowed}"
    );

    let (_, headers, _) = send(&app, preflight("https://evil.example.com")).await;
    assert!(!headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));

    let simple = |origin: &'static str| {
        Request::get("/v1/things/1")
            .header(header::ORIGIN, origin)
            .body(Body::empty())
            .unwrap()
    };
    let (_, headers, _) = send(&app, simple("https://app.example.com")).await;
    assert_eq!(
        headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://app.example.com"
    );
    assert!(
        headers[header::ACCESS_CONTROL_EXPOSE_HEADERS]
            .to_str()
            .unwrap()
            .contains("x-request-id")
    );
    let (_, headers, _) = send(&app, simple("https://evil.example.com")).await;
    assert!(!headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));

    // Nothing is allowed by default.
    let (_, headers, _) = send(&plain(), simple("https://app.example.com")).await;
    assert!(!headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
}

#[tokio::test]
async fn metrics_count_requests_by_matched_route_and_status() {
    let app = plain();
    for _ in 0..3 {
        send(&app, get_req("/v1/things/metrics-test")).await;
    }
    send(&app, get_req("/no/such/route/for/metrics")).await;
    let (status, headers, body) = send(&app, get_req("/metrics")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    // The route pattern, never the raw path: one series per route, whatever the ids.
    let line = body
        .lines()
        .find(|l| {
            l.starts_with("kisum_http_requests_total{")
                && l.contains(r#"route="/v1/things/{id}""#)
                && l.contains(r#"status="200""#)
        })
        .unwrap_or_else(|| panic!("no request counter for the route:\n{body}"));
    let count: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(count >= 3, "{line}");
    assert!(body.contains(r#"route="unmatched""#), "{body}");
    assert!(!body.contains("/no/such/route"), "{body}");
    assert!(
        body.contains("kisum_http_request_duration_seconds_bucket{"),
        "latency is a histogram:\n{body}"
    );
}

#[tokio::test]
async fn graceful_shutdown_over_a_real_socket() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = ops::Shutdown::new();
    let server = tokio::spawn(ops::serve(listener, plain(), shutdown.clone()));

    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(b"GET /health HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("x-request-id:"),
        "{answer}"
    );

    shutdown.trigger();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the server stops once shutdown starts")
        .unwrap()
        .unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the listener is closed"
    );
}

/// A router whose `/v1/slow` waits on `gate` (for ever when it is never opened).
fn slow_app(settings: &HttpSettings, gate: std::sync::Arc<tokio::sync::Notify>) -> Router {
    let routes = Router::new()
        .route(
            "/v1/slow",
            get(move || {
                let gate = gate.clone();
                async move {
                    gate.notified().await;
                    "done"
                }
            }),
        )
        .route("/v1/fast", get(|| async { "fast" }))
        .merge(ops::router(Readiness::new(), ops::prometheus().unwrap()));
    ops::layers(routes, settings)
}

#[tokio::test]
async fn a_request_over_the_timeout_is_a_503_timeout_problem() {
    let settings = HttpSettings {
        request_timeout: Duration::from_millis(50),
        ..HttpSettings::default()
    };
    let app = slow_app(&settings, std::sync::Arc::default());
    let req = Request::get("/v1/slow")
        .header("x-request-id", "slow-1")
        .body(Body::empty())
        .unwrap();
    let started = std::time::Instant::now();
    let (status, headers, body) = send(&app, req).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
    assert_eq!(headers["x-request-id"], "slow-1");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(problem["status"], 503);
    assert_eq!(problem["code"], "timeout");
    assert_eq!(problem["request_id"], "slow-1");
    // A quick request is unaffected.
    let (status, _, body) = send(&app, get_req("/v1/fast")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "fast"));
}

#[tokio::test]
async fn requests_beyond_the_concurrency_limit_are_shed_with_retry_after() {
    let settings = HttpSettings {
        max_concurrent_requests: 1,
        ..HttpSettings::default()
    };
    let gate = std::sync::Arc::new(tokio::sync::Notify::new());
    let app = slow_app(&settings, gate.clone());
    // One request in flight, held at the gate.
    let held = tokio::spawn({
        let app = app.clone();
        async move { send(&app, get_req("/v1/slow")).await }
    });
    let mut shed = None;
    for _ in 0..200 {
        let (status, headers, body) = send(&app, get_req("/v1/fast")).await;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            shed = Some((headers, body));
            break;
        }
        // The held request has not reached the limit yet.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (headers, body) = shed.expect("a second request in flight is shed");
    assert_eq!(headers[header::RETRY_AFTER], "1");
    assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
    let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(problem["code"], "overloaded");
    // Probes and scrapes are never shed.
    for path in ["/health", "/ready", "/metrics"] {
        assert_eq!(send(&app, get_req(path)).await.0, StatusCode::OK, "{path}");
    }
    // Once the held request is answered, the next one is served.
    gate.notify_one();
    let (status, _, body) = held.await.unwrap();
    assert_eq!((status, body.as_str()), (StatusCode::OK, "done"));
    let (status, _, _) = send(&app, get_req("/v1/fast")).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_client_slow_to_send_its_headers_is_disconnected() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = ops::Shutdown::new();
    let options = ops::ServeOptions {
        header_read_timeout: Duration::from_millis(200),
    };
    let server = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { ops::serve_with(listener, plain(), shutdown, &options).await }
    });

    // Half a request line, then nothing: the server hangs up without answering.
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: te")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection after the header read timeout");
    assert!(
        read.is_err() || !String::from_utf8_lossy(&answer).contains(" 200 "),
        "{}",
        String::from_utf8_lossy(&answer)
    );

    // A prompt client is served, with the peer address available to the stack.
    let mut prompt = tokio::net::TcpStream::connect(addr).await.unwrap();
    prompt
        .write_all(b"GET /health HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    prompt.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    shutdown.trigger();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
