//! Beginning a passkey ceremony for a user already known (decision 0031): the second factor of
//! a sign-in (`POST /v1/auth/mfa/webauthn/start`, by its `mfa_token`) and a reauthentication
//! (`POST /v1/auth/reauthenticate/webauthn/start`, signed in). Both finish where their
//! siblings do, with a `webauthn` member: `POST /v1/auth/mfa/verify` and
//! `POST /v1/auth/reauthenticate`.

use axum::Json;
use axum::extract::State;
use kisum_guard::Problem;
use kisum_guard::http::{ApiJson, ProblemResponse};
use serde::Deserialize;

use super::AuthState;
use super::extract::{Caller, Client};
#[cfg(feature = "openapi")]
use super::openapi::{JsonBody, Malformed, RateLimited, SignedIn};
#[cfg(feature = "openapi")]
use super::passkeys::PasskeysOff;
use super::passkeys::{ChallengeView, service, sign_in_limit};
use crate::passkey::StartVerifyError;

/// The routes of this file and the `(method, path)`s written.
pub(super) fn documented() -> (super::Routes, [(&'static str, &'static str); 2]) {
    kisum_guard::documented_routes! { AuthState;
        "/v1/auth/mfa/webauthn/start" => post mfa_webauthn_start;
        "/v1/auth/reauthenticate/webauthn/start" => post reauthenticate_webauthn_start;
    }
}

impl From<StartVerifyError> for ProblemResponse {
    fn from(e: StartVerifyError) -> Self {
        match e {
            StartVerifyError::InvalidToken => {
                Problem::new(401, "invalid_mfa_token", "invalid or expired mfa token").into()
            }
            StartVerifyError::NoPasskey => {
                Problem::new(409, "no_passkey", "no passkey is registered")
                    .with_detail("answer with another method, or register a passkey first")
                    .into()
            }
            StartVerifyError::Failed(f) => f.into(),
            other => {
                tracing::error!(error = %other, "passkey ceremony could not begin");
                kisum_core::http::error::internal_error().into()
            }
        }
    }
}

/// The sign-in challenge a passkey is to answer.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = MfaWebauthnStartRequest))]
pub(crate) struct MfaWebauthnStartBody {
    /// The `mfa_token` of the `mfa_required` answer.
    mfa_token: String,
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    post,
    path = "/v1/auth/mfa/webauthn/start",
    operation_id = "mfa_webauthn_start",
    tag = "mfa",
    summary = "Begin answering a sign-in challenge with a passkey",
    description = "For an `mfa_required` whose `methods` include `webauthn`. Answers the options for `navigator.credentials.get()` naming the user's passkeys (user verification required); the answer goes to `POST /v1/auth/mfa/verify` as `webauthn: {ceremony_id, credential}`. Takes none of the token's attempts (the verification does).",
    request_body = MfaWebauthnStartBody,
    responses(
        (status = 200, description = "The ceremony and its options", body = ChallengeView),
        (status = 401, description = "`invalid_mfa_token`: an unknown, expired, spent or locked token", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`no_passkey`: the user has no passkey", body = Problem, content_type = "application/problem+json"),
        JsonBody, Malformed, RateLimited, PasskeysOff
    )
))]
pub(crate) async fn mfa_webauthn_start(
    State(s): State<AuthState>,
    Client(client): Client,
    ApiJson(b): ApiJson<MfaWebauthnStartBody>,
) -> Result<Json<ChallengeView>, ProblemResponse> {
    let passkeys = service(&s)?;
    sign_in_limit(&s, &client).await?;
    Ok(Json(
        passkeys.start_second_factor(&b.mfa_token).await?.into(),
    ))
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    post,
    path = "/v1/auth/reauthenticate/webauthn/start",
    operation_id = "reauthenticate_webauthn_start",
    tag = "mfa",
    summary = "Begin reauthenticating with a passkey",
    description = "Answers the options for `navigator.credentials.get()` naming the caller's passkeys (user verification required); the answer goes to `POST /v1/auth/reauthenticate` as `webauthn: {ceremony_id, credential}`.",
    security(("bearer_jwt" = [])),
    responses(
        (status = 200, description = "The ceremony and its options", body = ChallengeView),
        (status = 409, description = "`no_passkey`: the caller has no passkey", body = Problem, content_type = "application/problem+json"),
        SignedIn, PasskeysOff
    )
))]
pub(crate) async fn reauthenticate_webauthn_start(
    State(s): State<AuthState>,
    caller: Caller,
) -> Result<Json<ChallengeView>, ProblemResponse> {
    let passkeys = service(&s)?;
    Ok(Json(
        passkeys
            .start_reauthentication(caller.claims.sub)
            .await?
            .into(),
    ))
}
