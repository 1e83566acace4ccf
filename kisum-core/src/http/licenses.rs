//! Licences over HTTP: the internal administration routes (behind service keys, mounted by
//! [`internal_router`](super::internal_router) when the state has a
//! [`LicenseService`]) and the licence-key routes
//! ([`license_key_router`], for the optional public listener `KISUM_LICENSING_LISTEN`).
//!
//! | method & path | body → answer |
//! |---|---|
//! | `POST /internal/v1/licenses` | `{company_id, name?, max_activations, floating?, heartbeat_interval?, expires_at?, modules?}` → 201 the licence with its `key` (shown once) |
//! | `GET /internal/v1/licenses?company_id=` | → 200 the company's licences |
//! | `GET /internal/v1/licenses/{id}` | → 200 the licence (effective `status`, `activations`) |
//! | `PATCH /internal/v1/licenses/{id}` | `{name?, max_activations?, floating?, heartbeat_interval?, modules?}` → 200, version raised |
//! | `POST /internal/v1/licenses/{id}/suspend\|reinstate\|revoke` | → 200 the licence; 409 `invalid_transition` from the wrong status |
//! | `POST /internal/v1/licenses/{id}/renew` | `{expires_at}` (`null`: never) → 200 the licence |
//! | `GET /internal/v1/licenses/{id}/events` | → 200 `[{type, at, actor, details}]` |
//! | `POST /v1/licenses/activate` | `Authorization: License <key>`, `{fingerprint, name?}` → 201 `{activation_id, certificate}` (200 when the fingerprint already held a seat) |
//! | `POST /v1/licenses/validate` | `{fingerprint}` → 200 `{status, certificate}` |
//! | `POST /v1/licenses/heartbeat` | `{fingerprint}` → 200 `{certificate}` |
//! | `POST /v1/licenses/deactivate` | `{fingerprint}` → 204 |
//!
//! Licence-key errors: no or a wrong key 401 `invalid_license_key` (`WWW-Authenticate:
//! License`; the same answer whether or not a licence exists), a licence not usable 403
//! `license_suspended` / `license_revoked` / `license_expired`, every seat taken 409
//! `activation_limit`, a fingerprint holding no seat 404 `not_activated`, too many activate or
//! deactivate attempts on the licence 429 `rate_limited` (with `Retry-After`), a bad body 400
//! `invalid_request` / 422 `validation_failed`, no certificate signer 503 `unavailable`.

use axum::Json;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use kisum_guard::http::{ApiJson, ProblemResponse};
#[cfg(feature = "openapi")]
use kisum_guard::openapi::{ServiceKeyRequired, Unavailable};
use kisum_guard::{CompanyId, Problem};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::CoreState;
use super::extract::{ApiPath, Caller};
use crate::license::{
    Activation, License, LicenseError, LicenseEvent, LicensePatch, LicenseService, LicenseStatus,
    NewLicense,
};

/// The challenge of the licence-key routes' 401.
const CHALLENGE: &str = "License";

impl From<LicenseError> for ProblemResponse {
    fn from(e: LicenseError) -> Self {
        match e {
            LicenseError::NotFound => Problem::new(404, "not_found", "not found").into(),
            LicenseError::InvalidKey => invalid_key(),
            LicenseError::Inactive(status) => {
                let code = match status {
                    LicenseStatus::Suspended => "license_suspended",
                    LicenseStatus::Revoked => "license_revoked",
                    LicenseStatus::Expired | LicenseStatus::Active => "license_expired",
                };
                Problem::new(403, code, "licence not usable")
                    .with_detail(format!("the licence is {}", status.as_str()))
                    .into()
            }
            LicenseError::LimitReached => {
                Problem::new(409, "activation_limit", "activation limit reached")
                    .with_detail("every seat of the licence is taken")
                    .into()
            }
            LicenseError::NotActivated => Problem::new(404, "not_activated", "not activated")
                .with_detail("this fingerprint holds no seat of the licence")
                .into(),
            LicenseError::RateLimited(wait) => ProblemResponse::rate_limited(wait),
            LicenseError::Invalid { field, message } => {
                Problem::invalid_field(field, message).into()
            }
            e @ LicenseError::Transition { .. } => {
                Problem::new(409, "invalid_transition", "invalid transition")
                    .with_detail(e.to_string())
                    .into()
            }
            LicenseError::Certify(e) => {
                tracing::error!(error = %e, "activation certificate not issued");
                Problem::new(
                    503,
                    "unavailable",
                    "a dependency is unavailable; retry later",
                )
                .with_detail("certificates cannot be issued now")
                .into()
            }
            LicenseError::Store(e) => e.into(),
        }
    }
}

fn invalid_key() -> ProblemResponse {
    ProblemResponse::new(
        Problem::new(401, "invalid_license_key", "invalid licence key")
            .with_detail("present a valid licence key: `Authorization: License <key>`"),
    )
    .with_challenge(CHALLENGE)
}

/// A licence as the API answers it: the effective status, the activations, and the key only
/// in the answer of its creation.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(super) struct LicenseAnswer {
    id: Uuid,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    company_id: CompanyId,
    name: String,
    /// The licence key: only in the answer of `POST /internal/v1/licenses`, never again.
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    max_activations: u32,
    floating: bool,
    heartbeat_interval: Option<u32>,
    expires_at: Option<DateTime<Utc>>,
    modules: Option<Vec<String>>,
    /// The status now (a licence past its expiry is `expired` even before the reaper runs).
    status: LicenseStatus,
    version: u64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    activations: Vec<Activation>,
}

fn answer(l: License, now: DateTime<Utc>, activations: Vec<Activation>) -> LicenseAnswer {
    LicenseAnswer {
        id: l.id,
        company_id: l.company_id,
        status: l.effective_status(now),
        name: l.name,
        key: None,
        max_activations: l.max_activations,
        floating: l.floating,
        heartbeat_interval: l.heartbeat_interval,
        expires_at: l.expires_at,
        modules: l.modules,
        version: l.version,
        created_at: l.created_at,
        updated_at: l.updated_at,
        activations,
    }
}

/// The licence service of the state; without one, the licence routes are not there (404).
fn licenses(s: &CoreState) -> Result<&LicenseService, ProblemResponse> {
    s.licenses
        .as_ref()
        .ok_or_else(|| Problem::not_found("route").into())
}

async fn full(svc: &LicenseService, l: License) -> Result<LicenseAnswer, ProblemResponse> {
    let activations = svc.activations(l.id).await?;
    Ok(answer(l, svc.now(), activations))
}

fn license_id(id: &str) -> Result<Uuid, ProblemResponse> {
    Uuid::parse_str(id).map_err(|_| Problem::invalid_request("the licence id is not a UUID").into())
}

#[cfg(feature = "openapi")]
kisum_guard::problem_responses! {
    /// A licence write with a JSON body.
    LicenseWritten {
        400 => "`invalid_request`: a malformed licence id, malformed JSON or not a JSON content type",
        413 => "`payload_too_large`: the body is over the limit",
        422 => "`validation_failed`: wrong types, missing or unknown fields, or a field out of range (naming it)",
    }
    /// A licence named in the path.
    LicensePath {
        400 => "`invalid_request`: a malformed licence id",
        404 => "`not_found`: no such licence",
    }
    /// A lifecycle action.
    Transition {
        400 => "`invalid_request`: a malformed licence id",
        404 => "`not_found`: no such licence",
        409 => "`invalid_transition`: not allowed from the licence's status",
    }
    /// Behind a licence key.
    LicenseKeyRequired {
        400 => "`invalid_request`: malformed JSON or not a JSON content type",
        401 => "`invalid_license_key`: no licence key, or not one of a licence (whether or not any exists)",
        422 => "`validation_failed`: a bad fingerprint or name",
        503 => "`unavailable`: a store is unreachable or certificates cannot be issued",
    }
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    post,
    path = "/internal/v1/licenses",
    operation_id = "create_license",
    tag = "licences",
    summary = "Create a licence",
    description = "Answers the licence key once; only its SHA-256 hash is stored. Event `created`, audited.",
    request_body = NewLicense,
    security(("service_key" = [])),
    responses(
        (status = 201, description = "The licence, with its key", body = LicenseAnswer),
        LicenseWritten,
        ServiceKeyRequired,
        Unavailable
    )
))]
pub(super) async fn create_license(
    State(s): State<CoreState>,
    Caller(actor): Caller,
    ApiJson(b): ApiJson<NewLicense>,
) -> Result<Response, ProblemResponse> {
    let svc = licenses(&s)?;
    let (license, key) = svc.create(&actor, b).await?;
    let mut a = answer(license, svc.now(), Vec::new());
    a.key = Some(key);
    Ok((StatusCode::CREATED, Json(a)).into_response())
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    company_id: Option<String>,
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    get,
    path = "/internal/v1/licenses",
    operation_id = "list_licenses",
    tag = "licences",
    summary = "A company's licences",
    params(("company_id" = String, Query, format = Uuid, description = "The company id")),
    security(("service_key" = [])),
    responses(
        (status = 200, description = "The company's licences, oldest first", body = Vec<LicenseAnswer>),
        (status = 400, description = "`invalid_request`: no or a malformed `company_id`", body = Problem, content_type = "application/problem+json"),
        ServiceKeyRequired,
        Unavailable
    )
))]
pub(super) async fn list_licenses(
    State(s): State<CoreState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Vec<LicenseAnswer>>, ProblemResponse> {
    let svc = licenses(&s)?;
    let Query(q) = query.map_err(|e| Problem::invalid_request(e.body_text()))?;
    let company: CompanyId = q
        .company_id
        .ok_or_else(|| Problem::invalid_request("the query parameter `company_id` is required"))?
        .parse()
        .map_err(|e: kisum_guard::InvalidId| Problem::invalid_request(e.to_string()))?;
    let mut all = Vec::new();
    for l in svc.list(company).await? {
        all.push(full(svc, l).await?);
    }
    Ok(Json(all))
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    get,
    path = "/internal/v1/licenses/{id}",
    operation_id = "get_license",
    tag = "licences",
    summary = "A licence and its activations",
    params(("id" = String, Path, format = Uuid, description = "The licence id")),
    security(("service_key" = [])),
    responses(
        (status = 200, description = "The licence", body = LicenseAnswer),
        LicensePath,
        ServiceKeyRequired,
        Unavailable
    )
))]
pub(super) async fn get_license(
    State(s): State<CoreState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<LicenseAnswer>, ProblemResponse> {
    let svc = licenses(&s)?;
    let l = svc.get(license_id(&id)?).await?;
    Ok(Json(full(svc, l).await?))
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    patch,
    path = "/internal/v1/licenses/{id}",
    operation_id = "patch_license",
    tag = "licences",
    summary = "Change a licence's terms",
    description = "Raises the licence version (the next certificate carries it); audited. The expiry changes through `renew`.",
    params(("id" = String, Path, format = Uuid, description = "The licence id")),
    request_body = LicensePatch,
    security(("service_key" = [])),
    responses(
        (status = 200, description = "The licence", body = LicenseAnswer),
        (status = 404, description = "`not_found`: no such licence", body = Problem, content_type = "application/problem+json"),
        LicenseWritten,
        ServiceKeyRequired,
        Unavailable
    )
))]
pub(super) async fn patch_license(
    State(s): State<CoreState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<LicensePatch>,
) -> Result<Json<LicenseAnswer>, ProblemResponse> {
    let svc = licenses(&s)?;
    let l = svc.patch(&actor, license_id(&id)?, b).await?;
    Ok(Json(full(svc, l).await?))
}

/// The lifecycle actions without a body.
#[derive(Clone, Copy)]
enum Action {
    Suspend,
    Reinstate,
    Revoke,
}

async fn act(
    s: &CoreState,
    actor: &crate::admin::Actor,
    id: &str,
    action: Action,
) -> Result<Json<LicenseAnswer>, ProblemResponse> {
    let svc = licenses(s)?;
    let id = license_id(id)?;
    let l = match action {
        Action::Suspend => svc.suspend(actor, id).await?,
        Action::Reinstate => svc.reinstate(actor, id).await?,
        Action::Revoke => svc.revoke(actor, id).await?,
    };
    Ok(Json(full(svc, l).await?))
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    post,
    path = "/internal/v1/licenses/{id}/suspend",
    operation_id = "suspend_license",
    tag = "licences",
    summary = "Suspend an active licence",
    description = "Event `suspended`; its activations are refused (403 `license_suspended`) until it is reinstated.",
    params(("id" = String, Path, format = Uuid, description = "The licence id")),
    security(("service_key" = [])),
    responses((status = 200, description = "The licence", body = LicenseAnswer), Transition, ServiceKeyRequired, Unavailable)
))]
pub(super) async fn suspend_license(
    State(s): State<CoreState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<LicenseAnswer>, ProblemResponse> {
    act(&s, &actor, &id, Action::Suspend).await
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    post,
    path = "/internal/v1/licenses/{id}/reinstate",
    operation_id = "reinstate_license",
    tag = "licences",
    summary = "Reinstate a suspended licence",
    description = "Event `reinstated`. An expired licence is renewed instead.",
    params(("id" = String, Path, format = Uuid, description = "The licence id")),
    security(("service_key" = [])),
    responses((status = 200, description = "The licence", body = LicenseAnswer), Transition, ServiceKeyRequired, Unavailable)
))]
pub(super) async fn reinstate_license(
    State(s): State<CoreState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<LicenseAnswer>, ProblemResponse> {
    act(&s, &actor, &id, Action::Reinstate).await
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    post,
    path = "/internal/v1/licenses/{id}/revoke",
    operation_id = "revoke_license",
    tag = "licences",
    summary = "Revoke a licence for good",
    description = "Event `revoked`; nothing makes it usable again.",
    params(("id" = String, Path, format = Uuid, description = "The licence id")),
    security(("service_key" = [])),
    responses((status = 200, description = "The licence", body = LicenseAnswer), Transition, ServiceKeyRequired, Unavailable)
))]
pub(super) async fn revoke_license(
    State(s): State<CoreState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<LicenseAnswer>, ProblemResponse> {
    act(&s, &actor, &id, Action::Revoke).await
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = RenewRequest))]
#[serde(deny_unknown_fields)]
pub(super) struct RenewBody {
    /// The new expiry, in the future; `null`: never.
    expires_at: Option<DateTime<Utc>>,
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    post,
    path = "/internal/v1/licenses/{id}/renew",
    operation_id = "renew_license",
    tag = "licences",
    summary = "Move a licence's expiry",
    description = "Event `renewed`; an expired licence becomes active again, a suspended one stays suspended.",
    params(("id" = String, Path, format = Uuid, description = "The licence id")),
    request_body = RenewBody,
    security(("service_key" = [])),
    responses(
        (status = 200, description = "The licence", body = LicenseAnswer),
        (status = 404, description = "`not_found`: no such licence", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_transition`: the licence is revoked", body = Problem, content_type = "application/problem+json"),
        LicenseWritten,
        ServiceKeyRequired,
        Unavailable
    )
))]
pub(super) async fn renew_license(
    State(s): State<CoreState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<RenewBody>,
) -> Result<Json<LicenseAnswer>, ProblemResponse> {
    let svc = licenses(&s)?;
    let l = svc.renew(&actor, license_id(&id)?, b.expires_at).await?;
    Ok(Json(full(svc, l).await?))
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    get,
    path = "/internal/v1/licenses/{id}/events",
    operation_id = "license_events",
    tag = "licences",
    summary = "A licence's lifecycle events",
    params(("id" = String, Path, format = Uuid, description = "The licence id")),
    security(("service_key" = [])),
    responses(
        (status = 200, description = "Its events, oldest first", body = Vec<LicenseEvent>),
        LicensePath,
        ServiceKeyRequired,
        Unavailable
    )
))]
pub(super) async fn license_events(
    State(s): State<CoreState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Vec<LicenseEvent>>, ProblemResponse> {
    let svc = licenses(&s)?;
    Ok(Json(svc.events(license_id(&id)?).await?))
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
/// <key>` (see the [module docs](self)), with request ids, problem documents for unknown routes
/// and wrong methods, and the 1 MiB body limit. It may face the internet: it answers nothing
/// without a valid licence key but 401, and never tells whether a licence exists.
pub fn license_key_router(service: LicenseService) -> Router {
    #[cfg(feature = "openapi")]
    let (routes, _) = key_routes().0.split_for_parts();
    #[cfg(not(feature = "openapi"))]
    let (routes, _) = key_routes();
    super::public_listener(routes, service)
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
