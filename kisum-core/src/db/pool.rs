//! Opening connection pools with the settings every Kisum store uses, so Core's and Auth's
//! stores (and the `kisum migrate` / audit commands) cannot drift apart on them, and what every
//! store's `connect` does: open a pool and apply the component's migrations.

#[cfg(feature = "sqlite")]
use std::str::FromStr;
use std::time::Duration;

use super::migrate::{MigrationError, MigrationSet};
use super::sql::store_error;
use super::{StoreError, StoreErrorKind};

/// Opens (creating if missing) the SQLite database at `url` with the settings every Kisum
/// SQLite store uses: WAL, foreign keys on, a 5 s busy timeout.
///
/// # Errors
/// `Invalid` for a malformed URL, `Unavailable` when the file cannot be opened.
#[cfg(feature = "sqlite")]
pub async fn open_sqlite_pool(url: &str) -> Result<sqlx::SqlitePool, StoreError> {
    use sqlx::sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
    };
    let options = SqliteConnectOptions::from_str(url)
        .map_err(store_error)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5));
    SqlitePoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .map_err(store_error)
}

/// Opens a pool of up to 10 connections to the PostgreSQL server of `options` (5 s to acquire
/// one), the settings every Kisum PostgreSQL store uses.
///
/// # Errors
/// `Unavailable` when the server cannot be reached.
#[cfg(feature = "postgres")]
pub async fn open_postgres_pool(
    options: sqlx::postgres::PgConnectOptions,
) -> Result<sqlx::PgPool, StoreError> {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(10)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
        .map_err(store_error)
}

/// Opens the SQLite database at `url` as [`open_sqlite_pool`] does and applies `migrations`:
/// what every SQLite store's `connect` does.
///
/// # Errors
/// As [`open_sqlite_pool`]; `Invalid` when the migrations cannot run (e.g. a database migrated
/// by a newer version).
#[cfg(feature = "sqlite")]
pub async fn open_migrated_sqlite_pool(
    url: &str,
    migrations: &MigrationSet,
) -> Result<sqlx::SqlitePool, StoreError> {
    let pool = open_sqlite_pool(url).await?;
    migrations
        .run_sqlite(&pool)
        .await
        .map_err(migrations_failed)?;
    Ok(pool)
}

/// Opens a pool as [`open_postgres_pool`] does and applies `migrations`: what every PostgreSQL
/// store's `connect` does.
///
/// # Errors
/// As [`open_postgres_pool`]; `Invalid` when the migrations cannot run (e.g. a database
/// migrated by a newer version).
#[cfg(feature = "postgres")]
pub async fn open_migrated_postgres_pool(
    options: sqlx::postgres::PgConnectOptions,
    migrations: &MigrationSet,
) -> Result<sqlx::PgPool, StoreError> {
    let pool = open_postgres_pool(options).await?;
    migrations
        .run_postgres(&pool)
        .await
        .map_err(migrations_failed)?;
    Ok(pool)
}

/// A store cannot be used over a database its migrations could not bring up to date.
fn migrations_failed(e: MigrationError) -> StoreError {
    StoreError::new(StoreErrorKind::Invalid, e.to_string()).with_source(e)
}
