//! `kisum audit prune --older-than <duration> [--component auth|core]`: deletes Auth's audit
//! events (or Core's audit records) older than a retention period, through the audit store of
//! the database's backend.

use std::time::Duration;

use crate::config::env;

use chrono::{DateTime, TimeDelta, Utc};
use clap::{Args, Subcommand};
use kisum_auth::audit::AuditStore;
use kisum_guard::Clock;

use crate::config::{ConfigProblem, DatabaseArgs, Secret, parse_duration};

/// `kisum audit` subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum AuditCommand {
    /// Delete audit events older than a retention period (run it from a daily job).
    Prune(PruneArgs),
}

/// Arguments of `kisum audit prune`.
#[derive(Debug, Clone, Args)]
pub struct PruneArgs {
    /// Auth's database.
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Retention: events older than this are deleted, e.g. `90d` or `2160h`.
    #[arg(long, env = env::AUDIT_OLDER_THAN)]
    pub older_than: String,
    /// Whose audit log: Auth's (`audit_events`, the default) or Core's (`core_audit`).
    #[arg(
        long,
        env = env::AUDIT_COMPONENT,
        value_enum,
        default_value = "auth"
    )]
    pub component: AuditComponent,
}

/// Whose audit log to prune.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum AuditComponent {
    /// Auth's audit events.
    #[default]
    Auth,
    /// Core's audit records.
    Core,
}

/// What a prune did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PruneReport {
    /// Events strictly older than this were deleted.
    pub cutoff: DateTime<Utc>,
    /// How many.
    pub deleted: u64,
}

/// Why a prune failed. Messages never hold the database password.
#[derive(Debug, thiserror::Error)]
pub enum PruneError {
    /// The arguments are wrong.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Config(Vec<ConfigProblem>),
    /// The database cannot be reached or the delete failed (e.g. Auth's schema is missing:
    /// run `kisum migrate --component auth` first).
    #[error("cannot prune the audit log at `{url}`: {}", causes(.source))]
    Store {
        /// The URL with its password replaced by `***`.
        url: String,
        /// The cause.
        #[source]
        source: kisum_auth::store::StoreError,
    },
}

/// The error and its causes, `: `-separated (a store error alone says only "database error").
fn causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let line = c.to_string();
        if !text.contains(&line) {
            text = format!("{text}: {line}");
        }
        cause = c.source();
    }
    text
}

/// What `kisum audit prune` was asked to do, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PruneConfig {
    /// Whose audit log.
    pub component: AuditComponent,
    /// The database URL (redacted in `Debug`).
    pub database_url: Secret,
    /// The retention: events older than this are deleted.
    pub older_than: Duration,
}

impl PruneArgs {
    /// The component, the database URL and the retention.
    ///
    /// # Errors
    /// Every problem of the arguments.
    pub fn validate(&self) -> Result<PruneConfig, Vec<ConfigProblem>> {
        let db = self.database.validate();
        let older_than = parse_duration(&self.older_than).map_err(|message| ConfigProblem {
            setting: env::AUDIT_OLDER_THAN,
            message,
        });
        match (db, older_than) {
            (Ok(database_url), Ok(older_than)) => Ok(PruneConfig {
                component: self.component,
                database_url,
                older_than,
            }),
            (db, d) => Err(db
                .err()
                .unwrap_or_default()
                .into_iter()
                .chain(d.err())
                .collect()),
        }
    }
}

/// Deletes the audit events of the Auth database at `database_url` older than `older_than`
/// before `clock`'s now. The database must be migrated (`kisum migrate --component auth`);
/// this command never migrates.
///
/// # Errors
/// [`PruneError::Config`] for a retention too large or a URL of no supported database;
/// [`PruneError::Store`] when the database cannot be reached or the delete fails.
pub async fn prune(
    database_url: &Secret,
    older_than: Duration,
    clock: &dyn Clock,
) -> Result<PruneReport, PruneError> {
    prune_component(AuditComponent::Auth, database_url, older_than, clock).await
}

/// [`prune`] for the audit log of `component`.
///
/// # Errors
/// As [`prune`].
pub async fn prune_component(
    component: AuditComponent,
    database_url: &Secret,
    older_than: Duration,
    clock: &dyn Clock,
) -> Result<PruneReport, PruneError> {
    let too_long = || {
        PruneError::Config(vec![ConfigProblem {
            setting: env::AUDIT_OLDER_THAN,
            message: "is too long".to_owned(),
        }])
    };
    let cutoff = TimeDelta::from_std(older_than)
        .ok()
        .and_then(|d| clock.now().checked_sub_signed(d))
        .ok_or_else(too_long)?;
    let url = database_url.expose();
    let shown = crate::config::redact_url(url);
    let store_error = |source| PruneError::Store {
        url: shown.clone(),
        source,
    };
    let deleted = match component {
        AuditComponent::Auth => {
            let store = open(url).await.map_err(store_error)?;
            store.prune(cutoff).await.map_err(store_error)?
        }
        AuditComponent::Core => {
            let store = open_core(url).await.map_err(store_error)?;
            store.prune(cutoff).await.map_err(store_error)?
        }
    };
    Ok(PruneReport { cutoff, deleted })
}

/// Core's audit log in the database at `url`, without migrating it.
async fn open_core(
    url: &str,
) -> Result<Box<dyn kisum_core::CoreAudit>, kisum_auth::store::StoreError> {
    Ok(match open_pool(url).await? {
        #[cfg(feature = "postgres")]
        Pool::Pg(pool) => Box::new(kisum_core::PgCoreStore::new(pool)),
        #[cfg(feature = "sqlite")]
        Pool::Sqlite(pool) => Box::new(kisum_core::SqliteCoreStore::new(pool)),
    })
}

/// The audit store of the database at `url`, without migrating it.
async fn open(url: &str) -> Result<Box<dyn AuditStore>, kisum_auth::store::StoreError> {
    Ok(match open_pool(url).await? {
        #[cfg(feature = "postgres")]
        Pool::Pg(pool) => Box::new(kisum_auth::PgAuthStore::new(pool)),
        #[cfg(feature = "sqlite")]
        Pool::Sqlite(pool) => Box::new(kisum_auth::SqliteAuthStore::new(pool)),
    })
}

enum Pool {
    #[cfg(feature = "postgres")]
    Pg(sqlx::PgPool),
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::SqlitePool),
}

/// A pool on the database at `url`, without migrating it.
async fn open_pool(url: &str) -> Result<Pool, kisum_auth::store::StoreError> {
    use kisum_auth::store::{StoreError, StoreErrorKind};
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        #[cfg(feature = "postgres")]
        {
            use sqlx::Connection as _;
            // One direct connection first: an unreachable server fails at once instead of
            // after the pool's retry window.
            sqlx::PgConnection::connect(url)
                .await
                .map_err(kisum_core::db::sql::store_error)?
                .close()
                .await
                .map_err(kisum_core::db::sql::store_error)?;
            let pool = kisum_core::db::pool_options::<sqlx::Postgres>()
                .max_connections(1)
                .acquire_timeout(Duration::from_secs(5))
                .connect(url)
                .await
                .map_err(kisum_core::db::sql::store_error)?;
            return Ok(Pool::Pg(pool));
        }
    } else if url.starts_with("sqlite:") {
        #[cfg(feature = "sqlite")]
        {
            let pool = kisum_core::db::open_sqlite_pool(url).await?;
            return Ok(Pool::Sqlite(pool));
        }
    }
    Err(StoreError::new(
        StoreErrorKind::Invalid,
        "not a `postgres://` or `sqlite://` URL this build supports",
    ))
}
