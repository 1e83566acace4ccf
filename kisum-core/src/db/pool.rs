//! Opening connection pools with the settings every Kisum store uses, so Core's and Auth's
//! stores (and the `kisum migrate` / audit commands) cannot drift apart on them, and what every
//! store's `connect` does: open a pool and apply the component's migrations.

#[cfg(feature = "sqlite")]
use std::str::FromStr;
use std::time::Duration;

use super::migrate::{MigrationError, MigrationSet};
use super::sql::store_error;
use super::{StoreError, StoreErrorKind};

/// How many connections a store's pool may hold and how long a statement waits for one: the
/// part of a pool an operator sizes (`KISUM_DATABASE_MAX_CONNECTIONS` in the servers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSize {
    /// The most connections the pool opens at once.
    pub max_connections: u32,
    /// How long a statement waits for a free connection before the store answers
    /// `Unavailable`.
    pub acquire_timeout: Duration,
}

impl PoolSize {
    /// PostgreSQL's default: 10 connections, 5 s to acquire one.
    pub const POSTGRES: Self = Self {
        max_connections: 10,
        acquire_timeout: Duration::from_secs(5),
    };

    /// SQLite's default: 8 connections (WAL: many readers, one writer), 10 s to acquire one.
    pub const SQLITE: Self = Self {
        max_connections: 8,
        acquire_timeout: Duration::from_secs(10),
    };

    /// This size with at most `max_connections` connections (at least 1).
    #[must_use]
    pub const fn with_max_connections(self, max_connections: u32) -> Self {
        Self {
            max_connections: if max_connections == 0 {
                1
            } else {
                max_connections
            },
            ..self
        }
    }
}

/// How long a pooled connection may sit idle before the pool checks it with a round trip
/// when a statement takes it (decision 0055).
///
/// sqlx checks every connection it hands out by default (`test_before_acquire`): one extra
/// round trip to the database, and one more wake-up of the server and of the caller, before
/// every statement, on top of the check sqlx always makes when a connection is returned. A
/// connection returned less than this long ago was checked then, so under load (connections
/// idle for micro- or milliseconds) statements go straight out; a connection idle for longer
/// (a quiet service, a NAT that dropped the flow, a database that restarted while nothing ran)
/// is still checked, and replaced if it is gone, before a statement relies on it.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub const CHECK_AFTER_IDLE: Duration = Duration::from_secs(1);

/// The pool options every Kisum pool starts from: a connection is checked when a statement
/// takes it only if it sat idle for [`CHECK_AFTER_IDLE`] or longer.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
#[must_use]
pub fn pool_options<DB: sqlx::Database>() -> sqlx::pool::PoolOptions<DB> {
    sqlx::pool::PoolOptions::new()
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= CHECK_AFTER_IDLE {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
}

/// Opens (creating if missing) the SQLite database at `url` with the settings every Kisum
/// SQLite store uses: WAL, foreign keys on, a 5 s busy timeout, [`PoolSize::SQLITE`].
///
/// # Errors
/// `Invalid` for a malformed URL, `Unavailable` when the file cannot be opened.
#[cfg(feature = "sqlite")]
pub async fn open_sqlite_pool(url: &str) -> Result<sqlx::SqlitePool, StoreError> {
    open_sqlite_pool_sized(url, PoolSize::SQLITE).await
}

/// As [`open_sqlite_pool`], with `size`.
///
/// # Errors
/// As [`open_sqlite_pool`].
#[cfg(feature = "sqlite")]
pub async fn open_sqlite_pool_sized(
    url: &str,
    size: PoolSize,
) -> Result<sqlx::SqlitePool, StoreError> {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
    let options = SqliteConnectOptions::from_str(url)
        .map_err(store_error)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5));
    pool_options::<sqlx::Sqlite>()
        .max_connections(size.max_connections)
        .acquire_timeout(size.acquire_timeout)
        .connect_with(options)
        .await
        .map_err(store_error)
}

/// Opens a pool to the PostgreSQL server of `options` of [`PoolSize::POSTGRES`] (10
/// connections, 5 s to acquire one), the settings every Kisum PostgreSQL store uses.
///
/// # Errors
/// `Unavailable` when the server cannot be reached.
#[cfg(feature = "postgres")]
pub async fn open_postgres_pool(
    options: sqlx::postgres::PgConnectOptions,
) -> Result<sqlx::PgPool, StoreError> {
    open_postgres_pool_sized(options, PoolSize::POSTGRES).await
}

/// As [`open_postgres_pool`], with `size`.
///
/// # Errors
/// As [`open_postgres_pool`].
#[cfg(feature = "postgres")]
pub async fn open_postgres_pool_sized(
    options: sqlx::postgres::PgConnectOptions,
    size: PoolSize,
) -> Result<sqlx::PgPool, StoreError> {
    pool_options::<sqlx::Postgres>()
        .max_connections(size.max_connections)
        .acquire_timeout(size.acquire_timeout)
        .connect_with(options)
        .await
        .map_err(store_error)
}

/// Opens the SQLite database at `url` as [`open_sqlite_pool_sized`] does and applies `migrations`:
/// what every SQLite store's `connect` does.
///
/// # Errors
/// As [`open_sqlite_pool`]; `Invalid` when the migrations cannot run (e.g. a database migrated
/// by a newer version).
#[cfg(feature = "sqlite")]
pub async fn open_migrated_sqlite_pool(
    url: &str,
    migrations: &MigrationSet,
    size: PoolSize,
) -> Result<sqlx::SqlitePool, StoreError> {
    let pool = open_sqlite_pool_sized(url, size).await?;
    migrations
        .run_sqlite(&pool)
        .await
        .map_err(migrations_failed)?;
    Ok(pool)
}

/// Opens a pool as [`open_postgres_pool_sized`] does and applies `migrations`: what every PostgreSQL
/// store's `connect` does.
///
/// # Errors
/// As [`open_postgres_pool`]; `Invalid` when the migrations cannot run (e.g. a database
/// migrated by a newer version).
#[cfg(feature = "postgres")]
pub async fn open_migrated_postgres_pool(
    options: sqlx::postgres::PgConnectOptions,
    migrations: &MigrationSet,
    size: PoolSize,
) -> Result<sqlx::PgPool, StoreError> {
    let pool = open_postgres_pool_sized(options, size).await?;
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

/// Connections of a pool kept out of it between the statements of one hot path (a sign-in's
/// two statements, decision 0056), so that sqlx does not check each of them with a round trip
/// every time it goes back to the pool.
///
/// A statement takes the connection kept last (the warmest), runs, and — only if it completed,
/// which leaves the connection between messages, ready for the next — puts it back here
/// instead of into the pool. A connection kept for [`CHECK_AFTER_IDLE`] or longer is handed back
/// to the pool instead (where sqlx checks it), and a failed or cancelled statement's connection
/// goes back to the pool the usual way, checked. While a statement waits for the pool, finished
/// connections go back to the pool, not here, so that it gets one. Every kept connection still
/// counts against the pool's size, so no more connections are ever open.
///
/// Meant for a pool of its own, every statement on it going through this holder: connections
/// kept here are not available to other users of the pool. For the same reason, closing the
/// pool (`Pool::close`, which waits for every connection to come back) waits for the kept
/// ones: drop the holder first.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub struct WarmConnections<DB: sqlx::Database> {
    pool: sqlx::Pool<DB>,
    state: std::sync::Mutex<Warm<DB>>,
}

/// The connections kept, the latest last, each with when it was kept; how many statements wait
/// for the pool.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
struct Warm<DB: sqlx::Database> {
    kept: Vec<(sqlx::pool::PoolConnection<DB>, std::time::Instant)>,
    waiting: usize,
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
impl<DB: sqlx::Database> std::fmt::Debug for WarmConnections<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WarmConnections")
            .field("pool", &self.pool)
            .field("kept", &self.kept_now())
            .finish()
    }
}

/// A statement waiting for the pool, counted until it has a connection or stops waiting.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
struct Waiting<'a, DB: sqlx::Database>(&'a WarmConnections<DB>);

#[cfg(any(feature = "sqlite", feature = "postgres"))]
impl<DB: sqlx::Database> Drop for Waiting<'_, DB> {
    fn drop(&mut self) {
        let mut state = self.0.state();
        state.waiting = state.waiting.saturating_sub(1);
    }
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
impl<DB: sqlx::Database> WarmConnections<DB> {
    /// Connections of `pool`, kept between statements.
    #[must_use]
    pub fn new(pool: sqlx::Pool<DB>) -> Self {
        Self {
            pool,
            state: std::sync::Mutex::new(Warm {
                kept: Vec::new(),
                waiting: 0,
            }),
        }
    }

    /// The pool the connections come from.
    #[must_use]
    pub fn pool(&self) -> &sqlx::Pool<DB> {
        &self.pool
    }

    fn state(&self) -> std::sync::MutexGuard<'_, Warm<DB>> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How many connections are kept now.
    #[must_use]
    pub fn kept_now(&self) -> usize {
        self.state().kept.len()
    }

    /// The connection kept last if it was kept for less than [`CHECK_AFTER_IDLE`], else one
    /// from the pool. When the last one is older, every kept connection is, and all go back to
    /// the pool (checked there).
    ///
    /// # Errors
    /// As the pool's `acquire`: `Unavailable` when no connection can be had in time.
    pub async fn take(&self) -> Result<sqlx::pool::PoolConnection<DB>, StoreError> {
        let stale: Vec<_> = {
            let mut state = self.state();
            if let Some((_, at)) = state.kept.last()
                && at.elapsed() < CHECK_AFTER_IDLE
                && let Some((conn, _)) = state.kept.pop()
            {
                return Ok(conn);
            }
            // Counted under the same lock as `keep` looks: a statement finishing from now on
            // hands its connection to the pool, where this one waits.
            state.waiting += 1;
            state.kept.drain(..).map(|(conn, _)| conn).collect()
        };
        let waiting = Waiting(self);
        // Dropped outside the lock: each goes back to the pool through sqlx's check.
        drop(stale);
        let conn = self.pool.acquire().await.map_err(store_error);
        drop(waiting);
        conn
    }

    /// Keeps `conn`, whose statement completed, for the next [`take`](Self::take); it goes back
    /// to the pool instead while a statement waits for one there.
    pub fn keep(&self, conn: sqlx::pool::PoolConnection<DB>) {
        let mut state = self.state();
        if state.waiting == 0 {
            state.kept.push((conn, std::time::Instant::now()));
        } else {
            drop(state);
            drop(conn);
        }
    }
}
