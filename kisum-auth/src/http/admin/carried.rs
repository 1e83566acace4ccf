//! What the administration routes carry to Core: the JSON object passed on as it is, Core's
//! answer relayed as the route's own, and the audit of a carried write.

use axum::Json;
use axum::http::{Method, header};
use axum::response::{IntoResponse, Response};
use kisum_guard::CompanyId;
use kisum_guard::http::ProblemResponse;
use serde::{Deserialize, Serialize};

use super::Acting;
use super::core::{Core, CoreAnswer};
use crate::audit::AuditOutcome;
use crate::http::AuthState;

/// A JSON object carried to Core as it is (see Core's internal routes for its fields).
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = Object))]
#[serde(transparent)]
pub(crate) struct CoreObject(pub(crate) serde_json::Map<String, serde_json::Value>);

/// Core's answer as this route's: its status and JSON body (a problem keeps its media type).
pub(super) fn relay(answer: CoreAnswer) -> Response {
    let mut response = (answer.status, Json(answer.body)).into_response();
    if !answer.status.is_success()
        && let Ok(v) = "application/problem+json".parse()
    {
        response.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    response
}

/// Audits a write carried to Core: success when Core took it, failure otherwise.
pub(super) async fn audit_carried(
    s: &AuthState,
    acting: &Acting,
    action: &str,
    company: Option<CompanyId>,
    mut details: serde_json::Value,
    answer: &CoreAnswer,
) {
    let outcome = if answer.status.is_success() {
        AuditOutcome::Success
    } else {
        AuditOutcome::Failure
    };
    if let Some(map) = details.as_object_mut() {
        map.insert("core_status".to_owned(), answer.status.as_u16().into());
    }
    acting.audit(s, action, outcome, company, details).await;
}

/// A write an administrator carries to Core: Core's route, the body, and how Auth audits it.
pub(super) struct CarriedWrite {
    /// The method of Core's internal route.
    pub(super) method: Method,
    /// Core's internal path.
    pub(super) path: String,
    /// The JSON body, as the administrator sent it.
    pub(super) body: Option<serde_json::Value>,
    /// The audit action.
    pub(super) action: &'static str,
    /// The company the write is about, if any.
    pub(super) company: Option<CompanyId>,
    /// The audit details (`core_status` is added).
    pub(super) details: serde_json::Value,
}

/// Carries `write` to Core with Auth's key, audits it, and answers Core's answer as the
/// route's own.
pub(super) async fn carry(
    s: &AuthState,
    acting: &Acting,
    core: &Core,
    write: CarriedWrite,
) -> Result<Response, ProblemResponse> {
    let answer = core
        .call(
            write.method,
            &write.path,
            write.body.as_ref(),
            acting.request_id(),
        )
        .await?;
    audit_carried(
        s,
        acting,
        write.action,
        write.company,
        write.details,
        &answer,
    )
    .await;
    Ok(relay(answer))
}
