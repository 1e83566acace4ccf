//! [`UserStore`](crate::identity::UserStore) written once: nothing about users differs between
//! the dialects but how their times are bound. Also the removal of one of a user's ways in
//! ([`remove_way_in`]), which unlinking a provider identity and deleting a passkey share.

use async_trait::async_trait;

use super::SqlAuthStore;
use crate::identity::UserStore;
use kisum_core::db::StoreError;
use kisum_core::db::sql::{Dialect, SqlRow, Stmt, store_error};
use kisum_guard::UserId;
use sqlx::Pool;

use crate::identity::{Email, PasswordHash, User};
use crate::oauth::Unlinked;
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

    async fn find_user_signing_in(
        &self,
        email: &Email,
    ) -> Result<Option<(User, Option<bool>)>, StoreError> {
        // On the sign-in's own connections when the store has them (decision 0056).
        Stmt::new(queries::USER_SIGNING_IN)
            .text(email.as_str())
            .fetch_optional_as(self.sign_in_db(), |r| {
                Ok((rows::user(r)?, Some(r.flag("totp_confirmed")?)))
            })
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

/// Removes one of `user`'s ways in with `delete` (a statement deleting one row of the user's: a
/// provider identity, a passkey), in one write transaction that first takes the user's row
/// ([`LOCK_USER`](queries::LOCK_USER)): [`Unlinked::NotFound`] when it deletes nothing; when
/// `keep_a_way_in`, [`Unlinked::LastWayIn`] (and nothing deleted) when the user would be left
/// with no password, no identity and no passkey ([`WAYS_IN`](queries::WAYS_IN), counted
/// after the delete, inside the transaction). Concurrent removals of one user's ways in run
/// one after the other, so each counts what the others left.
///
/// # Errors
/// `Unavailable`.
pub(crate) async fn remove_way_in<D: Dialect>(
    pool: &Pool<D>,
    user: UserId,
    delete: Stmt<'_>,
    keep_a_way_in: bool,
) -> Result<Unlinked, StoreError> {
    let mut tx = D::begin_write(pool).await?;
    Stmt::new(queries::LOCK_USER)
        .id(user.as_uuid())
        .execute(&mut tx)
        .await?;
    if delete.execute(&mut tx).await? == 0 {
        return Ok(Unlinked::NotFound);
    }
    if keep_a_way_in {
        let left = Stmt::new(queries::WAYS_IN)
            .id(user.as_uuid())
            .fetch_optional_as(&mut tx, |r| r.int("n"))
            .await?;
        if left.unwrap_or(0) == 0 {
            // Dropping the transaction rolls the delete back.
            return Ok(Unlinked::LastWayIn);
        }
    }
    tx.commit().await.map_err(store_error)?;
    Ok(Unlinked::Deleted)
}
