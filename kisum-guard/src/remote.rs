//! Remote sources (feature `remote`): Auth's JWKS over HTTP and Auth's internal access resolve.

use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

use crate::context::AccessContext;
use crate::denial::{DenialCode, Problem};
use crate::ids::{SessionId, UserId};
use crate::jwks::{JwksDocument, JwksError, JwksSource, max_age};
use crate::source::{AccessSource, SourceError};

fn client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

/// Auth's `/.well-known/jwks.json`, honouring its `Cache-Control: max-age`.
#[derive(Debug, Clone)]
pub struct HttpJwks {
    client: reqwest::Client,
    url: String,
}

impl HttpJwks {
    /// Fetches from `url` (the full JWKS URL) within `timeout`.
    ///
    /// # Errors
    /// The HTTP client could not be built.
    pub fn new(url: impl Into<String>, timeout: Duration) -> Result<Self, reqwest::Error> {
        Ok(Self {
            client: client(timeout)?,
            url: url.into(),
        })
    }
}

#[async_trait]
impl JwksSource for HttpJwks {
    async fn fetch(&self) -> Result<JwksDocument, JwksError> {
        let response = self
            .client
            .get(&self.url)
            .send()
            .await
            .map_err(|e| JwksError(e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(JwksError(format!("JWKS answered {}", response.status())));
        }
        let max_age = response
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(max_age);
        let bytes = response
            .bytes()
            .await
            .map_err(|e| JwksError(e.without_url().to_string()))?;
        let keys = serde_json::from_slice(&bytes).map_err(|e| JwksError(e.to_string()))?;
        Ok(JwksDocument { keys, max_age })
    }
}

/// Auth's internal API: `POST /internal/v1/access/resolve` and `GET /internal/v1/sessions/{id}`,
/// authenticated with this service's key.
#[derive(Clone)]
pub struct RemoteAccessSource {
    client: reqwest::Client,
    base: String,
    service_key: String,
}

impl std::fmt::Debug for RemoteAccessSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteAccessSource")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct ResolveBody<'a> {
    user_id: UserId,
    session_id: SessionId,
    org: &'a str,
}

#[derive(serde::Deserialize)]
struct SessionState {
    active: bool,
}

impl RemoteAccessSource {
    /// Calls Auth's internal listener at `base` (e.g. `http://auth:8081`) with `service_key`,
    /// each call within `timeout`.
    ///
    /// # Errors
    /// The HTTP client could not be built.
    pub fn new(
        base: impl Into<String>,
        service_key: impl Into<String>,
        timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        Ok(Self {
            client: client(timeout)?,
            base: base.into().trim_end_matches('/').to_owned(),
            service_key: service_key.into(),
        })
    }
}

fn unavailable(e: &reqwest::Error) -> SourceError {
    SourceError::Unavailable(e.to_string())
}

#[async_trait]
impl AccessSource for RemoteAccessSource {
    async fn resolve(
        &self,
        user_id: UserId,
        session_id: SessionId,
        org: &str,
    ) -> Result<AccessContext, SourceError> {
        let response = self
            .client
            .post(format!("{}/internal/v1/access/resolve", self.base))
            .bearer_auth(&self.service_key)
            .json(&ResolveBody {
                user_id,
                session_id,
                org,
            })
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| unavailable(&e))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .map_err(|e| SourceError::Unavailable(format!("malformed access context: {e}")));
        }
        let denial = serde_json::from_slice::<Problem>(&bytes)
            .ok()
            .and_then(|p| p.denial())
            .filter(|_| {
                status.is_client_error() && status != reqwest::StatusCode::TOO_MANY_REQUESTS
            });
        match denial {
            // A refused service key is our misconfiguration, not the user's denial.
            Some(DenialCode::Unauthenticated) | None => Err(SourceError::Unavailable(format!(
                "access resolve answered {status}"
            ))),
            Some(code) => Err(SourceError::Denied(code)),
        }
    }

    async fn session_active(
        &self,
        user_id: UserId,
        session_id: SessionId,
    ) -> Result<bool, SourceError> {
        // Auth answers 404 for a session of another user: a token whose `sub` does not own
        // its `sid` is never told "active".
        let response = self
            .client
            .get(format!(
                "{}/internal/v1/sessions/{session_id}?user_id={user_id}",
                self.base
            ))
            .bearer_auth(&self.service_key)
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        match response.status() {
            reqwest::StatusCode::NOT_FOUND => Ok(false),
            s if s.is_success() => {
                let state: SessionState = response.json().await.map_err(|e| unavailable(&e))?;
                Ok(state.active)
            }
            s => Err(SourceError::Unavailable(format!(
                "session lookup answered {s}"
            ))),
        }
    }
}
