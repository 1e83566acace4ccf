//! The internal routes (`/internal/v1/*`), for other Kisum components behind scoped service
//! keys: access resolution, session state, event republishing and the audit log.

#[cfg(feature = "openapi")]
use super::recovery::Accepted;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
#[cfg(feature = "openapi")]
use kisum_guard::AccessContext;
use kisum_guard::http::{ApiJson, ProblemResponse};
#[cfg(feature = "openapi")]
use kisum_guard::openapi::{JsonBody, ServiceKeyRequired, Unavailable};
use kisum_guard::{CompanyId, InvalidationEvent, Problem, SessionId, UserId};
use serde::{Deserialize, Serialize};

use super::AuthState;
use super::extract::{Consistency, param};
use super::recovery::accepted_response;
use crate::audit::{AuditEvent, MAX_LIST_LIMIT};

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = ResolveRequest))]
pub(super) struct ResolveBody {
    user_id: UserId,
    session_id: SessionId,
    org: Option<String>,
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    post,
    path = "/internal/v1/access/resolve",
    operation_id = "resolve_access",
    tag = "internal",
    summary = "Resolve a user's access context in a company",
    params(("X-Kisum-Consistency" = Option<String>, Header, description = "The opaque token of an earlier write's answer: the answer is never computed from a cached view older than that write. Malformed → 400 `invalid_request`.")),
    request_body = ResolveBody,
    security(("service_key" = [])),
    responses(
        (status = 200, description = "The access context", body = AccessContext, headers(("kisum-access-seal" = String, description = "The context signed by Auth (a compact JWS, `typ` `kisum-access-context+jwt`): guards share only sealed contexts through Redis"))),
        (status = 400, description = "`org_required` (no `org`), or `invalid_request` (malformed JSON or `X-Kisum-Consistency`)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated` (no valid service key), or `session_revoked`: the session is revoked, expired, unknown or another user's", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`not_a_member`, `membership_inactive`, or `insufficient_scope` (the service key lacks the `resolve` scope)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`org_unknown`: no company has that id or slug", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`: the body is over the limit", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: wrong types or missing fields", body = Problem, content_type = "application/problem+json"),
        Unavailable
    )
))]
pub(super) async fn resolve(
    State(s): State<AuthState>,
    _consistency: Consistency,
    ApiJson(b): ApiJson<ResolveBody>,
) -> Result<Response, ProblemResponse> {
    let context = s
        .access
        .resolve(b.user_id, b.session_id, b.org.as_deref())
        .await?;
    // Sealed, so the guard may share it through Redis (decision 0015).
    let seal = crate::access::seal(s.auth.tokens(), &context)
        .and_then(|seal| axum::http::HeaderValue::from_str(&seal).ok());
    let mut response = Json(context).into_response();
    if let Some(seal) = seal {
        response
            .headers_mut()
            .insert(kisum_guard::seal::SEAL_HEADER, seal);
    }
    Ok(response)
}

#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    get,
    path = "/internal/v1/sessions/{session_id}",
    operation_id = "session_state",
    tag = "internal",
    summary = "Whether a session is active",
    params(("session_id" = String, Path, format = Uuid, description = "The session"), ("user_id" = Option<String>, Query, description = "The token's subject: a session of another user is answered 404")),
    security(("service_key" = [])),
    responses(
        (status = 200, description = "The session's state", body = SessionState),
        (status = 403, description = "`insufficient_scope`: the service key lacks the `resolve` scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such session (or not a session id, or another user's)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: a malformed `user_id`", body = Problem, content_type = "application/problem+json"),
        ServiceKeyRequired, Unavailable
    )
))]
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
#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    post,
    path = "/internal/v1/events",
    operation_id = "publish_event",
    tag = "internal",
    summary = "Deliver an invalidation event",
    description = "For deployments without Redis: Core posts its events here.",
    request_body = InvalidationEvent,
    security(("service_key" = [])),
    responses(
        (status = 202, description = "The event is applied", body = Accepted),
        (status = 403, description = "`insufficient_scope`: the service key lacks the `events` scope", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: an unknown `kind` or missing fields", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`: the event could not be recorded; send it again", body = Problem, content_type = "application/problem+json"),
        JsonBody, ServiceKeyRequired
    )
))]
pub(super) async fn publish_event(
    State(s): State<AuthState>,
    ApiJson(event): ApiJson<InvalidationEvent>,
) -> Result<Response, ProblemResponse> {
    // Not a change of Auth's own stores: appended to Auth's stream here, so guards following
    // it hear the event (an outage is a 503 and the sender retries, not a lost event).
    s.feed.log().append(&event, s.auth.now(), None).await?;
    s.events.publish(&event).await;
    Ok(accepted_response())
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
#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    get,
    path = "/internal/v1/audit",
    operation_id = "audit_log",
    tag = "internal",
    summary = "Audit events, newest first",
    params(("company_id" = Option<String>, Query, description = "Only this company's events"), ("since" = Option<String>, Query, description = "Only events at or after this RFC 3339 time"), ("limit" = Option<String>, Query, description = "At most this many events")),
    security(("service_key" = [])),
    responses(
        (status = 200, description = "The events, newest first", body = Vec<AuditEvent>),
        (status = 400, description = "`invalid_request`: an undecodable query string", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`insufficient_scope`: the service key lacks the `audit` scope", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: a malformed query parameter", body = Problem, content_type = "application/problem+json"),
        ServiceKeyRequired, Unavailable
    )
))]
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
