//! The providers' side of a sign-in: the authorization URL, and turning the code that comes
//! back into a [`Profile`] — for OpenID Connect through discovery and a validated ID token
//! (`openidconnect`), for GitHub through its API (`oauth2`).
//!
//! Every request goes through one reqwest client over rustls that follows no redirect, with
//! connect and total timeouts and a cap on the body read ([`send`]).

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, HttpRequest, HttpResponse,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenUrl,
};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{IssuerUrl, Nonce, OAuth2TokenResponse, TokenResponse};
use serde::Deserialize;

use super::config::{ProviderConfig, ProviderKind};

/// The most of a provider's answer read (discovery documents and JWKS are small).
const MAX_BODY: usize = 1 << 20;
/// How long discovery metadata (with the JWKS) is reused before it is fetched again.
const METADATA_TTL: Duration = Duration::from_secs(3600);
/// How old metadata must be before an ID token signed by an unknown key fetches it again.
const METADATA_MIN_AGE: Duration = Duration::from_secs(60);

/// What the provider says about who signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Profile {
    /// The provider's stable id of the account.
    pub(crate) subject: String,
    /// The email, if the provider gave one.
    pub(crate) email: Option<String>,
    /// Whether the provider says it verified that email.
    pub(crate) email_verified: bool,
    /// The display name.
    pub(crate) name: Option<String>,
}

/// Why a provider step failed; the `&'static str` is the reason audited and sent back as
/// `?error=`.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProviderError {
    /// The provider could not be reached or answered something unusable.
    #[error("provider unavailable: {0}")]
    Unavailable(String),
    /// The provider refused the code (replayed, expired, wrong verifier).
    #[error("the provider refused the code: {0}")]
    CodeRefused(String),
    /// The ID token failed validation (signature, issuer, audience, expiry, nonce).
    #[error("invalid ID token: {0}")]
    IdToken(String),
}

impl ProviderError {
    /// The machine code of the refusal.
    pub(crate) const fn code(&self) -> &'static str {
        match self {
            Self::Unavailable(_) => "provider_error",
            Self::CodeRefused(_) => "invalid_grant",
            Self::IdToken(_) => "invalid_id_token",
        }
    }
}

/// A transport failure, as the `oauth2` client traits want it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct HttpFailure(String);

/// The HTTP client of every provider: no redirects, timeouts, rustls. A named type (not a
/// closure) so the futures of the `oauth2` requests are `Send` for every lifetime.
#[derive(Clone)]
pub(crate) struct Http(reqwest::Client);

impl Http {
    /// The client.
    pub(crate) fn new() -> Result<Self, reqwest::Error> {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .user_agent("kisum-auth")
            .build()
            .map(Self)
    }
}

impl<'c> oauth2::AsyncHttpClient<'c> for Http {
    type Error = HttpFailure;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<HttpResponse, HttpFailure>> + Send + 'c>,
    >;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(send(&self.0, request))
    }
}

/// Sends `request` through `http`, reading at most [`MAX_BODY`] bytes of the answer.
async fn send(http: &reqwest::Client, request: HttpRequest) -> Result<HttpResponse, HttpFailure> {
    let request = reqwest::Request::try_from(request).map_err(|e| HttpFailure(e.to_string()))?;
    let mut answer = http
        .execute(request)
        .await
        .map_err(|e| HttpFailure(e.to_string()))?;
    let mut out = http::Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        out = out.header(name, value);
    }
    let mut body = Vec::new();
    while let Some(chunk) = answer
        .chunk()
        .await
        .map_err(|e| HttpFailure(e.to_string()))?
    {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(HttpFailure("answer too large".into()));
        }
        body.extend_from_slice(&chunk);
    }
    out.body(body).map_err(|e| HttpFailure(e.to_string()))
}

/// Cached discovery metadata.
struct Metadata {
    fetched: Instant,
    doc: CoreProviderMetadata,
}

/// A configured provider.
pub(crate) struct Provider {
    pub(crate) config: ProviderConfig,
    callback: RedirectUrl,
    metadata: tokio::sync::RwLock<Option<Metadata>>,
    /// One discovery fetch at a time (single flight); the cache lock is never held across it.
    refresh: tokio::sync::Mutex<()>,
}

impl Provider {
    /// The provider of `config`, its callback at `{public_url}/v1/auth/oauth/{id}/callback`.
    pub(crate) fn new(config: ProviderConfig, public_url: &str) -> Result<Self, String> {
        let callback = RedirectUrl::new(format!(
            "{}/v1/auth/oauth/{}/callback",
            public_url.trim_end_matches('/'),
            config.id
        ))
        .map_err(|e| format!("callback URL: {e}"))?;
        Ok(Self {
            config,
            callback,
            metadata: tokio::sync::RwLock::new(None),
            refresh: tokio::sync::Mutex::new(()),
        })
    }

    /// The discovery metadata: cached for [`METADATA_TTL`]; with `stale_if_older`, fetched
    /// again when older than that.
    async fn metadata(
        &self,
        http: &Http,
        stale_if_older: Option<Duration>,
    ) -> Result<CoreProviderMetadata, ProviderError> {
        let max_age = stale_if_older.unwrap_or(METADATA_TTL);
        let fresh = |m: &Option<Metadata>| {
            m.as_ref()
                .filter(|m| m.fetched.elapsed() < max_age)
                .map(|m| m.doc.clone())
        };
        if let Some(doc) = fresh(&*self.metadata.read().await) {
            return Ok(doc);
        }
        let _gate = self.refresh.lock().await;
        if let Some(doc) = fresh(&*self.metadata.read().await) {
            return Ok(doc);
        }
        let issuer = IssuerUrl::new(self.config.issuer.clone().unwrap_or_default())
            .map_err(|e| ProviderError::Unavailable(format!("issuer: {e}")))?;
        let doc = CoreProviderMetadata::discover_async(issuer, http)
            .await
            .map_err(|e| ProviderError::Unavailable(format!("discovery: {e}")))?;
        *self.metadata.write().await = Some(Metadata {
            fetched: Instant::now(),
            doc: doc.clone(),
        });
        Ok(doc)
    }

    fn github(
        &self,
    ) -> Result<
        oauth2::basic::BasicClient<
            oauth2::EndpointSet,
            oauth2::EndpointNotSet,
            oauth2::EndpointNotSet,
            oauth2::EndpointNotSet,
            oauth2::EndpointSet,
        >,
        ProviderError,
    > {
        let c = &self.config;
        let bad = |e: url::ParseError| ProviderError::Unavailable(e.to_string());
        Ok(
            oauth2::basic::BasicClient::new(ClientId::new(c.client_id.clone()))
                .set_client_secret(ClientSecret::new(c.client_secret.clone()))
                .set_auth_uri(AuthUrl::new(c.auth_url.clone()).map_err(bad)?)
                .set_token_uri(TokenUrl::new(c.token_url.clone()).map_err(bad)?)
                .set_redirect_uri(self.callback.clone()),
        )
    }

    fn scopes(&self) -> impl Iterator<Item = Scope> + '_ {
        // `openid` is added by the OIDC client itself.
        self.config
            .scopes
            .iter()
            .filter(|s| s.as_str() != "openid")
            .map(|s| Scope::new(s.clone()))
    }

    /// The URL sending the browser to the provider with `state`, `nonce` (OIDC) and the PKCE
    /// S256 challenge of `verifier`.
    pub(crate) async fn authorize_url(
        &self,
        http: &Http,
        state: &str,
        nonce: &str,
        verifier: &str,
    ) -> Result<String, ProviderError> {
        let challenge =
            PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(verifier.into()));
        let state = CsrfToken::new(state.into());
        let url = match self.config.kind {
            ProviderKind::Oidc => {
                let doc = self.metadata(http, None).await?;
                let nonce = Nonce::new(nonce.into());
                CoreClient::from_provider_metadata(
                    doc,
                    ClientId::new(self.config.client_id.clone()),
                    Some(ClientSecret::new(self.config.client_secret.clone())),
                )
                .set_redirect_uri(self.callback.clone())
                .authorize_url(
                    CoreAuthenticationFlow::AuthorizationCode,
                    move || state,
                    move || nonce,
                )
                .add_scopes(self.scopes())
                .set_pkce_challenge(challenge)
                .url()
                .0
            }
            ProviderKind::Github => {
                self.github()?
                    .authorize_url(move || state)
                    .add_scopes(self.scopes())
                    .set_pkce_challenge(challenge)
                    .url()
                    .0
            }
        };
        Ok(url.into())
    }

    /// Exchanges `code` (with the PKCE `verifier`) and returns who signed in; for OIDC the ID
    /// token is validated at `now` against the issuer's keys, the client id and `nonce`.
    pub(crate) async fn finish(
        &self,
        http: &Http,
        code: String,
        verifier: String,
        nonce: &str,
        now: DateTime<Utc>,
    ) -> Result<Profile, ProviderError> {
        match self.config.kind {
            ProviderKind::Oidc => self.finish_oidc(http, code, verifier, nonce, now).await,
            ProviderKind::Github => self.finish_github(http, code, verifier).await,
        }
    }

    async fn finish_oidc(
        &self,
        http: &Http,
        code: String,
        verifier: String,
        nonce: &str,
        now: DateTime<Utc>,
    ) -> Result<Profile, ProviderError> {
        let doc = self.metadata(http, None).await?;
        let client = CoreClient::from_provider_metadata(
            doc,
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.config.client_secret.clone())),
        )
        .set_redirect_uri(self.callback.clone());
        let token = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| ProviderError::Unavailable(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(verifier))
            .request_async(http)
            .await
            .map_err(|e| match e {
                oauth2::RequestTokenError::ServerResponse(r) => {
                    ProviderError::CodeRefused(r.error().to_string())
                }
                other => ProviderError::Unavailable(other.to_string()),
            })?;
        let id_token = token
            .id_token()
            .ok_or_else(|| ProviderError::IdToken("no ID token in the answer".into()))?;
        let nonce = Nonce::new(nonce.into());
        let verify = |client: &CoreClient<_, _, _, _, _, _>| {
            let verifier = client.id_token_verifier().set_time_fn(move || now);
            id_token.claims(&verifier, &nonce).cloned()
        };
        let claims = match verify(&client) {
            Ok(c) => c,
            // A key the cached JWKS does not have: the provider may have rotated; fetch once.
            Err(openidconnect::ClaimsVerificationError::SignatureVerification(_)) => {
                let doc = self.metadata(http, Some(METADATA_MIN_AGE)).await?;
                let fresh = CoreClient::from_provider_metadata(
                    doc,
                    ClientId::new(self.config.client_id.clone()),
                    Some(ClientSecret::new(self.config.client_secret.clone())),
                );
                verify(&fresh).map_err(|e| ProviderError::IdToken(e.to_string()))?
            }
            Err(e) => return Err(ProviderError::IdToken(e.to_string())),
        };
        let mut profile = Profile {
            subject: claims.subject().as_str().to_owned(),
            email: claims.email().map(|e| e.as_str().to_owned()),
            email_verified: claims.email_verified().unwrap_or(false),
            name: claims
                .name()
                .and_then(|n| n.get(None))
                .map(|n| n.as_str().to_owned()),
        };
        if profile.email.is_none() {
            // Some providers put the email in userinfo only; its subject must be the token's.
            if let Ok(request) =
                client.user_info(token.access_token().clone(), Some(claims.subject().clone()))
            {
                let info: openidconnect::core::CoreUserInfoClaims = request
                    .request_async(http)
                    .await
                    .map_err(|e| ProviderError::Unavailable(format!("userinfo: {e}")))?;
                profile.email = info.email().map(|e| e.as_str().to_owned());
                profile.email_verified = info.email_verified().unwrap_or(false);
            }
        }
        Ok(profile)
    }

    async fn finish_github(
        &self,
        http: &Http,
        code: String,
        verifier: String,
    ) -> Result<Profile, ProviderError> {
        let token = self
            .github()?
            .exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier))
            .request_async(http)
            .await
            .map_err(|e| match e {
                oauth2::RequestTokenError::ServerResponse(r) => {
                    ProviderError::CodeRefused(r.error().to_string())
                }
                other => ProviderError::Unavailable(other.to_string()),
            })?;
        let access = token.access_token().secret();
        let api = self.config.api_url.trim_end_matches('/');
        let user: GithubUser = github_get(http, &format!("{api}/user"), access).await?;
        let emails: Vec<GithubEmail> =
            github_get(http, &format!("{api}/user/emails"), access).await?;
        let chosen = emails
            .iter()
            .find(|e| e.primary && e.verified)
            .or_else(|| emails.iter().find(|e| e.verified))
            .or_else(|| emails.iter().find(|e| e.primary));
        Ok(Profile {
            subject: user.id.to_string(),
            email: chosen.map(|e| e.email.clone()),
            email_verified: chosen.is_some_and(|e| e.verified),
            name: user.name.or(Some(user.login)),
        })
    }
}

#[derive(Deserialize)]
struct GithubUser {
    id: u64,
    login: String,
    name: Option<String>,
}

#[derive(Deserialize)]
struct GithubEmail {
    email: String,
    #[serde(default)]
    primary: bool,
    #[serde(default)]
    verified: bool,
}

async fn github_get<T: serde::de::DeserializeOwned>(
    http: &Http,
    url: &str,
    token: &str,
) -> Result<T, ProviderError> {
    let request = http::Request::builder()
        .uri(url)
        .header(http::header::AUTHORIZATION, format!("Bearer {token}"))
        .header(http::header::ACCEPT, "application/vnd.github+json")
        .body(Vec::new())
        .map_err(|e| ProviderError::Unavailable(e.to_string()))?;
    let answer = send(&http.0, request)
        .await
        .map_err(|e| ProviderError::Unavailable(format!("github: {e}")))?;
    if !answer.status().is_success() {
        return Err(ProviderError::Unavailable(format!(
            "github answered {} for {url}",
            answer.status()
        )));
    }
    serde_json::from_slice(answer.body())
        .map_err(|e| ProviderError::Unavailable(format!("github: {e}")))
}
