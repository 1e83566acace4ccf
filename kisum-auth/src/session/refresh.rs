//! Refresh tokens: opaque 256-bit secrets handed to the client once, stored only as SHA-256
//! hashes, rotated on every use. Presenting a spent token again is reuse: the session is revoked.

use std::fmt;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;
use kisum_guard::SessionId;
use sha2::{Digest, Sha256};

use crate::audit::action::Action;
use crate::audit::{AuditEvent, AuditEventId};
use chrono::TimeDelta;

use crate::service::{AuthService, ClientInfo, Failure, failure_converts};
use crate::session::TokenPair;
use crate::session::{RevokeReason, Session};

/// A refresh token as the client holds it (base64url of 32 random bytes). Redacted in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken(String);

impl RefreshToken {
    /// A fresh random token.
    ///
    /// # Errors
    /// When the system has no randomness (never in practice).
    pub fn generate() -> Result<Self, StoreError> {
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::fill(&mut bytes).map_err(|_| {
            StoreError::new(kisum_core::db::StoreErrorKind::Internal, "no randomness")
        })?;
        Ok(Self(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// Wraps a token presented by a client (any string: unknown tokens simply match nothing).
    #[must_use]
    pub fn from_client(s: &str) -> Self {
        Self(s.to_owned())
    }

    /// The token text, to hand to the client once.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// This token sealed for the holder of `predecessor`: its 32 bytes XOR the SHA-256 of the
    /// predecessor (domain-separated). Only someone holding the predecessor can open it; the
    /// database, which keeps hashes only, cannot. `None` for a token that is not 32 bytes of
    /// base64url (never one of ours).
    #[must_use]
    pub fn seal_for(&self, predecessor: &RefreshToken) -> Option<[u8; 32]> {
        let mine: [u8; 32] = URL_SAFE_NO_PAD.decode(&self.0).ok()?.try_into().ok()?;
        Some(xor(&mine, &Self::pad(predecessor)))
    }

    /// Opens `sealed` with the predecessor token that sealed it ([`seal_for`](Self::seal_for)).
    /// The caller checks the result's hash against the stored one.
    #[must_use]
    pub fn unseal(sealed: &[u8; 32], predecessor: &RefreshToken) -> Self {
        Self(URL_SAFE_NO_PAD.encode(xor(sealed, &Self::pad(predecessor))))
    }

    fn pad(predecessor: &RefreshToken) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"kisum refresh successor v1\0");
        h.update(predecessor.0.as_bytes());
        h.finalize().into()
    }

    /// Its SHA-256, the only form ever stored.
    #[must_use]
    pub fn hash(&self) -> TokenHash {
        TokenHash(Sha256::digest(self.0.as_bytes()).into())
    }
}

fn xor(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = *a;
    for (o, p) in out.iter_mut().zip(b) {
        *o ^= p;
    }
    out
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken(<redacted>)")
    }
}

/// The SHA-256 of a refresh token.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenHash(pub [u8; 32]);

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix: String = self.0.iter().take(4).map(|b| format!("{b:02x}")).collect();
        write!(f, "TokenHash({prefix}…)")
    }
}

/// One issued refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshRecord {
    /// Its hash.
    pub hash: TokenHash,
    /// The session it belongs to.
    pub session_id: SessionId,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
    /// When it was spent (exchanged for its successor).
    pub used_at: Option<DateTime<Utc>>,
    /// The hash of its successor.
    pub replaced_by: Option<TokenHash>,
    /// This token sealed for the holder of its predecessor ([`RefreshToken::seal_for`]), kept
    /// only while the refresh grace window is on: a racing tab presenting the predecessor
    /// within the window gets this same token back, never a new one.
    pub sealed: Option<[u8; 32]>,
    /// How many times the grace window handed this token out again.
    pub grace_uses: u32,
}

/// What a rotation found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was unspent: it is now spent and its successor stored.
    Rotated(RefreshRecord),
    /// The token was already spent: this is reuse (or a race within the grace window). Nothing
    /// was stored. Carries the spent record as it was.
    AlreadyUsed(RefreshRecord),
}

/// A refresh that succeeds, as one atomic step of the store
/// ([`RefreshTokenStore::refresh_live`]): what to spend, what replaces it, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveRefresh {
    /// The hash of the token presented, to spend.
    pub spend: TokenHash,
    /// The hash of its successor.
    pub successor: TokenHash,
    /// The successor sealed for the holder of the presented token (the grace window is on), or
    /// `None` ([`RefreshRecord::sealed`]).
    pub sealed: Option<[u8; 32]>,
    /// Now: when the token is spent, the successor created and the session last seen.
    pub at: DateTime<Utc>,
    /// `at` plus the idle timeout. The store caps it at the session's absolute expiry: the
    /// session's new idle deadline, and the successor's expiry.
    pub idle_until: DateTime<Utc>,
}

/// The audit event of a refresh that succeeds, written by the store with the refresh
/// ([`RefreshTokenStore::refresh_live`]): `refresh` ([`Action::Refresh`]) at `at`, by the
/// session's user, naming the session, from the client's address and request. Built before the
/// store knows the session (it learns it from the token); [`event_for`](Self::event_for)
/// completes it. A store that composes the event in SQL writes exactly what `event_for`
/// returns (conformance check `a_live_refresh_spends_stores_touches_and_audits_at_once`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshAudit {
    /// The event's id.
    pub id: AuditEventId,
    /// When the refresh happened (the refresh's own `at`).
    pub at: DateTime<Utc>,
    /// The client's address.
    pub ip: Option<String>,
    /// The request id.
    pub request_id: Option<String>,
}

impl RefreshAudit {
    /// The event of a refresh at `at` from `client`.
    #[must_use]
    pub fn new(at: DateTime<Utc>, client: &ClientInfo) -> Self {
        let context = client.audit_context(None);
        Self {
            id: AuditEventId::new(),
            at,
            ip: context.ip,
            request_id: context.request_id,
        }
    }

    /// The event, once the refreshed session is known.
    #[must_use]
    pub fn event_for(&self, session: &Session) -> AuditEvent {
        let mut event = AuditEvent::of(
            self.at,
            &Action::Refresh {
                session_id: session.id,
            },
        )
        .with_actor(session.user_id);
        event.id = self.id;
        event.ip.clone_from(&self.ip);
        event.request_id.clone_from(&self.request_id);
        event
    }
}

/// Refresh tokens by hash.
#[async_trait]
pub trait RefreshTokenStore: Send + Sync + 'static {
    /// Stores a newly issued token.
    ///
    /// # Errors
    /// `Conflict` when the hash exists; `NotFound` when the session does not; `Unavailable`.
    async fn insert_refresh_token(&self, record: &RefreshRecord) -> Result<(), StoreError>;

    /// The token with `hash`, spent or not, or `None`.
    ///
    /// # Errors
    /// `Unavailable` when the backend cannot be reached.
    async fn find_refresh_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<RefreshRecord>, StoreError>;

    /// Atomically spends `old` at `at` and stores `next` as its successor — unless `old` was
    /// already spent, in which case nothing changes and the spent record is returned. Two
    /// concurrent rotations of one token: exactly one rotates.
    ///
    /// # Errors
    /// `NotFound` when `old` is unknown; `Unavailable`.
    async fn rotate_refresh_token(
        &self,
        old: &TokenHash,
        at: DateTime<Utc>,
        next: &RefreshRecord,
    ) -> Result<Rotation, StoreError>;

    /// Counts one grace use of the token `hash` and returns it — only while it is unspent (it
    /// is the live token) and has been handed out again fewer than `max_uses` times; `None`
    /// otherwise. Atomic: of concurrent claims at most `max_uses` succeed.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn claim_grace(
        &self,
        hash: &TokenHash,
        max_uses: u32,
    ) -> Result<Option<RefreshRecord>, StoreError>;

    /// The whole of a refresh that succeeds, atomically: only when the token `step.spend` is
    /// unspent and unexpired at `step.at`, its session active at `step.at` and the session's
    /// user exists and is not disabled, it spends the token (naming `step.successor`), stores
    /// the successor (expiring at the capped `step.idle_until`), touches the session (last seen
    /// `step.at`, idle deadline the capped `step.idle_until`) and appends the event
    /// `audit.event_for(session)` — all or nothing. Returns the session as touched.
    ///
    /// `None` when any condition fails (or concurrently with another rotation of the token,
    /// which wins): nothing changed, and the caller takes the step-by-step path, which finds
    /// why (reuse, grace window, expiry, revocation). Of concurrent calls for one token at most
    /// one returns a session. The default is always `None` (a store that cannot do it in one
    /// step), which is correct, only slower.
    ///
    /// # Errors
    /// `Unavailable` (nothing changed); the audit append's errors (nothing changed).
    async fn refresh_live(
        &self,
        step: &LiveRefresh,
        audit: &RefreshAudit,
    ) -> Result<Option<Session>, StoreError> {
        let _ = (step, audit);
        Ok(None)
    }
}

/// How many times the refresh grace window hands the live token out again to the holder of
/// its immediate predecessor (racing tabs), after which that predecessor counts as reuse.
pub const MAX_GRACE_USES: u32 = 3;

/// Why a refresh failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RefreshError {
    /// An unknown or expired refresh token.
    #[error("invalid refresh token")]
    InvalidRefreshToken,
    /// A spent refresh token was presented again; the session is now revoked.
    #[error("refresh token reused; the session is revoked")]
    RefreshTokenReused,
    /// The session is revoked or expired (or its user disabled).
    #[error("session is no longer valid")]
    SessionRevoked,
    /// Nothing was refused: a store, the token service or hashing failed.
    #[error(transparent)]
    Failed(Failure),
}

failure_converts!(RefreshError);

impl AuthService {
    /// Exchanges a refresh token for a new pair; the old token is spent. Presenting a spent
    /// token again revokes the whole session (audited as `refresh.reuse`).
    ///
    /// # Errors
    /// `InvalidRefreshToken`, `RefreshTokenReused`, `SessionRevoked`, `Store`.
    pub async fn refresh(
        &self,
        token: &str,
        client: ClientInfo,
    ) -> Result<TokenPair, RefreshError> {
        let now = self.clock.now();
        let presented = RefreshToken::from_client(token);
        // The common case, a live token of a live session, in one transaction.
        let successor = RefreshToken::generate()?;
        let step = LiveRefresh {
            spend: presented.hash(),
            successor: successor.hash(),
            sealed: (self.sessions.reuse_grace > TimeDelta::zero())
                .then(|| successor.seal_for(&presented))
                .flatten(),
            at: now,
            idle_until: now + self.sessions.idle,
        };
        let audit = RefreshAudit::new(now, &client);
        if let Some(session) = self.store.refresh_live(&step, &audit).await? {
            metrics::counter!("kisum_auth_refresh_total").increment(1);
            return Ok(self.pair(&session, now, successor, session.idle_expires_at)?);
        }
        self.refresh_step_by_step(now, presented, client).await
    }

    /// A refresh the one-step path refused, step by step: it tells why (reuse, the grace
    /// window, expiry, revocation), or refreshes when the store has no one-step path.
    async fn refresh_step_by_step(
        &self,
        now: DateTime<Utc>,
        presented: RefreshToken,
        client: ClientInfo,
    ) -> Result<TokenPair, RefreshError> {
        let record = self
            .store
            .find_refresh_token(&presented.hash())
            .await?
            .ok_or(RefreshError::InvalidRefreshToken)?;
        let session = self
            .store
            .get_session(record.session_id)
            .await?
            .ok_or(RefreshError::InvalidRefreshToken)?;
        if record.used_at.is_none() && now >= record.expires_at {
            return Err(RefreshError::InvalidRefreshToken);
        }
        let (user_id, session_id, from) = (session.user_id, session.id, &client);
        let reused = |session_ended: bool| async move {
            metrics::counter!("kisum_auth_refresh_reuse_total").increment(1);
            let reuse = Action::RefreshReuse {
                session_id,
                session_ended,
            };
            self.audit(Some(user_id), from, reuse).await;
            RefreshError::RefreshTokenReused
        };
        if !session.is_active(now) {
            // A spent token is a reuse whatever became of its session since (a stolen token
            // tried after sign-out, or again after the reuse that ended the session).
            return Err(if record.used_at.is_some() {
                reused(true).await
            } else {
                RefreshError::SessionRevoked
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
            return Err(RefreshError::SessionRevoked);
        }
        let pair = match self.rotate(&session, now, &presented).await {
            Err(RefreshError::RefreshTokenReused) => return Err(reused(false).await),
            other => other?,
        };
        let idle = (now + self.sessions.idle).min(session.absolute_expires_at);
        self.store.touch_session(session.id, now, idle).await?;
        metrics::counter!("kisum_auth_refresh_total").increment(1);
        self.audit(
            Some(session.user_id),
            &client,
            Action::Refresh {
                session_id: session.id,
            },
        )
        .await;
        Ok(pair)
    }

    /// Spends `spend` for a new pair (refresh rotation). A token spent before is reuse — the
    /// session is revoked — unless the grace window hands its holder the live successor again.
    async fn rotate(
        &self,
        session: &Session,
        now: DateTime<Utc>,
        spend: &RefreshToken,
    ) -> Result<TokenPair, RefreshError> {
        let (refresh, record) = self.next_refresh(session, now, Some(spend))?;
        let spent = match self
            .store
            .rotate_refresh_token(&spend.hash(), now, &record)
            .await?
        {
            Rotation::Rotated(_) => {
                return Ok(self.pair(session, now, refresh, record.expires_at)?);
            }
            Rotation::AlreadyUsed(spent) => spent,
        };
        let racing = spent
            .used_at
            .is_some_and(|used| now - used <= self.sessions.reuse_grace)
            && self.sessions.reuse_grace > TimeDelta::zero();
        let again = if racing {
            self.grace_successor(&spent, spend, now).await?
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
            return Err(RefreshError::RefreshTokenReused);
        };
        // A racing tab within the grace window: the same live token again.
        Ok(self.pair(session, now, successor, successor_expires)?)
    }

    /// Within the grace window, the live token that replaced `spent` — only when `spent` is
    /// its immediate predecessor (the successor is still unspent), at most
    /// [`MAX_GRACE_USES`] times, and only for the holder of `presented` (the successor is
    /// sealed for it). `None` means: treat as reuse.
    pub(crate) async fn grace_successor(
        &self,
        spent: &RefreshRecord,
        presented: &RefreshToken,
        now: DateTime<Utc>,
    ) -> Result<Option<(RefreshToken, DateTime<Utc>)>, Failure> {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bit_and_stored_as_sha256() {
        let t = RefreshToken::generate().unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(t.expose()).unwrap().len(), 32);
        assert_ne!(t, RefreshToken::generate().unwrap());
        assert_eq!(t.hash(), RefreshToken::from_client(t.expose()).hash());
        assert_eq!(format!("{t:?}"), "RefreshToken(<redacted>)");
        assert!(!format!("{:?}", t.hash()).contains(t.expose()));
    }

    #[test]
    fn a_sealed_successor_opens_only_with_its_predecessor() {
        let (old, next) = (
            RefreshToken::generate().unwrap(),
            RefreshToken::generate().unwrap(),
        );
        let sealed = next.seal_for(&old).unwrap();
        assert_eq!(RefreshToken::unseal(&sealed, &old), next);
        let other = RefreshToken::generate().unwrap();
        assert_ne!(RefreshToken::unseal(&sealed, &other), next);
        assert_ne!(
            &sealed[..],
            URL_SAFE_NO_PAD.decode(next.expose()).unwrap().as_slice()
        );
        assert!(
            RefreshToken::from_client("not ours")
                .seal_for(&old)
                .is_none()
        );
    }
}
