//! The internal routes (`/internal/v1/*`), for other Kisum components behind scoped service
//! keys: access resolution, session state, event republishing and the audit log.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use kisum_guard::http::{ApiJson, ProblemResponse};
use kisum_guard::{AccessContext, CompanyId, InvalidationEvent, Problem, SessionId, UserId};
use serde::{Deserialize, Serialize};

use super::AuthState;
use super::extract::{Consistency, param};
use super::recovery::ACCEPTED;
use crate::audit::{AuditEvent, MAX_LIST_LIMIT};

#[derive(Deserialize)]
pub(super) struct ResolveBody {
    user_id: UserId,
    session_id: SessionId,
    org: Option<String>,
}

pub(super) async fn resolve(
    State(s): State<AuthState>,
    _consistency: Consistency,
    ApiJson(b): ApiJson<ResolveBody>,
) -> Result<Json<AccessContext>, ProblemResponse> {
    Ok(Json(
        s.access
            .resolve(b.user_id, b.session_id, b.org.as_deref())
            .await?,
    ))
}

#[derive(Serialize)]
pub(super) struct SessionState {
    active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    revoked_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
pub(super) struct SessionQuery {
    user_id: Option<String>,
}

/// `GET /internal/v1/sessions/{id}[?user_id=]`: with `user_id`, a session of another user is
/// answered as unknown (404): a guard asks about the session *of the token's subject*.
pub(super) async fn session_state(
    State(s): State<AuthState>,
    Path(id): Path<String>,
    q: Result<Query<SessionQuery>, QueryRejection>,
) -> Result<Json<SessionState>, ProblemResponse> {
    let id: SessionId = id.parse().map_err(|_| Problem::not_found("session"))?;
    let Query(q) = q.map_err(|e| Problem::invalid_field("query", e.body_text()))?;
    let user: Option<UserId> = param(q.user_id.as_ref())
        .map(str::parse)
        .transpose()
        .map_err(|_| Problem::invalid_field("user_id", "not a user id"))?;
    let crate::session::SessionState {
        user_id: owner,
        active,
        revoked_at,
    } = s
        .auth
        .session_state(id)
        .await?
        .ok_or_else(|| Problem::not_found("session"))?;
    if user.is_some_and(|u| u != owner) {
        return Err(Problem::not_found("session").into());
    }
    Ok(Json(SessionState { active, revoked_at }))
}

/// `POST /internal/v1/events`: republishes an invalidation event (from a component without
/// Redis access) so every guard and replica hears it.
pub(super) async fn publish_event(
    State(s): State<AuthState>,
    ApiJson(event): ApiJson<InvalidationEvent>,
) -> Response {
    s.events.publish(&event).await;
    (StatusCode::ACCEPTED, Json(ACCEPTED)).into_response()
}

/// How many audit events `GET /internal/v1/audit` answers without a `limit`.
pub const DEFAULT_AUDIT_LIMIT: u32 = 100;

#[derive(Deserialize)]
pub(super) struct AuditQuery {
    company_id: Option<String>,
    since: Option<String>,
    limit: Option<String>,
}

/// `GET /internal/v1/audit?company_id=&since=&limit=`: events newest first; `limit` from 1 to
/// [`MAX_LIST_LIMIT`] (default [`DEFAULT_AUDIT_LIMIT`]), `since` RFC 3339 (inclusive). A
/// malformed parameter is 422 `validation_failed` naming it.
pub(super) async fn audit_log(
    State(s): State<AuthState>,
    q: Result<axum::extract::Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<AuditEvent>>, ProblemResponse> {
    let axum::extract::Query(q) = q.map_err(|e| Problem::invalid_request(e.body_text()))?;
    let company_id = param(q.company_id.as_ref())
        .map(str::parse::<CompanyId>)
        .transpose()
        .map_err(|_| Problem::invalid_field("company_id", "not a company id"))?;
    let since = param(q.since.as_ref())
        .map(DateTime::parse_from_rfc3339)
        .transpose()
        .map_err(|_| Problem::invalid_field("since", "not an RFC 3339 time"))?
        .map(|t| t.with_timezone(&Utc));
    let limit = match param(q.limit.as_ref()) {
        None => DEFAULT_AUDIT_LIMIT,
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_LIST_LIMIT).contains(n))
            .ok_or_else(|| {
                Problem::invalid_field(
                    "limit",
                    format!("a whole number from 1 to {MAX_LIST_LIMIT}"),
                )
            })?,
    };
    Ok(Json(s.audit.list(company_id, since, limit).await?))
}
