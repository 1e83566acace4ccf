//! The licence-key routes ([`license_key_router`]): `POST /v1/licenses/{activate,validate,
//! heartbeat,deactivate}` behind `Authorization: License <key>`, for the optional public
//! listener `KISUM_LICENSING_LISTEN`; their codes are in the [parent module](super)'s table.

use axum::Json;
use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
#[cfg(feature = "openapi")]
use kisum_guard::Problem;
use kisum_guard::http::{ApiJson, ProblemResponse};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{CHALLENGE, invalid_key};
use crate::license::{LicenseService, LicenseStatus};

#[cfg(feature = "openapi")]
kisum_guard::problem_responses! {
    /// Behind a licence key.
    LicenseKeyRequired {
        400 => "`invalid_request`: malformed JSON or not a JSON content type",
        401 => "`invalid_license_key`: no licence key, or not one of a licence (whether or not any exists)",
        422 => "`validation_failed`: a bad fingerprint or name",
        503 => "`unavailable`: a store is unreachable or certificates cannot be issued",
    }
}

/// The licence key of `Authorization: License <key>`; anything else is 401
/// `invalid_license_key`.
pub(super) struct LicenseKey(String);

impl<S: Send + Sync> FromRequestParts<S> for LicenseKey {
    type Rejection = ProblemResponse;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let value = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(invalid_key)?;
        let (scheme, key) = value.split_once(' ').ok_or_else(invalid_key)?;
        let key = key.trim();
        if !scheme.eq_ignore_ascii_case(CHALLENGE) || key.is_empty() {
            return Err(invalid_key());
        }
        Ok(Self(key.to_owned()))
    }
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = ActivateRequest))]
pub(super) struct ActivateBody {
    /// The machine's fingerprint (1 to 256 printable ASCII characters, no spaces).
    fingerprint: String,
    /// A display name of the machine.
    name: Option<String>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = FingerprintRequest))]
pub(super) struct FingerprintBody {
    /// The machine's fingerprint.
    fingerprint: String,
}

/// The answer of an activation.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(super) struct ActivateAnswer {
    activation_id: Uuid,
    certificate: String,
}

/// The answer of a validation.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(super) struct ValidateAnswer {
    status: LicenseStatus,
    certificate: String,
}

/// The answer of a heartbeat.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(super) struct HeartbeatAnswer {
    certificate: String,
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    post,
    path = "/v1/licenses/activate",
    operation_id = "activate_license",
    tag = "licence keys",
    summary = "Take a seat of the licence",
    description = "`Authorization: License <key>`. Re-activating a fingerprint that holds a seat takes no new one (200). Activate and deactivate attempts are rate-limited per licence.",
    request_body = ActivateBody,
    responses(
        (status = 201, description = "A seat was taken", body = ActivateAnswer),
        (status = 200, description = "The fingerprint already held a seat", body = ActivateAnswer),
        (status = 403, description = "`license_suspended`, `license_revoked` or `license_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`activation_limit`: every seat is taken", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: too many attempts on this licence (`Retry-After`)", body = Problem, content_type = "application/problem+json"),
        LicenseKeyRequired
    )
))]
pub(super) async fn activate(
    State(svc): State<LicenseService>,
    LicenseKey(key): LicenseKey,
    ApiJson(b): ApiJson<ActivateBody>,
) -> Result<Response, ProblemResponse> {
    let (activation, certificate, created) = svc.activate(&key, &b.fingerprint, b.name).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let body = ActivateAnswer {
        activation_id: activation.id,
        certificate,
    };
    Ok((status, Json(body)).into_response())
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    post,
    path = "/v1/licenses/validate",
    operation_id = "validate_license",
    tag = "licence keys",
    summary = "Check the licence and this machine's seat",
    description = "`Authorization: License <key>`. Answers a fresh certificate carrying the licence's current version.",
    request_body = FingerprintBody,
    responses(
        (status = 200, description = "Usable", body = ValidateAnswer),
        (status = 403, description = "`license_suspended`, `license_revoked` or `license_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_activated`: the fingerprint holds no seat", body = Problem, content_type = "application/problem+json"),
        LicenseKeyRequired
    )
))]
pub(super) async fn validate(
    State(svc): State<LicenseService>,
    LicenseKey(key): LicenseKey,
    ApiJson(b): ApiJson<FingerprintBody>,
) -> Result<Json<ValidateAnswer>, ProblemResponse> {
    let (license, certificate) = svc.validate(&key, &b.fingerprint).await?;
    Ok(Json(ValidateAnswer {
        status: license.effective_status(svc.now()),
        certificate,
    }))
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    post,
    path = "/v1/licenses/heartbeat",
    operation_id = "heartbeat_license",
    tag = "licence keys",
    summary = "Keep a floating seat",
    description = "`Authorization: License <key>`. A floating activation that misses its heartbeat (interval + drift) is culled and its seat freed.",
    request_body = FingerprintBody,
    responses(
        (status = 200, description = "Recorded", body = HeartbeatAnswer),
        (status = 403, description = "`license_suspended`, `license_revoked` or `license_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_activated`: the fingerprint holds no seat (culled?)", body = Problem, content_type = "application/problem+json"),
        LicenseKeyRequired
    )
))]
pub(super) async fn heartbeat(
    State(svc): State<LicenseService>,
    LicenseKey(key): LicenseKey,
    ApiJson(b): ApiJson<FingerprintBody>,
) -> Result<Json<HeartbeatAnswer>, ProblemResponse> {
    let certificate = svc.heartbeat(&key, &b.fingerprint).await?;
    Ok(Json(HeartbeatAnswer { certificate }))
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    post,
    path = "/v1/licenses/deactivate",
    operation_id = "deactivate_license",
    tag = "licence keys",
    summary = "Give this machine's seat back",
    description = "`Authorization: License <key>`; allowed whatever the licence's status.",
    request_body = FingerprintBody,
    responses(
        (status = 204, description = "The seat is free"),
        (status = 404, description = "`not_activated`: the fingerprint holds no seat", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: too many attempts on this licence (`Retry-After`)", body = Problem, content_type = "application/problem+json"),
        LicenseKeyRequired
    )
))]
pub(super) async fn deactivate(
    State(svc): State<LicenseService>,
    LicenseKey(key): LicenseKey,
    ApiJson(b): ApiJson<FingerprintBody>,
) -> Result<StatusCode, ProblemResponse> {
    svc.deactivate(&key, &b.fingerprint).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(feature = "openapi")]
type KeyRoutes = utoipa_axum::router::OpenApiRouter<LicenseService>;
#[cfg(not(feature = "openapi"))]
type KeyRoutes = Router<LicenseService>;

/// The licence-key routes and the `(method, path)`s written.
fn key_routes() -> (KeyRoutes, [(&'static str, &'static str); 4]) {
    kisum_guard::documented_routes! { LicenseService;
        "/v1/licenses/activate" => post activate;
        "/v1/licenses/validate" => post validate;
        "/v1/licenses/heartbeat" => post heartbeat;
        "/v1/licenses/deactivate" => post deactivate;
    }
}

/// The router of the licence-key listener (`KISUM_LICENSING_LISTEN`): `POST
/// /v1/licenses/{activate,validate,heartbeat,deactivate}` behind `Authorization: License
/// <key>` (see the [module docs](super)), with request ids, problem documents for unknown routes
/// and wrong methods, and the 1 MiB body limit. It may face the internet: it answers nothing
/// without a valid licence key but 401, and never tells whether a licence exists.
pub fn license_key_router(service: LicenseService) -> Router {
    #[cfg(feature = "openapi")]
    let (routes, _) = key_routes().0.split_for_parts();
    #[cfg(not(feature = "openapi"))]
    let (routes, _) = key_routes();
    crate::http::public_listener(routes, service)
}

/// The OpenAPI document of [`license_key_router`]'s routes.
#[cfg(feature = "openapi")]
#[must_use]
pub fn license_key_openapi() -> utoipa::openapi::OpenApi {
    let mut doc = key_routes().0.split_for_parts().1;
    kisum_guard::openapi::add_problem_schema(&mut doc);
    doc
}

#[cfg(all(test, feature = "openapi"))]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn documented_licence_key_paths_are_the_mounted_ones() {
        let mounted: BTreeSet<(String, String)> = key_routes()
            .1
            .iter()
            .map(|&(m, p)| (m.to_owned(), p.to_owned()))
            .collect();
        assert_eq!(
            kisum_guard::openapi::operations(&license_key_openapi()),
            mounted
        );
    }
}
