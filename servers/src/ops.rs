//! What every Kisum server mounts: `/health`, `/ready` with named checks, `/metrics`, and the
//! layer stack of [`layers`] (request ids, request metrics, security headers, CORS, load
//! shedding, request timeout, body limit), plus [`serve`]: HTTP/1.1 with a header read timeout
//! and graceful shutdown.
//!
//! ```
//! use axum::{Router, routing::get};
//! use kisum_servers::ops::{self, CheckStatus, HttpSettings, Readiness, check_fn};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let readiness = Readiness::new()
//!     .with(check_fn("database", true, || async { CheckStatus::Ok }))
//!     // Redis is an accelerator: when it is down the server is degraded, still ready.
//!     .with(check_fn("redis", false, || async { CheckStatus::Failed("connection refused".into()) }));
//! let app = Router::new()
//!     .route("/v1/hello", get(|| async { "hello" }))
//!     .merge(ops::router(readiness, ops::prometheus()?));
//! let app = ops::layers(app, &HttpSettings::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let shutdown = ops::Shutdown::new();
//! shutdown.trigger(); // a real server uses `Shutdown::on_signal()`
//! ops::serve(listener, app, shutdown).await?;
//! # Ok(()) }
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(run()).unwrap();
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use kisum_guard::http::{BODY_LIMIT, ProblemResponse, REQUEST_ID_HEADER};
use kisum_guard::{PROBLEM_CONTENT_TYPE, Problem};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde::Serialize;
use tokio::sync::Semaphore;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

/// Counter of answered requests, labelled `method`, `route` (the matched route pattern, or
/// `unmatched`) and `status`.
pub const HTTP_REQUESTS_TOTAL: &str = "kisum_http_requests_total";
/// Counter of requests refused with 503 `overloaded` by the concurrency limit (they are
/// counted in [`HTTP_REQUESTS_TOTAL`] too, with status 503).
pub const HTTP_REQUESTS_SHED_TOTAL: &str = "kisum_http_requests_shed_total";
/// Histogram of request latency in seconds, labelled like [`HTTP_REQUESTS_TOTAL`].
pub const HTTP_REQUEST_DURATION: &str = "kisum_http_request_duration_seconds";
/// The longest propagated request id; longer or unusual ones are replaced by a fresh one.
pub use kisum_guard::http::MAX_REQUEST_ID_LEN;
/// The default longest time a request may take (body upload included): 30 s.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The default most requests one listener serves at once.
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 1024;
/// The default longest time a client may take to send a request's headers (and the longest a
/// kept-alive connection may stay idle between requests) before [`serve`] closes it: 10 s.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The `Retry-After` (seconds) of a 503 `overloaded`.
const OVERLOADED_RETRY_AFTER_SECS: u64 = 1;

// ---- readiness ------------------------------------------------------------------------------

/// What one readiness check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckStatus {
    /// The dependency works.
    Ok,
    /// It works partly, or an optional dependency is down: still ready.
    Degraded(String),
    /// It does not work: not ready when the check is required.
    Failed(String),
}

/// A named dependency check behind `GET /ready`.
///
/// Messages are shown to whoever can reach `/ready`: they must never hold a secret.
#[async_trait]
pub trait ReadyCheck: Send + Sync + 'static {
    /// The name in the `checks` object, e.g. `database`.
    fn name(&self) -> &str;

    /// Whether a failure makes the server unready (503). A failed optional check (Redis, say)
    /// is reported as `degraded`.
    fn required(&self) -> bool {
        true
    }

    /// Checks the dependency now. [`Readiness`] bounds it with a timeout.
    async fn check(&self) -> CheckStatus;
}

type CheckFuture = Pin<Box<dyn Future<Output = CheckStatus> + Send>>;

/// A [`ReadyCheck`] from a closure; see [`check_fn`].
pub struct FnCheck {
    name: String,
    required: bool,
    check: Box<dyn Fn() -> CheckFuture + Send + Sync>,
}

/// A check named `name` running `check` (a closure returning a future of [`CheckStatus`]).
///
/// ```
/// use kisum_servers::ops::{CheckStatus, check_fn};
/// let check = check_fn("database", true, || async { CheckStatus::Ok });
/// # let _ = check;
/// ```
pub fn check_fn<F, Fut>(name: impl Into<String>, required: bool, check: F) -> FnCheck
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = CheckStatus> + Send + 'static,
{
    FnCheck {
        name: name.into(),
        required,
        check: Box::new(move || Box::pin(check())),
    }
}

#[async_trait]
impl ReadyCheck for FnCheck {
    fn name(&self) -> &str {
        &self.name
    }

    fn required(&self) -> bool {
        self.required
    }

    async fn check(&self) -> CheckStatus {
        (self.check)().await
    }
}

/// The checks of `GET /ready`, run concurrently, each within a timeout.
#[derive(Clone)]
pub struct Readiness {
    checks: Vec<Arc<dyn ReadyCheck>>,
    timeout: Duration,
}

impl Default for Readiness {
    fn default() -> Self {
        Self::new()
    }
}

/// One check's line of the `/ready` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    /// `ok`, `degraded` or `failed`.
    pub status: &'static str,
    /// Whether a failure makes the server unready.
    pub required: bool,
    /// What went wrong, when something did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The `/ready` answer: `{status: "ready" | "unavailable", checks: {name: CheckReport}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReadyReport {
    /// `ready` (200) or `unavailable` (503).
    pub status: &'static str,
    /// Each check by name.
    pub checks: std::collections::BTreeMap<String, CheckReport>,
}

impl ReadyReport {
    /// Whether every required check passed.
    #[must_use]
    pub fn is_ready(&self) -> bool {
        self.status == "ready"
    }
}

impl Readiness {
    /// No checks (always ready), with a 2 s timeout per check.
    #[must_use]
    pub fn new() -> Self {
        Self {
            checks: Vec::new(),
            timeout: Duration::from_secs(2),
        }
    }

    /// Adds a check.
    #[must_use]
    pub fn with(mut self, check: impl ReadyCheck) -> Self {
        self.checks.push(Arc::new(check));
        self
    }

    /// Sets how long one check may take before it counts as failed.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Runs every check concurrently and reports.
    pub async fn report(&self) -> ReadyReport {
        let mut set = tokio::task::JoinSet::new();
        for check in &self.checks {
            let check = Arc::clone(check);
            let timeout = self.timeout;
            set.spawn(async move {
                let status = match tokio::time::timeout(timeout, check.check()).await {
                    Ok(s) => s,
                    Err(_) => {
                        CheckStatus::Failed(format!("no answer within {} ms", timeout.as_millis()))
                    }
                };
                (check.name().to_owned(), check.required(), status)
            });
        }
        let mut checks = std::collections::BTreeMap::new();
        let mut ready = true;
        while let Some(joined) = set.join_next().await {
            let (name, required, status) = match joined {
                Ok(r) => r,
                Err(e) => ("check".to_owned(), true, CheckStatus::Failed(e.to_string())),
            };
            let report = match status {
                CheckStatus::Ok => CheckReport {
                    status: "ok",
                    required,
                    error: None,
                },
                CheckStatus::Degraded(e) => CheckReport {
                    status: "degraded",
                    required,
                    error: Some(e),
                },
                CheckStatus::Failed(e) if required => {
                    ready = false;
                    CheckReport {
                        status: "failed",
                        required,
                        error: Some(e),
                    }
                }
                CheckStatus::Failed(e) => CheckReport {
                    status: "degraded",
                    required,
                    error: Some(e),
                },
            };
            checks.insert(name, report);
        }
        ReadyReport {
            status: if ready { "ready" } else { "unavailable" },
            checks,
        }
    }
}

// ---- the ops router -------------------------------------------------------------------------

/// Why the Prometheus recorder could not be installed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot install the Prometheus metrics recorder: another recorder is installed")]
pub struct MetricsInstallError;

/// The process-wide Prometheus recorder, installed on first use (every `metrics` counter of
/// every crate lands in it), and a handle that renders it.
///
/// # Errors
/// [`MetricsInstallError`] when another global `metrics` recorder was installed first.
pub fn prometheus() -> Result<PrometheusHandle, MetricsInstallError> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            // Latency histograms from 1 ms to 10 s.
            let buckets = [
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ];
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &buckets)
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            metrics::describe_counter!(HTTP_REQUESTS_TOTAL, "HTTP requests answered");
            metrics::describe_counter!(
                HTTP_REQUESTS_SHED_TOTAL,
                "HTTP requests refused with 503 overloaded (concurrency limit)"
            );
            metrics::describe_histogram!(
                HTTP_REQUEST_DURATION,
                metrics::Unit::Seconds,
                "HTTP request latency"
            );
            Some(handle)
        })
        .clone()
        .ok_or(MetricsInstallError)
}

#[derive(Clone)]
struct OpsState {
    readiness: Readiness,
    metrics: PrometheusHandle,
}

/// `GET /health` (200 while the process runs), `GET /ready` (200 or 503 with every check), and
/// `GET /metrics` (Prometheus text), to merge into a server's router before [`layers`].
pub fn router(readiness: Readiness, metrics: PrometheusHandle) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(render_metrics))
        .with_state(OpsState { readiness, metrics })
}

/// `GET /health` and `GET /ready` only: for a public listener whose process serves `/metrics`
/// on its internal listener.
pub fn router_without_metrics(readiness: Readiness, metrics: PrometheusHandle) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .with_state(OpsState { readiness, metrics })
}

async fn health() -> impl IntoResponse {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

async fn ready(State(state): State<OpsState>) -> Response {
    let report = state.readiness.report().await;
    let status = if report.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(report)).into_response()
}

async fn render_metrics(State(state): State<OpsState>) -> Response {
    state.metrics.run_upkeep();
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        state.metrics.render(),
    )
        .into_response()
}

// ---- the layer stack ------------------------------------------------------------------------

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
/// 1. request id: a propagated `X-Request-Id` (at most [`MAX_REQUEST_ID_LEN`] characters of
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
    let limit = settings.body_limit;
    let timeout = settings.request_timeout;
    // One count for the whole router: `Router::layer` wraps every route on its own, so the
    // semaphore is created here and shared by the clones of the middleware.
    let in_flight = Arc::new(Semaphore::new(
        settings.max_concurrent_requests.min(Semaphore::MAX_PERMITS),
    ));
    let max_in_flight = settings.max_concurrent_requests;
    // `Router::layer` wraps in reverse: the last `.layer` is the outermost.
    router
        .layer(RequestBodyLimitLayer::new(limit))
        // The limit above replaces axum's own 2 MB default, so both never disagree.
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::from_fn(move |req, next| {
            problem_for_too_large(limit, req, next)
        }))
        .layer(middleware::from_fn(move |req, next| {
            answer_within(timeout, req, next)
        }))
        .layer(middleware::from_fn(move |req, next| {
            shed_load(Arc::clone(&in_flight), max_in_flight, req, next)
        }))
        .layer(middleware::from_fn(record_metrics))
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

async fn record_metrics(req: Request, next: Next) -> Response {
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
    let response = next.run(req).await;
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
async fn problem_for_too_large(limit: usize, req: Request, next: Next) -> Response {
    let request_id = request_id_of(&req);
    let response = next.run(req).await;
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_CONTENT_TYPE.as_bytes()));
    if response.status() != StatusCode::PAYLOAD_TOO_LARGE || is_problem {
        return response;
    }
    let mut problem = Problem::new(413, "payload_too_large", "Request body too large")
        .with_detail(format!("the request body exceeds {limit} bytes"));
    if let Some(id) = request_id {
        problem = problem.with_request_id(id);
    }
    problem.into_response()
}

fn request_id_of(req: &Request) -> Option<String> {
    req.headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Answers 503 `timeout` when the rest of the stack has not answered within `timeout` (the
/// handler, and the body it reads, are dropped).
async fn answer_within(timeout: Duration, req: Request, next: Next) -> Response {
    let request_id = request_id_of(&req);
    if let Ok(response) = tokio::time::timeout(timeout, next.run(req)).await {
        return response;
    }
    tracing::warn!(
        timeout_ms = timeout.as_millis(),
        "request timed out: answered 503"
    );
    let mut problem = Problem::new(503, "timeout", "Request timed out").with_detail(format!(
        "the request was not answered within {} ms",
        timeout.as_millis()
    ));
    if let Some(id) = request_id {
        problem = problem.with_request_id(id);
    }
    problem.into_response()
}

/// Whether `path` is an ops endpoint, which load shedding never refuses.
fn is_ops_path(path: &str) -> bool {
    matches!(path, "/health" | "/ready" | "/metrics")
}

/// Serves the request while fewer than `max` are in flight; otherwise answers 503
/// `overloaded` with `Retry-After` at once (no queue: a flood cannot pile up work).
async fn shed_load(in_flight: Arc<Semaphore>, max: usize, req: Request, next: Next) -> Response {
    if is_ops_path(req.uri().path()) {
        return next.run(req).await;
    }
    let Ok(permit) = in_flight.try_acquire_owned() else {
        metrics::counter!(HTTP_REQUESTS_SHED_TOTAL).increment(1);
        let mut problem = Problem::new(503, "overloaded", "Server overloaded").with_detail(
            format!("{max} requests are in flight on this listener; retry shortly"),
        );
        if let Some(id) = request_id_of(&req) {
            problem = problem.with_request_id(id);
        }
        return ProblemResponse::new(problem)
            .with_retry_after(OVERLOADED_RETRY_AFTER_SECS)
            .into_response();
    };
    let response = next.run(req).await;
    drop(permit);
    response
}

// ---- serving and shutdown -------------------------------------------------------------------

/// A shutdown signal shared by every listener of a process.
#[derive(Clone, Debug)]
pub struct Shutdown {
    tx: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    /// A signal triggered only by [`trigger`](Self::trigger).
    #[must_use]
    pub fn new() -> Self {
        let (tx, _) = tokio::sync::watch::channel(false);
        Self { tx: Arc::new(tx) }
    }

    /// A signal triggered by ctrl-c or SIGTERM (or [`trigger`](Self::trigger)). Must be called
    /// inside a Tokio runtime.
    #[must_use]
    pub fn on_signal() -> Self {
        let shutdown = Self::new();
        let trigger = shutdown.clone();
        tokio::spawn(async move {
            os_signal().await;
            tracing::info!("shutdown signal received: finishing in-flight requests");
            trigger.trigger();
        });
        shutdown
    }

    /// Starts the shutdown.
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    /// Resolves once the shutdown has started (at once if it already has).
    pub fn wait(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.tx.subscribe();
        async move {
            let _ = rx.wait_for(|started| *started).await;
        }
    }
}

/// Resolves on ctrl-c or, on Unix, SIGTERM. A signal that cannot be listened for is ignored.
pub async fn os_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

/// How [`serve_with`] handles connections.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The longest a client may take to send a request's headers, and the longest a kept-alive
    /// connection may stay idle between requests; the connection is closed after it (a
    /// slow-headers client cannot hold a connection open).
    pub header_read_timeout: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
        }
    }
}

/// Serves `app` on `listener` (with the peer address as `ConnectInfo<SocketAddr>`) until
/// `shutdown` starts, then lets in-flight requests finish; with the default
/// [`ServeOptions`] (headers within [`DEFAULT_HEADER_READ_TIMEOUT`]).
///
/// # Errors
/// The listener's I/O error.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    serve_with(listener, app, shutdown, &ServeOptions::default()).await
}

/// [`serve`] with `options`: HTTP/1.1 connections whose headers must arrive within
/// [`ServeOptions::header_read_timeout`] (`axum::serve` sets no such timeout).
///
/// # Errors
/// The listener's I/O error.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: Shutdown,
    options: &ServeOptions,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};

    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "listening");
    }
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let stop = shutdown.wait();
    tokio::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // Out of file descriptors, say: wait rather than spin.
                    tracing::error!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
        };
        let service =
            hyper_util::service::TowerToHyperService::new(tower::ServiceExt::map_request(
                app.clone(),
                move |mut req: http::Request<hyper::body::Incoming>| {
                    req.extensions_mut()
                        .insert(axum::extract::ConnectInfo(peer));
                    req.map(axum::body::Body::new)
                },
            ));
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    // In-flight requests finish; idle connections close at once.
    graceful.shutdown().await;
    Ok(())
}

/// Errors of one connection, not of the listener (axum's rule).
fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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
