//! [`ApiKeyStore`](crate::api_key::ApiKeyStore) written once. A revocation is one conditional
//! `UPDATE` (`… AND revoked_at IS NULL`): of racing revocations exactly one matches, and the
//! table's trigger appends its `session_revoked` event in the same transaction (migration
//! 0013). A use is recorded by an `UPDATE` that only moves `last_used_at` forward.
//!
//! The statements read the same in both dialects and are used only here.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::sql::{Dialect, SqlRow, Stmt, parse_list};
use kisum_core::db::{StoreError, StoreErrorKind};
use kisum_guard::{CompanyId, ModuleKey, PermissionPattern, UserId};

use super::SqlAuthStore;
use crate::api_key::{ApiKey, ApiKeyId, ApiKeyStore};

const CREATE: &str = "INSERT INTO api_keys (id, company_id, name, prefix, secret_hash, \
     permissions, modules, created_by, created_at, expires_at, revoked_at, last_used_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";

const GET: &str = "SELECT id, company_id, name, prefix, secret_hash, permissions, modules, \
     created_by, created_at, expires_at, revoked_at, last_used_at FROM api_keys WHERE id = $1";

const LIST: &str = "SELECT id, company_id, name, prefix, secret_hash, permissions, modules, \
     created_by, created_at, expires_at, revoked_at, last_used_at \
     FROM api_keys WHERE company_id = $1 ORDER BY created_at, id";

const REVOKE: &str = "UPDATE api_keys SET revoked_at = $3 \
     WHERE id = $1 AND company_id = $2 AND revoked_at IS NULL";

const TOUCH: &str = "UPDATE api_keys SET last_used_at = $2 \
     WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)";

fn key_row<R: SqlRow>(r: &R) -> Result<ApiKey, StoreError> {
    let secret_hash: [u8; 32] = r.bytes("secret_hash")?.try_into().map_err(|_| {
        StoreError::new(
            StoreErrorKind::Invalid,
            "stored API key digest is not 32 bytes",
        )
    })?;
    Ok(ApiKey {
        id: ApiKeyId::from_uuid(r.uuid("id")?),
        company_id: CompanyId::from_uuid(r.uuid("company_id")?),
        name: r.text("name")?.to_owned(),
        prefix: r.text("prefix")?.to_owned(),
        secret_hash,
        permissions: parse_list(&r.list("permissions")?, PermissionPattern::new)?
            .into_iter()
            .collect(),
        modules: parse_list(&r.list("modules")?, ModuleKey::new)?
            .into_iter()
            .collect(),
        created_by: r.uuid_opt("created_by")?.map(UserId::from_uuid),
        created_at: r.time("created_at")?,
        expires_at: r.time_opt("expires_at")?,
        revoked_at: r.time_opt("revoked_at")?,
        last_used_at: r.time_opt("last_used_at")?,
    })
}

#[async_trait]
impl<D: Dialect> ApiKeyStore for SqlAuthStore<D> {
    async fn create_api_key(&self, k: &ApiKey) -> Result<(), StoreError> {
        Stmt::new(CREATE)
            .id(k.id.as_uuid())
            .id(k.company_id.as_uuid())
            .text(k.name.as_str())
            .text(k.prefix.as_str())
            .bytes(&k.secret_hash)
            .list(&k.permissions)
            .list(&k.modules)
            .id_opt(k.created_by.map(|u| *u.as_uuid()))
            .time(k.created_at)
            .time_opt(k.expires_at)
            .time_opt(k.revoked_at)
            .time_opt(k.last_used_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn get_api_key(&self, id: ApiKeyId) -> Result<Option<ApiKey>, StoreError> {
        Stmt::new(GET)
            .id(id.as_uuid())
            .fetch_optional_as(&self.pool, key_row)
            .await
    }

    async fn list_api_keys(&self, company: CompanyId) -> Result<Vec<ApiKey>, StoreError> {
        Stmt::new(LIST)
            .id(company.as_uuid())
            .fetch_all_as(&self.pool, key_row)
            .await
    }

    async fn revoke_api_key(
        &self,
        company: CompanyId,
        id: ApiKeyId,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let revoked = Stmt::new(REVOKE)
            .id(id.as_uuid())
            .id(company.as_uuid())
            .time(at)
            .execute(&self.pool)
            .await?;
        Ok(revoked == 1)
    }

    async fn touch_api_key(&self, id: ApiKeyId, at: DateTime<Utc>) -> Result<(), StoreError> {
        Stmt::new(TOUCH)
            .id(id.as_uuid())
            .time(at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
