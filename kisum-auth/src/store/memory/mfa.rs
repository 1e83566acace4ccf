//! [`MfaStore`] in memory, under the store's one mutex: every check-and-write is one critical
//! section, so racing replays and racing spends find the state the winner left.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;
use kisum_guard::UserId;

use super::MemoryAuthStore;
use crate::mfa::{MfaStore, TotpRecord};
use crate::otp::SecretHash;

/// The second factors held by a [`MemoryAuthStore`].
#[derive(Default)]
pub(super) struct MfaState {
    totp: HashMap<UserId, TotpRecord>,
    /// Per user: code digest → when it was spent.
    recovery: HashMap<UserId, HashMap<[u8; 32], Option<DateTime<Utc>>>>,
}

#[async_trait]
impl MfaStore for MemoryAuthStore {
    async fn get_totp(&self, user: UserId) -> Result<Option<TotpRecord>, StoreError> {
        Ok(self.lock().mfa.totp.get(&user).cloned())
    }

    async fn put_pending_totp(
        &self,
        user: UserId,
        secret: &[u8],
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut s = self.lock();
        if !s.users.contains_key(&user) {
            return Err(StoreError::not_found(format!("user {user}")));
        }
        if s.mfa
            .totp
            .get(&user)
            .is_some_and(|r| r.confirmed_at.is_some())
        {
            return Ok(false);
        }
        s.mfa.totp.insert(
            user,
            TotpRecord {
                user_id: user,
                secret: secret.to_vec(),
                created_at: at,
                confirmed_at: None,
                last_used_step: None,
            },
        );
        Ok(true)
    }

    async fn confirm_totp(
        &self,
        user: UserId,
        secret: &[u8],
        step: u64,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        step_in_range(step)?;
        let mut s = self.lock();
        let Some(r) = s.mfa.totp.get_mut(&user) else {
            return Ok(false);
        };
        if r.confirmed_at.is_some() || r.secret != secret || !later(r.last_used_step, step) {
            return Ok(false);
        }
        r.confirmed_at = Some(at);
        r.last_used_step = Some(step);
        Ok(true)
    }

    async fn accept_totp_step(&self, user: UserId, step: u64) -> Result<bool, StoreError> {
        step_in_range(step)?;
        let mut s = self.lock();
        let Some(r) = s.mfa.totp.get_mut(&user) else {
            return Ok(false);
        };
        if r.confirmed_at.is_none() || !later(r.last_used_step, step) {
            return Ok(false);
        }
        r.last_used_step = Some(step);
        Ok(true)
    }

    async fn reseal_totp(&self, user: UserId, old: &[u8], new: &[u8]) -> Result<bool, StoreError> {
        let mut s = self.lock();
        match s.mfa.totp.get_mut(&user) {
            Some(r) if r.secret == old => {
                r.secret = new.to_vec();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn delete_totp(&self, user: UserId) -> Result<bool, StoreError> {
        Ok(self.lock().mfa.totp.remove(&user).is_some())
    }

    async fn replace_recovery_codes(
        &self,
        user: UserId,
        hashes: &[SecretHash],
        _at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut s = self.lock();
        if hashes.is_empty() {
            s.mfa.recovery.remove(&user);
            return Ok(());
        }
        if !s.users.contains_key(&user) {
            return Err(StoreError::not_found(format!("user {user}")));
        }
        let mut codes = HashMap::with_capacity(hashes.len());
        for h in hashes {
            if codes.insert(h.0, None).is_some() {
                return Err(StoreError::conflict("recovery code listed twice"));
            }
        }
        s.mfa.recovery.insert(user, codes);
        Ok(())
    }

    async fn consume_recovery_code(
        &self,
        user: UserId,
        hash: &SecretHash,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut s = self.lock();
        match s
            .mfa
            .recovery
            .get_mut(&user)
            .and_then(|c| c.get_mut(&hash.0))
        {
            Some(used @ None) => {
                *used = Some(at);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn unused_recovery_codes(&self, user: UserId) -> Result<u64, StoreError> {
        let s = self.lock();
        let unused = s
            .mfa
            .recovery
            .get(&user)
            .map_or(0, |c| c.values().filter(|u| u.is_none()).count());
        Ok(u64::try_from(unused).unwrap_or(u64::MAX))
    }
}

/// Whether `step` is after `last` (any step is, when none was spent).
fn later(last: Option<u64>, step: u64) -> bool {
    last.is_none_or(|l| step > l)
}

/// `Invalid` for a step the SQL backends cannot store, so every backend refuses the same.
fn step_in_range(step: u64) -> Result<(), StoreError> {
    i64::try_from(step).map(drop).map_err(|_| {
        StoreError::new(
            kisum_core::db::StoreErrorKind::Invalid,
            "time step out of range",
        )
    })
}
