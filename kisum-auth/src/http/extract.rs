//! The extractors of Auth's handlers: the signed-in [`Caller`], the [`Client`] a request came
//! from, the [`Consistency`] token it presents, and the query-parameter helper.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use kisum_guard::http::{ProblemResponse, bearer};
use kisum_guard::{CONSISTENCY_HEADER, Claims, ConsistencyToken, DenialCode, Problem};

use super::AuthState;
use crate::service::ClientInfo;
use crate::session::Session;

/// The signed-in caller of a Bearer route.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The verified claims.
    pub claims: Claims,
    /// The live session.
    pub session: Session,
}

impl FromRequestParts<AuthState> for Caller {
    type Rejection = ProblemResponse;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AuthState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers)
            .ok_or_else(|| ProblemResponse::from(DenialCode::Unauthenticated))?;
        let crate::session::Authenticated { claims, session } =
            state.auth.authenticate(token).await?;
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

/// The client address for per-address limits. A missing or unparsable address (no proxy
/// rewrote the header, or it was tampered with) falls back to the unspecified address: such
/// requests share one bucket instead of escaping the limit.
pub(super) fn client_ip(client: &ClientInfo) -> Option<std::net::IpAddr> {
    Some(
        client
            .ip
            .as_deref()
            .and_then(|ip| ip.trim().parse().ok())
            .unwrap_or(std::net::IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)),
    )
}

/// The `X-Kisum-Consistency` token a request presents, if any (a malformed one is 400
/// `invalid_request`). Access is resolved from the stores on every call here, so any token is
/// satisfied; the header is accepted so clients can send it everywhere they read access.
#[derive(Debug, Clone, Copy)]
pub struct Consistency(pub Option<ConsistencyToken>);

impl<S: Send + Sync> FromRequestParts<S> for Consistency {
    type Rejection = ProblemResponse;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        consistency(&parts.headers).map(Self)
    }
}

/// The `X-Kisum-Consistency` token of a request, if it presents one.
///
/// # Errors
/// `invalid_request` for a malformed token.
pub(super) fn consistency(
    headers: &HeaderMap,
) -> Result<Option<ConsistencyToken>, ProblemResponse> {
    let Some(raw) = headers.get(CONSISTENCY_HEADER) else {
        return Ok(None);
    };
    raw.to_str()
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Some)
        .ok_or_else(|| {
            Problem::invalid_request(format!("malformed `{CONSISTENCY_HEADER}` header")).into()
        })
}

/// A query parameter, `None` when absent or blank.
pub(super) fn param(v: Option<&String>) -> Option<&str> {
    v.map(|s| s.trim()).filter(|s| !s.is_empty())
}
