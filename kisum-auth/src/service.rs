//! [`AuthService`]: what Auth does for a person — register, sign in, refresh, sign out, prove
//! who they are — over the stores, the password hasher and the token service.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use kisum_core::db::{StoreError, StoreErrorKind};
use kisum_guard::{Claims, Clock, CompanySlug, SessionId, UserId};

use crate::admin::{DirectoryError, DirectoryService, slugify};
use crate::audit::{AuditContext, AuditEvent, AuditOutcome, action};
use crate::credentials::{Password, PasswordHasher, PasswordPolicy, PolicyViolation, Verification};
use crate::directory::Company;
use crate::events::{EventPublisher, InvalidationEvent, NoEvents};
use crate::identity::{Email, User};
use crate::refresh::{RefreshRecord, RefreshToken, Rotation};
use crate::session::{RevokeReason, Session};
use crate::store::AuthStore;
use crate::tokens::{IssuedToken, TokenError, TokenService};

/// Session lifetimes and the refresh reuse grace window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// A session ends when not refreshed for this long (default 7 days).
    pub idle: TimeDelta,
    /// A session ends this long after sign-in whatever happens (default 30 days).
    pub absolute: TimeDelta,
    /// Tolerance for presenting the immediate predecessor of the current refresh token (racing
    /// browser tabs): off (zero) by default, capped at 30 s.
    pub reuse_grace: TimeDelta,
    /// The most sessions one user may hold at once (default 50; `None`: no limit). A sign-in
    /// beyond it revokes the user's oldest active sessions (reason `evicted`). Two sign-ins
    /// racing may briefly leave one session over the limit; the next sign-in corrects it.
    pub max_per_user: Option<u32>,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            idle: TimeDelta::days(7),
            absolute: TimeDelta::days(30),
            reuse_grace: TimeDelta::zero(),
            max_per_user: Some(50),
        }
    }
}

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

/// What a successful sign-in or refresh hands the client.
#[derive(Debug, Clone)]
pub struct TokenPair {
    /// The access token.
    pub access: IssuedToken,
    /// The new refresh token (shown once).
    pub refresh: RefreshToken,
    /// Seconds until the refresh token expires.
    pub refresh_expires_in: i64,
    /// The session.
    pub session_id: SessionId,
}

/// Why an identity operation failed; each maps to one HTTP answer and machine code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The email is not an acceptable address (422).
    #[error("not a valid email address")]
    InvalidEmail,
    /// The password breaks the policy (422).
    #[error("{0}")]
    WeakPassword(PolicyViolation),
    /// Registration with an email already registered (409 `email_taken`).
    #[error("email already registered")]
    EmailTaken,
    /// Wrong email or password, or a disabled account: one answer for all (401
    /// `invalid_credentials`).
    #[error("invalid email or password")]
    InvalidCredentials,
    /// An unknown or expired refresh token (401 `invalid_refresh_token`).
    #[error("invalid refresh token")]
    InvalidRefreshToken,
    /// A spent refresh token was presented again; the session is now revoked (401
    /// `refresh_token_reused`).
    #[error("refresh token reused; the session is revoked")]
    RefreshTokenReused,
    /// The access token is missing, malformed, expired or not ours (401 `unauthenticated`).
    #[error("authentication required")]
    Unauthenticated,
    /// The session is revoked or expired (401 `session_revoked`).
    #[error("session is no longer valid")]
    SessionRevoked,
    /// The session does not belong to the caller (404).
    #[error("no such session")]
    SessionNotFound,
    /// Creating the company failed.
    #[error(transparent)]
    Company(#[from] DirectoryError),
    /// A store failed (503 when unavailable).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Token signing failed (500-class, configuration).
    #[error("token service: {0}")]
    Token(TokenError),
    /// A wrong, expired or absent one-time code (401 `invalid_code`).
    #[error("invalid code")]
    InvalidCode,
    /// Too many wrong codes; retry after the lockout (429 `otp_locked`).
    #[error("too many wrong codes")]
    OtpLocked(std::time::Duration),
    /// An unknown, spent or expired password-reset token (400 `invalid_token`).
    #[error("invalid or expired reset token")]
    InvalidResetToken,
    /// Password reset and email codes are not configured (no email sender).
    #[error("email flows are not configured")]
    RecoveryDisabled,
    /// Password hashing failed or its worker died.
    #[error("password hashing failed")]
    Hashing,
    /// Every password-hashing worker is busy and the queue is full (503 `overloaded` with
    /// `Retry-After`).
    #[error("password hashing is overloaded; retry shortly")]
    Overloaded,
    /// No such user.
    #[error("no such user")]
    UserNotFound,
}

/// How many times the refresh grace window hands the live token out again to the holder of
/// its immediate predecessor (racing tabs), after which that predecessor counts as reuse.
pub const MAX_GRACE_USES: u32 = 3;

/// Register, sign in, refresh, sign out.
#[derive(Clone)]
pub struct AuthService {
    store: Arc<dyn AuthStore>,
    directory: DirectoryService,
    hasher: PasswordHasher,
    hashing: crate::credentials::HashGate,
    policy: PasswordPolicy,
    tokens: TokenService,
    sessions: SessionConfig,
    clock: Arc<dyn Clock>,
    events: Arc<dyn EventPublisher>,
    recovery: Option<crate::recovery::Recovery>,
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
            hashing: crate::credentials::HashGate::default(),
            policy,
            tokens,
            sessions,
            clock,
            events: Arc::new(NoEvents),
            recovery: None,
        }
    }

    /// Bounds password hashing with `gate` instead of the default (one worker per core, a
    /// queue of 32).
    #[must_use]
    pub fn with_hashing(mut self, gate: crate::credentials::HashGate) -> Self {
        self.hashing = gate;
        self
    }

    /// Enables password reset and email codes.
    #[must_use]
    pub fn with_recovery(mut self, recovery: crate::recovery::Recovery) -> Self {
        self.recovery = Some(recovery);
        self
    }

    pub(crate) fn recovery_config(&self) -> Option<&crate::recovery::Recovery> {
        self.recovery.as_ref()
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub(crate) fn check_policy(
        &self,
        password: &Password,
        email: Option<&Email>,
    ) -> Result<(), AuthError> {
        self.policy
            .check(password, email)
            .map_err(AuthError::WeakPassword)
    }

    /// Appends an audit event of `action` by `actor` from `client` (see [`crate::audit::record`]:
    /// a failed write is logged, not returned).
    pub(crate) async fn audit(
        &self,
        action: &str,
        outcome: AuditOutcome,
        actor: Option<UserId>,
        client: &ClientInfo,
        details: serde_json::Value,
    ) {
        let event = AuditEvent::new(self.clock.now(), action, outcome)
            .with_context(&client.audit_context(actor))
            .with_details(details);
        crate::audit::record(self.store.as_ref(), event).await;
    }

    /// Stores a new password hash and revokes every session of the user for `reason`
    /// (audited as a password reset). The emailed token reached the address: the email counts
    /// as verified and the user's pending invitations are accepted.
    pub(crate) async fn set_password(
        &self,
        user: UserId,
        password: Password,
        reason: RevokeReason,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let mut account = self
            .store
            .get_user(user)
            .await?
            .ok_or(AuthError::InvalidResetToken)?;
        self.check_policy(&password, Some(&account.email))?;
        account.password_hash = Some(self.hash(password).await?);
        account.email_verified = true;
        account.updated_at = self.clock.now();
        self.store.update_user(&account).await?;
        // Every other reset or invitation link of the account is spent with this one.
        self.store.spend_resets(user, self.clock.now()).await?;
        self.accept_invitations(user, client).await?;
        let revoked = self
            .store
            .revoke_user_sessions(user, reason, self.clock.now(), None)
            .await?;
        self.announce_revoked(&revoked).await;
        self.audit(
            action::PASSWORD_RESET,
            AuditOutcome::Success,
            Some(user),
            client,
            serde_json::json!({ "revoked_sessions": revoked.len() }),
        )
        .await;
        Ok(())
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
    async fn announce_revoked(&self, sessions: &[SessionId]) {
        let ttl = self.revocation_ttl();
        for id in sessions {
            self.events
                .publish(&InvalidationEvent::SessionRevoked { session_id: *id }, ttl)
                .await;
        }
    }

    /// The token service (for the JWKS and bearer checks).
    #[must_use]
    pub fn tokens(&self) -> &TokenService {
        &self.tokens
    }

    async fn hash(&self, password: Password) -> Result<crate::identity::PasswordHash, AuthError> {
        let hasher = self.hasher.clone();
        self.hashing
            .run(move || hasher.hash(&password))
            .await
            .map_err(|_| AuthError::Overloaded)?
            .ok_or(AuthError::Hashing)?
            .map_err(|_| AuthError::Hashing)
    }

    async fn verify(
        &self,
        password: Password,
        stored: Option<crate::identity::PasswordHash>,
    ) -> Result<Verification, AuthError> {
        let hasher = self.hasher.clone();
        self.hashing
            .run(move || match stored {
                Some(hash) => hasher.verify(&password, &hash),
                None => hasher.verify_unknown(&password),
            })
            .await
            .map_err(|_| AuthError::Overloaded)?
            .ok_or(AuthError::Hashing)
    }

    async fn start_session(
        &self,
        user: UserId,
        client: ClientInfo,
    ) -> Result<TokenPair, AuthError> {
        let now = self.clock.now();
        let mut session = Session::new(user, now, self.sessions.idle, self.sessions.absolute);
        session.ip.clone_from(&client.ip);
        session.user_agent = client
            .user_agent
            .as_deref()
            .map(|ua| ua.chars().take(512).collect());
        self.store.create_session(&session).await?;
        if let Some(max) = self.sessions.max_per_user {
            self.evict_beyond(&session, max, &client).await?;
        }
        self.issue(&session, now, None).await
    }

    /// Revokes the oldest active sessions of `newest.user_id` beyond `max` (at least 1: the
    /// newest session always stays), announcing and auditing each.
    async fn evict_beyond(
        &self,
        newest: &Session,
        max: u32,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let now = self.clock.now();
        let max = usize::try_from(max.max(1)).unwrap_or(usize::MAX);
        let others: Vec<Session> = self
            .store
            .list_user_sessions(newest.user_id)
            .await?
            .into_iter()
            .filter(|s| s.id != newest.id && s.is_active(now))
            .collect();
        // Oldest first (the store's order); keep the `max - 1` newest others.
        let excess = others.len().saturating_sub(max - 1);
        let mut evicted = Vec::new();
        for old in others.iter().take(excess) {
            if self
                .store
                .revoke_session(old.id, RevokeReason::Evicted, now)
                .await?
            {
                evicted.push(old.id);
            }
        }
        if evicted.is_empty() {
            return Ok(());
        }
        self.announce_revoked(&evicted).await;
        self.audit(
            action::SESSION_EVICT,
            AuditOutcome::Success,
            Some(newest.user_id),
            client,
            serde_json::json!({
                "revoked_sessions": evicted,
                "new_session_id": newest.id,
                "limit": max,
            }),
        )
        .await;
        Ok(())
    }

    /// Issues an access token and a refresh token for `session`; with `spend`, the refresh
    /// token replaces that predecessor atomically.
    /// Within the grace window, the live token that replaced `spent` — only when `spent` is
    /// its immediate predecessor (the successor is still unspent), at most
    /// [`MAX_GRACE_USES`] times, and only for the holder of `presented` (the successor is
    /// sealed for it). `None` means: treat as reuse.
    async fn grace_successor(
        &self,
        spent: &RefreshRecord,
        presented: &RefreshToken,
        now: DateTime<Utc>,
    ) -> Result<Option<(RefreshToken, DateTime<Utc>)>, AuthError> {
        let Some(next) = spent.replaced_by else {
            return Ok(None);
        };
        let Some(live) = self.store.claim_grace(&next, MAX_GRACE_USES).await? else {
            return Ok(None);
        };
        if now >= live.expires_at {
            return Ok(None);
        }
        let Some(sealed) = live.sealed else {
            return Ok(None);
        };
        let successor = RefreshToken::unseal(&sealed, presented);
        Ok((successor.hash() == live.hash).then_some((successor, live.expires_at)))
    }

    async fn issue(
        &self,
        session: &Session,
        now: DateTime<Utc>,
        spend: Option<&RefreshToken>,
    ) -> Result<TokenPair, AuthError> {
        let refresh = RefreshToken::generate()?;
        let expires_at = (now + self.sessions.idle).min(session.absolute_expires_at);
        let grace_on = self.sessions.reuse_grace > TimeDelta::zero();
        let record = RefreshRecord {
            hash: refresh.hash(),
            session_id: session.id,
            created_at: now,
            expires_at,
            used_at: None,
            replaced_by: None,
            // Only with the grace window on is the successor kept, sealed for the holder of
            // the token it replaces.
            sealed: spend
                .filter(|_| grace_on)
                .and_then(|old| refresh.seal_for(old)),
            grace_uses: 0,
        };
        match spend {
            None => self.store.insert_refresh_token(&record).await?,
            Some(old) => match self
                .store
                .rotate_refresh_token(&old.hash(), now, &record)
                .await?
            {
                Rotation::Rotated(_) => {}
                Rotation::AlreadyUsed(spent) => {
                    let racing = spent
                        .used_at
                        .is_some_and(|used| now - used <= self.sessions.reuse_grace)
                        && grace_on;
                    let again = if racing {
                        self.grace_successor(&spent, old, now).await?
                    } else {
                        None
                    };
                    let Some((successor, successor_expires)) = again else {
                        let revoked = self
                            .store
                            .revoke_session(session.id, RevokeReason::RefreshReuse, now)
                            .await?;
                        tracing::warn!(session = %session.id, user = %session.user_id, "refresh token reuse detected; session revoked");
                        if revoked {
                            self.announce_revoked(&[session.id]).await;
                        }
                        return Err(AuthError::RefreshTokenReused);
                    };
                    // A racing tab within the grace window: the same live token again.
                    let access = self
                        .tokens
                        .issue(session.user_id, session.id, now)
                        .map_err(AuthError::Token)?;
                    return Ok(TokenPair {
                        access,
                        refresh: successor,
                        refresh_expires_in: (successor_expires - now).num_seconds().max(0),
                        session_id: session.id,
                    });
                }
            },
        }
        let access = self
            .tokens
            .issue(session.user_id, session.id, now)
            .map_err(AuthError::Token)?;
        Ok(TokenPair {
            access,
            refresh,
            refresh_expires_in: (expires_at - now).num_seconds().max(0),
            session_id: session.id,
        })
    }

    /// Registers a user and signs them in; with `company_name`, creates that company with the
    /// user as its `owner`.
    ///
    /// # Errors
    /// `InvalidEmail`, `WeakPassword`, `EmailTaken`, `Company`, `Store`.
    pub async fn register(
        &self,
        email: &str,
        password: Password,
        name: Option<String>,
        company_name: Option<&str>,
        client: ClientInfo,
    ) -> Result<(User, TokenPair, Option<Company>), AuthError> {
        let email = Email::parse(email).map_err(|_| AuthError::InvalidEmail)?;
        self.policy
            .check(&password, Some(&email))
            .map_err(AuthError::WeakPassword)?;
        let company_name = company_name.map(str::trim).filter(|n| !n.is_empty());
        // Refuse a company name that cannot become a slug before the account exists.
        if company_name.is_some_and(|n| slugify(n).is_none()) {
            return Err(DirectoryError::SlugRequired.into());
        }
        // An invitation made an account awaiting sign-up: its owner may still register it.
        // Nothing is claimed by doing so: the email stays unproven, so the invitations stay
        // pending, and a later proof by anyone else clears this password (`email_proven`).
        let existing = self.store.find_user_by_email(&email).await?;
        if existing.as_ref().is_some_and(|u| !u.awaiting_sign_up()) {
            return Err(AuthError::EmailTaken);
        }
        let hash = self.hash(password).await?;
        let name = name.map(|n| n.trim().chars().take(200).collect());
        let user = match existing {
            Some(mut invited) => {
                invited.password_hash = Some(hash);
                invited.name = name.or(invited.name);
                invited.updated_at = self.clock.now();
                self.store.update_user(&invited).await?;
                invited
            }
            None => {
                let user = User::new(email, name, Some(hash), self.clock.now());
                match self.store.create_user(&user).await {
                    Err(e) if e.kind() == StoreErrorKind::Conflict => {
                        return Err(AuthError::EmailTaken);
                    }
                    other => other?,
                }
                user
            }
        };
        self.audit(
            action::USER_REGISTER,
            AuditOutcome::Success,
            Some(user.id),
            &client,
            serde_json::json!({}),
        )
        .await;
        let company = match company_name {
            None => None,
            Some(name) => Some(
                self.create_company(name, user.id, &client.audit_context(Some(user.id)))
                    .await?,
            ),
        };
        let pair = self.start_session(user.id, client).await?;
        Ok((user, pair, company))
    }

    /// Creates a company owned by `owner`, deriving a free slug from the name; audited with
    /// `context`.
    ///
    /// # Errors
    /// `Company` when no slug can be derived; `Store`.
    pub async fn create_company(
        &self,
        name: &str,
        owner: UserId,
        context: &AuditContext,
    ) -> Result<Company, AuthError> {
        let base = slugify(name).ok_or(DirectoryError::SlugRequired)?;
        let mut slug = base.clone();
        let directory = self.directory.acting_as(context.clone());
        for attempt in 0..5u32 {
            match directory
                .create_company(name, Some(slug.clone()), owner)
                .await
            {
                Ok((company, _)) => return Ok(company),
                Err(DirectoryError::SlugTaken(_)) if attempt < 4 => {
                    let mut n = [0u8; 2];
                    aws_lc_rs::rand::fill(&mut n).map_err(|_| AuthError::Hashing)?;
                    let suffix = format!(
                        "{}-{:04x}",
                        base.as_str().chars().take(43).collect::<String>(),
                        u16::from_be_bytes(n)
                    );
                    slug = CompanySlug::new(&suffix).unwrap_or_else(|_| base.clone());
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(DirectoryError::SlugTaken(slug).into())
    }

    /// Signs in with email and password. Unknown emails, wrong passwords and disabled accounts
    /// all answer `InvalidCredentials` after similar work (a dummy hash is verified for unknown
    /// emails). Rehashes the password when the parameters changed.
    ///
    /// # Errors
    /// `InvalidCredentials`, `Store`.
    pub async fn login(
        &self,
        email: &str,
        password: Password,
        client: ClientInfo,
    ) -> Result<TokenPair, AuthError> {
        let user = match Email::parse(email) {
            Ok(email) => self.store.find_user_by_email(&email).await?,
            Err(_) => None,
        };
        let stored = user.as_ref().and_then(|u| u.password_hash.clone());
        let verification = self.verify(password.clone(), stored).await?;
        let failure = match (&user, &verification) {
            (None, _) => Some("unknown_email"),
            (Some(_), Verification::Invalid) => Some("bad_password"),
            (Some(u), _) if u.disabled => Some("disabled"),
            (Some(_), Verification::Valid { .. }) => None,
        };
        let actor = user.as_ref().map(|u| u.id);
        let (Some(mut user), Verification::Valid { needs_rehash }, None) =
            (user, verification, failure)
        else {
            metrics::counter!("kisum_auth_logins_total", "result" => "failure").increment(1);
            self.audit(
                action::LOGIN_FAILURE,
                AuditOutcome::Failure,
                actor,
                &client,
                serde_json::json!({ "method": "password", "reason": failure }),
            )
            .await;
            return Err(AuthError::InvalidCredentials);
        };
        if needs_rehash {
            user.password_hash = Some(self.hash(password).await?);
            user.updated_at = self.clock.now();
            self.store.update_user(&user).await?;
        }
        self.sign_in_with(user.id, client, "password").await
    }

    /// Starts a session for `user` signed in by `method`, audited as a successful sign-in.
    pub(crate) async fn sign_in_with(
        &self,
        user: UserId,
        client: ClientInfo,
        method: &str,
    ) -> Result<TokenPair, AuthError> {
        let context = client.clone();
        let pair = self.start_session(user, client).await?;
        metrics::counter!("kisum_auth_logins_total", "result" => "success", "method" => method.to_owned())
            .increment(1);
        self.audit(
            action::LOGIN_SUCCESS,
            AuditOutcome::Success,
            Some(user),
            &context,
            serde_json::json!({ "method": method, "session_id": pair.session_id }),
        )
        .await;
        Ok(pair)
    }

    /// Exchanges a refresh token for a new pair; the old token is spent. Presenting a spent
    /// token again revokes the whole session (audited as `refresh.reuse`).
    ///
    /// # Errors
    /// `InvalidRefreshToken`, `RefreshTokenReused`, `SessionRevoked`, `Store`.
    pub async fn refresh(&self, token: &str, client: ClientInfo) -> Result<TokenPair, AuthError> {
        let now = self.clock.now();
        let presented = RefreshToken::from_client(token);
        let record = self
            .store
            .find_refresh_token(&presented.hash())
            .await?
            .ok_or(AuthError::InvalidRefreshToken)?;
        let session = self
            .store
            .get_session(record.session_id)
            .await?
            .ok_or(AuthError::InvalidRefreshToken)?;
        if record.used_at.is_none() && now >= record.expires_at {
            return Err(AuthError::InvalidRefreshToken);
        }
        let details = serde_json::json!({ "session_id": session.id });
        let reused = |details: serde_json::Value| async {
            metrics::counter!("kisum_auth_refresh_reuse_total").increment(1);
            self.audit(
                action::REFRESH_REUSE,
                AuditOutcome::Failure,
                Some(session.user_id),
                &client,
                details,
            )
            .await;
            AuthError::RefreshTokenReused
        };
        if !session.is_active(now) {
            // A spent token is a reuse whatever became of its session since (a stolen token
            // tried after sign-out, or again after the reuse that ended the session).
            return Err(if record.used_at.is_some() {
                reused(serde_json::json!({ "session_id": session.id, "session_ended": true })).await
            } else {
                AuthError::SessionRevoked
            });
        }
        // A disabled user's sessions were revoked when it was disabled; a refresh racing the
        // disabling is refused here.
        if self
            .store
            .get_user(session.user_id)
            .await?
            .is_none_or(|u| u.disabled)
        {
            return Err(AuthError::SessionRevoked);
        }
        let pair = match self.issue(&session, now, Some(&presented)).await {
            Err(AuthError::RefreshTokenReused) => return Err(reused(details.clone()).await),
            other => other?,
        };
        let idle = (now + self.sessions.idle).min(session.absolute_expires_at);
        self.store.touch_session(session.id, now, idle).await?;
        metrics::counter!("kisum_auth_refresh_total").increment(1);
        self.audit(
            action::REFRESH,
            AuditOutcome::Success,
            Some(session.user_id),
            &client,
            details,
        )
        .await;
        Ok(pair)
    }

    /// Checks a bearer access token and its session: the identity of the caller.
    ///
    /// # Errors
    /// `Unauthenticated` for a bad token, `SessionRevoked` for a revoked or expired session.
    pub async fn authenticate(&self, bearer: &str) -> Result<(Claims, Session), AuthError> {
        let now = self.clock.now();
        let claims = self
            .tokens
            .verify(bearer, now)
            .map_err(|_| AuthError::Unauthenticated)?;
        let session = self
            .store
            .get_session(claims.sid)
            .await?
            .filter(|s| s.user_id == claims.sub && s.is_active(now))
            .ok_or(AuthError::SessionRevoked)?;
        Ok((claims, session))
    }

    /// The user, if any.
    ///
    /// # Errors
    /// `Store`.
    pub async fn user(&self, id: UserId) -> Result<Option<User>, AuthError> {
        Ok(self.store.get_user(id).await?)
    }

    /// The user with `email`, if any.
    ///
    /// # Errors
    /// `Store`.
    pub async fn user_by_email(&self, email: &Email) -> Result<Option<User>, AuthError> {
        Ok(self.store.find_user_by_email(email).await?)
    }

    /// The account an invitation to `email` goes to: the existing user, or a new account with
    /// no password and an unverified email (audited as `user.invite` in `context`). The flag
    /// says whether the account's email is still unproven — a new account, one awaiting
    /// sign-up, or one someone registered without proving the address: such an invitee's
    /// memberships start `invited` and become `active` only once they prove they own the
    /// email ([`AuthService::accept_invitations`]), so registering someone else's address
    /// before they are invited yields nothing.
    ///
    /// # Errors
    /// `Store`.
    pub async fn invitee(
        &self,
        email: &Email,
        context: &AuditContext,
    ) -> Result<(User, bool), AuthError> {
        if let Some(user) = self.store.find_user_by_email(email).await? {
            let awaiting = !user.email_verified;
            return Ok((user, awaiting));
        }
        let user = User::new(email.clone(), None, None, self.clock.now());
        match self.store.create_user(&user).await {
            Ok(()) => {}
            // Invited twice at once: the other call created it.
            Err(e) if e.kind() == StoreErrorKind::Conflict => {
                let user = self
                    .store
                    .find_user_by_email(email)
                    .await?
                    .ok_or(AuthError::Store(e))?;
                let awaiting = !user.email_verified;
                return Ok((user, awaiting));
            }
            Err(e) => return Err(e.into()),
        }
        let event = AuditEvent::new(self.clock.now(), action::USER_INVITE, AuditOutcome::Success)
            .with_context(context)
            .with_details(serde_json::json!({ "user_id": user.id }));
        crate::audit::record(self.store.as_ref(), event).await;
        Ok((user, true))
    }

    /// Marks `user`'s email verified (they proved they own it) and makes their `invited`
    /// memberships `active`, attributed to them from `client`.
    ///
    /// A password set before the email was ever proven may have been chosen by someone else
    /// (registering a stranger's address ahead of them). Unless the proof is presented from a
    /// session of this account (`from_own_session`: the password holder proves the mailbox),
    /// that password is cleared and every session of the account made before the proof is
    /// revoked: the mailbox owner then sets a password with "forgot password" or keeps
    /// signing in by email code.
    pub(crate) async fn email_proven(
        &self,
        mut user: User,
        from_own_session: bool,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        if !user.email_verified {
            let unproven_password = user.password_hash.is_some() && !from_own_session;
            user.email_verified = true;
            if unproven_password {
                user.password_hash = None;
            }
            user.updated_at = self.clock.now();
            self.store.update_user(&user).await?;
            if unproven_password {
                let revoked = self
                    .store
                    .revoke_user_sessions(
                        user.id,
                        RevokeReason::PasswordReset,
                        self.clock.now(),
                        None,
                    )
                    .await?;
                self.announce_revoked(&revoked).await;
                self.audit(
                    action::PASSWORD_RESET,
                    AuditOutcome::Success,
                    Some(user.id),
                    client,
                    serde_json::json!({
                        "reason": "unproven_password_cleared",
                        "revoked_sessions": revoked.len(),
                    }),
                )
                .await;
            }
        }
        self.accept_invitations(user.id, client).await?;
        Ok(())
    }

    /// Makes every `invited` membership of `user` `active` (audited as `membership.accept`,
    /// announced to the guards). Called when the user proves they own their email; an embedder
    /// with its own proof can call it too.
    ///
    /// # Errors
    /// `Store`.
    pub async fn accept_invitations(
        &self,
        user: UserId,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        self.directory
            .acting_as(client.audit_context(Some(user)))
            .accept_invitations(user)
            .await?;
        Ok(())
    }

    /// Whose session it is, whether it is active now, and when it was revoked: `None` for an
    /// unknown session.
    ///
    /// # Errors
    /// `Store`.
    pub async fn session_state(
        &self,
        id: SessionId,
    ) -> Result<Option<(UserId, bool, Option<DateTime<Utc>>)>, AuthError> {
        let now = self.clock.now();
        Ok(self
            .store
            .get_session(id)
            .await?
            .map(|s| (s.user_id, s.is_active(now), s.revoked_at)))
    }

    /// Ends one session of `user`.
    ///
    /// # Errors
    /// `Store`.
    pub async fn logout(
        &self,
        user: UserId,
        session: SessionId,
        client: ClientInfo,
    ) -> Result<(), AuthError> {
        match self
            .store
            .revoke_session(session, RevokeReason::Logout, self.clock.now())
            .await
        {
            Err(e) if e.kind() == StoreErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
            Ok(_) => {
                self.announce_revoked(&[session]).await;
                self.audit(
                    action::LOGOUT,
                    AuditOutcome::Success,
                    Some(user),
                    &client,
                    serde_json::json!({ "session_id": session }),
                )
                .await;
                Ok(())
            }
        }
    }

    /// Ends every session of the user; returns them.
    ///
    /// # Errors
    /// `Store`.
    pub async fn logout_all(
        &self,
        user: UserId,
        client: ClientInfo,
    ) -> Result<Vec<SessionId>, AuthError> {
        let revoked = self
            .store
            .revoke_user_sessions(user, RevokeReason::LogoutAll, self.clock.now(), None)
            .await?;
        self.announce_revoked(&revoked).await;
        self.audit(
            action::LOGOUT_ALL,
            AuditOutcome::Success,
            Some(user),
            &client,
            serde_json::json!({ "revoked_sessions": revoked }),
        )
        .await;
        Ok(revoked)
    }

    /// The user's active sessions, oldest first.
    ///
    /// # Errors
    /// `Store`.
    pub async fn sessions(&self, user: UserId) -> Result<Vec<Session>, AuthError> {
        let now = self.clock.now();
        Ok(self
            .store
            .list_user_sessions(user)
            .await?
            .into_iter()
            .filter(|s| s.is_active(now))
            .collect())
    }

    /// Marks `user`'s email as proven on the platform's word (seeding, provisioning from a
    /// directory that already verified it): the password and the sessions are kept, pending
    /// invitations are accepted. Never call it for an address nobody proved.
    ///
    /// # Errors
    /// `UserNotFound`; `Store`.
    pub async fn confirm_email(&self, user: UserId, client: &ClientInfo) -> Result<(), AuthError> {
        let account = self
            .store
            .get_user(user)
            .await?
            .ok_or(AuthError::UserNotFound)?;
        self.email_proven(account, true, client).await
    }

    /// Deletes what can no longer be used: sessions that ended, refresh tokens, reset tokens
    /// and email-code states, each once `retention` has passed since it stopped mattering
    /// (keeping recent spent refresh tokens lets reuse still be recognised). Run periodically
    /// by the servers; returns the rows deleted.
    ///
    /// # Errors
    /// `Store`.
    pub async fn prune(&self, retention: TimeDelta) -> Result<u64, AuthError> {
        let before = self.clock.now() - retention.max(TimeDelta::days(1));
        let sessions = self.store.prune_sessions(before).await?;
        let one_time = self.store.prune_one_time(before).await?;
        metrics::counter!("kisum_auth_pruned_total").increment(sessions + one_time);
        tracing::info!(sessions, one_time, %before, "pruned expired sessions, tokens and codes");
        Ok(sessions + one_time)
    }

    /// Disables (or enables again) an account. Disabling revokes every session of the user
    /// at once and announces it, so Auth, replicas and guards stop accepting them within the
    /// freshness bound; refresh also refuses a disabled user, and sign-in, email codes and
    /// password resets already do. Audited as `user.disable` / `user.enable` in `context`.
    ///
    /// # Errors
    /// `UserNotFound`; `Store`.
    pub async fn set_disabled(
        &self,
        user: UserId,
        disabled: bool,
        context: &AuditContext,
    ) -> Result<(), AuthError> {
        let mut account = self
            .store
            .get_user(user)
            .await?
            .ok_or(AuthError::UserNotFound)?;
        let now = self.clock.now();
        if account.disabled != disabled {
            account.disabled = disabled;
            account.updated_at = now;
            self.store.update_user(&account).await?;
        }
        let revoked = if disabled {
            let revoked = self
                .store
                .revoke_user_sessions(user, RevokeReason::Admin, now, None)
                .await?;
            self.announce_revoked(&revoked).await;
            revoked.len()
        } else {
            0
        };
        let action = if disabled {
            action::USER_DISABLE
        } else {
            action::USER_ENABLE
        };
        let event = AuditEvent::new(now, action, AuditOutcome::Success)
            .with_context(context)
            .with_details(serde_json::json!({ "user_id": user, "revoked_sessions": revoked }));
        crate::audit::record(self.store.as_ref(), event).await;
        Ok(())
    }

    /// Ends one of the user's own sessions.
    ///
    /// # Errors
    /// `SessionNotFound` when it is not theirs; `Store`.
    pub async fn delete_session(
        &self,
        user: UserId,
        session: SessionId,
        client: ClientInfo,
    ) -> Result<(), AuthError> {
        let found = self
            .store
            .get_session(session)
            .await?
            .filter(|s| s.user_id == user)
            .ok_or(AuthError::SessionNotFound)?;
        self.store
            .revoke_session(found.id, RevokeReason::Deleted, self.clock.now())
            .await?;
        self.announce_revoked(&[found.id]).await;
        self.audit(
            action::SESSION_DELETE,
            AuditOutcome::Success,
            Some(user),
            &client,
            serde_json::json!({ "session_id": found.id }),
        )
        .await;
        Ok(())
    }

    /// Changes the password after checking the current one; every other session is revoked.
    /// A wrong current password is audited as a failed `password.change`.
    ///
    /// # Errors
    /// `InvalidCredentials` for a wrong current password, `WeakPassword`, `Store`.
    pub async fn change_password(
        &self,
        user: UserId,
        current_session: SessionId,
        current: Password,
        new: Password,
        client: ClientInfo,
    ) -> Result<(), AuthError> {
        let mut account = self
            .store
            .get_user(user)
            .await?
            .ok_or(AuthError::InvalidCredentials)?;
        if !matches!(
            self.verify(current, account.password_hash.clone()).await?,
            Verification::Valid { .. }
        ) {
            self.audit(
                action::PASSWORD_CHANGE,
                AuditOutcome::Failure,
                Some(user),
                &client,
                serde_json::json!({ "reason": "bad_password" }),
            )
            .await;
            return Err(AuthError::InvalidCredentials);
        }
        self.policy
            .check(&new, Some(&account.email))
            .map_err(AuthError::WeakPassword)?;
        account.password_hash = Some(self.hash(new).await?);
        account.updated_at = self.clock.now();
        self.store.update_user(&account).await?;
        // Reset and invitation links emailed before the change no longer work.
        self.store.spend_resets(user, self.clock.now()).await?;
        let revoked = self
            .store
            .revoke_user_sessions(
                user,
                RevokeReason::PasswordChanged,
                self.clock.now(),
                Some(current_session),
            )
            .await?;
        self.announce_revoked(&revoked).await;
        self.audit(
            action::PASSWORD_CHANGE,
            AuditOutcome::Success,
            Some(user),
            &client,
            serde_json::json!({ "revoked_sessions": revoked }),
        )
        .await;
        Ok(())
    }
}
