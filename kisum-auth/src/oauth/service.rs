//! [`OAuthService`]: starting a sign-in, finishing it at the callback (the linking rule), the
//! login code exchange, and the signed-in user's identities.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use kisum_core::db::{StoreError, StoreErrorKind};
use kisum_guard::{Aal, Clock, UserId};
use rand::RngCore as _;

use super::config::{ProviderConfig, ProviderConfigError, ProviderKind};
use super::provider::{Http, Profile, Provider, ProviderError};
use super::{FLOW_TTL, Identity, IdentityId, LOGIN_CODE_TTL, LoginCode, OAuthFlow, Unlinked};
use crate::audit::AuditEvent;
use crate::audit::action::Action;
use crate::identity::{Email, User};
use crate::otp::SecretHash;
use crate::service::{AuthService, ClientInfo, Failure};
use crate::session::{TokenPair, amr};
use crate::store::AuthStore;

/// A configured provider as listed to browsers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProviderSummary {
    /// The id in the provider's URLs.
    pub id: String,
    /// The name to show.
    pub name: String,
    /// `oidc` or `github`.
    pub kind: ProviderKind,
}

/// What the provider sent back to the callback.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct Callback {
    /// The authorization code.
    pub code: Option<String>,
    /// The `state` sent at the start.
    pub state: Option<String>,
    /// The provider's refusal (`access_denied`, …).
    pub error: Option<String>,
}

/// How a callback ends when its flow was found: the browser goes back to the flow's
/// `redirect_uri` with one of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackOutcome {
    /// Signed in: `?login_code=`.
    LoginCode {
        /// The flow's redirect URI.
        redirect_uri: String,
        /// The single-use code to exchange.
        code: String,
    },
    /// An identity was linked to the signed-in user: `?linked=<provider>`.
    Linked {
        /// The flow's redirect URI.
        redirect_uri: String,
        /// The provider.
        provider: String,
    },
    /// Refused: `?error=<code>`.
    Refused {
        /// The flow's redirect URI.
        redirect_uri: String,
        /// The machine code: `access_denied`, `provider_error`, `invalid_grant`,
        /// `invalid_id_token`, `email_required`, `link_required`, `identity_in_use`,
        /// `account_disabled`.
        code: &'static str,
    },
}

impl CallbackOutcome {
    /// The URL the browser is sent to.
    #[must_use]
    pub fn location(&self) -> String {
        let (uri, key, value) = match self {
            Self::LoginCode { redirect_uri, code } => (redirect_uri, "login_code", code.as_str()),
            Self::Linked {
                redirect_uri,
                provider,
            } => (redirect_uri, "linked", provider.as_str()),
            Self::Refused { redirect_uri, code } => (redirect_uri, "error", *code),
        };
        match url::Url::parse(uri) {
            Ok(mut url) => {
                url.query_pairs_mut().append_pair(key, value);
                url.into()
            }
            // Checked against the allow-list when the flow started; not reached.
            Err(_) => uri.clone(),
        }
    }
}

/// Why a start, a callback or an exchange was refused without a redirect.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OAuthError {
    /// No configured provider has that id.
    #[error("unknown provider")]
    UnknownProvider,
    /// The `redirect_uri` is not on the provider's allow-list.
    #[error("redirect URI not allowed")]
    InvalidRedirect,
    /// The callback's `state` names no live flow of this provider (forged, replayed, expired).
    #[error("unknown or spent state")]
    InvalidState,
    /// The login code is unknown, spent or expired.
    #[error("unknown or spent login code")]
    InvalidLoginCode,
    /// The account was disabled.
    #[error("account disabled")]
    AccountDisabled,
    /// The provider could not be reached (discovery at the start).
    #[error("provider unavailable")]
    ProviderUnavailable,
    /// The provider signed the user in and they have a second factor: no session yet; finish
    /// with `POST /v1/auth/mfa/verify` (as after a password).
    #[error("a second factor is required")]
    MfaRequired(crate::mfa::MfaChallengeIssued),
    /// Too many wrong second-factor codes were tried lately: retry after this long.
    #[error("too many wrong codes")]
    MfaLocked(std::time::Duration),
    /// Nothing was refused: a store or the token service failed.
    #[error(transparent)]
    Failed(Failure),
}

crate::service::failure_converts!(OAuthError);

impl From<crate::identity::LoginError> for OAuthError {
    fn from(e: crate::identity::LoginError) -> Self {
        use crate::identity::LoginError;
        match e {
            LoginError::MfaRequired(challenge) => Self::MfaRequired(challenge),
            LoginError::MfaLocked(after) => Self::MfaLocked(after),
            // The provider proved who the user is: no password was involved.
            LoginError::InvalidCredentials => Self::AccountDisabled,
            LoginError::Failed(f) => Self::Failed(f),
        }
    }
}

/// Why an identity could not be unlinked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UnlinkError {
    /// The user has no such identity.
    #[error("no such identity")]
    NotFound,
    /// It is the user's last way in (no password, no other identity).
    #[error("the last way to sign in")]
    LastSignInMethod,
    /// A store failed.
    #[error(transparent)]
    Failed(Failure),
}

crate::service::failure_converts!(UnlinkError);

/// Sign-in through the configured providers: see the [module documentation](super).
#[derive(Clone)]
pub struct OAuthService {
    inner: Arc<Inner>,
}

struct Inner {
    providers: Vec<Provider>,
    store: Arc<dyn AuthStore>,
    clock: Arc<dyn Clock>,
    http: Http,
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
struct Refusal(&'static str);

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

    /// The linking rule: the user the provider identity signs in, linking or creating as
    /// API.md says — an identity already linked signs in its user; a signed-in user linking
    /// gets it; otherwise it joins the account with that email only when the provider *and*
    /// the account proved the email, creates an account when none has it, and is refused
    /// (`link_required`) when an account has it but either side is unproven.
    async fn account_for(
        &self,
        provider: &str,
        profile: &Profile,
        link_user: Option<UserId>,
        client: &ClientInfo,
        now: DateTime<Utc>,
    ) -> Result<UserId, Result<Refusal, OAuthError>> {
        let store = &self.inner.store;
        let failed = |e: StoreError| Err(OAuthError::from(e));
        if let Some(existing) = store
            .find_identity(provider, &profile.subject)
            .await
            .map_err(failed)?
        {
            if link_user.is_some_and(|u| u != existing.user_id) {
                return Err(Ok(Refusal("identity_in_use")));
            }
            store
                .touch_identity(
                    existing.id,
                    profile.email.as_deref(),
                    profile.email_verified,
                    now,
                )
                .await
                .map_err(failed)?;
            return self.enabled(existing.user_id).await;
        }
        if let Some(user) = link_user {
            self.link(provider, profile, user, false, client, now)
                .await?;
            return Ok(user);
        }
        let email = profile
            .email
            .as_deref()
            .and_then(|e| Email::parse(e).ok())
            .ok_or(Ok(Refusal("email_required")))?;
        // Twice: a racing sign-in may create the account between the lookup and the insert.
        for _ in 0..2 {
            match store.find_user_by_email(&email).await.map_err(failed)? {
                Some(user) if profile.email_verified && user.email_verified => {
                    if user.disabled {
                        return Err(Ok(Refusal("account_disabled")));
                    }
                    self.link(provider, profile, user.id, false, client, now)
                        .await?;
                    return Ok(user.id);
                }
                // An address nobody proved is never a key to someone else's account.
                Some(_) => return Err(Ok(Refusal("link_required"))),
                None => {
                    let mut user = User::new(email.clone(), profile.name.clone(), None, now);
                    user.email_verified = profile.email_verified;
                    match store.create_user(&user).await {
                        Ok(()) => {
                            self.audit(Some(user.id), client, Action::UserRegister {})
                                .await;
                            self.link(provider, profile, user.id, true, client, now)
                                .await?;
                            return Ok(user.id);
                        }
                        Err(e) if e.kind() == StoreErrorKind::Conflict => {}
                        Err(e) => return Err(Err(e.into())),
                    }
                }
            }
        }
        Err(Ok(Refusal("link_required")))
    }

    async fn enabled(&self, user: UserId) -> Result<UserId, Result<Refusal, OAuthError>> {
        match self.inner.store.get_user(user).await {
            Ok(Some(u)) if !u.disabled => Ok(user),
            Ok(_) => Err(Ok(Refusal("account_disabled"))),
            Err(e) => Err(Err(e.into())),
        }
    }

    /// Links the provider identity of `profile` to `user`, audited.
    async fn link(
        &self,
        provider: &str,
        profile: &Profile,
        user: UserId,
        created_account: bool,
        client: &ClientInfo,
        now: DateTime<Utc>,
    ) -> Result<(), Result<Refusal, OAuthError>> {
        let identity = Identity {
            id: IdentityId::new(),
            provider: provider.to_owned(),
            subject: profile.subject.clone(),
            user_id: user,
            email: profile.email.clone(),
            email_verified: profile.email_verified,
            created_at: now,
            last_used_at: Some(now),
        };
        match self.inner.store.insert_identity(&identity).await {
            Ok(()) => {}
            // Linked meanwhile by a racing callback of the same account.
            Err(e) if e.kind() == StoreErrorKind::Conflict => {
                return Err(Ok(Refusal("identity_in_use")));
            }
            Err(e) => return Err(Err(e.into())),
        }
        self.audit(
            Some(user),
            client,
            Action::IdentityLink {
                provider: provider.to_owned(),
                identity_id: identity.id,
                created_account,
            },
        )
        .await;
        Ok(())
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

    /// The user's linked identities, oldest first.
    ///
    /// # Errors
    /// `Unavailable`.
    pub async fn identities(&self, user: UserId) -> Result<Vec<Identity>, StoreError> {
        self.inner.store.list_identities(user).await
    }

    /// Unlinks the user's identity `id`, never the last way in: without a password (or a
    /// passkey), one identity must stay.
    ///
    /// # Errors
    /// `NotFound`, `LastSignInMethod`, `Failed`.
    pub async fn unlink(
        &self,
        user: UserId,
        id: IdentityId,
        client: &ClientInfo,
    ) -> Result<(), UnlinkError> {
        let store = &self.inner.store;
        let account = store.get_user(user).await?.ok_or(UnlinkError::NotFound)?;
        // A password or a registered passkey is another way in.
        let other_ways_in =
            account.password_hash.is_some() || !store.list_passkeys(user).await?.is_empty();
        let provider = store
            .list_identities(user)
            .await?
            .into_iter()
            .find(|i| i.id == id)
            .map(|i| i.provider)
            .ok_or(UnlinkError::NotFound)?;
        match store.delete_identity(user, id, other_ways_in).await? {
            Unlinked::Deleted => {
                self.audit(
                    Some(user),
                    client,
                    Action::IdentityUnlink {
                        provider,
                        identity_id: id,
                    },
                )
                .await;
                Ok(())
            }
            Unlinked::NotFound => Err(UnlinkError::NotFound),
            Unlinked::LastWayIn => Err(UnlinkError::LastSignInMethod),
        }
    }

    /// Deletes flows and login codes expired before `before`; returns how many.
    ///
    /// # Errors
    /// `Unavailable`.
    pub async fn prune(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.inner.store.prune_oauth(before).await
    }

    async fn audit(&self, actor: Option<UserId>, client: &ClientInfo, action: Action) {
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
        use crate::mfa::SecondFactor;
        // The second factor applies to every way in: a user with a confirmed authenticator
        // app answers `401 mfa_required` here too, with no session yet.
        match self.second_factor(user, amr::FEDERATED, &client).await? {
            SecondFactor::NotNeeded => {}
            SecondFactor::Required(challenge) => return Err(LoginError::MfaRequired(challenge)),
            SecondFactor::Locked(after) => return Err(LoginError::MfaLocked(after)),
        }
        let context = client.clone();
        let pair = self
            .start_session(user, client, Aal::Aal1, &[amr::FEDERATED])
            .await?;
        metrics::counter!("kisum_auth_logins_total", "result" => "success", "method" => format!("oauth:{provider}"))
            .increment(1);
        self.audit(
            Some(user),
            &context,
            Action::ProviderLoginSuccess {
                method: "oauth",
                provider: provider.to_owned(),
                session_id: pair.session_id,
            },
        )
        .await;
        Ok(pair)
    }
}
