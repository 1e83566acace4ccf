//! [`LicenseStore`](crate::license::LicenseStore) written once over the dialect. Every write is
//! one transaction that appends its lifecycle event; an activation first locks the licence
//! (the dialect's [`LicenseSql::LOCK_LICENSE`]: `FOR UPDATE` on PostgreSQL, the write lock of
//! `BEGIN IMMEDIATE` on SQLite), then counts the seats in use, then inserts.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_guard::CompanyId;
use sqlx::{Pool, Transaction};
use uuid::Uuid;

use super::SqlCoreStore;
use crate::db::sql::{Dialect, SqlRow, Stmt, parse_enum, store_error, version_from_db};
use crate::db::{StoreError, StoreErrorKind};
use crate::license::{
    ActivateOutcome, Activation, KeyHash, License, LicenseEvent, LicenseEventType, LicenseStatus,
    LicenseStore, SeatUsage,
};

/// The licence statement a dialect writes its own way.
pub(crate) trait LicenseSql: Dialect {
    /// Reads licence `$1`'s `status, expires_at, max_activations` and locks it until the end
    /// of the transaction.
    const LOCK_LICENSE: &'static str;
}

macro_rules! license_columns {
    () => {
        "id, company_id, name, key_hash, max_activations, floating, heartbeat_interval, \
         expires_at, modules, status, version, created_at, updated_at"
    };
}

macro_rules! activation_columns {
    () => {
        "id, license_id, fingerprint, name, created_at, last_heartbeat_at, cull_after"
    };
}

const INSERT_LICENSE: &str = concat!(
    "INSERT INTO licenses (",
    license_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
);
const LICENSE_BY_ID: &str = concat!(
    "SELECT ",
    license_columns!(),
    " FROM licenses WHERE id = $1"
);
const LICENSE_BY_HASH: &str = concat!(
    "SELECT ",
    license_columns!(),
    " FROM licenses WHERE key_hash = $1"
);
const LICENSES_OF_COMPANY: &str = concat!(
    "SELECT ",
    license_columns!(),
    " FROM licenses WHERE company_id = $1 ORDER BY created_at, id"
);
const EXPIRING: &str = concat!(
    "SELECT ",
    license_columns!(),
    " FROM licenses WHERE status IN ('active', 'suspended') AND expires_at IS NOT NULL",
    " AND expires_at <= $1 ORDER BY expires_at, id LIMIT $2"
);
/// `$1` id, then the changeable columns, `$9` the new version, `$10` the version read.
const UPDATE_LICENSE: &str = "UPDATE licenses SET name = $2, max_activations = $3, floating = $4,
         heartbeat_interval = $5, expires_at = $6, modules = $7, status = $8, version = $9,
         updated_at = $11
     WHERE id = $1 AND version = $10";
const LICENSE_EXISTS: &str = "SELECT COUNT(*) AS n FROM licenses WHERE id = $1";

const INSERT_ACTIVATION: &str = concat!(
    "INSERT INTO license_activations (",
    activation_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
);
const REFRESH_ACTIVATION: &str = concat!(
    "UPDATE license_activations SET last_heartbeat_at = $3, cull_after = $4,",
    " name = COALESCE($5, name) WHERE license_id = $1 AND fingerprint = $2 RETURNING ",
    activation_columns!()
);
const HEARTBEAT: &str = concat!(
    "UPDATE license_activations SET last_heartbeat_at = $3, cull_after = $4",
    " WHERE license_id = $1 AND fingerprint = $2 RETURNING ",
    activation_columns!()
);
const COUNT_ACTIVATIONS: &str =
    "SELECT COUNT(*) AS n FROM license_activations WHERE license_id = $1";
const ACTIVATIONS: &str = concat!(
    "SELECT ",
    activation_columns!(),
    " FROM license_activations WHERE license_id = $1 ORDER BY created_at, id"
);
const DEACTIVATE: &str =
    "DELETE FROM license_activations WHERE license_id = $1 AND fingerprint = $2";
const STALE: &str = concat!(
    "SELECT ",
    activation_columns!(),
    " FROM license_activations WHERE cull_after IS NOT NULL AND cull_after < $1",
    " ORDER BY cull_after, id LIMIT $2"
);
const CULL: &str = "DELETE FROM license_activations WHERE id = $1 AND cull_after = $2
     AND EXISTS (SELECT 1 FROM licenses l WHERE l.id = license_activations.license_id AND l.floating)";

/// `$1` now: the seats of the licences usable then, and their activations.
const SEAT_USAGE: &str = "SELECT
     (SELECT CAST(COALESCE(SUM(max_activations), 0) AS BIGINT) FROM licenses
       WHERE status = 'active' AND (expires_at IS NULL OR expires_at > $1)) AS total,
     (SELECT COUNT(*) FROM license_activations a JOIN licenses l ON l.id = a.license_id
       WHERE l.status = 'active' AND (l.expires_at IS NULL OR l.expires_at > $1)) AS in_use";

const INSERT_EVENT: &str = "INSERT INTO license_events (id, license_id, type, at, actor, details)
     VALUES ($1, $2, $3, $4, $5, $6)";
const EVENTS: &str = "SELECT id, license_id, type, at, actor, details FROM license_events
     WHERE license_id = $1 ORDER BY at, id";

fn invalid(message: &str) -> StoreError {
    StoreError::new(StoreErrorKind::Invalid, message.to_owned())
}

fn small(n: i64) -> Result<u32, StoreError> {
    u32::try_from(n).map_err(|_| invalid("stored number out of range"))
}

fn license(r: &impl SqlRow) -> Result<License, StoreError> {
    let hash: [u8; 32] = r
        .bytes("key_hash")?
        .try_into()
        .map_err(|_| invalid("stored key hash is not 32 bytes"))?;
    let modules = match r.text_opt("modules")? {
        Some(text) => {
            Some(serde_json::from_str(text).map_err(|_| invalid("stored modules are not a list"))?)
        }
        None => None,
    };
    let interval = small(r.int("heartbeat_interval")?)?;
    Ok(License {
        id: r.uuid("id")?,
        company_id: CompanyId::from_uuid(r.uuid("company_id")?),
        name: r.text("name")?.to_owned(),
        key_hash: KeyHash(hash),
        max_activations: small(r.int("max_activations")?)?,
        floating: r.flag("floating")?,
        heartbeat_interval: (interval > 0).then_some(interval),
        expires_at: r.time_opt("expires_at")?,
        modules,
        status: parse_enum(r.text("status")?, LicenseStatus::parse)?,
        version: version_from_db(r.int("version")?)?,
        created_at: r.time("created_at")?,
        updated_at: r.time("updated_at")?,
    })
}

fn activation(r: &impl SqlRow) -> Result<Activation, StoreError> {
    Ok(Activation {
        id: r.uuid("id")?,
        license_id: r.uuid("license_id")?,
        fingerprint: r.text("fingerprint")?.to_owned(),
        name: r.text_opt("name")?.map(str::to_owned),
        created_at: r.time("created_at")?,
        last_heartbeat_at: r.time("last_heartbeat_at")?,
        cull_after: r.time_opt("cull_after")?,
    })
}

fn event(r: &impl SqlRow) -> Result<LicenseEvent, StoreError> {
    Ok(LicenseEvent {
        id: r.uuid("id")?,
        license_id: r.uuid("license_id")?,
        kind: parse_enum(r.text("type")?, LicenseEventType::parse)?,
        at: r.time("at")?,
        actor: r.text("actor")?.to_owned(),
        details: crate::db::sql::detail_from_db(r.text("details")?)?,
    })
}

fn db_int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn modules_text(license: &License) -> Option<String> {
    license.modules.as_ref().map(crate::db::sql::to_json_list)
}

async fn append_event<D: Dialect>(
    tx: &mut Transaction<'static, D>,
    e: &LicenseEvent,
) -> Result<(), StoreError> {
    Stmt::new(INSERT_EVENT)
        .id(&e.id)
        .id(&e.license_id)
        .text(e.kind.as_str())
        .time(e.at)
        .text(e.actor.as_str())
        .text(crate::db::sql::detail_to_db(&e.details)?)
        .execute(tx)
        .await?;
    Ok(())
}

async fn insert_license<D: Dialect>(
    pool: &Pool<D>,
    l: &License,
    e: &LicenseEvent,
) -> Result<(), StoreError> {
    let mut tx = D::begin_write(pool).await?;
    Stmt::new(INSERT_LICENSE)
        .id(&l.id)
        .id(l.company_id.as_uuid())
        .text(l.name.as_str())
        .bytes(&l.key_hash.0)
        .int(i64::from(l.max_activations))
        .flag(l.floating)
        .int(i64::from(l.heartbeat_interval.unwrap_or(0)))
        .time_opt(l.expires_at)
        .value(crate::db::sql::Value::Text(modules_text(l).map(Into::into)))
        .text(l.status.as_str())
        .int(db_int(l.version))
        .time(l.created_at)
        .time(l.updated_at)
        .execute(&mut tx)
        .await?;
    append_event(&mut tx, e).await?;
    tx.commit().await.map_err(store_error)
}

async fn update_license<D: Dialect>(
    pool: &Pool<D>,
    l: &License,
    e: Option<&LicenseEvent>,
) -> Result<(), StoreError> {
    let mut tx = D::begin_write(pool).await?;
    let changed = Stmt::new(UPDATE_LICENSE)
        .id(&l.id)
        .text(l.name.as_str())
        .int(i64::from(l.max_activations))
        .flag(l.floating)
        .int(i64::from(l.heartbeat_interval.unwrap_or(0)))
        .time_opt(l.expires_at)
        .value(crate::db::sql::Value::Text(modules_text(l).map(Into::into)))
        .text(l.status.as_str())
        .int(db_int(l.version))
        .int(db_int(l.version.saturating_sub(1)))
        .time(l.updated_at)
        .execute(&mut tx)
        .await?;
    if changed == 0 {
        let exists = Stmt::new(LICENSE_EXISTS)
            .id(&l.id)
            .fetch_one(&mut tx)
            .await?
            .int("n")?;
        tx.rollback().await.map_err(store_error)?;
        return Err(if exists > 0 {
            StoreError::conflict("licence changed concurrently")
        } else {
            StoreError::not_found("licence")
        });
    }
    if let Some(e) = e {
        append_event(&mut tx, e).await?;
    }
    tx.commit().await.map_err(store_error)
}

async fn activate<D: LicenseSql>(
    pool: &Pool<D>,
    a: &Activation,
    now: DateTime<Utc>,
    e: &LicenseEvent,
) -> Result<ActivateOutcome, StoreError> {
    let mut tx = D::begin_write(pool).await?;
    let Some(row) = Stmt::new(D::LOCK_LICENSE)
        .id(&a.license_id)
        .fetch_optional(&mut tx)
        .await?
    else {
        tx.rollback().await.map_err(store_error)?;
        return Ok(ActivateOutcome::NotFound);
    };
    let status = parse_enum(row.text("status")?, LicenseStatus::parse)?;
    let past_expiry = row.time_opt("expires_at")?.is_some_and(|x| x <= now);
    let max = row.int("max_activations")?;
    let effective = match status {
        LicenseStatus::Active | LicenseStatus::Suspended if past_expiry => LicenseStatus::Expired,
        s => s,
    };
    if effective != LicenseStatus::Active {
        tx.rollback().await.map_err(store_error)?;
        return Ok(ActivateOutcome::Inactive(effective));
    }
    if let Some(existing) = Stmt::new(REFRESH_ACTIVATION)
        .id(&a.license_id)
        .text(a.fingerprint.as_str())
        .time(a.last_heartbeat_at)
        .time_opt(a.cull_after)
        .text_opt(a.name.as_deref())
        .fetch_optional_as(&mut tx, activation)
        .await?
    {
        tx.commit().await.map_err(store_error)?;
        return Ok(ActivateOutcome::AlreadyActive(existing));
    }
    let used = Stmt::new(COUNT_ACTIVATIONS)
        .id(&a.license_id)
        .fetch_one(&mut tx)
        .await?
        .int("n")?;
    if used >= max {
        tx.rollback().await.map_err(store_error)?;
        return Ok(ActivateOutcome::LimitReached);
    }
    Stmt::new(INSERT_ACTIVATION)
        .id(&a.id)
        .id(&a.license_id)
        .text(a.fingerprint.as_str())
        .text_opt(a.name.as_deref())
        .time(a.created_at)
        .time(a.last_heartbeat_at)
        .time_opt(a.cull_after)
        .execute(&mut tx)
        .await?;
    append_event(&mut tx, e).await?;
    tx.commit().await.map_err(store_error)?;
    Ok(ActivateOutcome::Activated(a.clone()))
}

/// Runs `statement` (which deletes at most one activation) and appends `e` if it did, in one
/// transaction; whether it did.
async fn delete_with_event<D: Dialect>(
    pool: &Pool<D>,
    statement: Stmt<'_>,
    e: &LicenseEvent,
) -> Result<bool, StoreError> {
    let mut tx = D::begin_write(pool).await?;
    if statement.execute(&mut tx).await? == 0 {
        tx.rollback().await.map_err(store_error)?;
        return Ok(false);
    }
    append_event(&mut tx, e).await?;
    tx.commit().await.map_err(store_error)?;
    Ok(true)
}

#[async_trait]
impl<D: LicenseSql> LicenseStore for SqlCoreStore<D> {
    async fn insert_license(
        &self,
        license: &License,
        event: &LicenseEvent,
    ) -> Result<(), StoreError> {
        insert_license(&self.pool, license, event).await
    }

    async fn license(&self, id: Uuid) -> Result<Option<License>, StoreError> {
        Stmt::new(LICENSE_BY_ID)
            .id(&id)
            .fetch_optional_as(&self.pool, license)
            .await
    }

    async fn license_by_key_hash(&self, hash: &KeyHash) -> Result<Option<License>, StoreError> {
        Stmt::new(LICENSE_BY_HASH)
            .bytes(&hash.0)
            .fetch_optional_as(&self.pool, license)
            .await
    }

    async fn licenses_of_company(&self, company_id: CompanyId) -> Result<Vec<License>, StoreError> {
        Stmt::new(LICENSES_OF_COMPANY)
            .id(company_id.as_uuid())
            .fetch_all_as(&self.pool, license)
            .await
    }

    async fn update_license(
        &self,
        license: &License,
        event: Option<&LicenseEvent>,
    ) -> Result<(), StoreError> {
        update_license(&self.pool, license, event).await
    }

    async fn activate(
        &self,
        activation: &Activation,
        now: DateTime<Utc>,
        event: &LicenseEvent,
    ) -> Result<ActivateOutcome, StoreError> {
        activate(&self.pool, activation, now, event).await
    }

    async fn activations(&self, license_id: Uuid) -> Result<Vec<Activation>, StoreError> {
        Stmt::new(ACTIVATIONS)
            .id(&license_id)
            .fetch_all_as(&self.pool, activation)
            .await
    }

    async fn heartbeat(
        &self,
        license_id: Uuid,
        fingerprint: &str,
        now: DateTime<Utc>,
        cull_after: Option<DateTime<Utc>>,
    ) -> Result<Option<Activation>, StoreError> {
        Stmt::new(HEARTBEAT)
            .id(&license_id)
            .text(fingerprint)
            .time(now)
            .time_opt(cull_after)
            .fetch_optional_as(&self.pool, activation)
            .await
    }

    async fn deactivate(
        &self,
        license_id: Uuid,
        fingerprint: &str,
        event: &LicenseEvent,
    ) -> Result<bool, StoreError> {
        let statement = Stmt::new(DEACTIVATE).id(&license_id).text(fingerprint);
        delete_with_event(&self.pool, statement, event).await
    }

    async fn events(&self, license_id: Uuid) -> Result<Vec<LicenseEvent>, StoreError> {
        Stmt::new(EVENTS)
            .id(&license_id)
            .fetch_all_as(&self.pool, event)
            .await
    }

    async fn expiring(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<License>, StoreError> {
        Stmt::new(EXPIRING)
            .time(now)
            .int(i64::from(limit))
            .fetch_all_as(&self.pool, license)
            .await
    }

    async fn stale_activations(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Activation>, StoreError> {
        Stmt::new(STALE)
            .time(now)
            .int(i64::from(limit))
            .fetch_all_as(&self.pool, activation)
            .await
    }

    async fn seat_usage(&self, now: DateTime<Utc>) -> Result<SeatUsage, StoreError> {
        let row = Stmt::new(SEAT_USAGE)
            .time(now)
            .fetch_one(&self.pool)
            .await?;
        let count = |n: i64| u64::try_from(n).map_err(|_| invalid("negative seat count"));
        Ok(SeatUsage {
            in_use: count(row.int("in_use")?)?,
            total: count(row.int("total")?)?,
        })
    }

    async fn cull(
        &self,
        activation: &Activation,
        event: &LicenseEvent,
    ) -> Result<bool, StoreError> {
        let statement = Stmt::new(CULL)
            .id(&activation.id)
            .time_opt(activation.cull_after);
        delete_with_event(&self.pool, statement, event).await
    }
}
