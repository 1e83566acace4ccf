//! [`UserStore`] in memory: users, unique by email.

use async_trait::async_trait;
use kisum_core::db::StoreError;
use kisum_guard::UserId;

use super::MemoryAuthStore;
use crate::identity::{Email, User, UserStore};
#[async_trait]
impl UserStore for MemoryAuthStore {
    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        let mut s = self.lock();
        if s.users.contains_key(&user.id) || s.users_by_email.contains_key(&user.email) {
            return Err(StoreError::conflict("email already registered"));
        }
        s.users_by_email.insert(user.email.clone(), user.id);
        s.users.insert(user.id, user.clone());
        Ok(())
    }

    async fn get_user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        Ok(self.lock().users.get(&id).cloned())
    }

    async fn find_user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        let s = self.lock();
        Ok(s.users_by_email
            .get(email)
            .and_then(|id| s.users.get(id))
            .cloned())
    }

    async fn update_user(&self, user: &User) -> Result<(), StoreError> {
        let mut s = self.lock();
        let Some(old_email) = s.users.get(&user.id).map(|u| u.email.clone()) else {
            return Err(StoreError::not_found(format!("user {}", user.id)));
        };
        if old_email != user.email {
            if s.users_by_email.contains_key(&user.email) {
                return Err(StoreError::conflict("email already registered"));
            }
            s.users_by_email.remove(&old_email);
            s.users_by_email.insert(user.email.clone(), user.id);
        }
        s.users.insert(user.id, user.clone());
        Ok(())
    }
}
