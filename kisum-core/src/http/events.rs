//! `GET /internal/v1/events?after=&wait=`: a component's ordered event stream over HTTP, for
//! readers without Redis (decision 0015). Auth and Core mount the same handler; its state is
//! the component's [`EventFeed`].

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use kisum_guard::http::ProblemResponse;
#[cfg(feature = "openapi")]
use kisum_guard::openapi::ServiceKeyRequired;
use kisum_guard::{EventsPage, Problem};
use serde::Deserialize;

use crate::outbox::{EventFeed, FeedError};

/// The query of `GET /internal/v1/events`.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct EventsQuery {
    /// The last number the reader applied; omitted, the answer is the stream's position (no
    /// events), where a new reader starts.
    pub after: Option<u64>,
    /// How many seconds to wait for an event when there is none yet (0 to 30; default 0).
    pub wait: Option<u64>,
}

impl From<FeedError> for ProblemResponse {
    fn from(e: FeedError) -> Self {
        match e {
            FeedError::Gap { after, next, .. } => Problem::new(410, "gap", "events were missed")
                .with_detail(format!(
                    "events after {after} are no longer kept (or belong to another epoch of the stream): forget cached state and continue from {next} (ask without `after`)"
                ))
                .into(),
            FeedError::Store(e) => e.into(),
        }
    }
}

/// `GET /internal/v1/events?after=&wait=`.
#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    get,
    path = "/internal/v1/events",
    operation_id = "read_events",
    tag = "events",
    summary = "Read the ordered invalidation stream",
    description = "The component's events numbered after `after`, oldest first (at most 500), waiting up to `wait` seconds for the first. Numbers have no holes; `epoch` names the stream (a new epoch: the stream started over). Readers remember `next` and ask again with `after=next`.",
    params(EventsQuery),
    security(("service_key" = [])),
    responses(
        (status = 200, description = "The events (empty when `wait` passed without one)", body = EventsPage),
        (status = 400, description = "`invalid_request`: `after` or `wait` is not a non-negative integer", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`insufficient_scope`: the service key lacks the `resolve` scope", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "`gap`: events after `after` are no longer kept, or `after` is past this stream's head (another epoch): forget cached state and start again without `after`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`: the database is unreachable", body = Problem, content_type = "application/problem+json"),
        ServiceKeyRequired
    )
))]
pub async fn event_stream(
    State(feed): State<Arc<EventFeed>>,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Json<EventsPage>, ProblemResponse> {
    let Query(q) = query.map_err(|e| {
        ProblemResponse::from(
            Problem::new(400, "invalid_request", "malformed request").with_detail(e.body_text()),
        )
    })?;
    let wait = Duration::from_secs(q.wait.unwrap_or(0)).min(EventFeed::MAX_WAIT);
    Ok(Json(feed.poll(q.after, wait).await?))
}
