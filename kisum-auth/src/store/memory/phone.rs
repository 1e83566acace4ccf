//! [`PhoneStore`] in memory: SMS code states and verified numbers.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;
use kisum_guard::UserId;

use super::MemoryAuthStore;
use crate::otp::{PhoneStore, SmsCodeState, SmsPurpose, VerifiedPhone};
use crate::sms::Phone;

/// The part of the memory store's state this file keeps.
#[derive(Default)]
pub(super) struct PhoneState {
    codes: HashMap<(Phone, SmsPurpose), SmsCodeState>,
    by_user: HashMap<UserId, VerifiedPhone>,
    by_phone: HashMap<Phone, UserId>,
}

impl PhoneState {
    /// Forgets `user`'s verified number and its code states (an erased account).
    pub(super) fn erase(&mut self, user: UserId) {
        if let Some(verified) = self.by_user.remove(&user) {
            self.by_phone.remove(&verified.phone);
            self.codes.retain(|(phone, _), _| *phone != verified.phone);
        }
    }

    /// Deletes the code states with nothing in force at or after `before`; how many.
    pub(super) fn prune_codes(&mut self, before: DateTime<Utc>) -> u64 {
        let n = self.codes.len();
        let old = |t: Option<DateTime<Utc>>| t.is_none_or(|t| t < before);
        self.codes.retain(|_, c| {
            !(old(c.expires_at)
                && old(c.locked_until)
                && old(c.last_sent_at)
                && old(c.quota_started_at))
        });
        (n - self.codes.len()) as u64
    }
}

#[async_trait]
impl PhoneStore for MemoryAuthStore {
    async fn get_sms_code(
        &self,
        phone: &Phone,
        purpose: SmsPurpose,
    ) -> Result<Option<SmsCodeState>, StoreError> {
        Ok(self
            .lock()
            .phones
            .codes
            .get(&(phone.clone(), purpose))
            .cloned())
    }

    async fn put_sms_code(&self, state: &SmsCodeState) -> Result<bool, StoreError> {
        let mut s = self.lock();
        let key = (state.phone.clone(), state.purpose);
        let current = s.phones.codes.get(&key).map_or(0, |o| o.version);
        if state.version != current + 1 {
            return Ok(false);
        }
        s.phones.codes.insert(key, state.clone());
        Ok(true)
    }

    async fn user_by_phone(&self, phone: &Phone) -> Result<Option<UserId>, StoreError> {
        Ok(self.lock().phones.by_phone.get(phone).copied())
    }

    async fn phone_of(&self, user: UserId) -> Result<Option<VerifiedPhone>, StoreError> {
        Ok(self.lock().phones.by_user.get(&user).cloned())
    }

    async fn set_phone(
        &self,
        user: UserId,
        phone: &Phone,
        verified_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut s = self.lock();
        if !s.users.contains_key(&user) {
            return Err(StoreError::not_found(format!("user {user}")));
        }
        let p = &mut s.phones;
        if p.by_phone.get(phone).is_some_and(|owner| *owner != user) {
            return Err(StoreError::conflict("phone number taken"));
        }
        if let Some(old) = p.by_user.remove(&user) {
            p.by_phone.remove(&old.phone);
        }
        p.by_phone.insert(phone.clone(), user);
        let verified = VerifiedPhone {
            phone: phone.clone(),
            verified_at,
        };
        p.by_user.insert(user, verified);
        Ok(())
    }
}
