//! The Auth HTTP routers (feature `http`), mountable by an embedder: the public router
//! (`/v1/auth/*`, `/.well-known/jwks.json`) and the internal one (`/internal/v1/*`, behind
//! service keys). Errors are RFC 9457 problem documents carrying `code` and `request_id`.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use kisum_guard::{
    AccessContext, CONSISTENCY_HEADER, Claims, CompanyId, ConsistencyToken, DenialCode,
    InvalidationEvent, ServiceKeys, ServiceScope, SessionId, UserId,
};
use serde::{Deserialize, Serialize};

use crate::access::AccessService;
use crate::audit::{AuditEvent, AuditStore, MAX_LIST_LIMIT};
use crate::credentials::Password;
use crate::directory::DirectoryStore;
use crate::events::EventPublisher;
use crate::identity::Email;
use crate::onetime::OtpPurpose;
use crate::ratelimit::{
    RateLimit, RateLimiter, login_email_key, login_ip_key, otp_email_key,
    password_forgot_email_key, register_ip_key,
};
use crate::service::{AuthError, AuthService, ClientInfo, TokenPair};
use crate::session::Session;

pub mod companies;
pub mod error;

pub use error::ApiError;

// Request ids work as in Core: one middleware for every Kisum router.
pub use kisum_core::http::REQUEST_ID;

/// The default request body limit (1 MiB).
pub const BODY_LIMIT: usize = 1024 * 1024;

/// What the routers need.
#[derive(Clone)]
pub struct AuthState {
    /// Identity: register, sign in, refresh, sign out.
    pub auth: AuthService,
    /// Access resolution.
    pub access: AccessService,
    /// The directory (for `me`).
    pub directory: Arc<dyn DirectoryStore>,
    /// Company administration (give it the audit log and the event publisher: its writes
    /// are audited and announced through them).
    pub admin: crate::admin::DirectoryService,
    /// The audit log, read by `GET /internal/v1/audit`.
    pub audit: Arc<dyn AuditStore>,
    /// Where `POST /internal/v1/events` republishes the events it receives (the same
    /// publisher the services use; `NoEvents` without Redis).
    pub events: Arc<dyn EventPublisher>,
    /// Accepted service keys of the internal router (none: every internal request is refused).
    pub service_keys: ServiceKeys,
    /// Rate limits of sign-in and registration.
    pub limits: RateLimits,
    /// The optional cookie mode: when set, token answers also set the refresh token as an
    /// `HttpOnly; Secure; SameSite=Strict` cookie, `/v1/auth/refresh` accepts it when the body
    /// names no token, and sign-out clears it. `None` (the default): tokens travel in bodies
    /// only.
    pub refresh_cookie: Option<RefreshCookie>,
}

/// The refresh-token cookie of the cookie mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshCookie {
    /// The cookie name (default `kisum_refresh`).
    pub name: String,
    /// The cookie path (default `/v1/auth`: the browser sends it to the Auth routes only).
    pub path: String,
}

impl Default for RefreshCookie {
    fn default() -> Self {
        Self {
            name: "kisum_refresh".to_owned(),
            path: "/v1/auth".to_owned(),
        }
    }
}

impl RefreshCookie {
    /// The `Set-Cookie` value carrying `token` for `max_age` seconds (0 clears the cookie).
    #[must_use]
    pub fn set_cookie(&self, token: &str, max_age: i64) -> String {
        format!(
            "{}={token}; Path={}; Max-Age={}; HttpOnly; Secure; SameSite=Strict",
            self.name,
            self.path,
            max_age.max(0)
        )
    }

    /// The cookie's value in the request's `Cookie` headers, if present and not empty.
    #[must_use]
    pub fn read(&self, headers: &HeaderMap) -> Option<String> {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, value)| *name == self.name && !value.is_empty())
            .map(|(_, value)| value.to_owned())
    }

    /// `response` with the cookie set (or cleared when `token` is `None`).
    fn apply(&self, mut response: Response, token: Option<(&str, i64)>) -> Response {
        let value = match token {
            Some((token, max_age)) => self.set_cookie(token, max_age),
            None => self.set_cookie("", 0),
        };
        if let Ok(v) = HeaderValue::from_str(&value) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
        response
    }
}

/// A token answer: `body` with `status`, and in cookie mode the refresh cookie of `tokens`.
fn token_answer(
    s: &AuthState,
    status: StatusCode,
    body: impl Serialize,
    tokens: (&str, i64),
) -> Response {
    match &s.refresh_cookie {
        Some(cookie) => {
            // In cookie mode the refresh token lives only in the HttpOnly cookie: script on
            // the page never sees it, so the body does not carry it.
            let mut body = serde_json::to_value(body).unwrap_or_default();
            if let Some(map) = body.as_object_mut() {
                map.remove("refresh_token");
            }
            cookie.apply((status, Json(body)).into_response(), Some(tokens))
        }
        None => (status, Json(body)).into_response(),
    }
}

/// `response`, clearing the refresh cookie in cookie mode.
fn clear_cookie(s: &AuthState, response: Response) -> Response {
    match &s.refresh_cookie {
        Some(cookie) => cookie.apply(response, None),
        None => response,
    }
}

/// The rate limiter and the limits the public routes apply.
#[derive(Clone)]
pub struct RateLimits {
    /// The limiter (Redis-backed when configured, in process otherwise).
    pub limiter: Arc<dyn RateLimiter>,
    /// Sign-in attempts per client address (default 30 per 5 minutes).
    pub login_per_ip: RateLimit,
    /// Sign-in attempts per email (default 10 per 15 minutes).
    pub login_per_email: RateLimit,
    /// Registrations per client address (default 10 per hour).
    pub register_per_ip: RateLimit,
    /// Password-forgot requests per email (default 5 per hour).
    pub forgot_per_email: RateLimit,
    /// One-time-code requests per email (default 10 per hour).
    pub otp_per_email: RateLimit,
    /// Invitation emails per company (default 50 per hour).
    pub invite_per_company: RateLimit,
    /// Invitation emails per invited address (default 3 per day).
    pub invite_per_email: RateLimit,
    /// Password changes per user (default 10 per 15 minutes): each verifies a password.
    pub password_change_per_user: RateLimit,
}

impl RateLimits {
    /// Sign-in attempts per client address: 30 per 5 minutes.
    pub const DEFAULT_LOGIN_PER_IP: RateLimit =
        RateLimit::new(30, std::time::Duration::from_secs(300));
    /// Sign-in attempts per email: 10 per 15 minutes.
    pub const DEFAULT_LOGIN_PER_EMAIL: RateLimit =
        RateLimit::new(10, std::time::Duration::from_secs(900));
    /// Registrations per client address: 10 per hour.
    pub const DEFAULT_REGISTER_PER_IP: RateLimit =
        RateLimit::new(10, std::time::Duration::from_secs(3600));
    /// Password-forgot requests per email: 5 per hour.
    pub const DEFAULT_FORGOT_PER_EMAIL: RateLimit =
        RateLimit::new(5, std::time::Duration::from_secs(3600));
    /// One-time-code requests per email: 10 per hour.
    pub const DEFAULT_OTP_PER_EMAIL: RateLimit =
        RateLimit::new(10, std::time::Duration::from_secs(3600));
    /// Invitation emails per company: 50 per hour.
    pub const DEFAULT_INVITE_PER_COMPANY: RateLimit =
        RateLimit::new(50, std::time::Duration::from_secs(3600));
    /// Invitation emails per invited address: 3 per day.
    pub const DEFAULT_INVITE_PER_EMAIL: RateLimit =
        RateLimit::new(3, std::time::Duration::from_secs(86_400));
    /// Password changes per user: 10 per 15 minutes.
    pub const DEFAULT_PASSWORD_CHANGE_PER_USER: RateLimit =
        RateLimit::new(10, std::time::Duration::from_secs(900));

    /// The default limits (the `DEFAULT_*` constants) over `limiter`.
    #[must_use]
    pub fn new(limiter: Arc<dyn RateLimiter>) -> Self {
        Self {
            limiter,
            login_per_ip: Self::DEFAULT_LOGIN_PER_IP,
            login_per_email: Self::DEFAULT_LOGIN_PER_EMAIL,
            register_per_ip: Self::DEFAULT_REGISTER_PER_IP,
            forgot_per_email: Self::DEFAULT_FORGOT_PER_EMAIL,
            otp_per_email: Self::DEFAULT_OTP_PER_EMAIL,
            invite_per_company: Self::DEFAULT_INVITE_PER_COMPANY,
            invite_per_email: Self::DEFAULT_INVITE_PER_EMAIL,
            password_change_per_user: Self::DEFAULT_PASSWORD_CHANGE_PER_USER,
        }
    }

    /// Hits every `(key, limit)`; the longest `Retry-After` of those refused, if any.
    pub(crate) async fn check(&self, hits: &[(String, RateLimit)]) -> Result<(), ApiError> {
        let mut retry = None;
        for (key, limit) in hits {
            if let Some(after) = self.limiter.hit(key, *limit).await.retry_after() {
                retry = Some(retry.map_or(after, |r: std::time::Duration| r.max(after)));
            }
        }
        match retry {
            None => Ok(()),
            Some(after) => Err(ApiError::rate_limited(after)),
        }
    }
}

pub use kisum_guard::http::ApiJson;

/// The signed-in caller of a Bearer route.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The verified claims.
    pub claims: Claims,
    /// The live session.
    pub session: Session,
}

use kisum_guard::http::{bearer, scoped};

impl FromRequestParts<AuthState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AuthState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers).ok_or_else(ApiError::unauthenticated)?;
        let (claims, session) = state.auth.authenticate(token).await?;
        Ok(Self { claims, session })
    }
}

fn client(headers: &HeaderMap) -> ClientInfo {
    ClientInfo {
        ip: headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(|s| s.trim().chars().take(64).collect()),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        request_id: None,
    }
}

/// Where the request came from: address, user agent and request id (for sessions and audit
/// events).
#[derive(Debug, Clone)]
pub struct Client(pub ClientInfo);

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let mut info = client(&parts.headers);
        info.request_id = kisum_guard::http::request_id_of(&parts.extensions);
        Ok(Self(info))
    }
}

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
struct RegisterBody {
    email: String,
    password: String,
    name: Option<String>,
    company_name: Option<String>,
}

#[derive(Serialize)]
struct RegisterResponse {
    #[serde(flatten)]
    tokens: TokenResponse,
    user: UserView,
    #[serde(skip_serializing_if = "Option::is_none")]
    company: Option<crate::directory::Company>,
}

/// The client address for per-address limits. A missing or unparsable address (no proxy
/// rewrote the header, or it was tampered with) falls back to the unspecified address: such
/// requests share one bucket instead of escaping the limit.
fn client_ip(client: &ClientInfo) -> Option<std::net::IpAddr> {
    Some(
        client
            .ip
            .as_deref()
            .and_then(|ip| ip.trim().parse().ok())
            .unwrap_or(std::net::IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)),
    )
}

async fn register(
    State(s): State<AuthState>,
    Client(client): Client,
    ApiJson(b): ApiJson<RegisterBody>,
) -> Result<Response, ApiError> {
    if let Some(ip) = client_ip(&client) {
        s.limits
            .check(&[(register_ip_key(ip), s.limits.register_per_ip)])
            .await?;
    }
    let (user, pair, company) = s
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
struct LoginBody {
    email: String,
    password: String,
}

async fn login(
    State(s): State<AuthState>,
    Client(client): Client,
    ApiJson(b): ApiJson<LoginBody>,
) -> Result<Response, ApiError> {
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
fn tokens_ok(s: &AuthState, pair: TokenPair) -> Response {
    let body = TokenResponse::from(pair);
    let cookie = (body.refresh_token.clone(), body.refresh_expires_in);
    token_answer(s, StatusCode::OK, body, (&cookie.0, cookie.1))
}

#[derive(Deserialize)]
struct RefreshBody {
    refresh_token: Option<String>,
}

/// `POST /v1/auth/refresh`: the token from the body, or in cookie mode from the refresh
/// cookie when the body names none (an empty body is then accepted too).
async fn refresh(
    State(s): State<AuthState>,
    Client(client): Client,
    request: Request,
) -> Result<Response, ApiError> {
    let cookie = s
        .refresh_cookie
        .as_ref()
        .and_then(|c| c.read(request.headers()));
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, BODY_LIMIT).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "request body too large",
        )
    })?;
    let from_body = if cookie.is_some() && bytes.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let request = Request::from_parts(parts, axum::body::Body::from(bytes));
        let ApiJson(b) = ApiJson::<RefreshBody>::from_request(request, &s).await?;
        b.refresh_token
    };
    let token = from_body
        .or(cookie)
        .ok_or_else(|| ApiError::invalid_field("refresh_token", "required"))?;
    Ok(tokens_ok(&s, s.auth.refresh(&token, client).await?))
}

async fn logout(
    State(s): State<AuthState>,
    caller: Caller,
    Client(client): Client,
) -> Result<Response, ApiError> {
    s.auth
        .logout(caller.claims.sub, caller.session.id, client)
        .await?;
    Ok(clear_cookie(&s, StatusCode::NO_CONTENT.into_response()))
}

async fn logout_all(
    State(s): State<AuthState>,
    caller: Caller,
    Client(client): Client,
) -> Result<Response, ApiError> {
    s.auth.logout_all(caller.claims.sub, client).await?;
    Ok(clear_cookie(&s, StatusCode::NO_CONTENT.into_response()))
}

#[derive(Serialize, Deserialize)]
struct SessionView {
    session_id: SessionId,
    user_id: UserId,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

async fn session(caller: Caller) -> Json<SessionView> {
    let s = caller.session;
    Json(SessionView {
        session_id: s.id,
        user_id: s.user_id,
        created_at: s.created_at,
        expires_at: s.idle_expires_at.min(s.absolute_expires_at),
    })
}

#[derive(Serialize)]
struct SessionListItem {
    session_id: SessionId,
    created_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    user_agent: Option<String>,
    ip: Option<String>,
    current: bool,
}

async fn sessions(
    State(s): State<AuthState>,
    caller: Caller,
) -> Result<Json<Vec<SessionListItem>>, ApiError> {
    let list = s.auth.sessions(caller.claims.sub).await?;
    Ok(Json(
        list.into_iter()
            .map(|x| SessionListItem {
                current: x.id == caller.session.id,
                session_id: x.id,
                created_at: x.created_at,
                last_seen_at: x.last_seen_at,
                user_agent: x.user_agent,
                ip: x.ip,
            })
            .collect(),
    ))
}

async fn delete_session(
    State(s): State<AuthState>,
    caller: Caller,
    Client(client): Client,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id: SessionId = id.parse().map_err(|_| ApiError::not_found("session"))?;
    s.auth.delete_session(caller.claims.sub, id, client).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize)]
struct MembershipView {
    membership_id: kisum_guard::MembershipId,
    company_id: kisum_guard::CompanyId,
    company_slug: String,
    company_name: String,
    status: crate::directory::MembershipStatus,
    roles: Vec<String>,
}

#[derive(Serialize)]
struct MeView {
    user: UserView,
    memberships: Vec<MembershipView>,
}

async fn me(State(s): State<AuthState>, caller: Caller) -> Result<Json<MeView>, ApiError> {
    let user = s
        .auth
        .user(caller.claims.sub)
        .await?
        .ok_or_else(ApiError::unauthenticated)?;
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

/// The `X-Kisum-Consistency` token a request presents, if any (a malformed one is 400
/// `invalid_request`). Access is resolved from the stores on every call here, so any token is
/// satisfied; the header is accepted so clients can send it everywhere they read access.
#[derive(Debug, Clone, Copy)]
pub struct Consistency(pub Option<ConsistencyToken>);

impl<S: Send + Sync> FromRequestParts<S> for Consistency {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(raw) = parts.headers.get(CONSISTENCY_HEADER) else {
            return Ok(Self(None));
        };
        raw.to_str()
            .ok()
            .and_then(|v| v.parse().ok())
            .map(|t| Self(Some(t)))
            .ok_or_else(|| {
                ApiError::invalid_request(format!("malformed `{CONSISTENCY_HEADER}` header"))
            })
    }
}

async fn me_access(
    State(s): State<AuthState>,
    caller: Caller,
    _consistency: Consistency,
    headers: HeaderMap,
) -> Result<Json<AccessContext>, ApiError> {
    let org = headers.get("x-org").and_then(|v| v.to_str().ok());
    Ok(Json(
        s.access
            .resolve(caller.claims.sub, caller.session.id, org)
            .await?,
    ))
}

#[derive(Deserialize)]
struct ChangePasswordBody {
    current_password: String,
    new_password: String,
}

async fn change_password(
    State(s): State<AuthState>,
    caller: Caller,
    Client(client): Client,
    ApiJson(b): ApiJson<ChangePasswordBody>,
) -> Result<StatusCode, ApiError> {
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
        .await
        .map_err(|e| match e {
            // The field of this body is `new_password`.
            AuthError::WeakPassword(v) => ApiError::invalid_field("new_password", v.to_string()),
            other => other.into(),
        })?;
    Ok(StatusCode::NO_CONTENT)
}

/// The one body every "we sent it if the account exists" route answers.
#[derive(Serialize)]
struct Accepted {
    status: &'static str,
}

const ACCEPTED: Accepted = Accepted { status: "accepted" };

#[derive(Deserialize)]
struct EmailBody {
    email: String,
}

async fn password_forgot(
    State(s): State<AuthState>,
    ApiJson(b): ApiJson<EmailBody>,
) -> Result<Response, ApiError> {
    if let Ok(email) = Email::parse(&b.email) {
        s.limits
            .check(&[(password_forgot_email_key(&email), s.limits.forgot_per_email)])
            .await?;
    }
    s.auth.forgot_password(&b.email).await?;
    Ok((StatusCode::ACCEPTED, Json(ACCEPTED)).into_response())
}

#[derive(Deserialize)]
struct ResetBody {
    token: String,
    password: String,
}

async fn password_reset(
    State(s): State<AuthState>,
    Client(client): Client,
    ApiJson(b): ApiJson<ResetBody>,
) -> Result<StatusCode, ApiError> {
    s.auth
        .reset_password(&b.token, Password::new(b.password), client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct OtpRequestBody {
    email: String,
    purpose: OtpPurpose,
}

async fn otp_request(
    State(s): State<AuthState>,
    ApiJson(b): ApiJson<OtpRequestBody>,
) -> Result<Response, ApiError> {
    if let Ok(email) = Email::parse(&b.email) {
        s.limits
            .check(&[(otp_email_key(&email), s.limits.otp_per_email)])
            .await?;
    }
    s.auth.request_otp(&b.email, b.purpose).await?;
    Ok((StatusCode::ACCEPTED, Json(ACCEPTED)).into_response())
}

#[derive(Deserialize)]
struct OtpVerifyBody {
    email: String,
    code: String,
    purpose: OtpPurpose,
}

async fn otp_verify(
    State(s): State<AuthState>,
    Client(client): Client,
    headers: HeaderMap,
    ApiJson(b): ApiJson<OtpVerifyBody>,
) -> Result<Response, ApiError> {
    // A valid session presented with the code says the password holder proves the mailbox;
    // anything else is an anonymous proof.
    let signed_in = match bearer(&headers) {
        Some(token) => s.auth.authenticate(token).await.ok().map(|(c, _)| c.sub),
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

async fn jwks(State(s): State<AuthState>) -> Response {
    let mut response = Json(s.auth.tokens().keys().jwks()).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

async fn not_found() -> ApiError {
    ApiError::not_found("route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed",
    )
    .detail("this route does not answer that method")
}

/// The public router: `/v1/auth/*` and `/.well-known/jwks.json`.
pub fn public_router(state: AuthState) -> Router {
    let router = Router::new()
        .route("/v1/auth/register", post(register))
        .route("/v1/auth/login", post(login))
        .route("/v1/auth/refresh", post(refresh))
        .route("/v1/auth/logout", post(logout))
        .route("/v1/auth/logout-all", post(logout_all))
        .route("/v1/auth/session", get(session))
        .route("/v1/auth/sessions", get(sessions))
        .route("/v1/auth/sessions/{session_id}", delete(delete_session))
        .route("/v1/auth/me", get(me))
        .route("/v1/auth/me/access", get(me_access))
        .route("/v1/auth/password/change", post(change_password))
        .route("/v1/auth/password/forgot", post(password_forgot))
        .route("/v1/auth/password/reset", post(password_reset))
        .route("/v1/auth/email-otp/request", post(otp_request))
        .route("/v1/auth/email-otp/verify", post(otp_verify))
        .route("/.well-known/jwks.json", get(jwks))
        .merge(companies::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state);
    kisum_guard::http::with_request_ids(router)
}

// ---- internal ------------------------------------------------------------------------------

#[derive(Deserialize)]
struct ResolveBody {
    user_id: UserId,
    session_id: SessionId,
    org: Option<String>,
}

async fn resolve(
    State(s): State<AuthState>,
    _consistency: Consistency,
    ApiJson(b): ApiJson<ResolveBody>,
) -> Result<Json<AccessContext>, ApiError> {
    Ok(Json(
        s.access
            .resolve(b.user_id, b.session_id, b.org.as_deref())
            .await?,
    ))
}

#[derive(Serialize)]
struct SessionState {
    active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    revoked_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct SessionQuery {
    user_id: Option<String>,
}

/// `GET /internal/v1/sessions/{id}[?user_id=]`: with `user_id`, a session of another user is
/// answered as unknown (404): a guard asks about the session *of the token's subject*.
async fn session_state(
    State(s): State<AuthState>,
    Path(id): Path<String>,
    q: Result<Query<SessionQuery>, QueryRejection>,
) -> Result<Json<SessionState>, ApiError> {
    let id: SessionId = id.parse().map_err(|_| ApiError::not_found("session"))?;
    let Query(q) = q.map_err(|e| ApiError::invalid_field("query", e.body_text()))?;
    let user: Option<UserId> = param(q.user_id.as_ref())
        .map(str::parse)
        .transpose()
        .map_err(|_| ApiError::invalid_field("user_id", "not a user id"))?;
    let (owner, active, revoked_at) = s
        .auth
        .session_state(id)
        .await?
        .ok_or_else(|| ApiError::not_found("session"))?;
    if user.is_some_and(|u| u != owner) {
        return Err(ApiError::not_found("session"));
    }
    Ok(Json(SessionState { active, revoked_at }))
}

/// `POST /internal/v1/events`: republishes an invalidation event (from a component without
/// Redis access) so every guard and replica hears it.
async fn publish_event(
    State(s): State<AuthState>,
    ApiJson(event): ApiJson<InvalidationEvent>,
) -> Response {
    s.events.publish(&event).await;
    (StatusCode::ACCEPTED, Json(ACCEPTED)).into_response()
}

/// How many audit events `GET /internal/v1/audit` answers without a `limit`.
pub const DEFAULT_AUDIT_LIMIT: u32 = 100;

#[derive(Deserialize)]
struct AuditQuery {
    company_id: Option<String>,
    since: Option<String>,
    limit: Option<String>,
}

/// A query parameter, `None` when absent or blank.
fn param(v: Option<&String>) -> Option<&str> {
    v.map(|s| s.trim()).filter(|s| !s.is_empty())
}

/// `GET /internal/v1/audit?company_id=&since=&limit=`: events newest first; `limit` from 1 to
/// [`MAX_LIST_LIMIT`] (default [`DEFAULT_AUDIT_LIMIT`]), `since` RFC 3339 (inclusive). A
/// malformed parameter is 422 `validation_failed` naming it.
async fn audit_log(
    State(s): State<AuthState>,
    q: Result<axum::extract::Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<AuditEvent>>, ApiError> {
    let axum::extract::Query(q) = q.map_err(|e| ApiError::invalid_request(e.body_text()))?;
    let company_id = param(q.company_id.as_ref())
        .map(str::parse::<CompanyId>)
        .transpose()
        .map_err(|_| ApiError::invalid_field("company_id", "not a company id"))?;
    let since = param(q.since.as_ref())
        .map(DateTime::parse_from_rfc3339)
        .transpose()
        .map_err(|_| ApiError::invalid_field("since", "not an RFC 3339 time"))?
        .map(|t| t.with_timezone(&Utc));
    let limit = match param(q.limit.as_ref()) {
        None => DEFAULT_AUDIT_LIMIT,
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_LIST_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::invalid_field(
                    "limit",
                    format!("a whole number from 1 to {MAX_LIST_LIMIT}"),
                )
            })?,
    };
    Ok(Json(s.audit.list(company_id, since, limit).await?))
}

/// The internal router (`/internal/v1/*`), behind service keys.
pub fn internal_router(state: AuthState) -> Router {
    let router = Router::new()
        .route(
            "/internal/v1/access/resolve",
            scoped(post(resolve), ServiceScope::Resolve),
        )
        .route(
            "/internal/v1/sessions/{session_id}",
            scoped(get(session_state), ServiceScope::Resolve),
        )
        .route(
            "/internal/v1/events",
            scoped(post(publish_event), ServiceScope::Events),
        )
        .route(
            "/internal/v1/audit",
            scoped(get(audit_log), ServiceScope::Audit),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.service_keys.clone(),
            kisum_guard::http::service_key,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state);
    kisum_guard::http::with_request_ids(router)
}

/// A denial as a problem (for embedders mapping their own checks).
#[must_use]
pub fn denial(code: DenialCode) -> Response {
    ApiError::from(code).into_response()
}
