//! [`RefreshTokenStore`] in memory: refresh tokens, rotation and reuse detection.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;

use super::MemoryAuthStore;
use crate::session::{
    LiveRefresh, RefreshAudit, RefreshRecord, RefreshTokenStore, Rotation, Session, TokenHash,
};
#[async_trait]
impl RefreshTokenStore for MemoryAuthStore {
    async fn insert_refresh_token(&self, record: &RefreshRecord) -> Result<(), StoreError> {
        let mut s = self.lock();
        if !s.sessions.contains_key(&record.session_id) {
            return Err(StoreError::not_found(format!(
                "session {}",
                record.session_id
            )));
        }
        if s.refresh_tokens.contains_key(&record.hash) {
            return Err(StoreError::conflict("refresh token exists"));
        }
        s.refresh_tokens.insert(record.hash, record.clone());
        Ok(())
    }

    async fn find_refresh_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<RefreshRecord>, StoreError> {
        Ok(self.lock().refresh_tokens.get(hash).cloned())
    }

    async fn claim_grace(
        &self,
        hash: &TokenHash,
        max_uses: u32,
    ) -> Result<Option<RefreshRecord>, StoreError> {
        let mut s = self.lock();
        Ok(s.refresh_tokens
            .get_mut(hash)
            .filter(|r| r.used_at.is_none() && r.grace_uses < max_uses)
            .map(|r| {
                r.grace_uses += 1;
                r.clone()
            }))
    }

    async fn rotate_refresh_token(
        &self,
        old: &TokenHash,
        at: DateTime<Utc>,
        next: &RefreshRecord,
    ) -> Result<Rotation, StoreError> {
        let mut s = self.lock();
        let Some(current) = s.refresh_tokens.get(old).cloned() else {
            return Err(StoreError::not_found("refresh token"));
        };
        if current.used_at.is_some() {
            return Ok(Rotation::AlreadyUsed(current));
        }
        if s.refresh_tokens.contains_key(&next.hash) {
            return Err(StoreError::conflict("refresh token exists"));
        }
        let spent = RefreshRecord {
            used_at: Some(at),
            replaced_by: Some(next.hash),
            ..current
        };
        s.refresh_tokens.insert(*old, spent.clone());
        s.refresh_tokens.insert(next.hash, next.clone());
        Ok(Rotation::Rotated(spent))
    }

    async fn refresh_live(
        &self,
        step: &LiveRefresh,
        audit: &RefreshAudit,
    ) -> Result<Option<Session>, StoreError> {
        let mut s = self.lock();
        let Some(current) = s
            .refresh_tokens
            .get(&step.spend)
            .filter(|r| r.used_at.is_none() && step.at < r.expires_at)
            .cloned()
        else {
            return Ok(None);
        };
        let Some(session) = s
            .sessions
            .get(&current.session_id)
            .filter(|session| session.is_active(step.at))
            .filter(|session| s.users.get(&session.user_id).is_some_and(|u| !u.disabled))
            .cloned()
        else {
            return Ok(None);
        };
        let idle = step.idle_until.min(session.absolute_expires_at);
        let touched = Session {
            last_seen_at: step.at,
            idle_expires_at: idle,
            ..session
        };
        let event = audit.event_for(&touched);
        event.validate()?;
        if s.refresh_tokens.contains_key(&step.successor) || s.audit_ids.contains(&event.id) {
            return Err(StoreError::conflict("refresh token or audit event exists"));
        }
        let successor = RefreshRecord {
            hash: step.successor,
            session_id: touched.id,
            created_at: step.at,
            expires_at: idle,
            used_at: None,
            replaced_by: None,
            sealed: step.sealed,
            grace_uses: 0,
        };
        let spent = RefreshRecord {
            used_at: Some(step.at),
            replaced_by: Some(step.successor),
            ..current
        };
        s.refresh_tokens.insert(step.spend, spent);
        s.refresh_tokens.insert(step.successor, successor);
        s.sessions.insert(touched.id, touched.clone());
        s.audit_ids.insert(event.id);
        s.audit.insert((event.at, event.id), event);
        Ok(Some(touched))
    }
}
