//! [`PasskeyStore`](crate::passkey::PasskeyStore) written once. Taking a ceremony is one
//! `DELETE … RETURNING`: of racing takes exactly one gets the row. Recording a use is one
//! conditional `UPDATE` (`… WHERE sign_count < $3 OR both are 0`): of racing sign-ins with one
//! counter exactly one matches (SQLite has one writer at a time; under PostgreSQL's READ
//! COMMITTED the loser re-reads the row after the winner's commit and no longer matches).
//! Deleting one is [`remove_way_in`], as unlinking a provider identity: one write transaction
//! holding the user's row, which counts the ways in left before it commits.
//!
//! The statements read the same in both dialects and are used only here.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::sql::{Dialect, SqlRow, Stmt, parse_enum};
use kisum_core::db::{StoreError, StoreErrorKind};
use kisum_guard::UserId;

use super::SqlAuthStore;
use super::users::remove_way_in;
use crate::oauth::Unlinked;
use crate::passkey::{Ceremony, CeremonyKind, PasskeyId, PasskeyRecord, PasskeyStore, PasskeyUse};

const CREATE_PASSKEY: &str = "INSERT INTO passkeys (id, user_id, name, credential_id, passkey, \
     sign_count, backup_eligible, backup_state, created_at, last_used_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

const LIST_PASSKEYS: &str = "SELECT id, user_id, name, credential_id, passkey, sign_count, \
     backup_eligible, backup_state, created_at, last_used_at \
     FROM passkeys WHERE user_id = $1 ORDER BY created_at, id";

const FIND_BY_CREDENTIAL: &str = "SELECT id, user_id, name, credential_id, passkey, sign_count, \
     backup_eligible, backup_state, created_at, last_used_at \
     FROM passkeys WHERE credential_id = $1";

const RECORD_USE: &str = "UPDATE passkeys SET passkey = $2, sign_count = $3, \
     backup_eligible = $4, backup_state = $5, last_used_at = $6 \
     WHERE id = $1 AND (sign_count < $3 OR ($3 = 0 AND sign_count = 0))";

const DELETE_PASSKEY: &str = "DELETE FROM passkeys WHERE id = $1 AND user_id = $2";

const PUT_CEREMONY: &str = "INSERT INTO passkey_ceremonies (id, kind, user_id, state, expires_at) \
     VALUES ($1, $2, $3, $4, $5)";

const TAKE_CEREMONY: &str = "DELETE FROM passkey_ceremonies WHERE id = $1 \
     RETURNING id, kind, user_id, state, expires_at";

const PRUNE_CEREMONIES: &str = "DELETE FROM passkey_ceremonies WHERE expires_at < $1";

fn passkey_row<R: SqlRow>(r: &R) -> Result<PasskeyRecord, StoreError> {
    Ok(PasskeyRecord {
        id: PasskeyId::from_uuid(r.uuid("id")?),
        user_id: UserId::from_uuid(r.uuid("user_id")?),
        name: r.text("name")?.to_owned(),
        credential_id: r.bytes("credential_id")?.to_vec(),
        passkey: r.text("passkey")?.to_owned(),
        sign_count: u32::try_from(r.int("sign_count")?).map_err(|_| {
            StoreError::new(StoreErrorKind::Invalid, "stored sign counter out of range")
        })?,
        backup_eligible: r.flag("backup_eligible")?,
        backup_state: r.flag("backup_state")?,
        created_at: r.time("created_at")?,
        last_used_at: r.time_opt("last_used_at")?,
    })
}

fn ceremony_row<R: SqlRow>(r: &R) -> Result<Ceremony, StoreError> {
    Ok(Ceremony {
        id: r.text("id")?.to_owned(),
        kind: parse_enum(r.text("kind")?, CeremonyKind::parse)?,
        user_id: r.uuid_opt("user_id")?.map(UserId::from_uuid),
        state: r.text("state")?.to_owned(),
        expires_at: r.time("expires_at")?,
    })
}

#[async_trait]
impl<D: Dialect> PasskeyStore for SqlAuthStore<D> {
    async fn create_passkey(&self, p: &PasskeyRecord) -> Result<(), StoreError> {
        Stmt::new(CREATE_PASSKEY)
            .id(p.id.as_uuid())
            .id(p.user_id.as_uuid())
            .text(p.name.as_str())
            .bytes(&p.credential_id)
            .text(p.passkey.as_str())
            .int(i64::from(p.sign_count))
            .flag(p.backup_eligible)
            .flag(p.backup_state)
            .time(p.created_at)
            .time_opt(p.last_used_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn list_passkeys(&self, user: UserId) -> Result<Vec<PasskeyRecord>, StoreError> {
        Stmt::new(LIST_PASSKEYS)
            .id(user.as_uuid())
            .fetch_all_as(&self.pool, passkey_row)
            .await
    }

    async fn find_passkey_by_credential(
        &self,
        credential_id: &[u8],
    ) -> Result<Option<PasskeyRecord>, StoreError> {
        Stmt::new(FIND_BY_CREDENTIAL)
            .bytes(credential_id)
            .fetch_optional_as(&self.pool, passkey_row)
            .await
    }

    async fn record_passkey_use(
        &self,
        id: PasskeyId,
        r#use: &PasskeyUse,
    ) -> Result<bool, StoreError> {
        let written = Stmt::new(RECORD_USE)
            .id(id.as_uuid())
            .text(r#use.passkey.as_str())
            .int(i64::from(r#use.sign_count))
            .flag(r#use.backup_eligible)
            .flag(r#use.backup_state)
            .time(r#use.at)
            .execute(&self.pool)
            .await?;
        Ok(written == 1)
    }

    async fn delete_passkey(
        &self,
        user: UserId,
        id: PasskeyId,
        keep_a_way_in: bool,
    ) -> Result<Unlinked, StoreError> {
        let delete = Stmt::new(DELETE_PASSKEY)
            .id(id.as_uuid())
            .id(user.as_uuid());
        remove_way_in(&self.pool, user, delete, keep_a_way_in).await
    }

    async fn put_ceremony(&self, c: &Ceremony) -> Result<(), StoreError> {
        Stmt::new(PUT_CEREMONY)
            .text(c.id.as_str())
            .text(c.kind.as_str())
            .id_opt(c.user_id.map(|u| *u.as_uuid()))
            .text(c.state.as_str())
            .time(c.expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn take_ceremony(&self, id: &str) -> Result<Option<Ceremony>, StoreError> {
        Stmt::new(TAKE_CEREMONY)
            .text(id.to_owned())
            .fetch_optional_as(&self.pool, ceremony_row)
            .await
    }

    async fn prune_ceremonies(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        Stmt::new(PRUNE_CEREMONIES)
            .time(before)
            .execute(&self.pool)
            .await
    }
}
