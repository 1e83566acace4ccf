//! What the SQL backends (features `postgres` and `sqlite`) share: error mapping, time and list
//! encodings, and the migration runner that keeps each component in its own migrations table.

use std::borrow::Cow;
use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use sqlx::SqlSafeStr;
use sqlx::migrate::{Migrate, MigrateError, Migration, MigrationType, Migrator};

use crate::store::{StoreError, StoreErrorKind};

/// Maps a sqlx error to a [`StoreError`] of the right kind, keeping it as the cause.
///
/// Unique violations are `Conflict`, foreign-key violations `NotFound` (the referenced row is
/// missing), connection and pool failures `Unavailable`, a missing row `NotFound`, decoding
/// failures `Invalid`.
#[must_use]
pub fn store_error(e: sqlx::Error) -> StoreError {
    let (kind, message) = match &e {
        sqlx::Error::Database(db) => match db.kind() {
            sqlx::error::ErrorKind::UniqueViolation => (StoreErrorKind::Conflict, "already exists"),
            sqlx::error::ErrorKind::ForeignKeyViolation => {
                (StoreErrorKind::NotFound, "a referenced row does not exist")
            }
            sqlx::error::ErrorKind::CheckViolation | sqlx::error::ErrorKind::NotNullViolation => {
                (StoreErrorKind::Invalid, "value rejected by the database")
            }
            _ => classify_code(db.code().as_deref()),
        },
        sqlx::Error::RowNotFound => (StoreErrorKind::NotFound, "row not found"),
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => (StoreErrorKind::Unavailable, "database unavailable"),
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::TypeNotFound { .. } => {
            (StoreErrorKind::Invalid, "stored data could not be decoded")
        }
        _ => (StoreErrorKind::Internal, "database error"),
    };
    StoreError::new(kind, message).with_source(e)
}

/// Classifies a database error code that sqlx does not name: PostgreSQL's connection, resource
/// and shutdown classes (`08`, `53`, `57P`) and serialization failures (`40`), SQLite's busy and
/// locked codes and its I/O, disk-full and cannot-open codes, are all "try again later".
fn classify_code(code: Option<&str>) -> (StoreErrorKind, &'static str) {
    match code {
        Some(c)
            if c.starts_with("08")
                || c.starts_with("53")
                || c.starts_with("57P")
                || c.starts_with("40") =>
        {
            (StoreErrorKind::Unavailable, "database unavailable")
        }
        Some("5" | "6" | "10" | "13" | "14" | "261" | "262" | "517") => {
            (StoreErrorKind::Unavailable, "database busy")
        }
        _ => (StoreErrorKind::Internal, "database error"),
    }
}

/// A time as integer microseconds since the Unix epoch (how SQLite stores times).
#[must_use]
pub fn to_micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// The time `micros` microseconds after the Unix epoch.
///
/// # Errors
/// `Invalid` when out of range.
pub fn from_micros(micros: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| StoreError::new(StoreErrorKind::Invalid, "stored time out of range"))
}

/// An optional time from optional microseconds.
///
/// # Errors
/// `Invalid` when out of range.
pub fn from_micros_opt(micros: Option<i64>) -> Result<Option<DateTime<Utc>>, StoreError> {
    micros.map(from_micros).transpose()
}

/// Encodes string-like items as a JSON array (how SQLite stores lists).
#[must_use]
pub fn to_json_list<T: AsRef<str>>(items: impl IntoIterator<Item = T>) -> String {
    let v: Vec<String> = items.into_iter().map(|s| s.as_ref().to_owned()).collect();
    serde_json::to_string(&v).unwrap_or_else(|_| "[]".to_owned())
}

/// Decodes a JSON array of strings, validating each item with `parse`.
///
/// # Errors
/// `Invalid` when the text is not a JSON array of valid items.
pub fn from_json_list<T, E>(
    text: &str,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<Vec<T>, StoreError> {
    let raw: Vec<String> = serde_json::from_str(text).map_err(|e| {
        StoreError::new(StoreErrorKind::Invalid, "stored list is not a JSON array").with_source(e)
    })?;
    raw.iter()
        .map(|s| {
            parse(s).map_err(|_| {
                StoreError::new(
                    StoreErrorKind::Invalid,
                    format!("stored value `{s}` is not valid"),
                )
            })
        })
        .collect()
}

/// Decodes stored strings (a PostgreSQL array), validating each item with `parse`.
///
/// # Errors
/// `Invalid` when an item is not valid.
pub fn parse_list<T, E>(
    items: &[String],
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<Vec<T>, StoreError> {
    items
        .iter()
        .map(|s| {
            parse(s).map_err(|_| {
                StoreError::new(
                    StoreErrorKind::Invalid,
                    format!("stored value `{s}` is not valid"),
                )
            })
        })
        .collect()
}

/// Parses a stored enum string.
///
/// # Errors
/// `Invalid` when `parse` does not know it.
pub fn parse_enum<T>(s: &str, parse: impl Fn(&str) -> Option<T>) -> Result<T, StoreError> {
    parse(s).ok_or_else(|| {
        StoreError::new(
            StoreErrorKind::Invalid,
            format!("stored value `{s}` is not valid"),
        )
    })
}

/// A version number as stored (`BIGINT`).
///
/// # Errors
/// `Invalid` for a negative number.
pub fn version_from_db(v: i64) -> Result<u64, StoreError> {
    u64::try_from(v)
        .map_err(|_| StoreError::new(StoreErrorKind::Invalid, "stored version is negative"))
}

/// A migration compiled into the binary.
#[derive(Debug, Clone, Copy)]
pub struct EmbeddedMigration {
    /// The version (the file's numeric prefix).
    pub version: i64,
    /// What it does.
    pub description: &'static str,
    /// The SQL.
    pub sql: &'static str,
}

/// The migrations of one component (`auth` or `core`) for one dialect, tracked in the
/// component's own table (`kisum_auth_migrations`, `kisum_core_migrations`), never in a shared
/// `_sqlx_migrations`.
#[derive(Debug, Clone, Copy)]
pub struct MigrationSet {
    /// The component: `auth` or `core`.
    pub component: &'static str,
    /// The table tracking applied migrations.
    pub table: &'static str,
    /// The migrations, in version order.
    pub migrations: &'static [EmbeddedMigration],
}

/// What a migration run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// The component.
    pub component: &'static str,
    /// The migrations applied by this run (version, description).
    pub applied: Vec<(i64, &'static str)>,
    /// How many were already applied.
    pub already_applied: usize,
}

/// Why migrations could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrationError {
    /// The database has migrations this binary does not know: it was migrated by a newer
    /// version. Refusing protects it from an older binary.
    #[error(
        "the {component} database has migrations this binary does not know (versions {versions:?}); it was migrated by a newer kisum"
    )]
    Drift {
        /// The component.
        component: &'static str,
        /// The unknown versions.
        versions: Vec<i64>,
    },
    /// An applied migration differs from the binary's copy.
    #[error("migration {version} of {component} was changed after it was applied")]
    Modified {
        /// The component.
        component: &'static str,
        /// The version.
        version: i64,
    },
    /// A previous run failed half-way.
    #[error(
        "migration {version} of {component} failed half-way earlier; repair the database by hand"
    )]
    Dirty {
        /// The component.
        component: &'static str,
        /// The version.
        version: i64,
    },
    /// The database could not be reached or refused a statement.
    #[error("cannot migrate {component}: {source}")]
    Database {
        /// The component.
        component: &'static str,
        /// The cause.
        #[source]
        source: StoreError,
    },
}

impl MigrationSet {
    /// The sqlx migrator for this set, using the component's own table.
    #[must_use]
    pub fn migrator(&self) -> Migrator {
        let migrations = self
            .migrations
            .iter()
            .map(|m| {
                Migration::new(
                    m.version,
                    Cow::Borrowed(m.description),
                    MigrationType::Simple,
                    m.sql.into_sql_str(),
                    false,
                )
            })
            .collect();
        let mut migrator = Migrator::with_migrations(migrations);
        migrator.dangerous_set_table_name(self.table);
        migrator
    }

    fn error(&self, e: MigrateError) -> MigrationError {
        let component = self.component;
        match e {
            MigrateError::VersionMissing(_) => MigrationError::Drift {
                component,
                versions: Vec::new(),
            },
            MigrateError::VersionMismatch(version) => {
                MigrationError::Modified { component, version }
            }
            MigrateError::Dirty(version) => MigrationError::Dirty { component, version },
            MigrateError::Execute(e) => MigrationError::Database {
                component,
                source: store_error(e),
            },
            other => MigrationError::Database {
                component,
                source: StoreError::new(StoreErrorKind::Internal, "migration failed")
                    .with_source(other),
            },
        }
    }

    /// Applies the pending migrations over `conn` (idempotent) and reports what it applied.
    ///
    /// # Errors
    /// [`MigrationError::Drift`] when the database knows versions this binary does not;
    /// `Modified`, `Dirty`, or `Database` when it cannot be reached.
    pub async fn run_on<C: Migrate>(
        &self,
        conn: &mut C,
    ) -> Result<MigrationReport, MigrationError> {
        conn.ensure_migrations_table(self.table)
            .await
            .map_err(|e| self.error(e))?;
        let applied: BTreeSet<i64> = conn
            .list_applied_migrations(self.table)
            .await
            .map_err(|e| self.error(e))?
            .into_iter()
            .map(|m| m.version)
            .collect();
        let known: BTreeSet<i64> = self.migrations.iter().map(|m| m.version).collect();
        let unknown: Vec<i64> = applied.difference(&known).copied().collect();
        if !unknown.is_empty() {
            return Err(MigrationError::Drift {
                component: self.component,
                versions: unknown,
            });
        }
        self.migrator()
            .run_direct(None, conn, false)
            .await
            .map_err(|e| self.error(e))?;
        Ok(MigrationReport {
            component: self.component,
            applied: self
                .migrations
                .iter()
                .filter(|m| !applied.contains(&m.version))
                .map(|m| (m.version, m.description))
                .collect(),
            already_applied: applied.len(),
        })
    }

    /// [`run_on`](Self::run_on) over a connection of a PostgreSQL pool.
    ///
    /// # Errors
    /// As [`run_on`](Self::run_on).
    #[cfg(feature = "postgres")]
    pub async fn run_postgres(
        &self,
        pool: &sqlx::PgPool,
    ) -> Result<MigrationReport, MigrationError> {
        let mut conn = pool.acquire().await.map_err(|e| MigrationError::Database {
            component: self.component,
            source: store_error(e),
        })?;
        self.run_on(&mut *conn).await
    }

    /// [`run_on`](Self::run_on) over a connection of a SQLite pool.
    ///
    /// # Errors
    /// As [`run_on`](Self::run_on).
    #[cfg(feature = "sqlite")]
    pub async fn run_sqlite(
        &self,
        pool: &sqlx::SqlitePool,
    ) -> Result<MigrationReport, MigrationError> {
        let mut conn = pool.acquire().await.map_err(|e| MigrationError::Database {
            component: self.component,
            source: store_error(e),
        })?;
        self.run_on(&mut *conn).await
    }
}

/// An audit detail as stored (JSON text; PostgreSQL casts it to `jsonb`).
///
/// # Errors
/// `Invalid` when it cannot be encoded.
pub fn detail_to_db(detail: &serde_json::Value) -> Result<String, StoreError> {
    serde_json::to_string(detail).map_err(|e| {
        StoreError::new(StoreErrorKind::Invalid, "audit detail cannot be encoded").with_source(e)
    })
}

/// An audit detail from its stored JSON text.
///
/// # Errors
/// `Invalid` when the text is not JSON.
pub fn detail_from_db(text: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(text).map_err(|e| {
        StoreError::new(StoreErrorKind::Invalid, "stored audit detail is not JSON").with_source(e)
    })
}
