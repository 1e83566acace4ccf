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

mod layers;
mod ready;
mod router;
mod serve;

pub use layers::{HttpSettings, MakeRequestUuidV7, layers};
pub use ready::{CheckReport, CheckStatus, FnCheck, Readiness, ReadyCheck, ReadyReport, check_fn};
pub use router::{MetricsInstallError, prometheus, router, router_without_metrics};
pub use serve::{ServeOptions, Shutdown, os_signal, serve, serve_with};

use std::time::Duration;

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
