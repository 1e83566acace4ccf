//! [`UserStore`](crate::identity::UserStore) written once: nothing about users differs between
//! the dialects but how their times are bound.

use async_trait::async_trait;

use super::SqlAuthStore;
use crate::identity::UserStore;
use kisum_core::db::StoreError;
use kisum_core::db::sql::{Dialect, Stmt};
use kisum_guard::UserId;

use crate::identity::{Email, PasswordHash, User};
use crate::store::sql::{queries, rows};

/// `statement` with the user's columns bound as `$1`…`$8`, in the order of `user_columns!`.
fn with_user<'a>(statement: &'static str, user: &'a User) -> Stmt<'a> {
    Stmt::new(statement)
        .id(user.id.as_uuid())
        .text(user.email.as_str())
        .text_opt(user.name.as_deref())
        .text_opt(user.password_hash.as_ref().map(PasswordHash::expose))
        .flag(user.email_verified)
        .flag(user.disabled)
        .time(user.created_at)
        .time(user.updated_at)
}

#[async_trait]
impl<D: Dialect> UserStore for SqlAuthStore<D> {
    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        with_user(queries::INSERT_USER, user)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn get_user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        Stmt::new(queries::USER_BY_ID)
            .id(id.as_uuid())
            .fetch_optional_as(&self.pool, rows::user)
            .await
    }

    async fn find_user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        Stmt::new(queries::USER_BY_EMAIL)
            .text(email.as_str())
            .fetch_optional_as(&self.pool, rows::user)
            .await
    }

    async fn update_user(&self, user: &User) -> Result<(), StoreError> {
        let updated = with_user(queries::UPDATE_USER, user)
            .execute(&self.pool)
            .await?;
        if updated == 1 {
            Ok(())
        } else {
            Err(StoreError::not_found(format!("user {}", user.id)))
        }
    }
}
