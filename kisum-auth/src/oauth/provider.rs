//! The providers' side of a sign-in: the authorization URL, and turning the code that comes
//! back into a [`Profile`] — for OpenID Connect through discovery and a validated ID token
//! (`openidconnect`), for GitHub through its API (`oauth2`).
//!
//! Every request goes through one reqwest client over rustls that follows no redirect (a 3xx
//! answer is a failure), with connect and total timeouts and a cap on the body read ([`send`]).
//!
//! Discovery is ours rather than `openidconnect`'s so that a multi-tenant issuer (Microsoft's
//! `…/common/v2.0`, whose metadata names the template `…/{tenantid}/v2.0`) is accepted: each ID
//! token's `iss` must then be the template with the token's own `tid` (decision 0043).

use std::collections::HashMap;
use std::sync::PoisonError;
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
/// How long after an unknown key id made the keys be fetched again that id does not do it again.
const UNKNOWN_KID_INTERVAL: Duration = Duration::from_secs(300);
/// The most unknown key ids remembered within [`UNKNOWN_KID_INTERVAL`]; beyond them, no refetch.
const MAX_UNKNOWN_KIDS: usize = 16;
/// What stands for the tenant in a multi-tenant issuer (Microsoft's `…/{tenantid}/v2.0`).
const TENANT_PLACEHOLDER: &str = "{tenantid}";

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
    if answer.status().is_redirection() {
        // Never followed: a provider's endpoint is the one configured or discovered.
        return Err(HttpFailure(format!(
            "answered {} (a redirect, not followed)",
            answer.status()
        )));
    }
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
#[derive(Clone)]
struct Metadata {
    fetched: Instant,
    doc: CoreProviderMetadata,
    /// The issuer template (with [`TENANT_PLACEHOLDER`]) of a multi-tenant issuer.
    tenant_template: Option<String>,
}

/// Whether the issuer of discovered metadata belongs to the configured one: equal, or a template
/// whose `{tenantid}` stands where the configured issuer names one path segment (Microsoft's
/// `https://login.microsoftonline.com/{tenantid}/v2.0` for `…/common/v2.0` or
/// `…/organizations/v2.0`).
pub(crate) fn issuer_belongs(discovered: &str, configured: &str) -> bool {
    if discovered == configured {
        return true;
    }
    let Some((before, after)) = discovered.split_once(TENANT_PLACEHOLDER) else {
        return false;
    };
    !after.contains(TENANT_PLACEHOLDER)
        && configured
            .strip_prefix(before)
            .and_then(|rest| rest.strip_suffix(after))
            .is_some_and(|segment| !segment.is_empty() && !segment.contains(['/', '?', '#']))
}

/// Whether `s` has a GUID's shape (`8-4-4-4-12` hexadecimal digits), as Microsoft's tenant ids.
pub(crate) fn guid_like(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Checks a multi-tenant ID token: its `tid` is GUID-like, on `tenants` when that allow-list is
/// not empty, and its `iss` is `template` with that `tid`.
fn check_tenant(
    template: &str,
    iss: &str,
    tid: Option<&str>,
    tenants: &[String],
) -> Result<(), String> {
    let tid = tid.ok_or("no `tid` claim")?;
    if !guid_like(tid) {
        return Err(format!("`tid` `{tid}` is not a tenant id"));
    }
    if iss != template.replace(TENANT_PLACEHOLDER, tid) {
        return Err(format!("`iss` `{iss}` is not the issuer of tenant `{tid}`"));
    }
    check_tenant_allowed(tid, tenants)
}

/// The tenant allow-list: empty allows every tenant.
fn check_tenant_allowed(tid: &str, tenants: &[String]) -> Result<(), String> {
    if tenants.is_empty() || tenants.iter().any(|t| t.eq_ignore_ascii_case(tid)) {
        Ok(())
    } else {
        Err(format!("tenant `{tid}` is not allowed"))
    }
}

/// The JSON of part `index` (0: header, 1: payload) of a compact JWS, unverified.
fn jws_part(jws: &str, index: usize) -> Option<serde_json::Value> {
    let part = jws.split('.').nth(index)?;
    let bytes =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, part).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// A string claim of a compact JWS's part `index`.
fn jws_string(jws: &str, index: usize, name: &str) -> Option<String> {
    jws_part(jws, index)?.get(name)?.as_str().map(str::to_owned)
}

/// A configured provider.
pub(crate) struct Provider {
    pub(crate) config: ProviderConfig,
    callback: RedirectUrl,
    metadata: tokio::sync::RwLock<Option<Metadata>>,
    /// One discovery fetch at a time (single flight); the cache lock is never held across it.
    refresh: tokio::sync::Mutex<()>,
    /// The key ids not in the cached JWKS that fetched it again, and when: each at most once per
    /// [`UNKNOWN_KID_INTERVAL`], at most [`MAX_UNKNOWN_KIDS`] of them.
    unknown_kids: std::sync::Mutex<HashMap<String, Instant>>,
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
            unknown_kids: std::sync::Mutex::new(HashMap::new()),
        })
    }

    /// The discovery metadata: cached for [`METADATA_TTL`]; with `fetched_by`, fetched again
    /// unless the cached copy was fetched after that instant (by a racing refetch).
    async fn metadata(
        &self,
        http: &Http,
        fetched_by: Option<Instant>,
    ) -> Result<Metadata, ProviderError> {
        let fresh = |m: &Option<Metadata>| {
            m.as_ref()
                .filter(|m| {
                    m.fetched.elapsed() < METADATA_TTL && fetched_by.is_none_or(|t| m.fetched > t)
                })
                .cloned()
        };
        if let Some(m) = fresh(&*self.metadata.read().await) {
            return Ok(m);
        }
        let _gate = self.refresh.lock().await;
        if let Some(m) = fresh(&*self.metadata.read().await) {
            return Ok(m);
        }
        let m = self.discover(http).await?;
        *self.metadata.write().await = Some(m.clone());
        Ok(m)
    }

    /// Reads `{issuer}/.well-known/openid-configuration` and the JWKS it names; the issuer it
    /// states must be the configured one, or a tenant template of it ([`issuer_belongs`]).
    async fn discover(&self, http: &Http) -> Result<Metadata, ProviderError> {
        let unavailable = |m: String| ProviderError::Unavailable(format!("discovery: {m}"));
        let configured = self.config.issuer.clone().unwrap_or_default();
        let issuer =
            IssuerUrl::new(configured.clone()).map_err(|e| unavailable(format!("issuer: {e}")))?;
        let url = issuer
            .join(".well-known/openid-configuration")
            .map_err(|e| unavailable(e.to_string()))?;
        let request = http::Request::builder()
            .uri(url.as_str())
            .header(http::header::ACCEPT, "application/json")
            .body(Vec::new())
            .map_err(|e| unavailable(e.to_string()))?;
        let answer = send(&http.0, request)
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        if answer.status() != http::StatusCode::OK {
            return Err(unavailable(format!("{url} answered {}", answer.status())));
        }
        let doc: CoreProviderMetadata =
            serde_json::from_slice(answer.body()).map_err(|e| unavailable(e.to_string()))?;
        let stated = doc.issuer().as_str().to_owned();
        if !issuer_belongs(&stated, &configured) {
            return Err(unavailable(format!(
                "unexpected issuer `{stated}` (expected `{configured}`)"
            )));
        }
        let jwks = openidconnect::core::CoreJsonWebKeySet::fetch_async(doc.jwks_uri(), http)
            .await
            .map_err(|e| unavailable(format!("jwks: {e}")))?;
        Ok(Metadata {
            fetched: Instant::now(),
            doc: doc.set_jwks(jwks),
            tenant_template: stated.contains(TENANT_PLACEHOLDER).then_some(stated),
        })
    }

    /// Whether an ID token naming the key id `kid`, which the cached JWKS does not have, may
    /// fetch the keys again now: once per id per [`UNKNOWN_KID_INTERVAL`], and not when
    /// [`MAX_UNKNOWN_KIDS`] ids already did.
    fn may_refetch_for(&self, kid: &str) -> bool {
        let mut seen = self
            .unknown_kids
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        seen.retain(|_, at| at.elapsed() < UNKNOWN_KID_INTERVAL);
        if seen.contains_key(kid) || seen.len() >= MAX_UNKNOWN_KIDS {
            return false;
        }
        seen.insert(kid.to_owned(), Instant::now());
        true
    }

    /// The OpenID Connect client of `doc`.
    fn oidc_client(
        &self,
        doc: CoreProviderMetadata,
    ) -> CoreClient<
        oauth2::EndpointSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointMaybeSet,
        oauth2::EndpointMaybeSet,
    > {
        CoreClient::from_provider_metadata(
            doc,
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.config.client_secret.clone())),
        )
        .set_redirect_uri(self.callback.clone())
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
                let doc = self.metadata(http, None).await?.doc;
                let nonce = Nonce::new(nonce.into());
                self.oidc_client(doc)
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
        let meta = self.metadata(http, None).await?;
        let client = self.oidc_client(meta.doc.clone());
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
        let verify = |meta: &Metadata| -> Result<_, ProviderError> {
            let client = self.oidc_client(meta.doc.clone());
            // A tenant template is not an issuer: `iss` is checked against the token's `tid`.
            let verifier = client
                .id_token_verifier()
                .set_time_fn(move || now)
                .require_issuer_match(meta.tenant_template.is_none());
            let claims = id_token
                .claims(&verifier, &nonce)
                .cloned()
                .map_err(|e| ProviderError::IdToken(e.to_string()))?;
            let jws = id_token.to_string();
            let tid = jws_string(&jws, 1, "tid");
            match &meta.tenant_template {
                Some(template) => check_tenant(
                    template,
                    claims.issuer().as_str(),
                    tid.as_deref(),
                    &self.config.tenants,
                ),
                None if self.config.tenants.is_empty() => Ok(()),
                None => {
                    check_tenant_allowed(tid.as_deref().unwrap_or_default(), &self.config.tenants)
                }
            }
            .map_err(ProviderError::IdToken)?;
            Ok(claims)
        };
        // A key id the cached JWKS does not have: the provider may have rotated its keys; fetch
        // them once (per unknown id and interval) before refusing.
        let unknown_kid = matches!(
            id_token.signing_key(&client.id_token_verifier()),
            Err(openidconnect::SignatureVerificationError::NoMatchingKey)
        );
        let claims = if unknown_kid
            && self
                .may_refetch_for(&jws_string(&id_token.to_string(), 0, "kid").unwrap_or_default())
        {
            tracing::info!(provider = %self.config.id, "an ID token names an unknown key: fetching the keys again");
            let fresh = self.metadata(http, Some(meta.fetched)).await?;
            verify(&fresh)?
        } else {
            verify(&meta)?
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

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = "https://login.microsoftonline.com/{tenantid}/v2.0";
    const TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

    #[test]
    fn a_tenant_template_belongs_only_to_its_multi_tenant_issuer() {
        for configured in [
            "https://login.microsoftonline.com/common/v2.0",
            "https://login.microsoftonline.com/organizations/v2.0",
        ] {
            assert!(issuer_belongs(TEMPLATE, configured), "{configured}");
        }
        for other in [
            "https://login.microsoftonline.com/v2.0",
            "https://login.microsoftonline.com/a/b/v2.0",
            "https://evil.example.com/common/v2.0",
            "https://login.microsoftonline.com/common/v2.0/x",
        ] {
            assert!(!issuer_belongs(TEMPLATE, other), "{other}");
        }
        assert!(issuer_belongs(
            "https://accounts.google.com",
            "https://accounts.google.com"
        ));
        assert!(!issuer_belongs(
            "https://evil.example.com",
            "https://accounts.google.com"
        ));
    }

    #[test]
    fn a_multi_tenant_token_names_its_own_tenant() {
        let iss = TEMPLATE.replace(TENANT_PLACEHOLDER, TENANT);
        assert_eq!(check_tenant(TEMPLATE, &iss, Some(TENANT), &[]), Ok(()));
        assert_eq!(
            check_tenant(TEMPLATE, &iss, Some(TENANT), &[TENANT.to_uppercase()]),
            Ok(())
        );
        let other = "72f988bf-86f1-41af-91ab-2d7cd011db47";
        for (tid, tenants) in [
            (None, vec![]),
            (Some(""), vec![]),
            (Some("common"), vec![]),
            (Some(other), vec![]),
            (Some(TENANT), vec![other.to_owned()]),
        ] {
            assert!(
                check_tenant(TEMPLATE, &iss, tid, &tenants).is_err(),
                "{tid:?} {tenants:?}"
            );
        }
    }
}
