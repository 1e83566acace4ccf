//! `POST /internal/v1/api-keys/resolve`: a presented company API key's access context, for the
//! guards (decision 0034). Always 200 once the service key is accepted — the answer holds the
//! context or the denial — so a guard never mistakes its own misconfiguration for a key
//! holder's denial.

use axum::Json;
use axum::extract::State;
use kisum_guard::api_key::{ApiKeyResolution, ApiKeyResolveRequest};
use kisum_guard::http::{ApiJson, ProblemResponse};
#[cfg(feature = "openapi")]
use kisum_guard::openapi::{JsonBody, ServiceKeyRequired, Unavailable};

use super::AuthState;
use crate::access::AccessError;

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    post,
    path = "/internal/v1/api-keys/resolve",
    operation_id = "resolve_api_key",
    tag = "internal",
    summary = "Resolve a company API key's access context",
    description = "`denied` is `unauthenticated` (unknown, wrong or expired key), `session_revoked` (revoked), `org_unknown`, `not_a_member` (another company) or `membership_inactive` (company suspended).",
    request_body = ApiKeyResolveRequest,
    security(("service_key" = [])),
    responses(
        (status = 200, description = "The key's context, or the denial", body = ApiKeyResolution),
        ServiceKeyRequired, JsonBody, Unavailable
    )
))]
pub(super) async fn resolve_api_key(
    State(s): State<AuthState>,
    ApiJson(b): ApiJson<ApiKeyResolveRequest>,
) -> Result<Json<ApiKeyResolution>, ProblemResponse> {
    let (context, denied) = match s.access.resolve_api_key(&b.key, &b.org).await {
        Ok(context) => (Some(context), None),
        Err(AccessError::Denied(code)) => (None, Some(code)),
        Err(e) => return Err(e.into()),
    };
    Ok(Json(ApiKeyResolution { context, denied }))
}
