//! `kisum audit prune --older-than <duration>`: deletes Auth's audit events older than a
//! retention period, through the [`AuditStore`] of the database's backend.

use std::time::Duration;

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
    #[arg(long, env = "KISUM_AUDIT_OLDER_THAN")]
    pub older_than: String,
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

impl PruneArgs {
    /// The database URL and the retention.
    ///
    /// # Errors
    /// Every problem of the arguments.
    pub fn validate(&self) -> Result<(Secret, Duration), Vec<ConfigProblem>> {
        let db = self.database.validate();
        let older_than = parse_duration(&self.older_than).map_err(|message| ConfigProblem {
            setting: "KISUM_AUDIT_OLDER_THAN",
            message,
        });
        match (db, older_than) {
            (Ok(db), Ok(d)) => Ok((db, d)),
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
    let too_long = || {
        PruneError::Config(vec![ConfigProblem {
            setting: "KISUM_AUDIT_OLDER_THAN",
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
    let store = open(url).await.map_err(store_error)?;
    let deleted = store.prune(cutoff).await.map_err(store_error)?;
    Ok(PruneReport { cutoff, deleted })
}

/// The audit store of the database at `url`, without migrating it.
async fn open(url: &str) -> Result<Box<dyn AuditStore>, kisum_auth::store::StoreError> {
    use kisum_auth::store::{StoreError, StoreErrorKind};
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        #[cfg(feature = "postgres")]
        {
            use sqlx::Connection as _;
            // One direct connection first: an unreachable server fails at once instead of
            // after the pool's retry window.
            sqlx::PgConnection::connect(url)
                .await
                .map_err(kisum_core::sql::store_error)?
                .close()
                .await
                .map_err(kisum_core::sql::store_error)?;
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(Duration::from_secs(5))
                .connect(url)
                .await
                .map_err(kisum_core::sql::store_error)?;
            return Ok(Box::new(kisum_auth::PgAuthStore::new(pool)));
        }
    } else if url.starts_with("sqlite:") {
        #[cfg(feature = "sqlite")]
        {
            let pool = kisum_core::store::sqlite::open_pool(url).await?;
            return Ok(Box::new(kisum_auth::SqliteAuthStore::new(pool)));
        }
    }
    Err(StoreError::new(
        StoreErrorKind::Invalid,
        "not a `postgres://` or `sqlite://` URL this build supports",
    ))
}
