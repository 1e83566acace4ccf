//! [`AuthService`]: what Auth does for a person — register, sign in, refresh, sign out, prove
//! who they are — over the stores, the password hasher and the token service.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use kisum_core::db::StoreError;
use kisum_guard::{Clock, SessionId, UserId};

use crate::audit::action::Action;
use crate::audit::{AuditContext, AuditEvent};
use crate::directory::DirectoryService;
use crate::events::{EventPublisher, InvalidationEvent, NoEvents};
use crate::identity::{HashGate, PasswordHasher, PasswordPolicy};
use crate::mfa::{AssuranceConfig, Mfa};
use crate::otp::Recovery;
use crate::session::SessionConfig;
use crate::store::AuthStore;
use crate::tokens::{TokenError, TokenService};

/// Where a request came from, recorded on the session and in audit events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// The client address.
    pub ip: Option<String>,
    /// The `User-Agent`.
    pub user_agent: Option<String>,
    /// The request id (joins audit events with the logs).
    pub request_id: Option<String>,
}

impl ClientInfo {
    /// The audit context of `actor` acting from this client.
    #[must_use]
    pub fn audit_context(&self, actor: Option<UserId>) -> AuditContext {
        AuditContext {
            actor,
            ip: self.ip.clone(),
            request_id: self.request_id.clone(),
        }
    }
}

/// What stops an identity operation without being a refusal of the caller: nothing to tell
/// them but "retry" (or, for the operator, "look at the logs"). Every per-operation error
/// carries it as `Failed`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Failure {
    /// A store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Token signing failed (configuration).
    #[error("token service: {0}")]
    Token(TokenError),
    /// Password hashing failed or its worker died.
    #[error("password hashing failed")]
    Hashing,
    /// Every password-hashing worker is busy and the queue is full: retry shortly.
    #[error("password hashing is overloaded; retry shortly")]
    Overloaded,
}

/// `From<StoreError>` and `From<Failure>` for per-operation errors with a `Failed(Failure)`
/// variant, so `?` works on store calls and on the shared steps (hashing, issuing tokens).
macro_rules! failure_converts {
    ($($error:ty),+ $(,)?) => {$(
        impl From<kisum_core::db::StoreError> for $error {
            fn from(e: kisum_core::db::StoreError) -> Self {
                Self::Failed($crate::service::Failure::Store(e))
            }
        }
        impl From<$crate::service::Failure> for $error {
            fn from(f: $crate::service::Failure) -> Self {
                Self::Failed(f)
            }
        }
    )+};
}
pub(crate) use failure_converts;

/// Register, sign in, refresh, sign out.
#[derive(Clone)]
pub struct AuthService {
    pub(crate) store: Arc<dyn AuthStore>,
    pub(crate) directory: DirectoryService,
    pub(crate) hasher: PasswordHasher,
    pub(crate) hashing: HashGate,
    pub(crate) policy: PasswordPolicy,
    pub(crate) tokens: TokenService,
    pub(crate) sessions: SessionConfig,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) events: Arc<dyn EventPublisher>,
    pub(crate) recovery: Option<Recovery>,
    pub(crate) magic_links: crate::otp::MagicLinks,
    pub(crate) sms: Option<crate::otp::SmsCodes>,
    pub(crate) mfa: Option<Mfa>,
    pub(crate) assurance: AssuranceConfig,
}

impl AuthService {
    /// A service over `store`.
    #[must_use]
    pub fn new(
        store: Arc<dyn AuthStore>,
        hasher: PasswordHasher,
        policy: PasswordPolicy,
        tokens: TokenService,
        sessions: SessionConfig,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let directory =
            DirectoryService::new(store.clone(), clock.clone()).with_audit(store.clone());
        let sessions = SessionConfig {
            reuse_grace: sessions
                .reuse_grace
                .clamp(TimeDelta::zero(), TimeDelta::seconds(30)),
            ..sessions
        };
        Self {
            store,
            directory,
            hasher,
            hashing: HashGate::default(),
            policy,
            tokens,
            sessions,
            clock,
            events: Arc::new(NoEvents),
            recovery: None,
            magic_links: crate::otp::MagicLinks::default(),
            sms: None,
            mfa: None,
            assurance: AssuranceConfig::default(),
        }
    }

    /// Enables authenticator apps (TOTP) and recovery codes, their secrets sealed with `keys`
    /// (`KISUM_SECRET_KEY`); `issuer` names the service in authenticator apps. Without it, the
    /// second-factor routes answer 503 `mfa_unavailable` (and a user who has an app enrolled
    /// cannot finish signing in).
    #[must_use]
    pub fn with_mfa(
        mut self,
        keys: Arc<crate::secrets::SecretBox>,
        issuer: impl Into<String>,
    ) -> Self {
        self.mfa = Some(Mfa::new(
            self.store.clone(),
            self.store.clone(),
            keys,
            self.clock.clone(),
            issuer,
        ));
        self
    }

    /// The challenge lifetime and the recent-auth window (default [`AssuranceConfig::default`]).
    #[must_use]
    pub fn with_assurance(mut self, assurance: AssuranceConfig) -> Self {
        self.assurance = assurance;
        self
    }

    /// Bounds password hashing with `gate` instead of the default (one worker per core, a
    /// queue of 32).
    #[must_use]
    pub fn with_hashing(mut self, gate: HashGate) -> Self {
        self.hashing = gate;
        self
    }

    /// Enables password reset and email codes.
    #[must_use]
    pub fn with_recovery(mut self, recovery: Recovery) -> Self {
        self.recovery = Some(recovery);
        self
    }

    /// Enables magic links (with email flows, [`with_recovery`](Self::with_recovery)) to the
    /// pages of `links`.
    #[must_use]
    pub fn with_magic_links(mut self, links: crate::otp::MagicLinks) -> Self {
        self.magic_links = links;
        self
    }

    /// Enables phone sign-in and verification by SMS code (decision 0036).
    #[must_use]
    pub fn with_sms(mut self, sms: crate::otp::SmsCodes) -> Self {
        self.sms = Some(sms);
        self
    }

    pub(crate) fn recovery_config(&self) -> Option<&Recovery> {
        self.recovery.as_ref()
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Appends an audit event of `action` by `actor` from `client` (see [`crate::audit::record`]:
    /// a failed write is logged, not returned).
    pub(crate) async fn audit(&self, actor: Option<UserId>, client: &ClientInfo, action: Action) {
        let event =
            AuditEvent::of(self.clock.now(), &action).with_context(&client.audit_context(actor));
        crate::audit::record(self.store.as_ref(), event).await;
    }

    /// Publishes invalidation events (session revocations, and the membership events of the
    /// companies created here) to `events`, e.g. Redis.
    #[must_use]
    pub fn with_events(mut self, events: Arc<dyn EventPublisher>) -> Self {
        self.directory = self.directory.with_events(events.clone());
        self.events = events;
        self
    }

    /// How long a session's revocation marker must live: the longest access-token lifetime
    /// plus a minute of leeway.
    #[must_use]
    pub fn revocation_ttl(&self) -> std::time::Duration {
        self.tokens.config().access_ttl.to_std().unwrap_or_default()
            + std::time::Duration::from_secs(60)
    }

    /// Tells the guards that `sessions` are revoked (markers live as long as an access token).
    pub(crate) async fn announce_revoked(&self, sessions: &[SessionId]) {
        for id in sessions {
            self.events
                .publish(&InvalidationEvent::SessionRevoked { session_id: *id })
                .await;
        }
    }

    /// The token service (for the JWKS and bearer checks).
    #[must_use]
    pub fn tokens(&self) -> &TokenService {
        &self.tokens
    }

    /// Deletes what can no longer be used: sessions that ended, refresh tokens, reset tokens,
    /// email-code states and passkey ceremonies, each once `retention` has passed since it stopped mattering
    /// (keeping recent spent refresh tokens lets reuse still be recognised). Run periodically
    /// by the servers; returns the rows deleted.
    ///
    /// # Errors
    /// `Store`.
    pub async fn prune(&self, retention: TimeDelta) -> Result<u64, StoreError> {
        let before = self.clock.now() - retention.max(TimeDelta::days(1));
        let sessions = self.store.prune_sessions(before).await?;
        let one_time = self.store.prune_one_time(before).await?
            + self.store.prune_mfa_challenges(before).await?;
        let ceremonies = self.store.prune_ceremonies(before).await?;
        let pruned = sessions + one_time + ceremonies;
        metrics::counter!("kisum_auth_pruned_total").increment(pruned);
        tracing::info!(sessions, one_time, ceremonies, %before, "pruned expired sessions, tokens, codes and passkey ceremonies");
        Ok(pruned)
    }
}
