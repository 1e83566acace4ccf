//! [`UserStore`](crate::identity::UserStore) written once: nothing about users differs between
//! the dialects but how their times are bound.

use async_trait::async_trait;

use super::SqlAuthStore;
use crate::identity::UserStore;
use kisum_core::db::StoreError;
use kisum_core::db::sql::{Dialect, Stmt};
use kisum_guard::UserId;
use sqlx::Pool;

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

/// [`UserStore::create_user`](crate::identity::UserStore::create_user).
pub(crate) async fn create_user<D: Dialect>(pool: &Pool<D>, user: &User) -> Result<(), StoreError> {
    with_user(queries::INSERT_USER, user).execute(pool).await?;
    Ok(())
}

/// [`UserStore::get_user`](crate::identity::UserStore::get_user).
pub(crate) async fn get_user<D: Dialect>(
    pool: &Pool<D>,
    id: UserId,
) -> Result<Option<User>, StoreError> {
    Stmt::new(queries::USER_BY_ID)
        .id(id.as_uuid())
        .fetch_optional_as(pool, rows::user)
        .await
}

/// [`UserStore::find_user_by_email`](crate::identity::UserStore::find_user_by_email).
pub(crate) async fn find_user_by_email<D: Dialect>(
    pool: &Pool<D>,
    email: &Email,
) -> Result<Option<User>, StoreError> {
    Stmt::new(queries::USER_BY_EMAIL)
        .text(email.as_str())
        .fetch_optional_as(pool, rows::user)
        .await
}

/// [`UserStore::update_user`](crate::identity::UserStore::update_user).
pub(crate) async fn update_user<D: Dialect>(pool: &Pool<D>, user: &User) -> Result<(), StoreError> {
    let updated = with_user(queries::UPDATE_USER, user).execute(pool).await?;
    if updated == 1 {
        Ok(())
    } else {
        Err(StoreError::not_found(format!("user {}", user.id)))
    }
}

#[async_trait]
impl<D: Dialect> UserStore for SqlAuthStore<D> {
    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        create_user(&self.pool, user).await
    }

    async fn get_user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        get_user(&self.pool, id).await
    }

    async fn find_user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        find_user_by_email(&self.pool, email).await
    }

    async fn update_user(&self, user: &User) -> Result<(), StoreError> {
        update_user(&self.pool, user).await
    }
}
