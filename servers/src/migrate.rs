//! `kisum migrate`: bring a database to the current schema of Auth, Core, or both.

use std::fmt;

use kisum_servers::config::env;

use clap::{Args, ValueEnum};
use kisum_core::db::migrate::{MigrationError, MigrationReport, MigrationSet};
use kisum_servers::config::{ConfigProblem, DatabaseArgs, redact_url as redact};

/// Which component's schema to migrate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Component {
    /// Auth's tables (users, sessions, companies, memberships, roles, delegations).
    Auth,
    /// Core's tables (catalog, subscriptions, company add-ons).
    Core,
    /// Both, each tracked in its own migrations table.
    All,
}

/// Arguments of `kisum migrate`.
#[derive(Debug, Args)]
pub(crate) struct MigrateArgs {
    /// The database (`KISUM_DATABASE_URL` or `KISUM_DATABASE_URL_FILE`).
    #[command(flatten)]
    database: DatabaseArgs,
    /// The component whose schema to apply.
    #[arg(
        long,
        value_enum,
        default_value = "all",
        env = env::MIGRATE_COMPONENT
    )]
    component: Component,
}

/// Why `kisum migrate` failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The database URL is missing, unreadable or of no supported kind.
    Config(Vec<ConfigProblem>),
    /// The URL names no supported database.
    Scheme(String),
    /// The database cannot be reached.
    Unreachable(String, String),
    /// A migration could not be applied (drift, a modified migration, a failed statement).
    Migration(MigrationError),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(problems) => {
                let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
                write!(f, "{}", lines.join("; "))
            }
            Self::Scheme(url) => write!(
                f,
                "`{url}` is neither a `postgres://` nor a `sqlite://` URL"
            ),
            Self::Unreachable(url, cause) => {
                write!(f, "cannot reach the database at `{url}`: {cause}")
            }
            Self::Migration(e) => write!(f, "{e}"),
        }
    }
}

fn sets(component: Component, auth: MigrationSet, core: MigrationSet) -> Vec<MigrationSet> {
    match component {
        Component::Auth => vec![auth],
        Component::Core => vec![core],
        Component::All => vec![core, auth],
    }
}

/// Applies the migrations and returns what each component did.
pub(crate) async fn run(args: &MigrateArgs) -> Result<Vec<MigrationReport>, Failure> {
    let url = args.database.validate().map_err(Failure::Config)?;
    let url = url.expose();
    let shown = redact(url);
    let mut reports = Vec::new();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        #[cfg(feature = "postgres")]
        {
            use sqlx::Connection;
            // One direct connection: an unreachable server fails at once instead of after a
            // pool's retry window.
            let mut conn = sqlx::PgConnection::connect(url)
                .await
                .map_err(|e| Failure::Unreachable(shown.clone(), e.to_string()))?;
            for set in sets(
                args.component,
                kisum_auth::store::postgres::MIGRATIONS,
                kisum_core::store::postgres::MIGRATIONS,
            ) {
                reports.push(set.run_on(&mut conn).await.map_err(Failure::Migration)?);
            }
            let _ = conn.close().await;
            return Ok(reports);
        }
    } else if url.starts_with("sqlite:") {
        #[cfg(feature = "sqlite")]
        {
            let pool = kisum_core::db::open_sqlite_pool(url)
                .await
                .map_err(|e| Failure::Unreachable(shown.clone(), e.to_string()))?;
            for set in sets(
                args.component,
                kisum_auth::store::sqlite::MIGRATIONS,
                kisum_core::store::sqlite::MIGRATIONS,
            ) {
                reports.push(set.run_sqlite(&pool).await.map_err(Failure::Migration)?);
            }
            pool.close().await;
            return Ok(reports);
        }
    }
    Err(Failure::Scheme(shown))
}

/// Prints what a run did, one line per component.
pub(crate) fn print(reports: &[MigrationReport]) {
    for r in reports {
        if r.applied.is_empty() {
            println!(
                "{}: up to date ({} migration(s) already applied)",
                r.component, r.already_applied
            );
        }
        for m in &r.applied {
            println!(
                "{}: applied {:04} {}",
                r.component, m.version, m.description
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact("postgres://kisum:s3cret@db:5432/auth"),
            "postgres://kisum:***@db:5432/auth"
        );
        assert_eq!(
            redact("postgres://kisum@db/auth"),
            "postgres://kisum@db/auth"
        );
        assert_eq!(redact("postgres://u:p@ss@db/x"), "postgres://u:***@db/x");
        assert_eq!(
            redact("sqlite://./data/kisum.db"),
            "sqlite://./data/kisum.db"
        );
        assert_eq!(redact("garbage"), "garbage");
    }
}
