//! The migration runner: each component's migrations are compiled into the binary and tracked in
//! the component's own table (`kisum_auth_migrations`, `kisum_core_migrations`), never in a shared
//! `_sqlx_migrations`, so Auth and Core can share a database (decision 0004).

use std::borrow::Cow;
use std::collections::BTreeSet;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migrate, MigrateError, Migration, MigrationType, Migrator};

use super::sql::store_error;
use super::{StoreError, StoreErrorKind};

/// A migration compiled into the binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmbeddedMigration {
    /// The version (the file's numeric prefix).
    pub version: i64,
    /// What it does.
    pub description: &'static str,
    /// The SQL.
    pub sql: &'static str,
}

/// A [`MigrationSet`] for `component` (tracked in `kisum_<component>_migrations`) from SQL files
/// embedded at compile time: `dir` is their folder, relative to the file that invokes the macro
/// (as for `include_str!`), and each entry is `version "description" "file"`, in version order.
///
/// ```text
/// pub const MIGRATIONS: MigrationSet = kisum_core::migration_set!(
///     "core",
///     "../../../../migrations/sqlite/core/",
///     1 "initial" "0001_initial.sql",
///     2 "audit" "0002_audit.sql",
/// );
/// ```
///
/// Every set the workspace ships is built with it (`store::{sqlite,postgres}::MIGRATIONS` of
/// Auth and Core); the migration tests check each set's versions and tables.
#[macro_export]
macro_rules! migration_set {
    ($component:literal, $dir:literal, $($version:literal $description:literal $file:literal),+ $(,)?) => {
        $crate::db::migrate::MigrationSet {
            component: $component,
            table: concat!("kisum_", $component, "_migrations"),
            migrations: &[$(
                $crate::db::migrate::EmbeddedMigration {
                    version: $version,
                    description: $description,
                    sql: include_str!(concat!($dir, $file)),
                },
            )+],
        }
    };
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
    /// The migrations applied by this run, in version order.
    pub applied: Vec<EmbeddedMigration>,
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
                .copied()
                .collect(),
            already_applied: applied.len(),
        })
    }

    /// [`run_on`](Self::run_on) over a connection of `pool`.
    ///
    /// # Errors
    /// As [`run_on`](Self::run_on).
    pub async fn run_pool<D: sqlx::Database>(
        &self,
        pool: &sqlx::Pool<D>,
    ) -> Result<MigrationReport, MigrationError>
    where
        D::Connection: Migrate,
    {
        let mut conn = pool.acquire().await.map_err(|e| MigrationError::Database {
            component: self.component,
            source: store_error(e),
        })?;
        self.run_on(&mut *conn).await
    }

    /// [`run_pool`](Self::run_pool) over a PostgreSQL pool.
    ///
    /// # Errors
    /// As [`run_on`](Self::run_on).
    #[cfg(feature = "postgres")]
    pub async fn run_postgres(
        &self,
        pool: &sqlx::PgPool,
    ) -> Result<MigrationReport, MigrationError> {
        self.run_pool(pool).await
    }

    /// [`run_pool`](Self::run_pool) over a SQLite pool.
    ///
    /// # Errors
    /// As [`run_on`](Self::run_on).
    #[cfg(feature = "sqlite")]
    pub async fn run_sqlite(
        &self,
        pool: &sqlx::SqlitePool,
    ) -> Result<MigrationReport, MigrationError> {
        self.run_pool(pool).await
    }
}
