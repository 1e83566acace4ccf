//! Magic links (decision 0032): ask for an emailed sign-in link to an allow-listed app page,
//! then trade its token for a session (API.md "More ways in").

use axum::extract::State;
use axum::response::Response;
use kisum_guard::Problem;
use kisum_guard::http::{ApiJson, ProblemResponse};
use serde::Deserialize;

use super::AuthState;
use super::auth::tokens_ok;
use super::extract::Client;
#[cfg(feature = "openapi")]
use super::openapi::{EmailFlows, Malformed, RateLimited, Unavailable};
use super::passkeys::sign_in_limit;
use super::recovery::{accepted_response, limit_per_email};
#[cfg(feature = "openapi")]
use super::{TokenResponse, recovery::Accepted};
use crate::otp::MagicLinkError;
use crate::ratelimit::otp_email_key;

impl From<MagicLinkError> for ProblemResponse {
    fn from(e: MagicLinkError) -> Self {
        match e {
            MagicLinkError::InvalidRedirect => Problem::new(
                400,
                "invalid_redirect",
                "redirect URI not on the allow-list",
            )
            .into(),
            MagicLinkError::InvalidToken => Problem::new(
                400,
                "invalid_token",
                "unknown, spent or expired sign-in link",
            )
            .with_detail("ask for a new link")
            .into(),
            MagicLinkError::MfaRequired(challenge) => super::error::mfa_required(&challenge),
            MagicLinkError::MfaLocked(after) => super::error::otp_locked(after),
            MagicLinkError::Disabled => crate::otp::OtpError::RecoveryDisabled.into(),
            MagicLinkError::Directory(e) => e.into(),
            MagicLinkError::Failed(f) => f.into(),
        }
    }
}

/// The routes of this file and the `(method, path)`s written.
pub(super) fn documented() -> (super::Routes, [(&'static str, &'static str); 2]) {
    kisum_guard::documented_routes! { AuthState;
        "/v1/auth/magic-link/request" => post magic_link_request;
        "/v1/auth/magic-link/verify" => post magic_link_verify;
    }
}

/// A magic-link request.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = MagicLinkRequest))]
pub(super) struct RequestBody {
    /// The email.
    email: String,
    /// The app page the link opens (with `?token=` added); exactly one of
    /// `KISUM_OAUTH_REDIRECT_URIS`.
    redirect_uri: String,
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    post,
    path = "/v1/auth/magic-link/request",
    operation_id = "magic_link_request",
    tag = "auth",
    summary = "Ask for an emailed sign-in link",
    description = "The same answer, after the same work, whether or not the email has an account; an unknown address gets no account and no mail. The link, `{redirect_uri}?token=…`, works once for 15 minutes. Limited as email codes.",
    request_body = RequestBody,
    responses(
        (status = 202, description = "Accepted", body = Accepted),
        (status = 400, description = "`invalid_request`: malformed JSON or not a JSON content type; `invalid_redirect`: `redirect_uri` is not on the allow-list", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`: the body is over the limit", body = Problem, content_type = "application/problem+json"),
        Malformed, RateLimited, EmailFlows, Unavailable
    )
))]
pub(super) async fn magic_link_request(
    State(s): State<AuthState>,
    ApiJson(b): ApiJson<RequestBody>,
) -> Result<Response, ProblemResponse> {
    // One budget with email codes: both send mail to the address.
    limit_per_email(&s, &b.email, otp_email_key, s.limits.otp_per_email).await?;
    s.auth.request_magic_link(&b.email, &b.redirect_uri).await?;
    Ok(accepted_response())
}

/// A magic link's token.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = MagicLinkVerifyRequest))]
pub(super) struct VerifyBody {
    /// The `token` of the link.
    token: String,
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    post,
    path = "/v1/auth/magic-link/verify",
    operation_id = "magic_link_verify",
    tag = "auth",
    summary = "Sign in with a magic link",
    description = "Spends the token (single use, 15 minutes) and proves the email. A user with a second factor gets `mfa_required`.",
    request_body = VerifyBody,
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 400, description = "`invalid_request`: malformed JSON or not a JSON content type; `invalid_token`: an unknown, spent or expired link", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`mfa_required` (the user has a second factor): no session yet, the problem carries `mfa_token`, `methods` and `expires_in` for `POST /v1/auth/mfa/verify`", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`: the body is over the limit", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: too many sign-in attempts from this address; `otp_locked`: the link was right but too many wrong second-factor codes were tried lately; `Retry-After` says when to retry", body = Problem, content_type = "application/problem+json"),
        Malformed, EmailFlows, Unavailable
    )
))]
pub(super) async fn magic_link_verify(
    State(s): State<AuthState>,
    Client(client): Client,
    ApiJson(b): ApiJson<VerifyBody>,
) -> Result<Response, ProblemResponse> {
    sign_in_limit(&s, &client).await?;
    let pair = s.auth.verify_magic_link(&b.token, client).await?;
    Ok(tokens_ok(&s, pair))
}
