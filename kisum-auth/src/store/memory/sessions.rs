//! [`SessionStore`] in memory: sessions and their per-user index.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;
use kisum_guard::{InvalidationEvent, SessionId, UserId};

use super::MemoryAuthStore;
use crate::session::{RevokeReason, Session, SessionStore};
#[async_trait]
impl SessionStore for MemoryAuthStore {
    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        let mut s = self.lock();
        if s.sessions.contains_key(&session.id) {
            return Err(StoreError::conflict("session id exists"));
        }
        s.sessions.insert(session.id, session.clone());
        s.sessions_by_user
            .entry(session.user_id)
            .or_default()
            .push(session.id);
        Ok(())
    }

    async fn get_session(&self, id: SessionId) -> Result<Option<Session>, StoreError> {
        Ok(self.lock().sessions.get(&id).cloned())
    }

    async fn list_user_sessions(&self, user_id: UserId) -> Result<Vec<Session>, StoreError> {
        let s = self.lock();
        let mut v: Vec<Session> = s
            .sessions_by_user
            .get(&user_id)
            .into_iter()
            .flatten()
            .filter_map(|id| s.sessions.get(id).cloned())
            .collect();
        v.sort_by_key(|x| (x.created_at, x.id));
        Ok(v)
    }

    async fn touch_session(
        &self,
        id: SessionId,
        last_seen_at: DateTime<Utc>,
        idle_expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut s = self.lock();
        let session = s
            .sessions
            .get_mut(&id)
            .ok_or_else(|| StoreError::not_found(format!("session {id}")))?;
        session.last_seen_at = last_seen_at;
        session.idle_expires_at = idle_expires_at;
        Ok(())
    }

    async fn reauthenticate_session(
        &self,
        id: SessionId,
        at: DateTime<Utc>,
        aal: kisum_guard::Aal,
        amr: &[String],
    ) -> Result<bool, StoreError> {
        let mut s = self.lock();
        let Some(session) = s.sessions.get_mut(&id).filter(|x| x.revoked_at.is_none()) else {
            return Ok(false);
        };
        session.auth_time = at;
        session.aal = aal;
        session.amr = amr.to_vec();
        Ok(true)
    }

    async fn revoke_session(
        &self,
        id: SessionId,
        reason: RevokeReason,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut s = self.lock();
        let session = s
            .sessions
            .get_mut(&id)
            .ok_or_else(|| StoreError::not_found(format!("session {id}")))?;
        if session.revoked_at.is_some() {
            return Ok(false);
        }
        session.revoked_at = Some(at);
        session.revoked_reason = Some(reason);
        s.log
            .record(InvalidationEvent::SessionRevoked { session_id: id }, at);
        Ok(true)
    }

    async fn revoke_user_sessions(
        &self,
        user_id: UserId,
        reason: RevokeReason,
        at: DateTime<Utc>,
        except: Option<SessionId>,
    ) -> Result<Vec<SessionId>, StoreError> {
        let mut s = self.lock();
        let ids = s
            .sessions_by_user
            .get(&user_id)
            .cloned()
            .unwrap_or_default();
        let mut revoked = Vec::new();
        for id in ids {
            if Some(id) == except {
                continue;
            }
            if let Some(session) = s.sessions.get_mut(&id).filter(|x| x.revoked_at.is_none()) {
                session.revoked_at = Some(at);
                session.revoked_reason = Some(reason);
                revoked.push(id);
                s.log
                    .record(InvalidationEvent::SessionRevoked { session_id: id }, at);
            }
        }
        Ok(revoked)
    }

    async fn prune_sessions(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut s = self.lock();
        let ended: Vec<SessionId> = s
            .sessions
            .values()
            .filter(|x| {
                x.revoked_at.is_some_and(|r| r < before)
                    || x.idle_expires_at < before
                    || x.absolute_expires_at < before
            })
            .map(|x| x.id)
            .collect();
        for id in &ended {
            if let Some(session) = s.sessions.remove(id)
                && let Some(ids) = s.sessions_by_user.get_mut(&session.user_id)
            {
                ids.retain(|x| x != id);
            }
        }
        let gone: std::collections::HashSet<SessionId> = ended.iter().copied().collect();
        s.refresh_tokens
            .retain(|_, r| !gone.contains(&r.session_id) && r.expires_at >= before);
        Ok(ended.len() as u64)
    }
}
