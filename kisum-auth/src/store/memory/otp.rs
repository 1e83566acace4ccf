//! [`CodeStore`] and [`OneTimeStore`] in memory: the code states of every channel, and reset
//! tokens.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;
use kisum_guard::UserId;

use super::MemoryAuthStore;
use crate::otp::{CodeKey, CodeState, CodeStore, OneTimeStore, SecretHash};

#[async_trait]
impl CodeStore for MemoryAuthStore {
    async fn get_code(&self, key: &CodeKey) -> Result<Option<CodeState>, StoreError> {
        Ok(self.lock().codes.get(key).cloned())
    }

    async fn put_code(&self, state: &CodeState) -> Result<bool, StoreError> {
        let mut s = self.lock();
        let current = s.codes.get(&state.key).map_or(0, |c| c.version);
        if state.version != current + 1 {
            return Ok(false);
        }
        s.codes.insert(state.key.clone(), state.clone());
        Ok(true)
    }
}

#[async_trait]
impl OneTimeStore for MemoryAuthStore {
    async fn insert_reset(
        &self,
        hash: &SecretHash,
        user: UserId,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut s = self.lock();
        if !s.users.contains_key(&user) {
            return Err(StoreError::not_found(format!("user {user}")));
        }
        if s.resets.contains_key(&hash.0) {
            return Err(StoreError::conflict("reset token exists"));
        }
        s.resets.insert(hash.0, (user, expires_at, false));
        Ok(())
    }

    async fn consume_reset(
        &self,
        hash: &SecretHash,
        at: DateTime<Utc>,
    ) -> Result<Option<UserId>, StoreError> {
        let mut s = self.lock();
        match s.resets.get_mut(&hash.0) {
            Some((user, expires_at, used)) if !*used && at < *expires_at => {
                *used = true;
                Ok(Some(*user))
            }
            _ => Ok(None),
        }
    }

    async fn spend_resets(&self, user: UserId, at: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut s = self.lock();
        let mut n = 0;
        for (owner, expires_at, used) in s.resets.values_mut() {
            if *owner == user && !*used && at < *expires_at {
                *used = true;
                n += 1;
            }
        }
        Ok(n)
    }

    async fn prune_one_time(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut s = self.lock();
        let resets = s.resets.len();
        // A spent token has no spend time here: it goes once it would have expired.
        s.resets
            .retain(|_, (_, expires_at, _)| *expires_at >= before);
        let codes = s.codes.len();
        let old = |t: Option<DateTime<Utc>>| t.is_none_or(|t| t < before);
        s.codes.retain(|_, c| {
            !(old(c.expires_at)
                && old(c.locked_until)
                && old(c.last_sent_at)
                && old(c.quota_started_at))
        });
        Ok((resets - s.resets.len() + codes - s.codes.len()) as u64)
    }
}
