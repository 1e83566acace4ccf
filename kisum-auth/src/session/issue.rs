//! Starting sessions (with the per-user limit) and issuing token pairs, with refresh rotation.

use chrono::{DateTime, TimeDelta, Utc};
use kisum_guard::{Aal, SessionId, UserId};

use crate::audit::AuditEvent;
use crate::audit::action::Action;
use crate::service::{AuthService, ClientInfo, Failure};
use crate::session::{RefreshRecord, RefreshToken, RevokeReason, Session, SessionStart, TokenPair};

impl AuthService {
    /// Starts a session for `user` signed in at `aal` by the methods `amr`.
    pub(crate) async fn start_session(
        &self,
        user: UserId,
        client: ClientInfo,
        aal: Aal,
        amr: &[&str],
    ) -> Result<TokenPair, Failure> {
        let now = self.clock.now();
        let session = self.new_session(user, &client, now, aal, amr);
        let (refresh, record) = self.next_refresh(&session, now, None)?;
        self.store_session_stepwise(&session, &record, &client)
            .await?;
        self.pair(&session, now, refresh, record.expires_at)
    }

    /// Stores `session` and its first refresh token `record` one write at a time, evicting
    /// the user's sessions beyond the per-user limit in between.
    async fn store_session_stepwise(
        &self,
        session: &Session,
        record: &RefreshRecord,
        client: &ClientInfo,
    ) -> Result<(), Failure> {
        self.store.create_session(session).await?;
        if let Some(max) = self.sessions.max_per_user {
            self.evict_beyond(session, max, client).await?;
        }
        self.store.insert_refresh_token(record).await?;
        Ok(())
    }

    /// Starts a session as [`start_session`](Self::start_session) does and records the audit
    /// event `action` builds from the new session's id — on a store that can, all in one
    /// write ([`SessionStore::start_session_live`]: one statement on PostgreSQL, decision
    /// 0046); otherwise step by step.
    pub(crate) async fn start_session_audited(
        &self,
        user: UserId,
        client: ClientInfo,
        aal: Aal,
        amr: &[&str],
        action: impl FnOnce(SessionId) -> Action,
    ) -> Result<TokenPair, Failure> {
        let now = self.clock.now();
        let session = self.new_session(user, &client, now, aal, amr);
        let (refresh, record) = self.next_refresh(&session, now, None)?;
        let event = AuditEvent::of(now, &action(session.id))
            .with_context(&client.audit_context(Some(user)));
        let start = SessionStart {
            session: &session,
            refresh: &record,
            audit: &event,
            max_per_user: self.sessions.max_per_user,
        };
        if let Some(evicted) = self.store.start_session_live(&start).await? {
            if let Some(max) = self.sessions.max_per_user {
                self.evicted(&session, evicted, max, &client).await;
            }
        } else {
            self.store_session_stepwise(&session, &record, &client)
                .await?;
            crate::audit::record(self.store.as_ref(), event).await;
        }
        self.pair(&session, now, refresh, record.expires_at)
    }

    /// A new session of `user` at `now`, with the client's address and user agent.
    fn new_session(
        &self,
        user: UserId,
        client: &ClientInfo,
        now: DateTime<Utc>,
        aal: Aal,
        amr: &[&str],
    ) -> Session {
        let mut session = Session::new(user, now, self.sessions.idle, self.sessions.absolute)
            .with_assurance(aal, amr);
        session.ip.clone_from(&client.ip);
        session.user_agent = client
            .user_agent
            .as_deref()
            .map(|ua| ua.chars().take(512).collect());
        session
    }

    /// Revokes the oldest active sessions of `newest.user_id` beyond `max` (at least 1: the
    /// newest session always stays), announcing and auditing each.
    pub(crate) async fn evict_beyond(
        &self,
        newest: &Session,
        max: u32,
        client: &ClientInfo,
    ) -> Result<(), Failure> {
        let now = self.clock.now();
        let max = max.max(1);
        let kept = usize::try_from(max).unwrap_or(usize::MAX);
        let others: Vec<Session> = self
            .store
            .list_user_sessions(newest.user_id)
            .await?
            .into_iter()
            .filter(|s| s.id != newest.id && s.is_active(now))
            .collect();
        // Oldest first (the store's order); keep the `max - 1` newest others.
        let excess = others.len().saturating_sub(kept - 1);
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
        self.evicted(newest, evicted, max, client).await;
        Ok(())
    }

    /// Tells the guards that the sessions `evicted` for `newest` (the limit `max`) are
    /// revoked, and audits it; nothing when none was.
    async fn evicted(
        &self,
        newest: &Session,
        evicted: Vec<SessionId>,
        max: u32,
        client: &ClientInfo,
    ) {
        if evicted.is_empty() {
            return;
        }
        self.announce_revoked(&evicted).await;
        self.audit(
            Some(newest.user_id),
            client,
            Action::SessionEvict {
                revoked_sessions: evicted,
                new_session_id: newest.id,
                limit: usize::try_from(max.max(1)).unwrap_or(usize::MAX),
            },
        )
        .await;
    }

    /// The refresh token that follows `spend` (or the first one) and its record: sealed for
    /// the holder of `spend` when the grace window is on.
    pub(crate) fn next_refresh(
        &self,
        session: &Session,
        now: DateTime<Utc>,
        spend: Option<&RefreshToken>,
    ) -> Result<(RefreshToken, RefreshRecord), Failure> {
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
        Ok((refresh, record))
    }

    /// `refresh` (expiring at `expires_at`) with a new access token for `session`.
    pub(crate) fn pair(
        &self,
        session: &Session,
        now: DateTime<Utc>,
        refresh: RefreshToken,
        expires_at: DateTime<Utc>,
    ) -> Result<TokenPair, Failure> {
        let access = self
            .tokens
            .issue(session.user_id, session.id, now)
            .map_err(Failure::Token)?;
        Ok(TokenPair {
            access,
            refresh,
            refresh_expires_in: (expires_at - now).num_seconds().max(0),
            session_id: session.id,
        })
    }
}
