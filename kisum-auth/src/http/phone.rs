//! Phone sign-in and verification by SMS code (decision 0036; API.md "More ways in"): ask
//! for a code, then trade it for a session (`login`) or a verified number (`verify_phone`,
//! signed in).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use kisum_guard::http::{ApiJson, ProblemResponse, bearer};
use kisum_guard::{DenialCode, Problem, UserId};
use serde::Deserialize;

use super::AuthState;
use super::auth::tokens_ok;
use super::extract::Client;
#[cfg(feature = "openapi")]
use super::openapi::{Malformed, Unavailable};
use super::passkeys::sign_in_limit;
use super::recovery::accepted_response;
#[cfg(feature = "openapi")]
use super::{TokenResponse, recovery::Accepted};
use crate::otp::{PhoneError, SmsPurpose};

impl From<PhoneError> for ProblemResponse {
    fn from(e: PhoneError) -> Self {
        match e {
            PhoneError::InvalidPhone => Problem::new(400, "invalid_phone", "invalid phone number")
                .with_detail("a number in E.164 form: `+`, the country code and the number")
                .into(),
            PhoneError::CountryNotAllowed => Problem::new(
                400,
                "phone_country_not_allowed",
                "codes are not sent to this country",
            )
            .into(),
            PhoneError::InvalidCode => Problem::new(401, "invalid_code", "invalid code").into(),
            PhoneError::OtpLocked(after) => super::error::otp_locked(after),
            PhoneError::MfaRequired(challenge) => super::error::mfa_required(&challenge),
            PhoneError::SignInRequired => DenialCode::Unauthenticated.into(),
            PhoneError::PhoneTaken => Problem::new(
                409,
                "phone_taken",
                "the number is another account's verified number",
            )
            .into(),
            PhoneError::Disabled => Problem::new(
                501,
                "not_configured",
                "sms codes are not configured on this server",
            )
            .into(),
            PhoneError::Failed(f) => f.into(),
        }
    }
}

/// The routes of this file and the `(method, path)`s written.
pub(super) fn documented() -> (super::Routes, [(&'static str, &'static str); 2]) {
    kisum_guard::documented_routes! { AuthState;
        "/v1/auth/phone/request" => post phone_request;
        "/v1/auth/phone/verify" => post phone_verify;
    }
}

/// The signed-in user of the request's Bearer token: required for `verify_phone`, ignored
/// for `login`.
async fn holder(
    s: &AuthState,
    headers: &HeaderMap,
    purpose: SmsPurpose,
) -> Result<Option<UserId>, ProblemResponse> {
    if purpose == SmsPurpose::Login {
        return Ok(None);
    }
    let token =
        bearer(headers).ok_or_else(|| ProblemResponse::from(DenialCode::Unauthenticated))?;
    Ok(Some(s.auth.authenticate(token).await?.claims.sub))
}

/// An SMS code request.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = PhoneCodeRequest))]
pub(super) struct RequestBody {
    /// The number, E.164 (`+447700900123`; spaces and dashes are ignored).
    phone: String,
    /// What the code is for.
    purpose: SmsPurpose,
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    post,
    path = "/v1/auth/phone/request",
    operation_id = "phone_request",
    tag = "auth",
    summary = "Ask for an SMS code",
    description = "Purpose `login`: a code is sent when the number is an account's verified number; the same answer otherwise. Purpose `verify_phone` needs a Bearer token: the code proves the number for that user. Limited per number, per country (`KISUM_SMS_PER_NUMBER`, `KISUM_SMS_PER_COUNTRY`) and as email codes (cooldown, daily quota); a provider outage answers the same and is logged.",
    request_body = RequestBody,
    responses(
        (status = 202, description = "Accepted", body = Accepted),
        (status = 400, description = "`invalid_request`: malformed JSON or not a JSON content type; `invalid_phone`: not an E.164 number; `phone_country_not_allowed`: not a country of `KISUM_SMS_COUNTRIES`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`, `session_revoked` (purpose `verify_phone` only)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`: the body is over the limit", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: too many codes for this number or country; `Retry-After` says when to retry", body = Problem, content_type = "application/problem+json"),
        (status = 501, description = "`not_configured`: SMS codes are not configured", body = Problem, content_type = "application/problem+json"),
        Malformed, Unavailable
    )
))]
pub(super) async fn phone_request(
    State(s): State<AuthState>,
    headers: HeaderMap,
    ApiJson(b): ApiJson<RequestBody>,
) -> Result<Response, ProblemResponse> {
    let (phone, country) = s.auth.phone_and_country(&b.phone)?;
    let holder = holder(&s, &headers, b.purpose).await?;
    if let Some(sms) = s.auth.sms_codes() {
        s.limits
            .check(&[
                (format!("sms:phone:{}", phone.digits()), sms.per_number),
                (format!("sms:country:{country}"), sms.per_country),
            ])
            .await?;
    }
    s.auth
        .request_phone_code(phone.as_str(), b.purpose, holder)
        .await?;
    Ok(accepted_response())
}

/// An SMS code.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = PhoneCodeVerifyRequest))]
pub(super) struct VerifyBody {
    /// The number the code was sent to.
    phone: String,
    /// The code.
    code: String,
    /// What the code is for.
    purpose: SmsPurpose,
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    post,
    path = "/v1/auth/phone/verify",
    operation_id = "phone_verify",
    tag = "auth",
    summary = "Verify an SMS code",
    description = "Purpose `login`: signs in the account whose verified number it is (a user with a second factor gets `mfa_required`). Purpose `verify_phone` (Bearer): the number becomes the user's verified number. 5 wrong codes lock the number's codes for 15 minutes.",
    request_body = VerifyBody,
    responses(
        (status = 200, description = "Purpose `login`: signed in", body = TokenResponse),
        (status = 204, description = "Purpose `verify_phone`: the number is verified"),
        (status = 400, description = "`invalid_request`: malformed JSON or not a JSON content type; `invalid_phone`; `phone_country_not_allowed`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`invalid_code`: wrong, spent or expired code; `mfa_required` (purpose `login`, the user has a second factor): no session yet, the problem carries `mfa_token`, `methods` and `expires_in` for `POST /v1/auth/mfa/verify`; `unauthenticated`, `session_revoked` (purpose `verify_phone`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`phone_taken`: the number is another account's verified number", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`: the body is over the limit", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: too many sign-in attempts from this address; `otp_locked`: too many wrong codes; `Retry-After` says when to retry", body = Problem, content_type = "application/problem+json"),
        (status = 501, description = "`not_configured`: SMS codes are not configured", body = Problem, content_type = "application/problem+json"),
        Malformed, Unavailable
    )
))]
pub(super) async fn phone_verify(
    State(s): State<AuthState>,
    Client(client): Client,
    headers: HeaderMap,
    ApiJson(b): ApiJson<VerifyBody>,
) -> Result<Response, ProblemResponse> {
    sign_in_limit(&s, &client).await?;
    let holder = holder(&s, &headers, b.purpose).await?;
    match s
        .auth
        .verify_phone_code(&b.phone, &b.code, b.purpose, holder, client)
        .await?
    {
        Some(pair) => Ok(tokens_ok(&s, pair)),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}
