//! Second factors and assurance: enrolling an authenticator app (TOTP) and its recovery codes,
//! finishing a sign-in with a second factor, and reauthenticating (decision 0022).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use kisum_guard::Problem;
use kisum_guard::http::{ApiJson, ProblemResponse};
use serde::{Deserialize, Serialize};

use super::AuthState;
#[cfg(feature = "openapi")]
use super::auth::TokenResponse;
use super::auth::tokens_ok;
use super::extract::{Caller, Client, client_ip};
#[cfg(feature = "openapi")]
use super::openapi::{Hashing, JsonBody, Malformed, RateLimited, SecondFactorLimited, SignedIn};
use crate::identity::Password;
use crate::mfa::{Reauthentication, RecoveryCode, SecondFactorProof};
use crate::passkey::PasskeyProof;
use crate::ratelimit::login_ip_key;
use webauthn_rs::prelude::PublicKeyCredential;

/// A new authenticator app enrolment, shown once.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct TotpEnrolmentView {
    /// The secret, RFC 4648 base32 without padding, for typing into the app.
    pub(crate) secret: String,
    /// The `otpauth://totp/…` URI a QR code carries.
    pub(crate) otpauth_uri: String,
}

/// Recovery codes, shown once.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct RecoveryCodesView {
    /// Ten single-use codes, `xxxx-xxxx-xxxx`.
    pub(crate) recovery_codes: Vec<String>,
}

fn codes_view(codes: &[RecoveryCode]) -> Json<RecoveryCodesView> {
    Json(RecoveryCodesView {
        recovery_codes: codes.iter().map(|c| c.as_str().to_owned()).collect(),
    })
}

/// Whether the caller's other sessions stay when a factor changes.
#[derive(Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = FactorChangeRequest))]
pub(crate) struct FactorChangeBody {
    /// `true` keeps the user's other sessions; by default (`false`) they end.
    #[serde(default)]
    pub(super) keep_other_sessions: bool,
}

/// The optional body of a factor change: none, an empty one, or [`FactorChangeBody`].
pub(super) async fn factor_change(
    request: axum::extract::Request,
) -> Result<FactorChangeBody, ProblemResponse> {
    let bytes = axum::body::to_bytes(request.into_body(), kisum_guard::http::BODY_LIMIT)
        .await
        .map_err(|_| Problem::new(413, "payload_too_large", "request body too large"))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(FactorChangeBody::default());
    }
    kisum_guard::http::decode_json(&bytes)
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    post,
    path = "/v1/auth/mfa/totp",
    operation_id = "mfa_totp_enrol",
    tag = "mfa",
    summary = "Start enrolling an authenticator app",
    description = "Needs recent auth. The enrolment stays pending (it signs nobody in) until confirmed with a first code; a new call replaces a pending one.",
    security(("bearer_jwt" = [])),
    responses(
        (status = 201, description = "The secret and its `otpauth://` URI, shown once", body = TotpEnrolmentView),
        (status = 403, description = "`reauthentication_required`: signed in longer ago than the recent-auth window; `POST /v1/auth/reauthenticate` first", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`mfa_already_enrolled`: disable the current app first", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`mfa_unavailable`: no `KISUM_SECRET_KEY` on this server (or a stored secret does not open); `unavailable`: a store is unreachable", body = Problem, content_type = "application/problem+json"),
        SignedIn
    )
))]
pub(crate) async fn totp_enrol(
    State(s): State<AuthState>,
    caller: Caller,
    Client(client): Client,
) -> Result<(StatusCode, Json<TotpEnrolmentView>), ProblemResponse> {
    let enrolment = s.auth.enrol_totp(&caller.session, &client).await?;
    let view = TotpEnrolmentView {
        secret: enrolment.secret_base32.clone(),
        otpauth_uri: enrolment.otpauth_uri.clone(),
    };
    Ok((StatusCode::CREATED, Json(view)))
}

/// The first code of the app being enrolled.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = TotpConfirmRequest))]
pub(crate) struct TotpConfirmBody {
    /// The six-digit code the app shows.
    code: String,
    /// `true` keeps the user's other sessions; by default they end.
    #[serde(default)]
    keep_other_sessions: bool,
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    post,
    path = "/v1/auth/mfa/totp/confirm",
    operation_id = "mfa_totp_confirm",
    tag = "mfa",
    summary = "Confirm the authenticator app with a first code",
    description = "From now on every sign-in of the user asks for a second factor. Unless `keep_other_sessions` is `true`, the user's other sessions end.",
    request_body = TotpConfirmBody,
    security(("bearer_jwt" = [])),
    responses(
        (status = 200, description = "Ten recovery codes, shown once (stored hashed, single use)", body = RecoveryCodesView),
        (status = 401, description = "`invalid_code`: a wrong, stale or already used code", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`mfa_not_enrolled` (no pending enrolment) or `mfa_already_enrolled`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`mfa_unavailable` or `unavailable`", body = Problem, content_type = "application/problem+json"),
        SignedIn, JsonBody, Malformed
    )
))]
pub(crate) async fn totp_confirm(
    State(s): State<AuthState>,
    caller: Caller,
    Client(client): Client,
    ApiJson(b): ApiJson<TotpConfirmBody>,
) -> Result<Json<RecoveryCodesView>, ProblemResponse> {
    let codes = s
        .auth
        .confirm_totp(&caller.session, &b.code, b.keep_other_sessions, &client)
        .await?;
    Ok(codes_view(&codes))
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    delete,
    path = "/v1/auth/mfa/totp",
    operation_id = "mfa_totp_disable",
    tag = "mfa",
    summary = "Remove the authenticator app and the recovery codes",
    description = "Needs recent auth. The body is optional; unless `keep_other_sessions` is `true`, the user's other sessions end.",
    request_body(content = Option<FactorChangeBody>, content_type = "application/json"),
    security(("bearer_jwt" = [])),
    responses(
        (status = 204, description = "Removed: sign-in asks for one factor again"),
        (status = 403, description = "`reauthentication_required`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`mfa_not_enrolled`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`mfa_unavailable` or `unavailable`", body = Problem, content_type = "application/problem+json"),
        SignedIn, JsonBody, Malformed
    )
))]
pub(crate) async fn totp_disable(
    State(s): State<AuthState>,
    caller: Caller,
    Client(client): Client,
    request: axum::extract::Request,
) -> Result<StatusCode, ProblemResponse> {
    let b = factor_change(request).await?;
    s.auth
        .disable_totp(&caller.session, b.keep_other_sessions, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    post,
    path = "/v1/auth/mfa/recovery-codes",
    operation_id = "mfa_recovery_codes",
    tag = "mfa",
    summary = "Replace the recovery codes",
    description = "Needs recent auth. The old codes stop working. The body is optional; unless `keep_other_sessions` is `true`, the user's other sessions end (new codes usually follow codes seen by someone else).",
    request_body(content = Option<FactorChangeBody>, content_type = "application/json"),
    security(("bearer_jwt" = [])),
    responses(
        (status = 200, description = "Ten fresh recovery codes, shown once", body = RecoveryCodesView),
        (status = 403, description = "`reauthentication_required`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`mfa_not_enrolled`: no second factor, so nothing to recover", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`mfa_unavailable` or `unavailable`", body = Problem, content_type = "application/problem+json"),
        SignedIn, JsonBody, Malformed
    )
))]
pub(crate) async fn recovery_codes(
    State(s): State<AuthState>,
    caller: Caller,
    Client(client): Client,
    request: axum::extract::Request,
) -> Result<Json<RecoveryCodesView>, ProblemResponse> {
    let b = factor_change(request).await?;
    let codes = s
        .auth
        .regenerate_recovery_codes(&caller.session, &client)
        .await?;
    if !b.keep_other_sessions {
        s.auth.end_other_sessions(&caller.session, &client).await?;
    }
    Ok(codes_view(&codes))
}

/// The second factor of a sign-in.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = MfaVerifyRequest))]
pub(crate) struct MfaVerifyBody {
    /// The `mfa_token` of the `mfa_required` answer.
    mfa_token: String,
    /// A code of the authenticator app (exactly one of `totp_code`, `recovery_code`,
    /// `webauthn`).
    totp_code: Option<String>,
    /// A recovery code.
    recovery_code: Option<String>,
    /// A passkey's answer to the ceremony of `POST /v1/auth/mfa/webauthn/start`.
    webauthn: Option<WebauthnProofBody>,
}

/// A passkey's answer to a ceremony begun for a known user.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = WebauthnProof))]
pub(crate) struct WebauthnProofBody {
    /// From the `webauthn/start` route.
    ceremony_id: String,
    /// The `PublicKeyCredential` of `navigator.credentials.get()` as JSON (binary values
    /// base64url).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    credential: PublicKeyCredential,
}

impl From<WebauthnProofBody> for PasskeyProof {
    fn from(b: WebauthnProofBody) -> Self {
        Self {
            ceremony_id: b.ceremony_id,
            credential: b.credential,
        }
    }
}

/// 422 on `field`: more than one proof was given.
fn only_one(field: &str) -> ProblemResponse {
    Problem::invalid_field(field, "give exactly one proof").into()
}

/// Exactly one second factor of `totp` and `recovery`, or 422 naming the field.
fn one_proof(
    totp: Option<String>,
    recovery: Option<String>,
) -> Result<SecondFactorProof, ProblemResponse> {
    match (totp, recovery) {
        (Some(code), None) => Ok(SecondFactorProof::Totp(code)),
        (None, Some(code)) => Ok(SecondFactorProof::RecoveryCode(code)),
        (None, None) => Err(Problem::invalid_field(
            "totp_code",
            "a totp_code or a recovery_code is required",
        )
        .into()),
        (Some(_), Some(_)) => Err(Problem::invalid_field(
            "recovery_code",
            "give either a totp_code or a recovery_code, not both",
        )
        .into()),
    }
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    post,
    path = "/v1/auth/mfa/verify",
    operation_id = "mfa_verify",
    tag = "mfa",
    summary = "Finish a sign-in with a second factor",
    description = "Spends the `mfa_token` of `mfa_required`. A token allows 5 attempts (as email codes); the fifth wrong one locks the user's second factor for the lockout.",
    request_body = MfaVerifyBody,
    responses(
        (status = 200, description = "Signed in: the session is `aal2`, `amr` `[\"pwd\", \"otp\"]` (a recovery code: `[\"pwd\", \"rec\"]`; a passkey: `[\"pwd\", \"hwk\", \"user\"]`)", body = TokenResponse),
        (status = 401, description = "`invalid_code`: a wrong, replayed or spent code, or a passkey answer that does not verify; `invalid_mfa_token`: an unknown, expired or already used token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: wrong types, a missing `mfa_token`, or not exactly one of `totp_code`, `recovery_code` and `webauthn`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`mfa_unavailable`, `passkeys_unavailable` (a `webauthn` answer where no relying party is configured) or `unavailable`", body = Problem, content_type = "application/problem+json"),
        JsonBody, SecondFactorLimited
    )
))]
pub(super) async fn mfa_verify(
    State(s): State<AuthState>,
    Client(client): Client,
    ApiJson(b): ApiJson<MfaVerifyBody>,
) -> Result<Response, ProblemResponse> {
    let pair = verify_second_factor(&s, client, b).await?;
    Ok(tokens_ok(&s, pair))
}

/// What `POST /v1/auth/mfa/verify` does before answering (the console's second-factor step
/// with a passkey takes the same path): the sign-in limit of the client's address, then the
/// proof checked against the challenge.
///
/// # Errors
/// The route's problems.
pub(crate) async fn verify_second_factor(
    s: &AuthState,
    client: crate::service::ClientInfo,
    b: MfaVerifyBody,
) -> Result<crate::session::TokenPair, ProblemResponse> {
    // The sign-in limits apply: a second factor is part of signing in.
    if let Some(ip) = client_ip(&client) {
        s.limits
            .check(&[(login_ip_key(ip), s.limits.login_per_ip)])
            .await?;
    }
    Ok(match (b.webauthn, b.totp_code, b.recovery_code) {
        (Some(proof), None, None) => {
            super::passkeys::service(s)?
                .verify_second_factor(&b.mfa_token, &proof.into(), client)
                .await?
        }
        (Some(_), _, _) => return Err(only_one("webauthn")),
        (None, totp, recovery) => {
            let proof = one_proof(totp, recovery)?;
            s.auth
                .verify_second_factor(&b.mfa_token, proof, client)
                .await?
        }
    })
}

/// A proof of who the caller is.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = ReauthenticateRequest))]
pub(crate) struct ReauthenticateBody {
    /// The account password (exactly one of `password`, `totp_code`, `recovery_code`,
    /// `webauthn`).
    #[cfg_attr(feature = "openapi", schema(format = Password))]
    password: Option<String>,
    /// A code of the authenticator app: also raises the session to `aal2`.
    totp_code: Option<String>,
    /// A recovery code (spent): also raises the session to `aal2`.
    recovery_code: Option<String>,
    /// A passkey's answer to the ceremony of `POST /v1/auth/reauthenticate/webauthn/start`:
    /// also raises the session to `aal2`.
    webauthn: Option<WebauthnProofBody>,
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    post,
    path = "/v1/auth/reauthenticate",
    operation_id = "reauthenticate",
    tag = "mfa",
    summary = "Prove who you are again",
    description = "Renews the session's `auth_time` (recent auth). A second factor also raises the session to `aal2` (step-up): an app code, a recovery code, or a passkey (`webauthn`, the answer to `POST /v1/auth/reauthenticate/webauthn/start`; `503 passkeys_unavailable` where no relying party is configured).",
    request_body = ReauthenticateBody,
    security(("bearer_jwt" = [])),
    responses(
        (status = 204, description = "`auth_time` renewed"),
        (status = 401, description = "`invalid_code`: a wrong password or code, or a passkey answer that does not verify", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: not exactly one of `password`, `totp_code`, `recovery_code`, `webauthn`", body = Problem, content_type = "application/problem+json"),
        SignedIn, JsonBody, RateLimited, Hashing
    )
))]
pub(crate) async fn reauthenticate(
    State(s): State<AuthState>,
    caller: Caller,
    Client(client): Client,
    ApiJson(b): ApiJson<ReauthenticateBody>,
) -> Result<StatusCode, ProblemResponse> {
    let mut hits = vec![(
        format!("reauthenticate:user:{}", caller.claims.sub),
        s.limits.login_per_email,
    )];
    if let Some(ip) = client_ip(&client) {
        hits.push((login_ip_key(ip), s.limits.login_per_ip));
    }
    s.limits.check(&hits).await?;
    let proof = match (b.webauthn, b.password, b.totp_code, b.recovery_code) {
        (Some(proof), None, None, None) => {
            super::passkeys::service(&s)?
                .reauthenticate(&caller.session, &proof.into(), &client)
                .await?;
            return Ok(StatusCode::NO_CONTENT);
        }
        (Some(_), _, _, _) => return Err(only_one("webauthn")),
        (None, Some(password), None, None) => Reauthentication::Password(Password::new(password)),
        (None, None, totp, recovery) => Reauthentication::SecondFactor(one_proof(totp, recovery)?),
        (None, Some(_), _, _) => return Err(only_one("password")),
    };
    s.auth
        .reauthenticate(&caller.session, proof, client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
