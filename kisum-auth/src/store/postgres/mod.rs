//! The PostgreSQL backend of [`UserStore`](crate::identity::UserStore),
//! [`SessionStore`](crate::session::SessionStore), [`RefreshTokenStore`](crate::session::RefreshTokenStore),
//! [`DirectoryStore`](crate::directory::DirectoryStore), [`AuditStore`](crate::audit::AuditStore)
//! and [`OneTimeStore`](crate::otp::OneTimeStore) (feature `postgres`), one file per trait.
//!
//! Every write is one transaction. Access versions are raised with `UPDATE … RETURNING` inside
//! the writing transaction, so concurrent edits of one membership are serialized by its row lock
//! and each gets its own version; a refresh token is spent the same way, so of two concurrent
//! rotations exactly one finds it unspent. [`DirectoryStore::load_access`](crate::directory::DirectoryStore::load_access) takes three queries whatever
//! the number of roles and delegations.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use kisum_core::db::migrate::{EmbeddedMigration, MigrationSet};
use kisum_core::db::sql::store_error;
use kisum_core::db::{StoreError, StoreErrorKind, open_postgres_pool};
use sqlx::postgres::{PgConnectOptions, PgPool};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::directory::AccessBump;

use crate::store::sql::rows;

mod audit;
mod directory;
mod otp;
mod refresh;
mod sessions;
mod users;

/// Auth's PostgreSQL migrations, tracked in `kisum_auth_migrations`.
pub const MIGRATIONS: MigrationSet = MigrationSet {
    component: "auth",
    table: "kisum_auth_migrations",
    migrations: &[
        EmbeddedMigration {
            version: 1,
            description: "initial",
            sql: include_str!("../../../../migrations/postgres/auth/0001_initial.sql"),
        },
        EmbeddedMigration {
            version: 2,
            description: "audit",
            sql: include_str!("../../../../migrations/postgres/auth/0002_audit.sql"),
        },
        EmbeddedMigration {
            version: 3,
            description: "one_time",
            sql: include_str!("../../../../migrations/postgres/auth/0003_one_time.sql"),
        },
        EmbeddedMigration {
            version: 4,
            description: "refresh_grace",
            sql: include_str!("../../../../migrations/postgres/auth/0004_refresh_grace.sql"),
        },
        EmbeddedMigration {
            version: 5,
            description: "events",
            sql: include_str!("../../../../migrations/postgres/auth/0005_events.sql"),
        },
    ],
};

/// Users, sessions, companies, memberships, roles, delegations and refresh tokens in PostgreSQL.
#[derive(Clone, Debug)]
pub struct PgAuthStore {
    pool: PgPool,
}

impl PgAuthStore {
    /// A store over an existing pool (migrations are the caller's: see [`MIGRATIONS`]).
    #[must_use]
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Connects to `url`, applies pending migrations, and returns the store.
    ///
    /// # Errors
    /// `Unavailable` when the database cannot be reached; `Invalid` for a malformed URL or a
    /// database migrated by a newer version.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url).map_err(store_error)?;
        Self::connect_with(options).await
    }

    /// As [`connect`](Self::connect), from parsed options.
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub async fn connect_with(options: PgConnectOptions) -> Result<Self, StoreError> {
        let pool = open_postgres_pool(options).await?;
        MIGRATIONS
            .run_postgres(&pool)
            .await
            .map_err(|e| StoreError::new(StoreErrorKind::Invalid, e.to_string()).with_source(e))?;
        Ok(Self { pool })
    }

    /// The pool.
    #[must_use]
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// A write transaction (rows are locked by the statements themselves, `FOR UPDATE` where a
    /// read decides a write).
    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        self.pool.begin().await.map_err(store_error)
    }
}

// What the store traits' files share: encoders and the access-version bumps.

/// Lists as PostgreSQL binds them (`TEXT[]`).
fn strings<T: AsRef<str>>(items: impl IntoIterator<Item = T>) -> Vec<String> {
    items.into_iter().map(|s| s.as_ref().to_owned()).collect()
}

/// Bumps `ids` (already locked or to be locked now) and then every member holding a
/// non-revoked delegation from one of them; returns the bumps in the order of the
/// [`DirectoryStore`] contract (`ids`' own by id, then the delegatees' by id).
async fn bump(
    tx: &mut Transaction<'static, Postgres>,
    ids: &[Uuid],
    at: DateTime<Utc>,
) -> Result<Vec<AccessBump>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(
        "UPDATE memberships SET access_version = access_version + 1, updated_at = $2
         WHERE id = ANY($1) RETURNING id, access_version",
    )
    .bind(ids)
    .bind(at)
    .fetch_all(&mut **tx)
    .await
    .map_err(store_error)?;
    let mut own = rows::bumps(&rows)?;
    let rows = sqlx::query(
        "UPDATE memberships SET access_version = access_version + 1, updated_at = $2
         WHERE id IN (SELECT to_membership_id FROM delegations
                      WHERE from_membership_id = ANY($1) AND revoked_at IS NULL)
           AND id <> ALL($1)
         RETURNING id, access_version",
    )
    .bind(ids)
    .bind(at)
    .fetch_all(&mut **tx)
    .await
    .map_err(store_error)?;
    own.extend(rows::bumps(&rows)?);
    Ok(own)
}

impl kisum_core::outbox::EventLogged for PgAuthStore {
    fn event_log(&self) -> std::sync::Arc<dyn kisum_core::outbox::EventLog> {
        std::sync::Arc::new(kisum_core::outbox::SqlEventLog::postgres(
            self.pool().clone(),
            kisum_core::outbox::Component::Auth,
        ))
    }
}
