//! Passkey routes (`/v1/auth/passkeys/*`): registering one while signed in, listing and
//! deleting them, and passwordless sign-in. Their problems are chosen here, next to the
//! handlers (the service is [`crate::passkey`]); without a configured relying party every route
//! answers 503 `passkeys_unavailable`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use kisum_guard::Problem;
use kisum_guard::http::{ApiJson, ProblemResponse};
use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

use super::AuthState;
use super::auth::tokens_ok;
use super::extract::{Caller, Client, client_ip};
#[cfg(feature = "openapi")]
use super::openapi::{JsonBody, Malformed, RateLimited, SignedIn};
#[cfg(feature = "openapi")]
use crate::http::TokenResponse;
use crate::passkey::{
    Challenge, DeletePasskeyError, PasskeyId, PasskeyRecord, PasskeyService, PasskeySignInError,
    RegisterPasskeyError, StartCeremonyError,
};
use crate::ratelimit::login_ip_key;

#[cfg(feature = "openapi")]
kisum_guard::problem_responses! {
    /// A passkey route: the deployment may have configured no relying party.
    pub(super) PasskeysOff {
        503 => "`passkeys_unavailable`: no WebAuthn relying party is configured \
                (`KISUM_WEBAUTHN_RP_ID`); `unavailable`: a store the route needs is unreachable",
    }
}

/// The routes of this file and the `(method, path)`s written.
pub(super) fn documented() -> (super::Routes, [(&'static str, &'static str); 6]) {
    kisum_guard::documented_routes! { AuthState;
        "/v1/auth/passkeys" => get list_passkeys;
        "/v1/auth/passkeys/{id}" => delete delete_passkey;
        "/v1/auth/passkeys/register/start" => post register_start;
        "/v1/auth/passkeys/register/finish" => post register_finish;
        "/v1/auth/passkeys/login/start" => post login_start;
        "/v1/auth/passkeys/login/finish" => post login_finish;
    }
}

/// The passkey service, or 503 `passkeys_unavailable`.
pub(crate) fn service(s: &AuthState) -> Result<&PasskeyService, ProblemResponse> {
    s.passkeys.as_ref().ok_or_else(|| {
        Problem::new(503, "passkeys_unavailable", "passkeys are not configured")
            .with_detail("this deployment configures no WebAuthn relying party")
            .into()
    })
}

impl From<StartCeremonyError> for ProblemResponse {
    fn from(e: StartCeremonyError) -> Self {
        match e {
            StartCeremonyError::Failed(f) => f.into(),
            other => {
                tracing::error!(error = %other, "passkey ceremony could not begin");
                kisum_core::http::error::internal_error().into()
            }
        }
    }
}

impl From<RegisterPasskeyError> for ProblemResponse {
    fn from(e: RegisterPasskeyError) -> Self {
        match e {
            RegisterPasskeyError::UnknownCeremony => Problem::new(
                400,
                "invalid_ceremony",
                "no passkey registration under way with this ceremony id",
            )
            .with_detail("it is unknown, expired or finished already: start again")
            .into(),
            RegisterPasskeyError::InvalidCredential => Problem::new(
                400,
                "invalid_credential",
                "the authenticator's answer does not verify",
            )
            .into(),
            RegisterPasskeyError::AlreadyRegistered => {
                Problem::new(409, "passkey_exists", "this passkey is already registered").into()
            }
            RegisterPasskeyError::InvalidName => {
                Problem::invalid_field("name", "1 to 64 printable characters").into()
            }
            RegisterPasskeyError::Failed(f) => f.into(),
        }
    }
}

impl From<PasskeySignInError> for ProblemResponse {
    fn from(e: PasskeySignInError) -> Self {
        match e {
            PasskeySignInError::InvalidCredentials => {
                Problem::new(401, "invalid_credentials", "invalid credentials").into()
            }
            PasskeySignInError::Failed(f) => f.into(),
        }
    }
}

impl From<DeletePasskeyError> for ProblemResponse {
    fn from(e: DeletePasskeyError) -> Self {
        match e {
            DeletePasskeyError::NotFound => Problem::not_found("passkey").into(),
            DeletePasskeyError::LastSignInMethod => Problem::new(
                409,
                "last_sign_in_method",
                "the last way to sign in cannot be removed",
            )
            .with_detail("set a password, link a provider or register another passkey first")
            .into(),
            DeletePasskeyError::Failed(f) => f.into(),
        }
    }
}

/// A ceremony begun.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = PasskeyChallenge))]
pub(crate) struct ChallengeView {
    /// Names the ceremony in its finish (single use, 5 minutes).
    ceremony_id: String,
    /// The WebAuthn options for `navigator.credentials.create()` (registration) or `.get()`
    /// (sign-in): `{"publicKey": …}`, binary values base64url.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    options: serde_json::Value,
}

impl From<Challenge> for ChallengeView {
    fn from(c: Challenge) -> Self {
        Self {
            ceremony_id: c.ceremony_id,
            options: c.options,
        }
    }
}

/// A registered passkey.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Passkey))]
pub(crate) struct PasskeyView {
    /// The passkey.
    pub(crate) id: PasskeyId,
    /// Its name.
    pub(crate) name: String,
    /// When it was registered.
    pub(crate) created_at: DateTime<Utc>,
    /// When it last signed in (`null`: never).
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub(crate) last_used_at: Option<DateTime<Utc>>,
}

impl From<PasskeyRecord> for PasskeyView {
    fn from(p: PasskeyRecord) -> Self {
        Self {
            id: p.id,
            name: p.name,
            created_at: p.created_at,
            last_used_at: p.last_used_at,
        }
    }
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    post,
    path = "/v1/auth/passkeys/register/start",
    operation_id = "passkey_register_start",
    tag = "passkeys",
    summary = "Begin registering a passkey",
    description = "Answers the options for `navigator.credentials.create()`: a discoverable credential with user verification, excluding the caller's registered passkeys.",
    security(("bearer_jwt" = [])),
    responses(
        (status = 200, description = "The ceremony and its options", body = ChallengeView),
        SignedIn, PasskeysOff
    )
))]
pub(crate) async fn register_start(
    State(s): State<AuthState>,
    caller: Caller,
) -> Result<Json<ChallengeView>, ProblemResponse> {
    let challenge = service(&s)?.start_registration(caller.claims.sub).await?;
    Ok(Json(challenge.into()))
}

/// The authenticator's answer to a registration.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = PasskeyRegisterFinishRequest))]
pub(crate) struct RegisterFinishBody {
    /// From `register/start`.
    ceremony_id: String,
    /// The `PublicKeyCredential` of `navigator.credentials.create()` as JSON (binary values
    /// base64url).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    credential: RegisterPublicKeyCredential,
    /// A name for it (default `Passkey`; at most 64 characters).
    name: Option<String>,
    /// `true` keeps the user's other sessions; by default (`false`) they end.
    #[serde(default)]
    keep_other_sessions: bool,
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    post,
    path = "/v1/auth/passkeys/register/finish",
    operation_id = "passkey_register_finish",
    tag = "passkeys",
    summary = "Finish registering a passkey",
    description = "Unless `keep_other_sessions` is `true`, the caller's other sessions end (a new way in).",
    security(("bearer_jwt" = [])),
    request_body = RegisterFinishBody,
    responses(
        (status = 201, description = "Registered", body = PasskeyView),
        (status = 400, description = "`invalid_ceremony`: unknown, expired, finished or someone else's ceremony; `invalid_credential`: the answer does not verify (challenge, origin, relying party, user verification); `invalid_request`: malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`passkey_exists`: this authenticator's credential is registered already", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: missing fields, a credential of the wrong shape, or a bad `name`", body = Problem, content_type = "application/problem+json"),
        SignedIn, PasskeysOff
    )
))]
pub(crate) async fn register_finish(
    State(s): State<AuthState>,
    caller: Caller,
    Client(client): Client,
    ApiJson(b): ApiJson<RegisterFinishBody>,
) -> Result<Response, ProblemResponse> {
    let record = service(&s)?
        .finish_registration(
            caller.claims.sub,
            &b.ceremony_id,
            &b.credential,
            b.name.as_deref(),
            &client,
        )
        .await?;
    if !b.keep_other_sessions {
        s.auth.end_other_sessions(&caller.session, &client).await?;
    }
    Ok((StatusCode::CREATED, Json(PasskeyView::from(record))).into_response())
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    get,
    path = "/v1/auth/passkeys",
    operation_id = "list_passkeys",
    tag = "passkeys",
    summary = "The caller's passkeys",
    security(("bearer_jwt" = [])),
    responses(
        (status = 200, description = "The passkeys, oldest first", body = Vec<PasskeyView>),
        SignedIn, PasskeysOff
    )
))]
pub(crate) async fn list_passkeys(
    State(s): State<AuthState>,
    caller: Caller,
) -> Result<Json<Vec<PasskeyView>>, ProblemResponse> {
    let list = service(&s)?.list(caller.claims.sub).await?;
    Ok(Json(list.into_iter().map(PasskeyView::from).collect()))
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    delete,
    path = "/v1/auth/passkeys/{id}",
    operation_id = "delete_passkey",
    tag = "passkeys",
    summary = "Delete one of the caller's passkeys",
    description = "Needs recent auth. The body is optional; unless `keep_other_sessions` is `true`, the caller's other sessions end.",
    params(("id" = uuid::Uuid, Path, description = "The passkey")),
    request_body(content = Option<super::mfa::FactorChangeBody>, content_type = "application/json"),
    security(("bearer_jwt" = [])),
    responses(
        (status = 204, description = "Deleted: it signs nobody in any more"),
        (status = 403, description = "`reauthentication_required`: signed in longer ago than the recent-auth window; `POST /v1/auth/reauthenticate` first", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such passkey among the caller's own", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`last_sign_in_method`: the caller has no password, no linked identity and no other passkey", body = Problem, content_type = "application/problem+json"),
        SignedIn, JsonBody, Malformed, PasskeysOff
    )
))]
pub(crate) async fn delete_passkey(
    State(s): State<AuthState>,
    caller: Caller,
    Client(client): Client,
    Path(id): Path<String>,
    request: axum::extract::Request,
) -> Result<StatusCode, ProblemResponse> {
    let passkeys = service(&s)?;
    let id: PasskeyId = id.parse().map_err(|_| Problem::not_found("passkey"))?;
    let b = super::mfa::factor_change(request).await?;
    // Deleting a way in needs a recent sign-in (API.md, "recent auth").
    s.auth.require_recent_auth(&caller.session)?;
    passkeys.delete(caller.claims.sub, id, &client).await?;
    if !b.keep_other_sessions {
        s.auth.end_other_sessions(&caller.session, &client).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Hits the sign-in limit of the client's address (shared with password sign-in).
pub(super) async fn sign_in_limit(
    s: &AuthState,
    client: &crate::service::ClientInfo,
) -> Result<(), ProblemResponse> {
    if let Some(ip) = client_ip(client) {
        s.limits
            .check(&[(login_ip_key(ip), s.limits.login_per_ip)])
            .await?;
    }
    Ok(())
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    post,
    path = "/v1/auth/passkeys/login/start",
    operation_id = "passkey_login_start",
    tag = "passkeys",
    summary = "Begin a passwordless sign-in with a passkey",
    description = "Answers the options for `navigator.credentials.get()`: no credential named (the authenticator offers its discoverable ones), user verification required. Add `mediation: \"conditional\"` for autofill.",
    responses(
        (status = 200, description = "The ceremony and its options", body = ChallengeView),
        RateLimited, PasskeysOff
    )
))]
pub(crate) async fn login_start(
    State(s): State<AuthState>,
    Client(client): Client,
) -> Result<Json<ChallengeView>, ProblemResponse> {
    let passkeys = service(&s)?;
    sign_in_limit(&s, &client).await?;
    Ok(Json(passkeys.start_sign_in().await?.into()))
}

/// The authenticator's assertion.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = PasskeyLoginFinishRequest))]
pub(crate) struct LoginFinishBody {
    /// From `login/start`.
    ceremony_id: String,
    /// The `PublicKeyCredential` of `navigator.credentials.get()` as JSON (binary values
    /// base64url; `response.userHandle` required).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    credential: PublicKeyCredential,
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    post,
    path = "/v1/auth/passkeys/login/finish",
    operation_id = "passkey_login_finish",
    tag = "passkeys",
    summary = "Finish a passwordless sign-in with a passkey",
    request_body = LoginFinishBody,
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 401, description = "`invalid_credentials`: unknown, expired or spent ceremony, unknown credential, an assertion that does not verify, a signature counter that went back, or a disabled account (one answer for all)", body = Problem, content_type = "application/problem+json"),
        JsonBody, Malformed, RateLimited, PasskeysOff
    )
))]
pub(super) async fn login_finish(
    State(s): State<AuthState>,
    Client(client): Client,
    ApiJson(b): ApiJson<LoginFinishBody>,
) -> Result<Response, ProblemResponse> {
    let pair = finish_sign_in(&s, client, b).await?;
    Ok(tokens_ok(&s, pair))
}

/// What `POST /v1/auth/passkeys/login/finish` does before answering (the console's passkey
/// sign-in takes the same path): the sign-in limit of the client's address, then the
/// assertion checked and the session started.
///
/// # Errors
/// The route's problems.
pub(crate) async fn finish_sign_in(
    s: &AuthState,
    client: crate::service::ClientInfo,
    b: LoginFinishBody,
) -> Result<crate::session::TokenPair, ProblemResponse> {
    let passkeys = service(s)?;
    sign_in_limit(s, &client).await?;
    Ok(passkeys
        .finish_sign_in(&b.ceremony_id, &b.credential, client)
        .await?)
}
