//! [`OAuthService`]: starting a sign-in, finishing it at the callback and the login code
//! exchange. The linking rule and the signed-in user's identities are in
//! [`identities`](super::identities), the answers and errors in [`outcome`](super::outcome).

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;
use kisum_guard::{Aal, Clock, UserId};
use rand::RngCore as _;

use super::config::{ProviderConfig, ProviderConfigError};
use super::outcome::{Callback, CallbackOutcome, OAuthError, ProviderSummary};
use super::provider::{Http, Provider, ProviderError};
use super::{FLOW_TTL, LOGIN_CODE_TTL, LoginCode, OAuthFlow};
use crate::audit::AuditEvent;
use crate::audit::action::Action;
use crate::otp::SecretHash;
use crate::service::{AuthService, ClientInfo};
use crate::session::{TokenPair, amr};
use crate::store::AuthStore;

/// Sign-in through the configured providers: see the [module documentation](super).
#[derive(Clone)]
pub struct OAuthService {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) providers: Vec<Provider>,
    pub(super) store: Arc<dyn AuthStore>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) http: Http,
}

impl std::fmt::Debug for OAuthService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthService")
            .field(
                "providers",
                &self
                    .inner
                    .providers
                    .iter()
                    .map(|p| p.config.id.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// 32 random bytes, base64url.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn state_hash(state: &str) -> SecretHash {
    SecretHash::of(&[b"oauth-state", state.as_bytes()])
}

fn login_code_hash(code: &str) -> SecretHash {
    SecretHash::of(&[b"oauth-login-code", code.as_bytes()])
}

/// A refusal at the callback, as audited and sent back.
pub(super) struct Refusal(pub(super) &'static str);

impl OAuthService {
    /// The providers of `configs`, each calling back at
    /// `{public_url}/v1/auth/oauth/{id}/callback`, over `store`.
    ///
    /// # Errors
    /// A callback URL that does not parse, or the HTTP client could not be built.
    pub fn new(
        configs: Vec<ProviderConfig>,
        public_url: &str,
        store: Arc<dyn AuthStore>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ProviderConfigError> {
        let providers = configs
            .into_iter()
            .map(|c| {
                let id = c.id.clone();
                Provider::new(c, public_url)
                    .map_err(|e| ProviderConfigError(format!("`{id}`: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let http = Http::new().map_err(|e| ProviderConfigError(format!("http client: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                providers,
                store,
                clock,
                http,
            }),
        })
    }

    /// The configured providers, in configuration order.
    #[must_use]
    pub fn providers(&self) -> Vec<ProviderSummary> {
        self.inner
            .providers
            .iter()
            .map(|p| ProviderSummary {
                id: p.config.id.clone(),
                name: p.config.name.clone(),
                kind: p.config.kind,
            })
            .collect()
    }

    fn provider(&self, id: &str) -> Result<&Provider, OAuthError> {
        self.inner
            .providers
            .iter()
            .find(|p| p.config.id == id)
            .ok_or(OAuthError::UnknownProvider)
    }

    /// Starts a sign-in (or, with `link_user`, a link to that signed-in user) at `provider`,
    /// the browser to come back to `redirect_uri`: stores the flow (state digest, nonce, PKCE
    /// verifier; 10 minutes) and returns the provider's authorization URL.
    ///
    /// # Errors
    /// `UnknownProvider`, `InvalidRedirect` (not exactly on the allow-list),
    /// `ProviderUnavailable` (discovery failed), `Failed`.
    pub async fn start(
        &self,
        provider: &str,
        redirect_uri: &str,
        link_user: Option<UserId>,
    ) -> Result<String, OAuthError> {
        let p = self.provider(provider)?;
        if !p.config.redirect_uris.iter().any(|r| r == redirect_uri) {
            return Err(OAuthError::InvalidRedirect);
        }
        let (state, nonce, verifier) = (random_token(), random_token(), random_token());
        let url = p
            .authorize_url(&self.inner.http, &state, &nonce, &verifier)
            .await
            .map_err(|e| {
                tracing::warn!(provider, error = %e, "oauth start failed");
                OAuthError::ProviderUnavailable
            })?;
        self.inner
            .store
            .insert_flow(&OAuthFlow {
                state_hash: state_hash(&state),
                provider: provider.to_owned(),
                nonce,
                pkce_verifier: verifier,
                redirect_uri: redirect_uri.to_owned(),
                link_user,
                expires_at: self.inner.clock.now() + FLOW_TTL,
            })
            .await?;
        Ok(url)
    }

    /// Finishes the flow named by the callback's `state`: spends it, exchanges the code,
    /// validates what the provider says and applies the linking rule; a sign-in ends with a
    /// single-use login code (60 s). Every refusal after the flow is found is an outcome sent
    /// to the flow's redirect URI, and audited.
    ///
    /// # Errors
    /// `UnknownProvider`; `InvalidState` (no `state`, or none of a live flow of this provider:
    /// forged, replayed or expired); `Failed`.
    pub async fn callback(
        &self,
        provider: &str,
        callback: Callback,
        client: &ClientInfo,
    ) -> Result<CallbackOutcome, OAuthError> {
        let p = self.provider(provider)?;
        let now = self.inner.clock.now();
        let state = callback.state.as_deref().ok_or(OAuthError::InvalidState)?;
        let flow = self
            .inner
            .store
            .take_flow(&state_hash(state), now)
            .await?
            .filter(|f| f.provider == provider)
            .ok_or(OAuthError::InvalidState)?;
        let redirect_uri = flow.redirect_uri.clone();
        match self.finish(p, &flow, callback, client, now).await {
            Ok(outcome) => Ok(outcome),
            Err(Ok(Refusal(code))) => {
                metrics::counter!("kisum_auth_logins_total", "result" => "failure", "method" => format!("oauth:{provider}"))
                    .increment(1);
                self.audit(
                    flow.link_user,
                    client,
                    Action::ProviderLoginFailure {
                        method: "oauth",
                        provider: provider.to_owned(),
                        reason: code,
                    },
                )
                .await;
                Ok(CallbackOutcome::Refused { redirect_uri, code })
            }
            Err(Err(e)) => Err(e),
        }
    }

    async fn finish(
        &self,
        p: &Provider,
        flow: &OAuthFlow,
        callback: Callback,
        client: &ClientInfo,
        now: DateTime<Utc>,
    ) -> Result<CallbackOutcome, Result<Refusal, OAuthError>> {
        if callback.error.is_some() {
            return Err(Ok(Refusal("access_denied")));
        }
        let code = callback.code.ok_or(Ok(Refusal("invalid_grant")))?;
        let profile = p
            .finish(
                &self.inner.http,
                code,
                flow.pkce_verifier.clone(),
                &flow.nonce,
                now,
            )
            .await
            .map_err(|e: ProviderError| {
                tracing::warn!(provider = %flow.provider, error = %e, "oauth callback refused");
                Ok(Refusal(e.code()))
            })?;
        let user = self
            .account_for(&flow.provider, &profile, flow.link_user, client, now)
            .await?;
        let redirect_uri = flow.redirect_uri.clone();
        if flow.link_user.is_some() {
            return Ok(CallbackOutcome::Linked {
                redirect_uri,
                provider: flow.provider.clone(),
            });
        }
        let code = random_token();
        self.inner
            .store
            .insert_login_code(&LoginCode {
                hash: login_code_hash(&code),
                user_id: user,
                provider: flow.provider.clone(),
                expires_at: now + LOGIN_CODE_TTL,
            })
            .await
            .map_err(|e| Err(e.into()))?;
        Ok(CallbackOutcome::LoginCode { redirect_uri, code })
    }

    /// Spends `login_code` and signs its user in (through
    /// `AuthService::provider_sign_in`, the one place a provider sign-in becomes a session).
    ///
    /// # Errors
    /// `InvalidLoginCode` (unknown, spent, expired), `AccountDisabled`, `Failed`.
    pub async fn exchange(
        &self,
        auth: &AuthService,
        login_code: &str,
        client: ClientInfo,
    ) -> Result<TokenPair, OAuthError> {
        let now = self.inner.clock.now();
        let code = self
            .inner
            .store
            .take_login_code(&login_code_hash(login_code), now)
            .await?
            .ok_or(OAuthError::InvalidLoginCode)?;
        let provider = self.provider(&code.provider)?;
        let user = self
            .inner
            .store
            .get_user(code.user_id)
            .await?
            .filter(|u| !u.disabled)
            .ok_or(OAuthError::AccountDisabled)?;
        Ok(auth
            .provider_sign_in(user.id, &provider.config.id, client)
            .await?)
    }

    /// Deletes flows and login codes expired before `before`; returns how many.
    ///
    /// # Errors
    /// `Unavailable`.
    pub async fn prune(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.inner.store.prune_oauth(before).await
    }

    pub(super) async fn audit(&self, actor: Option<UserId>, client: &ClientInfo, action: Action) {
        let event = AuditEvent::of(self.inner.clock.now(), &action)
            .with_context(&client.audit_context(actor));
        crate::audit::record(self.inner.store.as_ref(), event).await;
    }
}

impl AuthService {
    /// Starts the session of `user`, signed in by the configured provider `provider`: the one
    /// place a provider sign-in becomes tokens, counted per provider
    /// (`kisum_auth_logins_total{method="oauth:<id>"}`, configured ids only) and audited.
    pub(crate) async fn provider_sign_in(
        &self,
        user: UserId,
        provider: &str,
        client: ClientInfo,
    ) -> Result<TokenPair, crate::identity::LoginError> {
        use crate::identity::LoginError;
        // The second factor applies to every way in: a user with a confirmed authenticator
        // app answers `401 mfa_required` here too, with no session yet.
        self.require_no_second_factor::<LoginError>(user, amr::FEDERATED, &client)
            .await?;
        let pair = self
            .start_session_audited(user, client, Aal::Aal1, &[amr::FEDERATED], |session_id| {
                Action::ProviderLoginSuccess {
                    method: "oauth",
                    provider: provider.to_owned(),
                    session_id,
                }
            })
            .await?;
        metrics::counter!("kisum_auth_logins_total", "result" => "success", "method" => format!("oauth:{provider}"))
            .increment(1);
        Ok(pair)
    }
}
