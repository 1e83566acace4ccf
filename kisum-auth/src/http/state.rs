//! What the routers need: the services, the stores they read directly, the service keys of
//! the internal router, and the rate limits of the public routes.

use std::sync::Arc;

use kisum_guard::ServiceKeys;
use kisum_guard::http::ProblemResponse;

use super::cookie::RefreshCookie;
use crate::access::AccessService;
use crate::audit::AuditStore;
use crate::directory::DirectoryStore;
use crate::events::EventPublisher;
use crate::ratelimit::{RateDecision, RateLimit, RateLimiter};
use crate::service::AuthService;

/// What the routers need: [`AuthStateParts`] behind one `Arc`. axum clones the state for every
/// request (and every `State` extractor); with the parts behind one pointer that clone is one
/// atomic increment instead of one per service and store (profiled at ≈ 14 % of Auth's CPU
/// on `GET /.well-known/jwks.json` before, allocation and the `Arc` counts of dozens of
/// fields).
///
/// The parts are read through `Deref` (`state.auth`, `state.limits`). Changing one through
/// `DerefMut` changes this state only: the parts are copied first when another clone shares
/// them (`Arc::make_mut`), so a state behaves as the plain value it was before.
#[derive(Clone)]
pub struct AuthState(Arc<AuthStateParts>);

impl AuthState {
    /// The state of `parts`.
    #[must_use]
    pub fn new(parts: AuthStateParts) -> Self {
        Self(Arc::new(parts))
    }
}

impl From<AuthStateParts> for AuthState {
    fn from(parts: AuthStateParts) -> Self {
        Self::new(parts)
    }
}

impl std::ops::Deref for AuthState {
    type Target = AuthStateParts;

    fn deref(&self) -> &AuthStateParts {
        &self.0
    }
}

impl std::ops::DerefMut for AuthState {
    fn deref_mut(&mut self) -> &mut AuthStateParts {
        Arc::make_mut(&mut self.0)
    }
}

/// The services, stores, keys and limits of an [`AuthState`].
#[derive(Clone)]
pub struct AuthStateParts {
    /// Identity: register, sign in, refresh, sign out.
    pub auth: AuthService,
    /// Passkeys, when a relying party is configured (`None`: the passkey routes answer 503
    /// `passkeys_unavailable`).
    pub passkeys: Option<crate::passkey::PasskeyService>,
    /// Access resolution.
    pub access: AccessService,
    /// The directory (for `me`).
    pub directory: Arc<dyn DirectoryStore>,
    /// Company administration (give it the audit log and the event publisher: its writes
    /// are audited and announced through them).
    pub admin: crate::directory::DirectoryService,
    /// The audit log, read by `GET /internal/v1/audit`.
    pub audit: Arc<dyn AuditStore>,
    /// Where `POST /internal/v1/events` republishes the events it receives (the same
    /// publisher the services use; `NoEvents` without Redis).
    pub events: Arc<dyn EventPublisher>,
    /// Auth's event stream, served by `GET /internal/v1/events` (the builder makes it from
    /// the store's log; `Arc::new(EventFeed::new(store.event_log()))` by hand).
    pub feed: Arc<kisum_core::outbox::EventFeed>,
    /// Accepted service keys of the internal router (none: every internal request is refused).
    pub service_keys: ServiceKeys,
    /// Rate limits of sign-in and registration.
    pub limits: RateLimits,
    /// The optional cookie mode: when set, token answers also set the refresh token as an
    /// `HttpOnly; Secure; SameSite=Strict` cookie, `/v1/auth/refresh` accepts it when the body
    /// names no token, and sign-out clears it. `None` (the default): tokens travel in bodies
    /// only.
    pub refresh_cookie: Option<RefreshCookie>,
    /// Sign-in through configured OAuth / OpenID Connect providers (feature `oauth`); `None`:
    /// no provider is listed and every provider route answers as for an unknown provider.
    #[cfg(feature = "oauth")]
    pub oauth: Option<crate::oauth::OAuthService>,
}

impl axum::extract::FromRef<AuthState> for Arc<kisum_core::outbox::EventFeed> {
    fn from_ref(state: &AuthState) -> Self {
        Arc::clone(&state.feed)
    }
}

/// The rate limiter and the limits the public routes apply.
#[derive(Clone)]
pub struct RateLimits {
    /// The limiter (Redis-backed when configured, in process otherwise).
    pub limiter: Arc<dyn RateLimiter>,
    /// Sign-in attempts per client address (default 30 per 5 minutes).
    pub login_per_ip: RateLimit,
    /// Sign-in attempts per email (default 10 per 15 minutes).
    pub login_per_email: RateLimit,
    /// Registrations per client address (default 10 per hour).
    pub register_per_ip: RateLimit,
    /// Password-forgot requests per email (default 5 per hour).
    pub forgot_per_email: RateLimit,
    /// One-time-code requests per email (default 10 per hour).
    pub otp_per_email: RateLimit,
    /// Invitation emails per company (default 50 per hour).
    pub invite_per_company: RateLimit,
    /// Invitation emails per invited address (default 3 per day).
    pub invite_per_email: RateLimit,
    /// Password changes per user (default 10 per 15 minutes): each verifies a password.
    pub password_change_per_user: RateLimit,
}

impl RateLimits {
    /// Sign-in attempts per client address: 30 per 5 minutes.
    pub const DEFAULT_LOGIN_PER_IP: RateLimit =
        RateLimit::new(30, std::time::Duration::from_secs(300));
    /// Sign-in attempts per email: 10 per 15 minutes.
    pub const DEFAULT_LOGIN_PER_EMAIL: RateLimit =
        RateLimit::new(10, std::time::Duration::from_secs(900));
    /// Registrations per client address: 10 per hour.
    pub const DEFAULT_REGISTER_PER_IP: RateLimit =
        RateLimit::new(10, std::time::Duration::from_secs(3600));
    /// Password-forgot requests per email: 5 per hour.
    pub const DEFAULT_FORGOT_PER_EMAIL: RateLimit =
        RateLimit::new(5, std::time::Duration::from_secs(3600));
    /// One-time-code requests per email: 10 per hour.
    pub const DEFAULT_OTP_PER_EMAIL: RateLimit =
        RateLimit::new(10, std::time::Duration::from_secs(3600));
    /// Invitation emails per company: 50 per hour.
    pub const DEFAULT_INVITE_PER_COMPANY: RateLimit =
        RateLimit::new(50, std::time::Duration::from_secs(3600));
    /// Invitation emails per invited address: 3 per day.
    pub const DEFAULT_INVITE_PER_EMAIL: RateLimit =
        RateLimit::new(3, std::time::Duration::from_secs(86_400));
    /// Password changes per user: 10 per 15 minutes.
    pub const DEFAULT_PASSWORD_CHANGE_PER_USER: RateLimit =
        RateLimit::new(10, std::time::Duration::from_secs(900));

    /// The default limits (the `DEFAULT_*` constants) over `limiter`.
    #[must_use]
    pub fn new(limiter: Arc<dyn RateLimiter>) -> Self {
        Self {
            limiter,
            login_per_ip: Self::DEFAULT_LOGIN_PER_IP,
            login_per_email: Self::DEFAULT_LOGIN_PER_EMAIL,
            register_per_ip: Self::DEFAULT_REGISTER_PER_IP,
            forgot_per_email: Self::DEFAULT_FORGOT_PER_EMAIL,
            otp_per_email: Self::DEFAULT_OTP_PER_EMAIL,
            invite_per_company: Self::DEFAULT_INVITE_PER_COMPANY,
            invite_per_email: Self::DEFAULT_INVITE_PER_EMAIL,
            password_change_per_user: Self::DEFAULT_PASSWORD_CHANGE_PER_USER,
        }
    }

    /// Hits every `(key, limit)`; the longest `Retry-After` of those refused, if any.
    pub(crate) async fn check(&self, hits: &[(String, RateLimit)]) -> Result<(), ProblemResponse> {
        let hits: Vec<(&str, RateLimit)> = hits.iter().map(|(k, l)| (k.as_str(), *l)).collect();
        let retry = self
            .limiter
            .hit_all(&hits)
            .await
            .iter()
            .filter_map(RateDecision::retry_after)
            .max();
        match retry {
            None => Ok(()),
            Some(after) => Err(ProblemResponse::rate_limited(after)),
        }
    }
}
