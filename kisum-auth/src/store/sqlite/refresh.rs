//! [`RefreshTokenStore`](crate::session::RefreshTokenStore) on SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;
use kisum_core::db::sql::{store_error, to_micros};

use super::SqliteAuthStore;
use crate::session::{RefreshRecord, RefreshTokenStore, Rotation, TokenHash};
use crate::store::sql::queries;
use crate::store::sql::queries::refresh_columns;
use crate::store::sql::rows;

/// Inserts a refresh token; `Conflict` when its hash exists, `NotFound` (the foreign key) when
/// its session does not.
async fn insert_refresh<'e>(
    executor: impl sqlx::SqliteExecutor<'e>,
    record: &RefreshRecord,
) -> Result<(), StoreError> {
    sqlx::query(concat!(
        "INSERT INTO refresh_tokens (",
        refresh_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    ))
    .bind(record.hash.0.as_slice())
    .bind(record.session_id.as_uuid())
    .bind(to_micros(record.created_at))
    .bind(to_micros(record.expires_at))
    .bind(record.used_at.map(to_micros))
    .bind(record.replaced_by.as_ref().map(|h| h.0.as_slice()))
    .bind(record.sealed.as_ref().map(<[u8; 32]>::as_slice))
    .bind(i64::from(record.grace_uses))
    .execute(executor)
    .await
    .map_err(store_error)?;
    Ok(())
}

#[async_trait]
impl RefreshTokenStore for SqliteAuthStore {
    async fn insert_refresh_token(&self, record: &RefreshRecord) -> Result<(), StoreError> {
        insert_refresh(&self.pool, record).await
    }

    async fn find_refresh_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<RefreshRecord>, StoreError> {
        sqlx::query(queries::REFRESH_BY_HASH)
            .bind(hash.0.as_slice())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?
            .as_ref()
            .map(rows::refresh)
            .transpose()
    }

    async fn claim_grace(
        &self,
        hash: &TokenHash,
        max_uses: u32,
    ) -> Result<Option<RefreshRecord>, StoreError> {
        sqlx::query(queries::CLAIM_GRACE)
            .bind(hash.0.as_slice())
            .bind(i64::from(max_uses))
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?
            .as_ref()
            .map(rows::refresh)
            .transpose()
    }

    async fn rotate_refresh_token(
        &self,
        old: &TokenHash,
        at: DateTime<Utc>,
        next: &RefreshRecord,
    ) -> Result<Rotation, StoreError> {
        // `BEGIN IMMEDIATE` makes concurrent rotations take turns: only the first finds the token
        // unspent.
        let mut tx = self.begin_write().await?;
        let spent = sqlx::query(queries::SPEND_REFRESH)
            .bind(old.0.as_slice())
            .bind(to_micros(at))
            .bind(next.hash.0.as_slice())
            .fetch_optional(&mut *tx)
            .await
            .map_err(store_error)?;
        let Some(spent) = spent else {
            let found = sqlx::query(queries::REFRESH_BY_HASH)
                .bind(old.0.as_slice())
                .fetch_optional(&mut *tx)
                .await
                .map_err(store_error)?
                .as_ref()
                .map(rows::refresh)
                .transpose()?;
            tx.rollback().await.map_err(store_error)?;
            return match found {
                Some(record) => Ok(Rotation::AlreadyUsed(record)),
                None => Err(StoreError::not_found("refresh token")),
            };
        };
        let spent = rows::refresh(&spent)?;
        insert_refresh(&mut *tx, next).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(Rotation::Rotated(spent))
    }
}
