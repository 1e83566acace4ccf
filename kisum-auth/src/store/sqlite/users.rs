//! [`UserStore`](crate::identity::UserStore) on SQLite.

use async_trait::async_trait;
use kisum_core::db::StoreError;
use kisum_core::db::sql::{store_error, to_micros};
use kisum_guard::UserId;

use super::SqliteAuthStore;
use crate::identity::{Email, PasswordHash, User, UserStore};
use crate::store::sql::queries;
use crate::store::sql::queries::user_columns;
use crate::store::sql::rows;

#[async_trait]
impl UserStore for SqliteAuthStore {
    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        sqlx::query(concat!(
            "INSERT INTO users (",
            user_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(user.id.as_uuid())
        .bind(user.email.as_str())
        .bind(user.name.as_deref())
        .bind(user.password_hash.as_ref().map(PasswordHash::expose))
        .bind(user.email_verified)
        .bind(user.disabled)
        .bind(to_micros(user.created_at))
        .bind(to_micros(user.updated_at))
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn get_user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        sqlx::query(queries::USER_BY_ID)
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?
            .as_ref()
            .map(rows::user)
            .transpose()
    }

    async fn find_user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        sqlx::query(queries::USER_BY_EMAIL)
            .bind(email.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?
            .as_ref()
            .map(rows::user)
            .transpose()
    }

    async fn update_user(&self, user: &User) -> Result<(), StoreError> {
        let updated = sqlx::query(queries::UPDATE_USER)
            .bind(user.id.as_uuid())
            .bind(user.email.as_str())
            .bind(user.name.as_deref())
            .bind(user.password_hash.as_ref().map(PasswordHash::expose))
            .bind(user.email_verified)
            .bind(user.disabled)
            .bind(to_micros(user.created_at))
            .bind(to_micros(user.updated_at))
            .execute(&self.pool)
            .await
            .map_err(store_error)?
            .rows_affected();
        if updated == 1 {
            Ok(())
        } else {
            Err(StoreError::not_found(format!("user {}", user.id)))
        }
    }
}
