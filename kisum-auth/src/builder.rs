//! Assembling Auth: the services, the routers' state and the token service, from a store, the
//! signing keys and where entitlements come from.
//!
//! This is the one place that wires Auth's services together, so an embedder mounting Auth's
//! routers in its own axum app and `kisum auth` build exactly the same thing: a store shared by
//! identity, sessions, the directory, one-time codes and the audit log; one event publisher for
//! every write that changes access; one rate limiter behind every limited route.
//!
//! ```
//! use std::sync::Arc;
//! use kisum_auth::builder::AuthBuilder;
//! use kisum_auth::keys::{GeneratedKey, KeyRing, SigningAlgorithm, SigningKey, generate};
//! use kisum_guard::{Clock, SystemClock};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let clock: Arc<dyn Clock> = Arc::new(SystemClock);
//! let GeneratedKey { kid, pem } = generate(SigningAlgorithm::Es256, clock.now().date_naive())?;
//! let keys = KeyRing::new(&kid, [SigningKey::from_pem(&kid, &pem, std::path::Path::new("mem"))?])?;
//! let entitlements = kisum_core::EntitlementService::new(
//!     Arc::new(kisum_core::MemoryCoreStore::new()),
//!     clock.clone(),
//! );
//! let auth = AuthBuilder::new(
//!     Arc::new(kisum_auth::MemoryAuthStore::new()),
//!     keys,
//!     "https://auth.example.test",
//!     "kisum",
//!     Arc::new(entitlements),
//! )
//! .clock(clock)
//! .build()?;
//! let app: axum::Router = auth.public_router();
//! # let _ = app;
//! # Ok(())
//! # }
//! ```

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use kisum_guard::cache::CacheConfig;
use kisum_guard::{Clock, ServiceKeys, SystemClock};

use crate::access::{AccessCaches, AccessService, EntitlementSource, Invalidating};
use crate::directory::{DirectoryService, PolicyLimits};
use crate::email::{EmailSender, QueuedEmailSender};
use crate::events::{EventPublisher, NoEvents};
use crate::http::{AuthState, AuthStateParts, RateLimits, RefreshCookie};
use crate::identity::{Argon2Params, HashGate, PasswordHasher, PasswordPolicy};
use crate::keys::KeyRing;
use crate::mfa::AssuranceConfig;
use crate::otp::{OtpConfig, Recovery};
use crate::ratelimit::{LocalRateLimiter, RateLimit, RateLimiter};
use crate::secrets::SecretBox;
use crate::service::AuthService;
use crate::session::SessionConfig;
use crate::store::AuthStore;
use crate::tokens::{TokenConfig, TokenService};
use kisum_core::outbox::{EventFeed, FeedPublisher};

/// How many emails may wait in the send queue before senders wait too.
const EMAIL_QUEUE: usize = 1024;

/// Lifetimes, request limits and policy bounds of Auth. The defaults are those of the types
/// that use them ([`TokenConfig::DEFAULT_ACCESS_TTL`], [`SessionConfig::default`], the
/// `RateLimits::DEFAULT_*` limits, [`PolicyLimits::default`]).
#[derive(Debug, Clone)]
pub struct AuthTuning {
    /// Access-token lifetime.
    pub access_token_ttl: Duration,
    /// Session lifetimes, refresh grace and the per-user limit.
    pub sessions: SessionConfig,
    /// Sign-in attempts per client address.
    pub login_per_ip: RateLimit,
    /// Sign-in attempts per email.
    pub login_per_email: RateLimit,
    /// Registrations per client address.
    pub register_per_ip: RateLimit,
    /// Password-forgot requests per email.
    pub forgot_per_email: RateLimit,
    /// Email-code requests per email.
    pub otp_per_email: RateLimit,
    /// Invitation emails per company.
    pub invite_per_company: RateLimit,
    /// Invitation emails per invited address.
    pub invite_per_email: RateLimit,
    /// Password changes per user.
    pub password_change_per_user: RateLimit,
    /// Whether the refresh token also travels as a cookie ([`AuthStateParts::refresh_cookie`]).
    pub refresh_cookie: bool,
    /// Bounds on the policy data of companies (roles, patterns, grants, delegations).
    pub policy: PolicyLimits,
    /// Password hashes computed at once ([`HashGate`]); `0`: one per core
    /// ([`HashGate::default_workers`]).
    pub hash_workers: usize,
    /// Password hashes that may wait for a worker; beyond, sign-in answers 503 `overloaded`
    /// with `Retry-After` ([`HashGate::DEFAULT_QUEUE`]).
    pub hash_queue: usize,
    /// How long after sign-in (or reauthentication) a session may change its password or
    /// second factors ([`AssuranceConfig::DEFAULT_RECENT_AUTH`]).
    pub recent_auth: Duration,
}

impl Default for AuthTuning {
    fn default() -> Self {
        Self {
            access_token_ttl: TokenConfig::DEFAULT_ACCESS_TTL
                .to_std()
                .unwrap_or(Duration::from_secs(600)),
            sessions: SessionConfig::default(),
            login_per_ip: RateLimits::DEFAULT_LOGIN_PER_IP,
            login_per_email: RateLimits::DEFAULT_LOGIN_PER_EMAIL,
            register_per_ip: RateLimits::DEFAULT_REGISTER_PER_IP,
            forgot_per_email: RateLimits::DEFAULT_FORGOT_PER_EMAIL,
            otp_per_email: RateLimits::DEFAULT_OTP_PER_EMAIL,
            invite_per_company: RateLimits::DEFAULT_INVITE_PER_COMPANY,
            invite_per_email: RateLimits::DEFAULT_INVITE_PER_EMAIL,
            password_change_per_user: RateLimits::DEFAULT_PASSWORD_CHANGE_PER_USER,
            refresh_cookie: false,
            policy: PolicyLimits::default(),
            hash_workers: 0,
            hash_queue: HashGate::DEFAULT_QUEUE,
            recent_auth: AssuranceConfig::DEFAULT_RECENT_AUTH
                .to_std()
                .unwrap_or(Duration::from_secs(600)),
        }
    }
}

/// Why Auth could not be assembled.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthBuildError {
    /// The password hasher rejected its parameters.
    #[error("password hasher: {0}")]
    PasswordHasher(#[source] crate::identity::CredentialError),
    /// The access-token lifetime does not fit a token's `exp`.
    #[error("access-token lifetime out of range")]
    AccessTokenTtl,
    /// The recent-auth window is out of range.
    #[error("recent-auth window out of range")]
    RecentAuth,
    /// The sign-in providers could not be set up.
    #[cfg(feature = "oauth")]
    #[error("oauth providers: {0}")]
    OAuth(#[source] crate::oauth::ProviderConfigError),
}

/// Assembles Auth: see the [module documentation](self).
///
/// Required are the store, the signing keys, the token issuer and audience, and where
/// entitlements come from (Core in process, or [`RemoteEntitlements`](crate::remote::RemoteEntitlements)).
/// Everything else has a default: no events ([`NoEvents`]: the database is the truth), an
/// in-process rate limiter, no service keys (every internal request is refused), no email (the
/// email routes answer 501), [`AuthTuning::default`], the system clock.
pub struct AuthBuilder {
    store: Arc<dyn AuthStore>,
    keys: KeyRing,
    issuer: String,
    audience: String,
    entitlements: Arc<dyn EntitlementSource>,
    events: Arc<dyn EventPublisher>,
    limiter: Option<Arc<dyn RateLimiter>>,
    service_keys: ServiceKeys,
    email: Option<(Arc<dyn EmailSender>, String)>,
    tuning: AuthTuning,
    clock: Arc<dyn Clock>,
    access_cache: Option<CacheConfig>,
    secret_box: Option<Arc<SecretBox>>,
    passkeys: Option<crate::passkey::PasskeyConfig>,
    magic_links: crate::otp::MagicLinks,
    sms: Option<SmsSetup>,
    #[cfg(feature = "oauth")]
    oauth: Option<(Vec<crate::oauth::ProviderConfig>, String)>,
}

/// What [`AuthBuilder::sms`] was given.
type SmsSetup = (
    Arc<dyn crate::sms::SmsSender>,
    crate::sms::SmsCountries,
    RateLimit,
    RateLimit,
);

impl std::fmt::Debug for AuthBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthBuilder")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("tuning", &self.tuning)
            .finish_non_exhaustive()
    }
}

impl AuthBuilder {
    /// Auth over `store`, signing with `keys` tokens for `issuer` and `audience`, reading
    /// entitlements from `entitlements`.
    #[must_use]
    pub fn new(
        store: Arc<dyn AuthStore>,
        keys: KeyRing,
        issuer: impl Into<String>,
        audience: impl Into<String>,
        entitlements: Arc<dyn EntitlementSource>,
    ) -> Self {
        Self {
            store,
            keys,
            issuer: issuer.into(),
            audience: audience.into(),
            entitlements,
            events: Arc::new(NoEvents),
            limiter: None,
            service_keys: ServiceKeys::default(),
            email: None,
            tuning: AuthTuning::default(),
            clock: Arc::new(SystemClock),
            access_cache: None,
            secret_box: None,
            passkeys: None,
            magic_links: crate::otp::MagicLinks::default(),
            sms: None,
            #[cfg(feature = "oauth")]
            oauth: None,
        }
    }

    /// Enables authenticator apps (TOTP) and recovery codes, their secrets sealed with `keys`
    /// (`KISUM_SECRET_KEY`). Without it the second-factor routes answer 503
    /// `mfa_unavailable`.
    #[must_use]
    pub fn secret_box(mut self, keys: Arc<SecretBox>) -> Self {
        self.secret_box = Some(keys);
        self
    }

    /// Enables passkeys (WebAuthn) for the relying party `config`; default: off, the passkey
    /// routes answer 503 `passkeys_unavailable`.
    #[must_use]
    pub fn passkeys(mut self, config: crate::passkey::PasskeyConfig) -> Self {
        self.passkeys = Some(config);
        self
    }

    /// Enables magic links (with [`email`](Self::email)) to the app pages of `links`
    /// (`KISUM_OAUTH_REDIRECT_URIS`; decision 0032); default: none, every request is refused
    /// as `invalid_redirect`.
    #[must_use]
    pub fn magic_links(mut self, links: crate::otp::MagicLinks) -> Self {
        self.magic_links = links;
        self
    }

    /// Enables phone sign-in and verification by SMS code (decision 0036), sent by `sender`
    /// to the calling-code prefixes of `countries` (`KISUM_SMS_COUNTRIES`), at most
    /// `per_number` requests per number and `per_country` per prefix; default: off, the phone
    /// routes answer 501 `not_configured`.
    #[must_use]
    pub fn sms(
        mut self,
        sender: Arc<dyn crate::sms::SmsSender>,
        countries: crate::sms::SmsCountries,
        per_number: RateLimit,
        per_country: RateLimit,
    ) -> Self {
        self.sms = Some((sender, countries, per_number, per_country));
        self
    }

    /// Signs in through `providers` (feature `oauth`), each calling back at
    /// `{public_url}/v1/auth/oauth/{id}/callback`; default: none.
    #[cfg(feature = "oauth")]
    #[must_use]
    pub fn oauth(
        mut self,
        providers: Vec<crate::oauth::ProviderConfig>,
        public_url: impl Into<String>,
    ) -> Self {
        self.oauth = Some((providers, public_url.into())).filter(|(p, _)| !p.is_empty());
        self
    }

    /// Answers `GET /v1/auth/me/access` from memory when nothing changed
    /// ([`AccessCaches`]), sized and bounded by `config` (its `access_ttl` is the staleness
    /// bound when events cannot arrive). Only for an Auth whose event log receives Core's
    /// events too (a [`CoreRelay`](crate::events::CoreRelay) runs, as in `kisum auth`), and
    /// only when built within a Tokio runtime (a task follows the log); default: off.
    #[must_use]
    pub fn access_cache(mut self, config: CacheConfig) -> Self {
        self.access_cache = Some(config);
        self
    }

    /// Where invalidation events go (sessions revoked, access changed).
    #[must_use]
    pub fn events(mut self, events: Arc<dyn EventPublisher>) -> Self {
        self.events = events;
        self
    }

    /// The rate limiter behind every limited route (see
    /// [`shared_or_local`](crate::ratelimit::shared_or_local)); default: in process.
    #[must_use]
    pub fn rate_limiter(mut self, limiter: Arc<dyn RateLimiter>) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// The service keys the internal router accepts.
    #[must_use]
    pub fn service_keys(mut self, keys: ServiceKeys) -> Self {
        self.service_keys = keys;
        self
    }

    /// Sends password-reset links and sign-in codes through `sender` (queued, so the anonymous
    /// email routes answer in the same time whether or not the account exists, when built
    /// within a Tokio runtime); reset links point at `{public_url}/reset-password`.
    #[must_use]
    pub fn email(mut self, sender: Arc<dyn EmailSender>, public_url: impl Into<String>) -> Self {
        self.email = Some((sender, public_url.into()));
        self
    }

    /// Lifetimes, request limits and policy bounds.
    #[must_use]
    pub fn tuning(mut self, tuning: AuthTuning) -> Self {
        self.tuning = tuning;
        self
    }

    /// The clock every service reads.
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Builds the services and the routers' state.
    ///
    /// # Errors
    /// [`AuthBuildError`]: the password hasher or the access-token lifetime.
    pub fn build(self) -> Result<AuthApp, AuthBuildError> {
        let hasher =
            PasswordHasher::new(Argon2Params::default()).map_err(AuthBuildError::PasswordHasher)?;
        let mut token_config = TokenConfig::new(self.issuer, self.audience);
        token_config.access_ttl = TimeDelta::from_std(self.tuning.access_token_ttl)
            .map_err(|_| AuthBuildError::AccessTokenTtl)?;
        let recent_auth =
            TimeDelta::from_std(self.tuning.recent_auth).map_err(|_| AuthBuildError::RecentAuth)?;
        // Authenticator apps list the account under the token issuer's host.
        let app_issuer = token_config
            .issuer
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split(['/', ':']).next())
            .filter(|host| !host.is_empty())
            .unwrap_or("Kisum")
            .to_owned();
        let tokens = TokenService::new(token_config, self.keys);
        // Every change is already in the store's event log (decision 0015): publishing wakes
        // the long polls and the relay, appends what no store write appends (key rotations),
        // then hands the event to the embedder's publisher.
        let feed = Arc::new(EventFeed::new(self.store.event_log()));
        let caches = self
            .access_cache
            .filter(|_| tokio::runtime::Handle::try_current().is_ok())
            .map(|config| {
                let caches = Arc::new(AccessCaches::new(&config));
                // Ends when the caches are dropped.
                drop(caches.follow(Arc::clone(&feed)));
                caches
            });
        // This replica's own writes reach its caches before they answer.
        let next: Arc<dyn EventPublisher> = match &caches {
            Some(caches) => Arc::new(Invalidating::new(Arc::clone(caches), self.events)),
            None => self.events,
        };
        let events: Arc<dyn EventPublisher> =
            Arc::new(FeedPublisher::new(Arc::clone(&feed), self.clock.clone()).also(next));
        let mut auth = AuthService::new(
            self.store.clone(),
            hasher,
            PasswordPolicy::default(),
            tokens.clone(),
            self.tuning.sessions,
            self.clock.clone(),
        )
        .with_events(events.clone())
        .with_hashing(HashGate::new(
            match self.tuning.hash_workers {
                0 => HashGate::default_workers(),
                n => n,
            },
            self.tuning.hash_queue,
        ));
        auth = auth.with_magic_links(self.magic_links);
        if let Some((sender, countries, per_number, per_country)) = self.sms {
            auth = auth.with_sms(crate::otp::SmsCodes {
                per_number,
                per_country,
                ..crate::otp::SmsCodes::new(self.store.clone(), sender, countries)
            });
        }
        auth = auth.with_assurance(AssuranceConfig {
            recent_auth,
            ..AssuranceConfig::default()
        });
        if let Some(keys) = self.secret_box {
            auth = auth.with_mfa(keys, app_issuer);
        }
        if let Some((mut email, public_url)) = self.email {
            if tokio::runtime::Handle::try_current().is_ok() {
                email = Arc::new(QueuedEmailSender::spawn(email, EMAIL_QUEUE));
            }
            auth = auth.with_recovery(Recovery {
                store: self.store.clone(),
                email,
                config: OtpConfig::default(),
                reset_url: format!("{}/reset-password", public_url.trim_end_matches('/')),
            });
        }
        let mut access = AccessService::new(
            self.store.clone(),
            self.store.clone(),
            self.entitlements,
            self.clock.clone(),
        );
        if let Some(caches) = caches {
            access = access.with_caches(caches);
        }
        access = access.with_api_keys(Arc::new(crate::api_key::ApiKeyResolver::new(
            self.store.clone(),
            self.store.clone(),
        )));
        let admin = DirectoryService::new(self.store.clone(), self.clock.clone())
            .with_limits(self.tuning.policy)
            .with_audit(self.store.clone())
            .with_events(events.clone());
        let limiter = self
            .limiter
            .unwrap_or_else(|| Arc::new(LocalRateLimiter::new(self.clock.clone())));
        #[cfg(feature = "oauth")]
        let oauth = self
            .oauth
            .map(|(providers, public_url)| {
                crate::oauth::OAuthService::new(
                    providers,
                    &public_url,
                    self.store.clone(),
                    self.clock.clone(),
                )
            })
            .transpose()
            .map_err(AuthBuildError::OAuth)?;
        let t = &self.tuning;
        let passkeys = self
            .passkeys
            .map(|config| crate::passkey::PasskeyService::new(auth.clone(), config));
        let state = AuthState::new(AuthStateParts {
            passkeys,
            auth,
            access,
            directory: self.store.clone(),
            admin,
            audit: self.store,
            events,
            feed,
            service_keys: self.service_keys,
            limits: RateLimits {
                login_per_ip: t.login_per_ip,
                login_per_email: t.login_per_email,
                register_per_ip: t.register_per_ip,
                forgot_per_email: t.forgot_per_email,
                otp_per_email: t.otp_per_email,
                invite_per_company: t.invite_per_company,
                invite_per_email: t.invite_per_email,
                password_change_per_user: t.password_change_per_user,
                ..RateLimits::new(limiter)
            },
            refresh_cookie: t.refresh_cookie.then(RefreshCookie::default),
            #[cfg(feature = "oauth")]
            oauth,
        });
        Ok(AuthApp { state, tokens })
    }
}

/// Auth, assembled: the routers' state and the token service.
#[derive(Clone)]
pub struct AuthApp {
    /// The routers' state (and through it every service).
    pub state: AuthState,
    /// The token service: a JWKS source for guards in the same process.
    pub tokens: TokenService,
}

impl std::fmt::Debug for AuthApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthApp").finish_non_exhaustive()
    }
}

impl AuthApp {
    /// The public router: `/v1/auth/*`, `/v1/companies/*`, the JWKS.
    pub fn public_router(&self) -> axum::Router {
        crate::http::public_router(self.state.clone())
    }

    /// The internal router: `/internal/v1/*`, service keys only.
    pub fn internal_router(&self) -> axum::Router {
        crate::http::internal_router(self.state.clone())
    }
}
