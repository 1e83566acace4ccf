//! Sign-in through configured providers (feature `oauth`): the provider list, start, callback,
//! the login-code exchange, and the caller's linked identities (API.md "More ways in").

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use kisum_guard::Problem;
use kisum_guard::http::{ApiJson, ProblemResponse};
use serde::{Deserialize, Serialize};

use super::AuthState;
use super::auth::tokens_ok;
use super::extract::{Caller, Client};
#[cfg(feature = "openapi")]
use super::openapi::{JsonBody, Malformed, SignedIn, Unavailable};
use crate::oauth::{
    Callback, CallbackOutcome, IdentityId, OAuthError, OAuthService, ProviderSummary, UnlinkError,
};

impl From<OAuthError> for ProblemResponse {
    fn from(e: OAuthError) -> Self {
        match e {
            OAuthError::UnknownProvider => Problem::not_found("provider").into(),
            OAuthError::InvalidRedirect => Problem::new(
                400,
                "invalid_redirect",
                "redirect URI not on the provider's allow-list",
            )
            .into(),
            OAuthError::InvalidState => Problem::new(
                400,
                "invalid_state",
                "unknown, spent or expired sign-in state",
            )
            .with_detail("start the sign-in again")
            .into(),
            OAuthError::InvalidLoginCode => Problem::new(
                400,
                "invalid_login_code",
                "unknown, spent or expired login code",
            )
            .into(),
            OAuthError::AccountDisabled => {
                Problem::new(401, "account_disabled", "the account is disabled").into()
            }
            OAuthError::ProviderUnavailable => Problem::new(
                502,
                "provider_unavailable",
                "the sign-in provider could not be reached",
            )
            .into(),
            OAuthError::MfaRequired(challenge) => super::error::mfa_required(&challenge),
            OAuthError::MfaLocked(after) => super::error::otp_locked(after),
            OAuthError::Failed(f) => f.into(),
        }
    }
}

impl From<UnlinkError> for ProblemResponse {
    fn from(e: UnlinkError) -> Self {
        match e {
            UnlinkError::NotFound => Problem::not_found("identity").into(),
            UnlinkError::LastSignInMethod => Problem::new(
                409,
                "last_sign_in_method",
                "the last way to sign in cannot be removed",
            )
            .with_detail("set a password or link another provider first")
            .into(),
            UnlinkError::Failed(f) => f.into(),
        }
    }
}

/// The service, or `UnknownProvider` when none is configured.
fn service(s: &AuthState) -> Result<&OAuthService, ProblemResponse> {
    s.oauth
        .as_ref()
        .ok_or_else(|| OAuthError::UnknownProvider.into())
}

/// A redirect the browser must not cache, whose URL (carrying a code) is not sent on as
/// `Referer`.
fn found(location: &str) -> Result<Response, ProblemResponse> {
    let value = HeaderValue::from_str(location)
        .map_err(|_| ProblemResponse::from(kisum_core::http::error::internal_error()))?;
    Ok((
        StatusCode::FOUND,
        [
            (header::LOCATION, value),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
        ],
    )
        .into_response())
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    get,
    path = "/v1/auth/oauth/providers",
    operation_id = "oauth_providers",
    tag = "auth",
    summary = "The configured sign-in providers",
    responses((status = 200, description = "Configured providers only, in configuration order", body = [ProviderSummary]))
))]
pub(super) async fn providers(State(s): State<AuthState>) -> Json<Vec<ProviderSummary>> {
    Json(
        s.oauth
            .as_ref()
            .map(OAuthService::providers)
            .unwrap_or_default(),
    )
}

/// The start's query.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
pub(super) struct StartQuery {
    /// Where the browser goes at the end; exactly one of the provider's allow-list.
    redirect_uri: String,
    /// `true`: link the provider identity to the signed-in caller (Bearer, recent sign-in).
    #[serde(default)]
    link: bool,
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    get,
    path = "/v1/auth/oauth/{provider}/start",
    operation_id = "oauth_start",
    tag = "auth",
    summary = "Start signing in with a provider",
    description = "Redirects to the provider (authorization code with PKCE S256, `state` and, for OpenID Connect, `nonce`, bound to a server-side record for 10 minutes). With `link=true` and a Bearer token, the identity is linked to the caller instead. With `Accept: application/json` the answer is 200 `{authorize_url}` instead of the redirect, for a page's script that links (it sends the Bearer header with `fetch`, then navigates to the URL).",
    params(("provider" = String, Path, description = "A configured provider's id"), StartQuery),
    responses(
        (status = 302, description = "To the provider's authorization page"),
        (status = 200, description = "With `Accept: application/json`: `{\"authorize_url\": …}`, the provider's authorization page (no-store)"),
        (status = 403, description = "`reauthentication_required`: `link=true` with a sign-in that is not recent", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "`invalid_redirect`: `redirect_uri` is not on the allow-list", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated` etc.: `link=true` without a valid Bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such provider", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: no `redirect_uri`", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "`provider_unavailable`: the provider's discovery failed", body = Problem, content_type = "application/problem+json"),
        Unavailable
    )
))]
pub(super) async fn oauth_start(
    State(s): State<AuthState>,
    Path(provider): Path<String>,
    q: Result<Query<StartQuery>, QueryRejection>,
    request: Request,
) -> Result<Response, ProblemResponse> {
    let oauth = service(&s)?;
    let Query(q) = q.map_err(|e| Problem::invalid_field("redirect_uri", e.body_text()))?;
    let wants_json = request
        .headers()
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/json"));
    let link_user = if q.link {
        let (mut parts, _) = request.into_parts();
        let caller = Caller::from_request_parts(&mut parts, &s).await?;
        // Linking a way in is as sensitive as changing the password: a recent sign-in.
        s.auth.require_recent_auth(&caller.session)?;
        Some(caller.claims.sub)
    } else {
        None
    };
    let url = oauth.start(&provider, &q.redirect_uri, link_user).await?;
    if wants_json {
        // A page's script cannot send a Bearer header on a navigation, nor read a redirect's
        // `Location` from `fetch`: it asks for the URL and navigates there itself.
        let mut answer = Json(serde_json::json!({ "authorize_url": url })).into_response();
        answer
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return Ok(answer);
    }
    found(&url)
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    get,
    path = "/v1/auth/oauth/{provider}/callback",
    operation_id = "oauth_callback",
    tag = "auth",
    summary = "Where the provider sends the browser back",
    description = "Register `{public_url}/v1/auth/oauth/{provider}/callback` with the provider. Ends with a redirect to the flow's `redirect_uri` carrying `login_code` (single use, 60 s), `linked` (the provider, after `link=true`) or `error` (`access_denied`, `provider_error`, `invalid_grant`, `invalid_id_token`, `email_required`, `link_required`: an account has the email but the provider or the account has not proven it — sign in and link from the account, `identity_in_use`, `account_disabled`).",
    params(
        ("provider" = String, Path, description = "A configured provider's id"),
        ("code" = Option<String>, Query, description = "The authorization code"),
        ("state" = Option<String>, Query, description = "The state sent at the start"),
        ("error" = Option<String>, Query, description = "The provider's refusal"),
    ),
    responses(
        (status = 302, description = "To the flow's `redirect_uri` with `login_code`, `linked` or `error`"),
        (status = 400, description = "`invalid_state`: no live sign-in has this `state` (forged, replayed or expired)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such provider", body = Problem, content_type = "application/problem+json"),
        Unavailable
    )
))]
pub(super) async fn oauth_callback(
    State(s): State<AuthState>,
    Path(provider): Path<String>,
    Client(client): Client,
    q: Result<Query<Callback>, QueryRejection>,
) -> Result<Response, ProblemResponse> {
    let oauth = service(&s)?;
    let Query(callback) = q.map_err(|_| OAuthError::InvalidState)?;
    let outcome: CallbackOutcome = oauth.callback(&provider, callback, &client).await?;
    found(&outcome.location())
}

/// A login code from the callback.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = OAuthExchangeRequest))]
pub(super) struct ExchangeBody {
    /// The `login_code` of the callback's redirect.
    login_code: String,
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    post,
    path = "/v1/auth/oauth/exchange",
    operation_id = "oauth_exchange",
    tag = "auth",
    summary = "Exchange a login code for tokens",
    request_body = ExchangeBody,
    responses(
        (status = 200, description = "Signed in", body = super::TokenResponse),
        (status = 400, description = "`invalid_login_code`: unknown, spent or expired", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`account_disabled`; `mfa_required` for a user with a second factor", body = Problem, content_type = "application/problem+json"),
        JsonBody, Malformed, Unavailable
    )
))]
pub(super) async fn oauth_exchange(
    State(s): State<AuthState>,
    Client(client): Client,
    ApiJson(b): ApiJson<ExchangeBody>,
) -> Result<Response, ProblemResponse> {
    let oauth = service(&s)?;
    let pair = oauth
        .exchange(&s.auth, &b.login_code, client)
        .await
        .map_err(|e| match e {
            // Without providers no code was ever issued.
            OAuthError::UnknownProvider => OAuthError::InvalidLoginCode,
            e => e,
        })?;
    Ok(tokens_ok(&s, pair))
}

/// A linked provider identity as shown to its user.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Identity))]
pub(super) struct IdentityView {
    /// The id (for `DELETE /v1/auth/identities/{id}`).
    id: IdentityId,
    /// The provider's id.
    provider: String,
    /// The email the provider last reported.
    email: Option<String>,
    /// Whether the provider said it verified it.
    email_verified: bool,
    /// When it was linked.
    created_at: DateTime<Utc>,
    /// When it last signed in.
    last_used_at: Option<DateTime<Utc>>,
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    get,
    path = "/v1/auth/identities",
    operation_id = "identities",
    tag = "auth",
    summary = "The caller's linked provider identities",
    security(("bearer_jwt" = [])),
    responses(
        (status = 200, description = "Oldest first", body = [IdentityView]),
        SignedIn, Unavailable
    )
))]
pub(super) async fn identities(
    State(s): State<AuthState>,
    caller: Caller,
) -> Result<Json<Vec<IdentityView>>, ProblemResponse> {
    let Some(oauth) = s.oauth.as_ref() else {
        return Ok(Json(Vec::new()));
    };
    let list = oauth.identities(caller.claims.sub).await?;
    Ok(Json(
        list.into_iter()
            .map(|i| IdentityView {
                id: i.id,
                provider: i.provider,
                email: i.email,
                email_verified: i.email_verified,
                created_at: i.created_at,
                last_used_at: i.last_used_at,
            })
            .collect(),
    ))
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    delete,
    path = "/v1/auth/identities/{id}",
    operation_id = "delete_identity",
    tag = "auth",
    summary = "Unlink a provider identity",
    security(("bearer_jwt" = [])),
    params(("id" = String, Path, description = "The identity's id")),
    responses(
        (status = 204, description = "Unlinked"),
        (status = 404, description = "`not_found`: the caller has no such identity", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`last_sign_in_method`: the caller has no password and no other identity", body = Problem, content_type = "application/problem+json"),
        SignedIn, Unavailable
    )
))]
pub(super) async fn delete_identity(
    State(s): State<AuthState>,
    caller: Caller,
    Client(client): Client,
    Path(id): Path<String>,
) -> Result<StatusCode, ProblemResponse> {
    let id: IdentityId = id.parse().map_err(|_| Problem::not_found("identity"))?;
    // Removing a way in needs a recent sign-in.
    s.auth.require_recent_auth(&caller.session)?;
    let oauth = s
        .oauth
        .as_ref()
        .ok_or_else(|| ProblemResponse::from(Problem::not_found("identity")))?;
    oauth.unlink(caller.claims.sub, id, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The routes of this module (see [`kisum_guard::documented_routes`]) and the
/// `(method, path)`s written.
pub(super) fn documented() -> (super::Routes, [(&'static str, &'static str); 6]) {
    kisum_guard::documented_routes! { AuthState;
        "/v1/auth/oauth/providers" => get providers;
        "/v1/auth/oauth/{provider}/start" => get oauth_start;
        "/v1/auth/oauth/{provider}/callback" => get oauth_callback;
        "/v1/auth/oauth/exchange" => post oauth_exchange;
        "/v1/auth/identities" => get identities;
        "/v1/auth/identities/{id}" => delete delete_identity;
    }
}
