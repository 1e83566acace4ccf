//! The search of Auth's audit log (`GET /v1/admin/audit`).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use chrono::{DateTime, Utc};
use kisum_guard::http::ProblemResponse;
use kisum_guard::{CompanyId, Problem, UserId};
use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use super::PlatformRead;
use super::{Need, next_cursor, page_size, platform, query_value};
use crate::audit::{AuditEvent, AuditEventId};
use crate::http::AuthState;
use crate::http::extract::{Caller, Client, param};
use crate::identity::Email;
use crate::platform::{AuditQuery, PlatformPermission};

/// A page of the audit search and the cursor of the next one (absent on the last page).
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct AuditPage {
    /// The events, newest first.
    pub(crate) items: Vec<AuditEvent>,
    /// Pass it as `cursor` for the next page; absent when this page is the last.
    pub(crate) next_cursor: Option<String>,
}

/// The filters of the audit search.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
pub(crate) struct AuditParams {
    /// Only events about this company (its id).
    pub(crate) company_id: Option<String>,
    /// Only events by this user: their id or email.
    pub(crate) actor: Option<String>,
    /// Only events at or after this time (RFC 3339).
    pub(crate) since: Option<String>,
    /// The `next_cursor` of the previous page.
    pub(crate) cursor: Option<String>,
    /// At most this many events (default 50, at most 200).
    pub(crate) limit: Option<String>,
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    get,
    path = "/v1/admin/audit",
    operation_id = "admin_audit",
    tag = "admin",
    summary = "Search Auth's audit log",
    description = "Permission: `platform.audit.read`. Newest first; every administration \
                   write is here with the administrator as actor.",
    params(AuditParams),
    security(("bearer_jwt" = [])),
    responses(
        (status = 200, description = "A page of events", body = AuditPage),
        (status = 400, description = "`invalid_request`: a malformed filter or cursor", body = kisum_guard::Problem, content_type = "application/problem+json"),
        PlatformRead
    )
))]
pub(crate) async fn search_audit(
    State(s): State<AuthState>,
    caller: Caller,
    client: Client,
    q: Result<Query<AuditParams>, QueryRejection>,
) -> Result<Json<AuditPage>, ProblemResponse> {
    platform(
        &s,
        &caller,
        client,
        Need::read(&[PlatformPermission::AuditRead]),
    )
    .await?;
    let Query(q) = q.map_err(|e| Problem::invalid_request(e.body_text()))?;
    let actor = match param(q.actor.as_ref()) {
        None => None,
        Some(raw) => match raw.parse::<UserId>() {
            Ok(id) => Some(id),
            Err(_) => {
                let email =
                    Email::parse(raw).map_err(|_| Problem::invalid_request("malformed `actor`"))?;
                match s.auth.store.find_user_by_email(&email).await? {
                    Some(u) => Some(u.id),
                    // Nobody by that email acted: an empty page.
                    None => {
                        return Ok(Json(AuditPage {
                            items: Vec::new(),
                            next_cursor: None,
                        }));
                    }
                }
            }
        },
    };
    let query = AuditQuery {
        company_id: query_value::<CompanyId>(q.company_id.as_ref(), "company_id")?,
        actor,
        since: query_value::<DateTime<Utc>>(q.since.as_ref(), "since")?,
        after: query_value::<uuid::Uuid>(q.cursor.as_ref(), "cursor")?.map(AuditEventId::from_uuid),
    };
    let limit = page_size(q.limit.as_ref())?;
    let items = s.auth.store.search_audit(&query, limit).await?;
    let next_cursor = next_cursor(&items, limit, |e| e.id.to_string());
    Ok(Json(AuditPage { items, next_cursor }))
}
