//! Remote sources (feature `remote`): Auth's JWKS over HTTP and Auth's internal access resolve,
//! and [`RemoteAuth`], which derives both from Auth's two URLs for
//! [`AccessGuard::builder`](crate::AccessGuard::builder).

use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

use std::sync::Arc;

use crate::context::AccessContext;
use crate::denial::{DenialCode, Problem};
use crate::guard::BuildError;
use crate::ids::{SessionId, UserId};
use crate::jwks::{JwksDocument, JwksError, JwksSource, max_age};
use crate::source::{AccessSource, SourceError};

/// Where Auth's JWKS is, under its public URL.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// Auth as a service sees it over HTTP: its public URL (tokens' issuer, JWKS at
/// [`JWKS_PATH`]), its internal URL (access resolve, session state) and this service's key.
#[derive(Clone)]
pub struct RemoteAuth {
    public_url: String,
    internal_url: String,
    service_key: String,
    timeout: Duration,
}

impl std::fmt::Debug for RemoteAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteAuth")
            .field("public_url", &self.public_url)
            .field("internal_url", &self.internal_url)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The sources and issuer derived from a [`RemoteAuth`].
pub(crate) struct Connected {
    pub(crate) jwks: Arc<dyn JwksSource>,
    pub(crate) source: Arc<dyn AccessSource>,
    pub(crate) issuer: String,
    pub(crate) events: EventsFeedClient,
}

impl RemoteAuth {
    /// Auth at `public_url` (e.g. `https://auth.example.com`) and `internal_url` (e.g.
    /// `http://auth:8081`), called with `service_key`; every call within 2 seconds.
    #[must_use]
    pub fn new(
        public_url: impl Into<String>,
        internal_url: impl Into<String>,
        service_key: impl Into<String>,
    ) -> Self {
        Self {
            public_url: public_url.into(),
            internal_url: internal_url.into(),
            service_key: service_key.into(),
            timeout: Duration::from_secs(2),
        }
    }

    /// Every call to Auth within `timeout`.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Checks both URLs and the key, and makes the sources.
    pub(crate) fn connect(self) -> Result<Connected, BuildError> {
        let public = checked_url("Auth's public URL", &self.public_url)?;
        let internal = checked_url("Auth's internal URL", &self.internal_url)?;
        if self.service_key.trim().is_empty() {
            return Err(BuildError::InvalidSetting("the service key is empty"));
        }
        let client_error = |e: reqwest::Error| BuildError::Client(e.to_string());
        let jwks =
            HttpJwks::new(format!("{public}{JWKS_PATH}"), self.timeout).map_err(client_error)?;
        let events = EventsFeedClient::new(internal, &self.service_key)?;
        let source = RemoteAccessSource::new(internal, self.service_key, self.timeout)
            .map_err(client_error)?;
        Ok(Connected {
            jwks: Arc::new(jwks),
            source: Arc::new(source),
            issuer: self.public_url,
            events,
        })
    }
}

/// `url` without its trailing `/`, when it is `http` (or `https` with the `tls` feature) with a
/// host and no query or fragment.
fn checked_url<'a>(name: &'static str, url: &'a str) -> Result<&'a str, BuildError> {
    let invalid = |reason: &str| BuildError::InvalidUrl {
        name,
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let parsed = reqwest::Url::parse(url).map_err(|e| invalid(&e.to_string()))?;
    match parsed.scheme() {
        "http" => {}
        "https" if cfg!(feature = "tls") => {}
        "https" => {
            return Err(BuildError::TlsNotEnabled {
                url: url.to_owned(),
            });
        }
        _ => return Err(invalid("the scheme must be http or https")),
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(invalid("no host"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(invalid("a query or fragment has no place in a base URL"));
    }
    Ok(url.trim_end_matches('/'))
}

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
        self.resolve_sealed(user_id, session_id, org)
            .await
            .map(|s| s.context)
    }

    async fn resolve_sealed(
        &self,
        user_id: UserId,
        session_id: SessionId,
        org: &str,
    ) -> Result<crate::seal::Sealed, SourceError> {
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
        let seal = response
            .headers()
            .get(crate::seal::SEAL_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = response.bytes().await.map_err(|e| unavailable(&e))?;
        if status.is_success() {
            let context = serde_json::from_slice(&bytes)
                .map_err(|e| SourceError::Unavailable(format!("malformed access context: {e}")))?;
            return Ok(crate::seal::Sealed { context, seal });
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

    async fn resolve_api_key(&self, key: &str, org: &str) -> Result<AccessContext, SourceError> {
        // Always 200 once the service key is accepted: any other status is this guard's
        // problem (its service key, Auth's health), never the key holder's denial.
        let response = self
            .client
            .post(format!("{}/internal/v1/api-keys/resolve", self.base))
            .bearer_auth(&self.service_key)
            .json(&crate::api_key::ApiKeyResolveRequest {
                key: key.to_owned(),
                org: org.to_owned(),
            })
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(SourceError::Unavailable(format!(
                "API key resolve answered {status}"
            )));
        }
        let answer: crate::api_key::ApiKeyResolution =
            response.json().await.map_err(|e| unavailable(&e))?;
        match (answer.context, answer.denied) {
            (Some(context), None) => Ok(context),
            (None, Some(code)) => Err(SourceError::Denied(code)),
            _ => Err(SourceError::Unavailable(
                "malformed API key resolution".to_owned(),
            )),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_needs_the_tls_feature() {
        let checked = checked_url("Auth's public URL", "https://auth.example.com/");
        #[cfg(feature = "tls")]
        assert_eq!(checked, Ok("https://auth.example.com"));
        #[cfg(not(feature = "tls"))]
        assert_eq!(
            checked,
            Err(BuildError::TlsNotEnabled {
                url: "https://auth.example.com/".into()
            })
        );
        assert_eq!(
            checked_url("Auth's internal URL", "http://auth:8081/"),
            Ok("http://auth:8081")
        );
    }
}

/// The long poll of a component's event stream, `GET {base}/internal/v1/events?after=&wait=`
/// (decision 0015): what a reader without Redis follows — a guard following Auth, Auth
/// following Core.
#[derive(Clone)]
pub struct EventsFeedClient {
    client: reqwest::Client,
    url: String,
    service_key: String,
    wait: Duration,
}

impl std::fmt::Debug for EventsFeedClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventsFeedClient")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl EventsFeedClient {
    /// How long one poll waits for events by default.
    pub const DEFAULT_WAIT: Duration = Duration::from_secs(20);

    /// Polls the internal listener at `base` (e.g. `http://auth:8081`) with `service_key`.
    ///
    /// # Errors
    /// The URL is unusable, the key empty, or the HTTP client could not be built.
    pub fn new(base: &str, service_key: &str) -> Result<Self, BuildError> {
        let base = checked_url("the events URL", base)?;
        if service_key.trim().is_empty() {
            return Err(BuildError::InvalidSetting("the service key is empty"));
        }
        let wait = Self::DEFAULT_WAIT;
        Ok(Self {
            client: client(wait + Duration::from_secs(10))
                .map_err(|e| BuildError::Client(e.to_string()))?,
            url: format!("{}/internal/v1/events", base.trim_end_matches('/')),
            service_key: service_key.to_owned(),
            wait,
        })
    }

    /// Waits at most `wait` per poll (at most 30 s; shorter polls notice a restarted source
    /// sooner, longer ones cost fewer requests).
    #[must_use]
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait = wait.min(Duration::from_secs(30));
        self
    }

    /// One poll: `Ok(None)` is 410 `gap` (the cursor is no longer valid).
    async fn poll(&self, after: Option<u64>) -> Result<Option<crate::events::EventsPage>, String> {
        let url = match after {
            Some(after) => format!("{}?after={after}&wait={}", self.url, self.wait.as_secs()),
            None => self.url.clone(),
        };
        let response = self
            .client
            .get(url)
            .bearer_auth(&self.service_key)
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        match response.status() {
            reqwest::StatusCode::GONE => Ok(None),
            s if s.is_success() => response
                .json()
                .await
                .map(Some)
                .map_err(|e| format!("malformed events page: {}", e.without_url())),
            s => Err(format!("events feed answered {s}")),
        }
    }

    /// Follows the stream into `follower` until the runtime stops: resumes after a failure from
    /// the last number applied; a 410 or a new epoch tells the follower it missed events.
    #[must_use]
    pub fn spawn(self, follower: Arc<dyn crate::follow::Follower>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut cursor = crate::follow::Cursor::new();
            let mut backoff = Duration::from_millis(50);
            loop {
                match self.follow_once(&mut cursor, &*follower).await {
                    Ok(()) => backoff = Duration::from_millis(50),
                    Err(e) => {
                        tracing::warn!(error = %e, url = self.url, "event feed unreachable; resuming from the last event applied when it answers (caches bound staleness with their TTL meanwhile)");
                        metrics::counter!("kisum_guard_listener_reconnects_total").increment(1);
                        tokio::time::sleep(backoff).await;
                        // At most a quarter of a second: events flow again soon after the
                        // feed answers.
                        backoff = (backoff * 2).min(Duration::from_millis(250));
                    }
                }
            }
        })
    }

    async fn follow_once(
        &self,
        cursor: &mut crate::follow::Cursor,
        follower: &dyn crate::follow::Follower,
    ) -> Result<(), String> {
        let after = cursor.epoch().map(|_| cursor.last());
        let Some(page) = self.poll(after).await? else {
            cursor.lost(follower).await;
            return Ok(());
        };
        let head = match after {
            None => page.next,
            Some(_) => page
                .events
                .first()
                .map_or(page.next, |e| e.seq.saturating_sub(1)),
        };
        if cursor.meet(follower, &page.epoch, head).await && after.is_some() {
            // A new epoch: these numbers were read against the old position; read again.
            return Ok(());
        }
        for event in &page.events {
            cursor
                .apply(follower, event)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}
