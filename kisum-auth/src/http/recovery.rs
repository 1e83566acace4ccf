//! Account recovery and email proof: password forgot/reset and one-time email codes. Every
//! "we sent it if the account exists" route answers the same 202, whether or not it did.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use kisum_guard::http::{ApiJson, ProblemResponse, bearer};
use serde::{Deserialize, Serialize};

use super::AuthState;
use super::auth::tokens_ok;
use super::extract::Client;
use crate::identity::Email;
use crate::identity::Password;
use crate::otp::OtpPurpose;
use crate::ratelimit::{otp_email_key, password_forgot_email_key};

/// The one body every "we sent it if the account exists" route answers.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(super) struct Accepted {
    status: &'static str,
}

pub(super) const ACCEPTED: Accepted = Accepted { status: "accepted" };

#[derive(Deserialize)]
pub(super) struct EmailBody {
    email: String,
}

pub(super) async fn password_forgot(
    State(s): State<AuthState>,
    ApiJson(b): ApiJson<EmailBody>,
) -> Result<Response, ProblemResponse> {
    if let Ok(email) = Email::parse(&b.email) {
        s.limits
            .check(&[(password_forgot_email_key(&email), s.limits.forgot_per_email)])
            .await?;
    }
    s.auth.forgot_password(&b.email).await?;
    Ok((StatusCode::ACCEPTED, Json(ACCEPTED)).into_response())
}

#[derive(Deserialize)]
pub(super) struct ResetBody {
    token: String,
    password: String,
}

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

#[derive(Deserialize)]
pub(super) struct OtpRequestBody {
    email: String,
    purpose: OtpPurpose,
}

pub(super) async fn otp_request(
    State(s): State<AuthState>,
    ApiJson(b): ApiJson<OtpRequestBody>,
) -> Result<Response, ProblemResponse> {
    if let Ok(email) = Email::parse(&b.email) {
        s.limits
            .check(&[(otp_email_key(&email), s.limits.otp_per_email)])
            .await?;
    }
    s.auth.request_otp(&b.email, b.purpose).await?;
    Ok((StatusCode::ACCEPTED, Json(ACCEPTED)).into_response())
}

#[derive(Deserialize)]
pub(super) struct OtpVerifyBody {
    email: String,
    code: String,
    purpose: OtpPurpose,
}

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
