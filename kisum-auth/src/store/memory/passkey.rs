//! [`PasskeyStore`] in memory, under the store's one mutex: a take or a counter check and its
//! write are one critical section, and so is a deletion and its count of the user's ways in.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;
use kisum_guard::UserId;

use super::MemoryAuthStore;
use crate::oauth::Unlinked;
use crate::passkey::{Ceremony, PasskeyId, PasskeyRecord, PasskeyStore, PasskeyUse};

/// The passkeys and ceremonies held by a [`MemoryAuthStore`].
#[derive(Default)]
pub(super) struct PasskeyState {
    passkeys: HashMap<PasskeyId, PasskeyRecord>,
    by_credential: HashMap<Vec<u8>, PasskeyId>,
    ceremonies: HashMap<String, Ceremony>,
}

impl PasskeyState {
    /// How many passkeys `user` has registered.
    pub(super) fn passkeys_of(&self, user: UserId) -> usize {
        self.passkeys.values().filter(|p| p.user_id == user).count()
    }

    /// Forgets `user`'s passkeys and ceremonies (an account erasure).
    pub(super) fn erase(&mut self, user: kisum_guard::UserId) {
        self.passkeys.retain(|_, p| p.user_id != user);
        let kept: std::collections::HashSet<_> = self.passkeys.keys().copied().collect();
        self.by_credential.retain(|_, id| kept.contains(id));
        self.ceremonies.retain(|_, c| c.user_id != Some(user));
    }
}

#[async_trait]
impl PasskeyStore for MemoryAuthStore {
    async fn create_passkey(&self, passkey: &PasskeyRecord) -> Result<(), StoreError> {
        let mut s = self.lock();
        if !s.users.contains_key(&passkey.user_id) {
            return Err(StoreError::not_found(format!("user {}", passkey.user_id)));
        }
        let p = &mut s.passkeys;
        if p.passkeys.contains_key(&passkey.id)
            || p.by_credential.contains_key(&passkey.credential_id)
        {
            return Err(StoreError::conflict("passkey already registered"));
        }
        p.by_credential
            .insert(passkey.credential_id.clone(), passkey.id);
        p.passkeys.insert(passkey.id, passkey.clone());
        Ok(())
    }

    async fn list_passkeys(&self, user: UserId) -> Result<Vec<PasskeyRecord>, StoreError> {
        let s = self.lock();
        let mut list: Vec<PasskeyRecord> = s
            .passkeys
            .passkeys
            .values()
            .filter(|p| p.user_id == user)
            .cloned()
            .collect();
        list.sort_by_key(|p| (p.created_at, p.id));
        Ok(list)
    }

    async fn find_passkey_by_credential(
        &self,
        credential_id: &[u8],
    ) -> Result<Option<PasskeyRecord>, StoreError> {
        let s = self.lock();
        Ok(s.passkeys
            .by_credential
            .get(credential_id)
            .and_then(|id| s.passkeys.passkeys.get(id))
            .cloned())
    }

    async fn record_passkey_use(
        &self,
        id: PasskeyId,
        r#use: &PasskeyUse,
    ) -> Result<bool, StoreError> {
        let mut s = self.lock();
        let Some(p) = s.passkeys.passkeys.get_mut(&id) else {
            return Ok(false);
        };
        let forward =
            r#use.sign_count > p.sign_count || (r#use.sign_count == 0 && p.sign_count == 0);
        if !forward {
            return Ok(false);
        }
        p.passkey.clone_from(&r#use.passkey);
        p.sign_count = r#use.sign_count;
        p.backup_eligible = r#use.backup_eligible;
        p.backup_state = r#use.backup_state;
        p.last_used_at = Some(r#use.at);
        Ok(true)
    }

    async fn delete_passkey(
        &self,
        user: UserId,
        id: PasskeyId,
        keep_a_way_in: bool,
    ) -> Result<Unlinked, StoreError> {
        let mut s = self.lock();
        if s.passkeys
            .passkeys
            .get(&id)
            .is_none_or(|r| r.user_id != user)
        {
            return Ok(Unlinked::NotFound);
        }
        // This passkey and one more way in: a password, an identity, another passkey.
        if keep_a_way_in && s.ways_in(user) < 2 {
            return Ok(Unlinked::LastWayIn);
        }
        let p = &mut s.passkeys;
        if let Some(r) = p.passkeys.remove(&id) {
            p.by_credential.remove(&r.credential_id);
        }
        Ok(Unlinked::Deleted)
    }

    async fn put_ceremony(&self, ceremony: &Ceremony) -> Result<(), StoreError> {
        let mut s = self.lock();
        if let Some(user) = ceremony.user_id
            && !s.users.contains_key(&user)
        {
            return Err(StoreError::not_found(format!("user {user}")));
        }
        if s.passkeys.ceremonies.contains_key(&ceremony.id) {
            return Err(StoreError::conflict("ceremony already exists"));
        }
        s.passkeys
            .ceremonies
            .insert(ceremony.id.clone(), ceremony.clone());
        Ok(())
    }

    async fn take_ceremony(&self, id: &str) -> Result<Option<Ceremony>, StoreError> {
        Ok(self.lock().passkeys.ceremonies.remove(id))
    }

    async fn prune_ceremonies(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut s = self.lock();
        let n = s.passkeys.ceremonies.len();
        s.passkeys.ceremonies.retain(|_, c| c.expires_at >= before);
        Ok(u64::try_from(n - s.passkeys.ceremonies.len()).unwrap_or(u64::MAX))
    }
}
