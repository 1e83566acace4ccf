//! The embedded SQLite backend of [`UserStore`](crate::identity::UserStore),
//! [`SessionStore`](crate::session::SessionStore), [`RefreshTokenStore`](crate::session::RefreshTokenStore),
//! [`DirectoryStore`](crate::directory::DirectoryStore), [`AuditStore`](crate::audit::AuditStore)
//! and [`OneTimeStore`](crate::otp::OneTimeStore) (feature `sqlite`), one file per trait.
//!
//! Ids and token hashes are BLOBs, times INTEGER microseconds since the Unix epoch, lists JSON
//! arrays. Writes run in `BEGIN IMMEDIATE` transactions (one writer at a time, others wait up to
//! the busy timeout), in WAL mode so readers are never blocked. Every access-version bump happens
//! in the transaction of the write that causes it, and a refresh-token rotation is one such
//! transaction, so of two concurrent rotations exactly one finds the token unspent. What both
//! dialects share (column lists, statements, row decoding) is in `store::sql`.

use chrono::{DateTime, Utc};
use kisum_core::db::migrate::{EmbeddedMigration, MigrationSet};
use kisum_core::db::sql::{store_error, to_json_list, to_micros};
use kisum_core::db::{StoreError, StoreErrorKind, open_sqlite_pool};
use kisum_guard::MembershipId;
use sqlx::sqlite::SqlitePool;
use sqlx::{Sqlite, Transaction};

use crate::directory::{AccessBump, Membership};

use crate::store::sql::rows;

mod audit;
mod directory;
mod otp;
mod refresh;
mod sessions;
mod users;

/// Auth's SQLite migrations, tracked in `kisum_auth_migrations`.
pub const MIGRATIONS: MigrationSet = MigrationSet {
    component: "auth",
    table: "kisum_auth_migrations",
    migrations: &[
        EmbeddedMigration {
            version: 1,
            description: "initial",
            sql: include_str!("../../../../migrations/sqlite/auth/0001_initial.sql"),
        },
        EmbeddedMigration {
            version: 2,
            description: "audit",
            sql: include_str!("../../../../migrations/sqlite/auth/0002_audit.sql"),
        },
        EmbeddedMigration {
            version: 3,
            description: "one_time",
            sql: include_str!("../../../../migrations/sqlite/auth/0003_one_time.sql"),
        },
        EmbeddedMigration {
            version: 4,
            description: "refresh_grace",
            sql: include_str!("../../../../migrations/sqlite/auth/0004_refresh_grace.sql"),
        },
        EmbeddedMigration {
            version: 5,
            description: "events",
            sql: include_str!("../../../../migrations/sqlite/auth/0005_events.sql"),
        },
    ],
};

/// Users, sessions, companies, memberships, roles, delegations and refresh tokens in SQLite.
#[derive(Clone, Debug)]
pub struct SqliteAuthStore {
    pool: SqlitePool,
}

impl SqliteAuthStore {
    /// A store over an existing pool (migrations are the caller's: see [`MIGRATIONS`]).
    #[must_use]
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }

    /// Opens the database at `url` (`sqlite://path`) with the settings of
    /// [`open_sqlite_pool`], applies pending migrations, and returns the store.
    ///
    /// # Errors
    /// As [`open_sqlite_pool`]; `Invalid` for a database migrated by a newer version.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let pool = open_sqlite_pool(url).await?;
        MIGRATIONS
            .run_sqlite(&pool)
            .await
            .map_err(|e| StoreError::new(StoreErrorKind::Invalid, e.to_string()).with_source(e))?;
        Ok(Self { pool })
    }

    /// The pool.
    #[must_use]
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// A write transaction: `BEGIN IMMEDIATE` takes the database's write lock up front, so two
    /// writers queue instead of failing on upgrade.
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(store_error)
    }
}

// What the store traits' files share: encoders and the access-version bumps, which return
// their groups by membership id (the order of the `DirectoryStore` contract).

/// A version number for storage (`INTEGER`).
fn version_to_db(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v)
        .map_err(|_| StoreError::new(StoreErrorKind::Invalid, "access version out of range"))
}

/// Bumps one membership (its own change), if it exists.
async fn bump_one(
    tx: &mut Transaction<'static, Sqlite>,
    id: MembershipId,
    at: DateTime<Utc>,
) -> Result<Vec<AccessBump>, StoreError> {
    let rows = sqlx::query(
        "UPDATE memberships SET access_version = access_version + 1, updated_at = $2
         WHERE id = $1
         RETURNING id, access_version",
    )
    .bind(id.as_uuid())
    .bind(to_micros(at))
    .fetch_all(&mut **tx)
    .await
    .map_err(store_error)?;
    rows::bumps(&rows)
}

/// Completes the bumps of `own` (memberships already bumped by this write): bumps, once each,
/// the members holding a non-revoked delegation from one of them and not bumped yet (one level:
/// delegations are not transitive), and returns `own` followed by those bumps.
async fn bump_delegatees(
    tx: &mut Transaction<'static, Sqlite>,
    mut own: Vec<AccessBump>,
    at: DateTime<Utc>,
) -> Result<Vec<AccessBump>, StoreError> {
    if own.is_empty() {
        return Ok(own);
    }
    // The source ids as a JSON array of hex strings, turned back into BLOBs by `unhex`.
    let sources = to_json_list(
        own.iter()
            .map(|b| b.membership_id.as_uuid().simple().to_string()),
    );
    let rows = sqlx::query(
        "UPDATE memberships SET access_version = access_version + 1, updated_at = $2
         WHERE id IN (SELECT d.to_membership_id FROM delegations d
                      WHERE d.revoked_at IS NULL
                        AND d.from_membership_id IN (SELECT unhex(value) FROM json_each($1)))
           AND id NOT IN (SELECT unhex(value) FROM json_each($1))
         RETURNING id, access_version",
    )
    .bind(sources)
    .bind(to_micros(at))
    .fetch_all(&mut **tx)
    .await
    .map_err(store_error)?;
    own.extend(rows::bumps(&rows)?);
    Ok(own)
}

/// Inserts a membership; `NotFound` when its company does not exist, `Conflict` when the id or
/// the (company, user) pair is taken.
async fn insert_membership(
    tx: &mut Transaction<'static, Sqlite>,
    m: &Membership,
) -> Result<(), StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO memberships (id, company_id, user_id, status, roles, module_grants,
                                  access_version, created_at, updated_at)
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9
         WHERE EXISTS (SELECT 1 FROM companies WHERE id = $2)",
    )
    .bind(m.id.as_uuid())
    .bind(m.company_id.as_uuid())
    .bind(m.user_id.as_uuid())
    .bind(m.status.as_str())
    .bind(to_json_list(&m.roles))
    .bind(to_json_list(&m.module_grants))
    .bind(version_to_db(m.access_version)?)
    .bind(to_micros(m.created_at))
    .bind(to_micros(m.updated_at))
    .execute(&mut **tx)
    .await
    .map_err(store_error)?
    .rows_affected();
    if inserted == 1 {
        Ok(())
    } else {
        Err(StoreError::not_found(format!("company {}", m.company_id)))
    }
}

impl kisum_core::outbox::EventLogged for SqliteAuthStore {
    fn event_log(&self) -> std::sync::Arc<dyn kisum_core::outbox::EventLog> {
        std::sync::Arc::new(kisum_core::outbox::SqlEventLog::sqlite(
            self.pool().clone(),
            kisum_core::outbox::Component::Auth,
        ))
    }
}
