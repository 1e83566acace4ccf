//! The cookie mode: the refresh token in an `HttpOnly; Secure; SameSite=Strict` cookie instead
//! of the body, so script on the page never sees it.

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::AuthState;

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
pub(super) fn token_answer(
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
pub(super) fn clear_cookie(s: &AuthState, response: Response) -> Response {
    match &s.refresh_cookie {
        Some(cookie) => cookie.apply(response, None),
        None => response,
    }
}
