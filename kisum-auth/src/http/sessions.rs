//! The caller's sessions: the current one, the list, and signing one out.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use kisum_guard::http::ProblemResponse;
use kisum_guard::{Problem, SessionId, UserId};
use serde::{Deserialize, Serialize};

use super::AuthState;
use super::extract::{Caller, Client};
#[cfg(feature = "openapi")]
use super::openapi::{SignedIn, Unavailable};

/// The current session.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Session))]
pub(super) struct SessionView {
    /// The session.
    session_id: SessionId,
    /// Its user.
    user_id: UserId,
    /// When it began.
    created_at: DateTime<Utc>,
    /// When it ends at the latest.
    expires_at: DateTime<Utc>,
    /// The assurance level: `aal1` (one factor) or `aal2` (two).
    aal: kisum_guard::Aal,
    /// When the user last proved who they are (sign-in or `POST /v1/auth/reauthenticate`);
    /// a refresh does not move it.
    auth_time: DateTime<Utc>,
    /// How, as RFC 8176 method references: `pwd` (password), `otp` (an email code, or an
    /// authenticator app code as second factor), `rec` (a recovery code), `mfa` (added when
    /// two factors share a reference).
    amr: Vec<String>,
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    get,
    path = "/v1/auth/session",
    operation_id = "get_session",
    tag = "sessions",
    summary = "The caller's current session",
    security(("bearer_jwt" = [])),
    responses(
        (status = 200, description = "The session", body = SessionView),
        SignedIn, Unavailable
    )
))]
pub(super) async fn session(caller: Caller) -> Json<SessionView> {
    let s = caller.session;
    Json(SessionView {
        session_id: s.id,
        user_id: s.user_id,
        created_at: s.created_at,
        expires_at: s.idle_expires_at.min(s.absolute_expires_at),
        aal: s.aal,
        auth_time: s.auth_time,
        amr: s.amr,
    })
}

/// One of the caller's sessions.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(super) struct SessionListItem {
    /// The session.
    session_id: SessionId,
    /// When it began.
    created_at: DateTime<Utc>,
    /// When it was last used.
    last_seen_at: DateTime<Utc>,
    /// The user agent that began it.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    user_agent: Option<String>,
    /// The address that began it.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    ip: Option<String>,
    /// Whether it is the caller's session.
    current: bool,
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    get,
    path = "/v1/auth/sessions",
    operation_id = "list_sessions",
    tag = "sessions",
    summary = "The caller's sessions",
    security(("bearer_jwt" = [])),
    responses(
        (status = 200, description = "The sessions, `current` marking the caller's", body = Vec<SessionListItem>),
        SignedIn, Unavailable
    )
))]
pub(super) async fn sessions(
    State(s): State<AuthState>,
    caller: Caller,
) -> Result<Json<Vec<SessionListItem>>, ProblemResponse> {
    let list = s.auth.sessions(caller.claims.sub).await?;
    Ok(Json(
        list.into_iter()
            .map(|x| SessionListItem {
                current: x.id == caller.session.id,
                session_id: x.id,
                created_at: x.created_at,
                last_seen_at: x.last_seen_at,
                user_agent: x.user_agent,
                ip: x.ip,
            })
            .collect(),
    ))
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    delete,
    path = "/v1/auth/sessions/{session_id}",
    operation_id = "delete_session",
    tag = "sessions",
    summary = "Revoke one of the caller's sessions",
    params(("session_id" = uuid::Uuid, Path, description = "The session")),
    security(("bearer_jwt" = [])),
    responses(
        (status = 204, description = "The session is revoked"),
        (status = 404, description = "`not_found`: no such session among the caller's own", body = Problem, content_type = "application/problem+json"),
        SignedIn, Unavailable
    )
))]
pub(super) async fn delete_session(
    State(s): State<AuthState>,
    caller: Caller,
    Client(client): Client,
    Path(id): Path<String>,
) -> Result<StatusCode, ProblemResponse> {
    let id: SessionId = id.parse().map_err(|_| Problem::not_found("session"))?;
    s.auth.delete_session(caller.claims.sub, id, client).await?;
    Ok(StatusCode::NO_CONTENT)
}
