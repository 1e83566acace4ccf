//! The console's edge: its cookies, the CSRF check of every form, the signed-in user and the
//! security headers.
//!
//! - The session: the access token in `kisum_console` and the refresh token in
//!   `kisum_console_refresh`, both `HttpOnly; SameSite=Strict; Path=/console` (and `Secure`
//!   outside development). An expired access token is exchanged through the refresh token once
//!   per request, with the same rotation and reuse detection as `POST /v1/auth/refresh`.
//! - CSRF: a double-submit token. `kisum_console_csrf` holds 32 random bytes; every form carries
//!   them in its `csrf` field, and a `POST` whose field is missing or differs is refused with 403
//!   before any handler runs. `SameSite=Strict` already keeps other sites' requests from
//!   carrying the cookies; the token also covers the sign-in form (no session yet) and older
//!   browsers.
//! - Headers: a strict Content-Security-Policy (scripts, styles and forms from this origin only;
//!   no inline script or style; no framing), `X-Frame-Options: DENY`, `no-store` on pages.

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kisum_guard::Problem;
use serde::Deserialize;
use subtle::ConstantTimeEq as _;

use super::ConsoleState;
use super::pages::ConsoleError;
use crate::http::extract::{Caller, Client};
use crate::session::TokenPair;

/// The access-token cookie.
const SESSION_COOKIE: &str = "kisum_console";
/// The refresh-token cookie.
const REFRESH_COOKIE: &str = "kisum_console_refresh";
/// The CSRF cookie (double submit).
const CSRF_COOKIE: &str = "kisum_console_csrf";
/// The largest form the console reads.
const FORM_LIMIT: usize = 64 * 1024;

/// The Content-Security-Policy of every console answer.
pub(super) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// The CSRF token of this browser, for the forms of the page.
#[derive(Debug, Clone)]
pub(super) struct Csrf(pub(super) String);

/// One `Set-Cookie` value for the console's path.
fn cookie(name: &str, value: &str, max_age: i64, secure: bool) -> String {
    format!(
        "{name}={value}; Path={}; Max-Age={}; HttpOnly; SameSite=Strict{}",
        super::PREFIX,
        max_age.max(0),
        if secure { "; Secure" } else { "" }
    )
}

/// The value of cookie `name` in `headers`, if present and not empty.
fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, v)| *n == name && !v.is_empty())
        .map(|(_, v)| v.to_owned())
}

fn append_cookie(response: &mut Response, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// Marks a response that set or cleared the session cookies itself.
#[derive(Debug, Clone, Copy)]
struct SessionCookiesSet;

/// `response` carrying the session cookies of `pair`.
pub(super) fn with_session(mut response: Response, pair: &TokenPair, secure: bool) -> Response {
    response.extensions_mut().insert(SessionCookiesSet);
    let max_age = pair.refresh_expires_in;
    append_cookie(
        &mut response,
        &cookie(SESSION_COOKIE, &pair.access.token, max_age, secure),
    );
    append_cookie(
        &mut response,
        &cookie(REFRESH_COOKIE, pair.refresh.expose(), max_age, secure),
    );
    response
}

/// `response` clearing the session cookies.
pub(super) fn without_session(mut response: Response, secure: bool) -> Response {
    response.extensions_mut().insert(SessionCookiesSet);
    append_cookie(&mut response, &cookie(SESSION_COOKIE, "", 0, secure));
    append_cookie(&mut response, &cookie(REFRESH_COOKIE, "", 0, secure));
    response
}

/// 32 random bytes, URL-safe base64.
fn fresh_token() -> String {
    let bytes: [u8; 32] = rand::random();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The `csrf` field of a form (every other field is ignored here).
#[derive(Deserialize)]
struct CsrfField {
    csrf: Option<String>,
}

/// What the edge found out about the session.
enum Renewal {
    /// Nothing to change.
    Keep,
    /// The access token was refreshed: set the new pair.
    Renewed(TokenPair),
    /// The cookies name no live session: clear them.
    Clear,
}

/// The signed-in caller of the session cookies, refreshing an expired access token.
async fn caller(
    s: &ConsoleState,
    headers: &HeaderMap,
    client: &Client,
) -> (Option<Caller>, Renewal) {
    let auth = &s.auth.auth;
    let access = read_cookie(headers, SESSION_COOKIE);
    if let Some(token) = access.as_deref()
        && let Ok(crate::session::Authenticated { claims, session }) =
            auth.authenticate(token).await
    {
        return (Some(Caller { claims, session }), Renewal::Keep);
    }
    let Some(refresh) = read_cookie(headers, REFRESH_COOKIE) else {
        let renewal = if access.is_some() {
            Renewal::Clear
        } else {
            Renewal::Keep
        };
        return (None, renewal);
    };
    let Ok(pair) = auth.refresh(&refresh, client.0.clone()).await else {
        return (None, Renewal::Clear);
    };
    match auth.authenticate(&pair.access.token).await {
        Ok(crate::session::Authenticated { claims, session }) => {
            (Some(Caller { claims, session }), Renewal::Renewed(pair))
        }
        Err(_) => (None, Renewal::Clear),
    }
}

/// Whether the form of `request` carries the CSRF token `expected`; the request, rebuilt.
async fn form_carries(request: Request, expected: Option<&str>) -> Result<Request, Response> {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, FORM_LIMIT).await.map_err(|_| {
        ConsoleError::from(Problem::new(413, "payload_too_large", "form too large")).into_response()
    })?;
    let probe = Request::from_parts(parts.clone(), Body::from(bytes.clone()));
    let presented = axum::Form::<CsrfField>::from_request(probe, &())
        .await
        .ok()
        .and_then(|axum::Form(f)| f.csrf);
    let matches = match (presented.as_deref(), expected) {
        (Some(p), Some(e)) => bool::from(p.as_bytes().ct_eq(e.as_bytes())),
        _ => false,
    };
    if !matches {
        let problem = Problem::new(403, "csrf_failed", "form refused").with_detail(
            "this form did not come from this console or has expired: reload the page and try again",
        );
        return Err(ConsoleError::from(problem).into_response());
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// The edge of every page: CSRF cookie and check, the signed-in caller (in the request's
/// extensions), renewed or cleared session cookies, and the security headers.
pub(super) async fn edge(State(s): State<ConsoleState>, request: Request, next: Next) -> Response {
    let secure = s.config.secure_cookies;
    let existing =
        read_cookie(request.headers(), CSRF_COOKIE).filter(|t| t.len() >= 32 && t.len() <= 64);
    let mut request = request;
    if request.method() == Method::POST {
        request = match form_carries(request, existing.as_deref()).await {
            Ok(r) => r,
            Err(refused) => return security_headers(refused),
        };
    }
    let csrf = existing.clone().unwrap_or_else(fresh_token);
    let (mut parts, body) = request.into_parts();
    let client = match Client::from_request_parts(&mut parts, &()).await {
        Ok(c) => c,
        Err(never) => match never {},
    };
    let (caller, renewal) = caller(&s, &parts.headers, &client).await;
    parts.extensions.insert(Csrf(csrf.clone()));
    if let Some(caller) = caller {
        parts.extensions.insert(caller);
    }
    let mut response = next.run(Request::from_parts(parts, body)).await;
    if existing.is_none() {
        append_cookie(&mut response, &cookie(CSRF_COOKIE, &csrf, 86_400, secure));
    }
    let response = match renewal {
        Renewal::Keep => response,
        // A handler that signed in or out set its own cookies: those win.
        _ if response.extensions().get::<SessionCookiesSet>().is_some() => response,
        Renewal::Renewed(pair) => with_session(response, &pair, secure),
        Renewal::Clear => without_session(response, secure),
    };
    security_headers(response)
}

/// The security headers alone (the static assets).
pub(super) async fn headers(request: Request, next: Next) -> Response {
    security_headers(next.run(request).await)
}

fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// A page's view of the request: its CSRF token, the signed-in caller if any, the client.
pub(super) struct Visitor {
    /// The CSRF token for the page's forms.
    pub(super) csrf: String,
    /// The signed-in caller.
    pub(super) caller: Option<Caller>,
    /// Where the request came from.
    pub(super) client: Client,
}

impl FromRequestParts<ConsoleState> for Visitor {
    type Rejection = ConsoleError;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &ConsoleState,
    ) -> Result<Self, Self::Rejection> {
        let csrf = parts
            .extensions
            .get::<Csrf>()
            .map(|c| c.0.clone())
            .unwrap_or_default();
        let caller = parts.extensions.get::<Caller>().cloned();
        let client = match Client::from_request_parts(parts, &()).await {
            Ok(c) => c,
            Err(never) => match never {},
        };
        Ok(Self {
            csrf,
            caller,
            client,
        })
    }
}

/// A signed-in visitor; anyone else is sent to the sign-in page.
pub(super) struct SignedIn {
    /// The CSRF token for the page's forms.
    pub(super) csrf: String,
    /// The caller.
    pub(super) caller: Caller,
    /// Where the request came from.
    pub(super) client: Client,
}

impl FromRequestParts<ConsoleState> for SignedIn {
    type Rejection = ConsoleError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ConsoleState,
    ) -> Result<Self, Self::Rejection> {
        let Visitor {
            csrf,
            caller,
            client,
        } = Visitor::from_request_parts(parts, state).await?;
        let caller = caller.ok_or(ConsoleError::SignIn)?;
        Ok(Self {
            csrf,
            caller,
            client,
        })
    }
}

/// 303 to `to` (after a form: the browser follows with a `GET`).
pub(super) fn see_other(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_http_only_strict_and_secure_when_asked() {
        let c = cookie("a", "b", 60, true);
        assert_eq!(
            c,
            "a=b; Path=/console; Max-Age=60; HttpOnly; SameSite=Strict; Secure"
        );
        assert!(!cookie("a", "b", 60, false).contains("Secure"));
    }

    #[test]
    fn the_policy_allows_no_inline_script_and_no_framing() {
        assert!(!CSP.contains("unsafe-inline"));
        assert!(!CSP.contains("unsafe-eval"));
        assert!(CSP.contains("frame-ancestors 'none'"));
    }
}
