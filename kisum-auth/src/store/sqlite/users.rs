//! [`UserStore`](crate::identity::UserStore) on SQLite: nothing of its own (`store::sql::users`).

use async_trait::async_trait;
use kisum_core::db::StoreError;
use kisum_guard::UserId;

use super::SqliteAuthStore;
use crate::identity::{Email, User, UserStore};
use crate::store::sql::users;

#[async_trait]
impl UserStore for SqliteAuthStore {
    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        users::create_user(&self.pool, user).await
    }

    async fn get_user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        users::get_user(&self.pool, id).await
    }

    async fn find_user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        users::find_user_by_email(&self.pool, email).await
    }

    async fn update_user(&self, user: &User) -> Result<(), StoreError> {
        users::update_user(&self.pool, user).await
    }
}
