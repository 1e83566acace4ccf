//! [`OAuthStore`] in memory, under the store's one mutex: taking a flow or a login code and
//! deciding an unlink (counting the user's password, identities and passkeys) are each one
//! critical section.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;
use kisum_guard::UserId;

use super::MemoryAuthStore;
use crate::oauth::{Identity, IdentityId, LoginCode, OAuthFlow, OAuthStore, Unlinked};
use crate::otp::SecretHash;

/// The OAuth rows held by a [`MemoryAuthStore`].
#[derive(Default)]
pub(super) struct OAuthState {
    flows: HashMap<[u8; 32], OAuthFlow>,
    codes: HashMap<[u8; 32], LoginCode>,
    identities: HashMap<IdentityId, Identity>,
}

impl OAuthState {
    /// How many identities `user` has linked.
    pub(super) fn identities_of(&self, user: UserId) -> usize {
        self.identities
            .values()
            .filter(|i| i.user_id == user)
            .count()
    }

    /// Forgets `user`'s provider identities and login codes (an account erasure).
    pub(super) fn erase(&mut self, user: kisum_guard::UserId) {
        self.identities.retain(|_, i| i.user_id != user);
        self.codes.retain(|_, c| c.user_id != user);
    }
}

#[async_trait]
impl OAuthStore for MemoryAuthStore {
    async fn insert_flow(&self, flow: &OAuthFlow) -> Result<(), StoreError> {
        let mut s = self.lock();
        if s.oauth.flows.contains_key(&flow.state_hash.0) {
            return Err(StoreError::conflict("oauth state already stored"));
        }
        s.oauth.flows.insert(flow.state_hash.0, flow.clone());
        Ok(())
    }

    async fn take_flow(
        &self,
        state_hash: &SecretHash,
        at: DateTime<Utc>,
    ) -> Result<Option<OAuthFlow>, StoreError> {
        let flow = self.lock().oauth.flows.remove(&state_hash.0);
        Ok(flow.filter(|f| f.expires_at > at))
    }

    async fn insert_login_code(&self, code: &LoginCode) -> Result<(), StoreError> {
        let mut s = self.lock();
        if !s.users.contains_key(&code.user_id) {
            return Err(StoreError::not_found(format!("user {}", code.user_id)));
        }
        if s.oauth.codes.contains_key(&code.hash.0) {
            return Err(StoreError::conflict("login code already stored"));
        }
        s.oauth.codes.insert(code.hash.0, code.clone());
        Ok(())
    }

    async fn take_login_code(
        &self,
        hash: &SecretHash,
        at: DateTime<Utc>,
    ) -> Result<Option<LoginCode>, StoreError> {
        let code = self.lock().oauth.codes.remove(&hash.0);
        Ok(code.filter(|c| c.expires_at > at))
    }

    async fn insert_identity(&self, identity: &Identity) -> Result<(), StoreError> {
        let mut s = self.lock();
        if !s.users.contains_key(&identity.user_id) {
            return Err(StoreError::not_found(format!("user {}", identity.user_id)));
        }
        if s.oauth.identities.contains_key(&identity.id)
            || s.oauth
                .identities
                .values()
                .any(|i| i.provider == identity.provider && i.subject == identity.subject)
        {
            return Err(StoreError::conflict("identity already linked"));
        }
        s.oauth.identities.insert(identity.id, identity.clone());
        Ok(())
    }

    async fn find_identity(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<Identity>, StoreError> {
        Ok(self
            .lock()
            .oauth
            .identities
            .values()
            .find(|i| i.provider == provider && i.subject == subject)
            .cloned())
    }

    async fn list_identities(&self, user: UserId) -> Result<Vec<Identity>, StoreError> {
        let mut found: Vec<Identity> = self
            .lock()
            .oauth
            .identities
            .values()
            .filter(|i| i.user_id == user)
            .cloned()
            .collect();
        found.sort_by_key(|i| (i.created_at, i.id));
        Ok(found)
    }

    async fn touch_identity(
        &self,
        id: IdentityId,
        email: Option<&str>,
        email_verified: bool,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut s = self.lock();
        let Some(i) = s.oauth.identities.get_mut(&id) else {
            return Ok(false);
        };
        i.email = email.map(str::to_owned);
        i.email_verified = email_verified;
        i.last_used_at = Some(at);
        Ok(true)
    }

    async fn delete_identity(&self, user: UserId, id: IdentityId) -> Result<Unlinked, StoreError> {
        let mut s = self.lock();
        if s.oauth
            .identities
            .get(&id)
            .is_none_or(|i| i.user_id != user)
        {
            return Ok(Unlinked::NotFound);
        }
        // This identity and one more way in: a password, another identity, a passkey.
        if s.ways_in(user) < 2 {
            return Ok(Unlinked::LastWayIn);
        }
        s.oauth.identities.remove(&id);
        Ok(Unlinked::Deleted)
    }

    async fn prune_oauth(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut s = self.lock();
        let (flows, codes) = (s.oauth.flows.len(), s.oauth.codes.len());
        s.oauth.flows.retain(|_, f| f.expires_at >= before);
        s.oauth.codes.retain(|_, c| c.expires_at >= before);
        let gone = flows - s.oauth.flows.len() + codes - s.oauth.codes.len();
        Ok(u64::try_from(gone).unwrap_or(u64::MAX))
    }
}
