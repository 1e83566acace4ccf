//! [`MfaStore`] in memory, under the store's one mutex: every check-and-write is one critical
//! section, so racing replays and racing spends find the state the winner left.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;
use kisum_guard::UserId;

use super::MemoryAuthStore;
use crate::mfa::{MfaChallenge, MfaStore, TotpRecord};
use crate::otp::SecretHash;

/// The second factors held by a [`MemoryAuthStore`].
#[derive(Default)]
pub(super) struct MfaState {
    totp: HashMap<UserId, TotpRecord>,
    /// Per user: code digest → when it was spent.
    recovery: HashMap<UserId, HashMap<[u8; 32], Option<DateTime<Utc>>>>,
    /// Pending second-factor challenges by token digest.
    challenges: HashMap<[u8; 32], MfaChallenge>,
}

impl MfaState {
    /// Forgets `user`'s TOTP enrolment, recovery codes and challenges (an account erasure).
    pub(super) fn erase(&mut self, user: kisum_guard::UserId) {
        self.totp.remove(&user);
        self.recovery.remove(&user);
        self.challenges.retain(|_, c| c.user_id != user);
    }
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

    async fn insert_mfa_challenge(&self, challenge: &MfaChallenge) -> Result<(), StoreError> {
        let mut s = self.lock();
        if !s.users.contains_key(&challenge.user_id) {
            return Err(StoreError::not_found(format!("user {}", challenge.user_id)));
        }
        if s.mfa.challenges.contains_key(&challenge.token_hash.0) {
            return Err(StoreError::conflict("challenge exists"));
        }
        s.mfa
            .challenges
            .insert(challenge.token_hash.0, challenge.clone());
        Ok(())
    }

    async fn take_mfa_attempt(
        &self,
        hash: &SecretHash,
        at: DateTime<Utc>,
        max_attempts: u32,
    ) -> Result<Option<MfaChallenge>, StoreError> {
        let mut s = self.lock();
        let Some(c) = s
            .mfa
            .challenges
            .get_mut(&hash.0)
            .filter(|c| c.used_at.is_none() && at < c.expires_at && c.attempts < max_attempts)
        else {
            return Ok(None);
        };
        c.attempts += 1;
        if c.attempts >= max_attempts {
            c.locked_at = Some(at);
        }
        Ok(Some(c.clone()))
    }

    async fn get_mfa_challenge(
        &self,
        hash: &SecretHash,
    ) -> Result<Option<MfaChallenge>, StoreError> {
        Ok(self.lock().mfa.challenges.get(&hash.0).cloned())
    }

    async fn spend_mfa_challenge(
        &self,
        hash: &SecretHash,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut s = self.lock();
        match s.mfa.challenges.get_mut(&hash.0) {
            Some(c) if c.used_at.is_none() => {
                c.used_at = Some(at);
                c.locked_at = None;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn mfa_locked_at(
        &self,
        user: UserId,
        since: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self
            .lock()
            .mfa
            .challenges
            .values()
            .filter(|c| c.user_id == user)
            .filter_map(|c| c.locked_at)
            .filter(|t| *t > since)
            .max())
    }

    async fn prune_mfa_challenges(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut s = self.lock();
        let n = s.mfa.challenges.len();
        s.mfa.challenges.retain(|_, c| c.expires_at >= before);
        Ok(u64::try_from(n - s.mfa.challenges.len()).unwrap_or(u64::MAX))
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
