//! Identity routes: register, sign in, refresh, sign out, and the JWKS guards verify tokens
//! with. The caller's own profile, access and password are in [`me`](super::me).

use axum::Json;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kisum_guard::http::{ApiJson, BODY_LIMIT, ProblemResponse};
use kisum_guard::{Problem, SessionId, UserId};
use serde::{Deserialize, Serialize};

use super::AuthState;
use super::cookie::{clear_cookie, token_answer};
use super::extract::{Caller, Client, client_ip};
#[cfg(feature = "openapi")]
use super::openapi::{
    Hashing, JsonBody, Malformed, RateLimited, SignInLimited, SignedIn, Unavailable, constant,
};
use crate::identity::Email;
use crate::identity::Password;
use crate::ratelimit::{login_email_key, login_ip_key, register_ip_key};
use crate::session::TokenPair;

/// The tokens of a session (`TokenResponse` of API.md).
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenResponse {
    /// The access token (a JWT).
    pub access_token: String,
    /// Always `Bearer`.
    #[cfg_attr(feature = "openapi", schema(schema_with = bearer))]
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// The refresh token (single use); absent in cookie mode, where only the `HttpOnly` cookie
    /// carries it.
    #[cfg_attr(feature = "openapi", schema(required = false))]
    pub refresh_token: String,
    /// Seconds until the refresh token expires.
    pub refresh_expires_in: i64,
    /// The session.
    pub session_id: SessionId,
}

/// The schema of `token_type`.
#[cfg(feature = "openapi")]
fn bearer() -> utoipa::openapi::Object {
    constant("Bearer", "Always `Bearer`.")
}

impl From<TokenPair> for TokenResponse {
    fn from(p: TokenPair) -> Self {
        Self {
            access_token: p.access.token,
            token_type: "Bearer".to_owned(),
            expires_in: p.access.expires_in,
            refresh_token: p.refresh.expose().to_owned(),
            refresh_expires_in: p.refresh_expires_in,
            session_id: p.session_id,
        }
    }
}

/// A user as shown to themselves.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = User))]
pub struct UserView {
    /// The user id.
    pub id: UserId,
    /// The email.
    pub email: String,
    /// The display name.
    pub name: Option<String>,
    /// Whether the email was verified.
    pub email_verified: bool,
}

/// A registration.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = RegisterRequest))]
pub(super) struct RegisterBody {
    /// The email.
    #[cfg_attr(feature = "openapi", schema(format = Email))]
    email: String,
    /// The password.
    #[cfg_attr(feature = "openapi", schema(format = Password))]
    password: String,
    /// The display name.
    name: Option<String>,
    /// Creates a company owned by the user.
    company_name: Option<String>,
}

/// `TokenResponse`, the user, and the company when one was created.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(super) struct RegisterResponse {
    #[serde(flatten)]
    tokens: TokenResponse,
    /// The user.
    user: UserView,
    /// The company, when `company_name` was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    company: Option<crate::directory::Company>,
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    post,
    path = "/v1/auth/register",
    operation_id = "register",
    tag = "auth",
    summary = "Register a user",
    description = "With `company_name` a company is created and the user is its `owner`. Signs the user in.",
    request_body = RegisterBody,
    responses(
        (status = 201, description = "Registered and signed in", body = RegisterResponse),
        (status = 409, description = "`email_taken`: the email is already registered", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: wrong types, missing fields, an invalid email, a weak password or an unusable company name (per-field `errors`)", body = Problem, content_type = "application/problem+json"),
        JsonBody, RateLimited, Hashing
    )
))]
pub(super) async fn register(
    State(s): State<AuthState>,
    Client(client): Client,
    ApiJson(b): ApiJson<RegisterBody>,
) -> Result<Response, ProblemResponse> {
    if let Some(ip) = client_ip(&client) {
        s.limits
            .check(&[(register_ip_key(ip), s.limits.register_per_ip)])
            .await?;
    }
    let crate::identity::Registered {
        user,
        tokens: pair,
        company,
    } = s
        .auth
        .register(
            &b.email,
            Password::new(b.password),
            b.name,
            b.company_name.as_deref(),
            client,
        )
        .await?;
    let tokens = TokenResponse::from(pair);
    let cookie = (tokens.refresh_token.clone(), tokens.refresh_expires_in);
    let body = RegisterResponse {
        tokens,
        user: UserView {
            id: user.id,
            email: user.email.to_string(),
            name: user.name,
            email_verified: user.email_verified,
        },
        company,
    };
    Ok(token_answer(
        &s,
        StatusCode::CREATED,
        body,
        (&cookie.0, cookie.1),
    ))
}

/// Credentials.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = LoginRequest))]
pub(super) struct LoginBody {
    /// The email.
    email: String,
    /// The password.
    #[cfg_attr(feature = "openapi", schema(format = Password))]
    password: String,
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    post,
    path = "/v1/auth/login",
    operation_id = "login",
    tag = "auth",
    summary = "Sign in with email and password",
    request_body = LoginBody,
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 401, description = "`invalid_credentials`: wrong email or password (the same body, and a similar time, for both); `mfa_required`: the password is right and the user has a second factor — no session yet; the problem carries `mfa_token` (opaque, single use, 5 minutes), `methods` (`totp`, `recovery_code`) and `expires_in`, for `POST /v1/auth/mfa/verify`", body = Problem, content_type = "application/problem+json"),
        JsonBody, Malformed, SignInLimited, Hashing
    )
))]
pub(super) async fn login(
    State(s): State<AuthState>,
    Client(client): Client,
    ApiJson(b): ApiJson<LoginBody>,
) -> Result<Response, ProblemResponse> {
    check_login_limits(&s, &client, &b.email).await?;
    let pair = s
        .auth
        .login(&b.email, Password::new(b.password), client)
        .await?;
    Ok(tokens_ok(&s, pair))
}

/// The sign-in limits per client address and per email (the console's sign-in takes them too).
pub(crate) async fn check_login_limits(
    s: &AuthState,
    client: &crate::service::ClientInfo,
    email: &str,
) -> Result<(), ProblemResponse> {
    let mut hits = Vec::new();
    if let Some(ip) = client_ip(client) {
        hits.push((login_ip_key(ip), s.limits.login_per_ip));
    }
    if let Ok(email) = Email::parse(email) {
        hits.push((login_email_key(&email), s.limits.login_per_email));
    }
    s.limits.check(&hits).await
}

/// 200 `TokenResponse` (with the refresh cookie in cookie mode).
pub(super) fn tokens_ok(s: &AuthState, pair: TokenPair) -> Response {
    let body = TokenResponse::from(pair);
    let cookie = (body.refresh_token.clone(), body.refresh_expires_in);
    token_answer(s, StatusCode::OK, body, (&cookie.0, cookie.1))
}

/// A refresh token.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = RefreshRequest))]
pub(super) struct RefreshBody {
    /// The refresh token; in cookie mode it may be left out (or the body left empty): the
    /// refresh cookie carries it.
    refresh_token: Option<String>,
}

/// `POST /v1/auth/refresh`: the token from the body, or in cookie mode from the refresh
/// cookie when the body names none (an empty body is then accepted too).
#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    post,
    path = "/v1/auth/refresh",
    operation_id = "refresh",
    tag = "auth",
    summary = "Exchange a refresh token for new tokens",
    description = "The refresh token is spent: the answer carries a new one. A spent token presented again revokes the whole session.",
    request_body = RefreshBody,
    responses(
        (status = 200, description = "New tokens, with a new refresh token", body = TokenResponse),
        (status = 401, description = "`invalid_refresh_token` (unknown or expired), or `refresh_token_reused` (a spent token: the session is revoked)", body = Problem, content_type = "application/problem+json"),
        JsonBody, Malformed, Unavailable
    )
))]
pub(super) async fn refresh(
    State(s): State<AuthState>,
    Client(client): Client,
    request: Request,
) -> Result<Response, ProblemResponse> {
    let cookie = s
        .refresh_cookie
        .as_ref()
        .and_then(|c| c.read(request.headers()));
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, BODY_LIMIT)
        .await
        .map_err(|_| Problem::new(413, "payload_too_large", "request body too large"))?;
    let from_body = if cookie.is_some() && bytes.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let request = Request::from_parts(parts, axum::body::Body::from(bytes));
        let ApiJson(b) = ApiJson::<RefreshBody>::from_request(request, &s).await?;
        b.refresh_token
    };
    let token = from_body
        .or(cookie)
        .ok_or_else(|| Problem::invalid_field("refresh_token", "required"))?;
    Ok(tokens_ok(&s, s.auth.refresh(&token, client).await?))
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    post,
    path = "/v1/auth/logout",
    operation_id = "logout",
    tag = "auth",
    summary = "Sign out: revoke the caller's session",
    security(("bearer_jwt" = [])),
    responses(
        (status = 204, description = "The session is revoked everywhere"),
        SignedIn, Unavailable
    )
))]
pub(super) async fn logout(
    State(s): State<AuthState>,
    caller: Caller,
    Client(client): Client,
) -> Result<Response, ProblemResponse> {
    s.auth
        .logout(caller.claims.sub, caller.session.id, client)
        .await?;
    Ok(clear_cookie(&s, StatusCode::NO_CONTENT.into_response()))
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    post,
    path = "/v1/auth/logout-all",
    operation_id = "logout_all",
    tag = "auth",
    summary = "Revoke every session of the caller",
    security(("bearer_jwt" = [])),
    responses(
        (status = 204, description = "Every session of the user is revoked"),
        SignedIn, Unavailable
    )
))]
pub(super) async fn logout_all(
    State(s): State<AuthState>,
    caller: Caller,
    Client(client): Client,
) -> Result<Response, ProblemResponse> {
    s.auth.logout_all(caller.claims.sub, client).await?;
    Ok(clear_cookie(&s, StatusCode::NO_CONTENT.into_response()))
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    operation_id = "jwks",
    tag = "keys",
    summary = "The public keys that verify access tokens",
    responses(
        (status = 200, description = "Every published key", body = crate::keys::Jwks, headers(("Cache-Control" = String, description = "`public, max-age=…`: how long the key set may be cached.")))
    )
))]
pub(super) async fn jwks(State(s): State<AuthState>) -> Response {
    let mut response = Json(s.auth.tokens().keys().jwks()).into_response();
    let max_age = crate::keys::JWKS_MAX_AGE.as_secs();
    if let Ok(value) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        response.headers_mut().insert(header::CACHE_CONTROL, value);
    }
    response
}
