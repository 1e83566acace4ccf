//! Starting sessions (with the per-user limit) and issuing token pairs, with refresh rotation.

use chrono::{DateTime, TimeDelta, Utc};
use kisum_guard::UserId;

use crate::audit::action::Action;
use crate::service::{AuthError, AuthService, ClientInfo};
use crate::session::{
    MAX_GRACE_USES, RefreshRecord, RefreshToken, RevokeReason, Rotation, Session, TokenPair,
};

impl AuthService {
    pub(crate) async fn start_session(
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
    pub(crate) async fn evict_beyond(
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
            Some(newest.user_id),
            client,
            Action::SessionEvict {
                revoked_sessions: evicted,
                new_session_id: newest.id,
                limit: max,
            },
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
    pub(crate) async fn grace_successor(
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

    pub(crate) async fn issue(
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
}
