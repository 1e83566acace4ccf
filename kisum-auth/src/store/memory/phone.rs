//! [`PhoneStore`] in memory: verified numbers (SMS code states are kept with every channel's,
//! in `otp.rs`).

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;
use kisum_guard::UserId;

use super::MemoryAuthStore;
use crate::otp::{PhoneStore, VerifiedPhone};
use crate::sms::Phone;

/// The part of the memory store's state this file keeps.
#[derive(Default)]
pub(super) struct PhoneState {
    by_user: HashMap<UserId, VerifiedPhone>,
    by_phone: HashMap<Phone, UserId>,
}

impl PhoneState {
    /// Forgets `user`'s verified number (an erased account); the number it was.
    pub(super) fn erase(&mut self, user: UserId) -> Option<Phone> {
        let verified = self.by_user.remove(&user)?;
        self.by_phone.remove(&verified.phone);
        Some(verified.phone)
    }
}

#[async_trait]
impl PhoneStore for MemoryAuthStore {
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
