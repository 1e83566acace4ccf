//! The ops router: `/health`, `/ready` and `/metrics` (Prometheus).

use super::Readiness;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::StatusCode;
use http::header::{self, HeaderValue};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

use super::{HTTP_REQUEST_DURATION, HTTP_REQUESTS_SHED_TOTAL, HTTP_REQUESTS_TOTAL};

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
/// `GET /metrics` (Prometheus text), to merge into a server's router before [`layers`](super::layers).
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
