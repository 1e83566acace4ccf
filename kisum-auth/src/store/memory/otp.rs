//! [`OneTimeStore`] in memory: email codes and reset tokens.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;
use kisum_guard::UserId;

use super::MemoryAuthStore;
use crate::identity::Email;
use crate::otp::{OneTimeStore, OtpPurpose, OtpState, SecretHash};
#[async_trait]
impl OneTimeStore for MemoryAuthStore {
    async fn get_otp(
        &self,
        email: &Email,
        purpose: OtpPurpose,
    ) -> Result<Option<OtpState>, StoreError> {
        Ok(self.lock().otps.get(&(email.clone(), purpose)).cloned())
    }

    async fn put_otp(&self, state: &OtpState) -> Result<bool, StoreError> {
        let mut s = self.lock();
        let key = (state.email.clone(), state.purpose);
        let current = s.otps.get(&key).map_or(0, |o| o.version);
        if state.version != current + 1 {
            return Ok(false);
        }
        s.otps.insert(key, state.clone());
        Ok(true)
    }

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
        let otps = s.otps.len();
        let old = |t: Option<DateTime<Utc>>| t.is_none_or(|t| t < before);
        s.otps.retain(|_, o| {
            !(old(o.expires_at)
                && old(o.locked_until)
                && old(o.last_sent_at)
                && old(o.quota_started_at))
        });
        let sms = s.phones.prune_codes(before);
        Ok((resets - s.resets.len() + otps - s.otps.len()) as u64 + sms)
    }
}
