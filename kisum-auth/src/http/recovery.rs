//! Account recovery and email proof: password forgot/reset and one-time email codes. Every
//! "we sent it if the account exists" route answers the same 202, whether or not it did.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use kisum_guard::http::{ApiJson, ProblemResponse, bearer};
use serde::{Deserialize, Serialize};

use super::AuthState;
#[cfg(feature = "openapi")]
use super::TokenResponse;
use super::auth::tokens_ok;
use super::extract::Client;
#[cfg(feature = "openapi")]
use super::openapi::{
    CodeLocked, EmailFlows, JsonBody, Malformed, RateLimited, Unavailable, constant,
};
use crate::identity::Email;
use crate::identity::Password;
use crate::otp::OtpPurpose;
use crate::ratelimit::{otp_email_key, password_forgot_email_key};
#[cfg(feature = "openapi")]
use kisum_guard::Problem;

/// The one body every "we sent it if the account exists" route answers.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(super) struct Accepted {
    /// Always `accepted`.
    #[cfg_attr(feature = "openapi", schema(schema_with = accepted))]
    status: &'static str,
}

/// The schema of `Accepted`'s `status`.
#[cfg(feature = "openapi")]
fn accepted() -> utoipa::openapi::Object {
    constant("accepted", "Always `accepted`.")
}

const ACCEPTED: Accepted = Accepted { status: "accepted" };

/// The 202 of a "we sent it if the account exists" route.
pub(super) fn accepted_response() -> Response {
    (StatusCode::ACCEPTED, Json(ACCEPTED)).into_response()
}

/// Counts an email flow's request against its per-address limit, keyed by `key`. An address
/// that does not parse is not counted here: the flow itself answers it as it answers an
/// unknown one.
pub(super) async fn limit_per_email(
    s: &AuthState,
    email: &str,
    key: fn(&Email) -> String,
    limit: crate::ratelimit::RateLimit,
) -> Result<(), ProblemResponse> {
    if let Ok(email) = Email::parse(email) {
        s.limits.check(&[(key(&email), limit)]).await?;
    }
    Ok(())
}

/// An email.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = EmailRequest))]
pub(super) struct EmailBody {
    /// The email.
    email: String,
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    post,
    path = "/v1/auth/password/forgot",
    operation_id = "password_forgot",
    tag = "recovery",
    summary = "Ask for a password reset email",
    description = "The same answer whether or not the email exists.",
    request_body = EmailBody,
    responses(
        (status = 202, description = "Accepted", body = Accepted),
        JsonBody, Malformed, RateLimited, EmailFlows, Unavailable
    )
))]
pub(super) async fn password_forgot(
    State(s): State<AuthState>,
    ApiJson(b): ApiJson<EmailBody>,
) -> Result<Response, ProblemResponse> {
    limit_per_email(
        &s,
        &b.email,
        password_forgot_email_key,
        s.limits.forgot_per_email,
    )
    .await?;
    s.auth.forgot_password(&b.email).await?;
    Ok(accepted_response())
}

/// A password reset.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = ResetPasswordRequest))]
pub(super) struct ResetBody {
    /// The reset token of the email.
    token: String,
    /// The new password.
    #[cfg_attr(feature = "openapi", schema(format = Password))]
    password: String,
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    post,
    path = "/v1/auth/password/reset",
    operation_id = "password_reset",
    tag = "recovery",
    summary = "Set a new password with a reset token",
    request_body = ResetBody,
    responses(
        (status = 204, description = "The password is changed; every session of the user is revoked"),
        (status = 400, description = "`invalid_request`: malformed JSON or not a JSON content type; `invalid_token`: an invalid or expired reset token", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`: the body is over the limit", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: wrong types, missing fields or a weak password", body = Problem, content_type = "application/problem+json"),
        EmailFlows, Unavailable
    )
))]
pub(super) async fn password_reset(
    State(s): State<AuthState>,
    Client(client): Client,
    ApiJson(b): ApiJson<ResetBody>,
) -> Result<StatusCode, ProblemResponse> {
    s.auth
        .reset_password(&b.token, Password::new(b.password), client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A one-time code request.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = OtpRequest))]
pub(super) struct OtpRequestBody {
    /// The email.
    email: String,
    /// What the code is for.
    purpose: OtpPurpose,
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    post,
    path = "/v1/auth/email-otp/request",
    operation_id = "otp_request",
    tag = "recovery",
    summary = "Ask for an email one-time code",
    description = "The same answer whether or not the email exists.",
    request_body = OtpRequestBody,
    responses(
        (status = 202, description = "Accepted", body = Accepted),
        JsonBody, Malformed, RateLimited, EmailFlows, Unavailable
    )
))]
pub(super) async fn otp_request(
    State(s): State<AuthState>,
    ApiJson(b): ApiJson<OtpRequestBody>,
) -> Result<Response, ProblemResponse> {
    limit_per_email(&s, &b.email, otp_email_key, s.limits.otp_per_email).await?;
    s.auth.request_otp(&b.email, b.purpose).await?;
    Ok(accepted_response())
}

/// A one-time code.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = OtpVerifyRequest))]
pub(super) struct OtpVerifyBody {
    /// The email.
    email: String,
    /// The code of the email.
    code: String,
    /// What the code is for.
    purpose: OtpPurpose,
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    post,
    path = "/v1/auth/email-otp/verify",
    operation_id = "otp_verify",
    tag = "recovery",
    summary = "Verify an email one-time code",
    request_body = OtpVerifyBody,
    responses(
        (status = 200, description = "Purpose `login`: signed in", body = TokenResponse),
        (status = 204, description = "Purpose `verify_email`: the email is verified"),
        (status = 401, description = "`invalid_code`: wrong or expired code; `mfa_required` (purpose `login`, the user has a second factor): no session yet, the problem carries `mfa_token`, `methods` and `expires_in` for `POST /v1/auth/mfa/verify`", body = Problem, content_type = "application/problem+json"),
        JsonBody, Malformed, CodeLocked, EmailFlows, Unavailable
    )
))]
pub(super) async fn otp_verify(
    State(s): State<AuthState>,
    Client(client): Client,
    headers: HeaderMap,
    ApiJson(b): ApiJson<OtpVerifyBody>,
) -> Result<Response, ProblemResponse> {
    // A valid session presented with the code says the password holder proves the mailbox;
    // anything else is an anonymous proof.
    let signed_in = match bearer(&headers) {
        Some(token) => s.auth.authenticate(token).await.ok().map(|a| a.claims.sub),
        None => None,
    };
    match s
        .auth
        .verify_otp_from(&b.email, &b.code, b.purpose, signed_in, client)
        .await?
    {
        Some(pair) => Ok(tokens_ok(&s, pair)),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}
