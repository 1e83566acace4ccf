//! Signed entitlement certificates: `GET …/companies/{company_id}/certificate` (the company's
//! current entitlements, signed now) and `GET /internal/v1/certificate-keys` (the keys that
//! verify them). Without a [`CertificateSigner`](crate::certificate::CertificateSigner) in the
//! state both answer 404 `certificates_not_configured` (decision 0019).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use kisum_guard::certificate::{CONTENT_TYPE, CertificateKeys};
use kisum_guard::http::ProblemResponse;
#[cfg(feature = "openapi")]
use kisum_guard::openapi::{ServiceKeyRequired, Unavailable};
use kisum_guard::{CompanyId, Problem};

use super::CoreState;
#[cfg(feature = "openapi")]
use super::KeyedPath;
use super::error::internal_error;
use super::extract::{ApiPath, parse};
use crate::certificate::CertificateSigner;

#[cfg(feature = "openapi")]
kisum_guard::problem_responses! {
    /// Core was started without certificate keys.
    NotConfigured {
        404 => "`certificates_not_configured`: this Core has no certificate keys (it signs no \
                certificates)",
    }
}

/// The signer, or 404 `certificates_not_configured`.
fn signer(s: &CoreState) -> Result<&CertificateSigner, ProblemResponse> {
    s.certificates.as_deref().ok_or_else(|| {
        Problem::new(
            404,
            "certificates_not_configured",
            "certificates not configured",
        )
        .with_detail("this Core has no certificate keys: it signs no certificates")
        .into()
    })
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    get,
    path = "/internal/v1/companies/{company_id}/certificate",
    operation_id = "get_company_certificate",
    tag = "certificates",
    summary = "A company's entitlements, signed",
    description = "A certificate signed now of the company's current entitlements (an unknown \
                   company has the empty entitlements at version 0); a new fetch after any \
                   entitlement change carries the new `entitlement_version`. Verify it offline \
                   with `kisum_guard::certificate` and the keys of `/internal/v1/certificate-keys`.",
    params(("company_id" = String, Path, format = Uuid, description = "The company id")),
    security(("service_key" = [])),
    responses(
        (status = 200, description = "The certificate (`-----BEGIN KISUM CERTIFICATE-----` armour)",
         body = String, content_type = "application/x-kisum-certificate"),
        KeyedPath,
        NotConfigured,
        ServiceKeyRequired,
        Unavailable
    )
))]
pub(super) async fn company_certificate(
    State(s): State<CoreState>,
    ApiPath(company): ApiPath<String>,
) -> Result<Response, ProblemResponse> {
    let company_id = parse::<CompanyId>(&company)?;
    let signer = signer(&s)?;
    let entitlements = s.admin.service().entitlements(company_id).await?;
    let certificate = signer.sign_company(&entitlements).map_err(|e| {
        tracing::error!(error = %e, "certificate signing failed");
        ProblemResponse::from(internal_error())
    })?;
    let mut response = certificate.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    get,
    path = "/internal/v1/certificate-keys",
    operation_id = "get_certificate_keys",
    tag = "certificates",
    summary = "The keys that verify certificates",
    description = "Every published Ed25519 certificate key: the signing one and those kept for \
                   the overlap of a rotation.",
    security(("service_key" = [])),
    responses(
        (status = 200, description = "The keys", body = CertificateKeys),
        NotConfigured,
        ServiceKeyRequired
    )
))]
pub(super) async fn certificate_keys(
    State(s): State<CoreState>,
) -> Result<Json<CertificateKeys>, ProblemResponse> {
    Ok(Json(signer(&s)?.public_keys()))
}
