//! Identity routes: register, sign in, refresh, sign out, the caller's own profile and access,
//! password change, and the JWKS guards verify tokens with.

use axum::Json;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kisum_guard::http::{ApiJson, BODY_LIMIT, ProblemResponse};
use kisum_guard::{AccessContext, DenialCode, Problem, SessionId, UserId};
use serde::{Deserialize, Serialize};

use super::AuthState;
use super::cookie::{clear_cookie, token_answer};
use super::extract::{Caller, Client, Consistency, client_ip};
use crate::identity::Email;
use crate::identity::Password;
use crate::ratelimit::{login_email_key, login_ip_key, register_ip_key};
use crate::session::TokenPair;

/// `TokenResponse` of API.md.
#[derive(Debug, Serialize, Deserialize)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// The refresh token.
    pub refresh_token: String,
    /// Seconds until the refresh token expires.
    pub refresh_expires_in: i64,
    /// The session.
    pub session_id: SessionId,
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
pub struct UserView {
    /// Id.
    pub id: UserId,
    /// Email.
    pub email: String,
    /// Name.
    pub name: Option<String>,
    /// Whether the email was verified.
    pub email_verified: bool,
}

#[derive(Deserialize)]
pub(super) struct RegisterBody {
    email: String,
    password: String,
    name: Option<String>,
    company_name: Option<String>,
}

#[derive(Serialize)]
pub(super) struct RegisterResponse {
    #[serde(flatten)]
    tokens: TokenResponse,
    user: UserView,
    #[serde(skip_serializing_if = "Option::is_none")]
    company: Option<crate::directory::Company>,
}

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

#[derive(Deserialize)]
pub(super) struct LoginBody {
    email: String,
    password: String,
}

pub(super) async fn login(
    State(s): State<AuthState>,
    Client(client): Client,
    ApiJson(b): ApiJson<LoginBody>,
) -> Result<Response, ProblemResponse> {
    let mut hits = Vec::new();
    if let Some(ip) = client_ip(&client) {
        hits.push((login_ip_key(ip), s.limits.login_per_ip));
    }
    if let Ok(email) = Email::parse(&b.email) {
        hits.push((login_email_key(&email), s.limits.login_per_email));
    }
    s.limits.check(&hits).await?;
    let pair = s
        .auth
        .login(&b.email, Password::new(b.password), client)
        .await?;
    Ok(tokens_ok(&s, pair))
}

/// 200 `TokenResponse` (with the refresh cookie in cookie mode).
pub(super) fn tokens_ok(s: &AuthState, pair: TokenPair) -> Response {
    let body = TokenResponse::from(pair);
    let cookie = (body.refresh_token.clone(), body.refresh_expires_in);
    token_answer(s, StatusCode::OK, body, (&cookie.0, cookie.1))
}

#[derive(Deserialize)]
pub(super) struct RefreshBody {
    refresh_token: Option<String>,
}

/// `POST /v1/auth/refresh`: the token from the body, or in cookie mode from the refresh
/// cookie when the body names none (an empty body is then accepted too).
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

pub(super) async fn logout_all(
    State(s): State<AuthState>,
    caller: Caller,
    Client(client): Client,
) -> Result<Response, ProblemResponse> {
    s.auth.logout_all(caller.claims.sub, client).await?;
    Ok(clear_cookie(&s, StatusCode::NO_CONTENT.into_response()))
}

#[derive(Serialize)]
pub(super) struct MembershipView {
    membership_id: kisum_guard::MembershipId,
    company_id: kisum_guard::CompanyId,
    company_slug: String,
    company_name: String,
    status: crate::directory::MembershipStatus,
    roles: Vec<String>,
}

#[derive(Serialize)]
pub(super) struct MeView {
    user: UserView,
    memberships: Vec<MembershipView>,
}

pub(super) async fn me(
    State(s): State<AuthState>,
    caller: Caller,
) -> Result<Json<MeView>, ProblemResponse> {
    let user = s
        .auth
        .user(caller.claims.sub)
        .await?
        .ok_or_else(|| ProblemResponse::from(DenialCode::Unauthenticated))?;
    let mut memberships = Vec::new();
    for m in s.directory.list_user_memberships(user.id).await? {
        if let Some(c) = s.directory.get_company(m.company_id).await? {
            memberships.push(MembershipView {
                membership_id: m.id,
                company_id: c.id,
                company_slug: c.slug.to_string(),
                company_name: c.name,
                status: m.status,
                roles: m.roles.iter().map(ToString::to_string).collect(),
            });
        }
    }
    Ok(Json(MeView {
        user: UserView {
            id: user.id,
            email: user.email.to_string(),
            name: user.name,
            email_verified: user.email_verified,
        },
        memberships,
    }))
}

pub(super) async fn me_access(
    State(s): State<AuthState>,
    caller: Caller,
    _consistency: Consistency,
    headers: HeaderMap,
) -> Result<Json<AccessContext>, ProblemResponse> {
    let org = headers.get("x-org").and_then(|v| v.to_str().ok());
    Ok(Json(
        s.access
            .resolve(caller.claims.sub, caller.session.id, org)
            .await?,
    ))
}

#[derive(Deserialize)]
pub(super) struct ChangePasswordBody {
    current_password: String,
    new_password: String,
}

pub(super) async fn change_password(
    State(s): State<AuthState>,
    caller: Caller,
    Client(client): Client,
    ApiJson(b): ApiJson<ChangePasswordBody>,
) -> Result<StatusCode, ProblemResponse> {
    // Every route that verifies a password is limited: this one per user.
    s.limits
        .check(&[(
            format!("password_change:user:{}", caller.claims.sub),
            s.limits.password_change_per_user,
        )])
        .await?;
    s.auth
        .change_password(
            caller.claims.sub,
            caller.session.id,
            Password::new(b.current_password),
            Password::new(b.new_password),
            client,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn jwks(State(s): State<AuthState>) -> Response {
    let mut response = Json(s.auth.tokens().keys().jwks()).into_response();
    let max_age = crate::keys::JWKS_MAX_AGE.as_secs();
    if let Ok(value) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        response.headers_mut().insert(header::CACHE_CONTROL, value);
    }
    response
}
