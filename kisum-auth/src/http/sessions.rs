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

#[derive(Serialize, Deserialize)]
pub(super) struct SessionView {
    session_id: SessionId,
    user_id: UserId,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

pub(super) async fn session(caller: Caller) -> Json<SessionView> {
    let s = caller.session;
    Json(SessionView {
        session_id: s.id,
        user_id: s.user_id,
        created_at: s.created_at,
        expires_at: s.idle_expires_at.min(s.absolute_expires_at),
    })
}

#[derive(Serialize)]
pub(super) struct SessionListItem {
    session_id: SessionId,
    created_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    user_agent: Option<String>,
    ip: Option<String>,
    current: bool,
}

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
