//! Test databases: a fresh PostgreSQL database per test, a fresh SQLite file per test.

/// The reason every PostgreSQL test is `#[ignore]`d with, and the message it fails with
/// when run (`--include-ignored`) without `KISUM_TEST_DATABASE_URL`. `#[ignore = ..]` takes
/// a literal only, so the attributes repeat this text.
pub const NEEDS_POSTGRES: &str =
    "needs PostgreSQL: set KISUM_TEST_DATABASE_URL and run with --include-ignored";

use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique_suffix() -> String {
    format!(
        "{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A new, empty SQLite database file under the system temp dir, as a `sqlite://` URL.
#[cfg(feature = "sqlite")]
#[must_use]
pub fn sqlite_url() -> String {
    let dir = std::env::temp_dir().join("kisum-tests");
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!(
        "t_{}_{}.db",
        uuid::Uuid::now_v7().simple(),
        unique_suffix()
    ));
    format!("sqlite://{}", path.display())
}

/// A new, empty PostgreSQL database on the server of `KISUM_TEST_DATABASE_URL`, as connect
/// options. Databases of earlier runs older than two hours are dropped on the way.
///
/// # Panics
/// When the variable is unset or the server cannot be reached: a test that asked for
/// PostgreSQL must not pass without it.
#[cfg(feature = "postgres")]
pub async fn postgres() -> sqlx::postgres::PgConnectOptions {
    use std::str::FromStr;
    sqlx::postgres::PgConnectOptions::from_str(&postgres_url().await).expect("test database URL")
}

/// As [`postgres`], as a URL (`KISUM_TEST_DATABASE_URL` with the database name replaced).
///
/// # Panics
/// As [`postgres`].
#[cfg(feature = "postgres")]
pub async fn postgres_url() -> String {
    use sqlx::{Connection, Executor};
    use std::str::FromStr;

    let url = std::env::var("KISUM_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .expect(NEEDS_POSTGRES);
    let admin = sqlx::postgres::PgConnectOptions::from_str(&url)
        .expect("KISUM_TEST_DATABASE_URL is not a valid URL");
    let mut conn = sqlx::PgConnection::connect_with(&admin)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at KISUM_TEST_DATABASE_URL is unreachable: {e}"));
    let now = kisum_guard::Clock::now(&kisum_guard::SystemClock).timestamp();
    let name = format!("kisum_t_{now}_{}", unique_suffix());
    // Serialize database creation across test processes (CREATE DATABASE copies template1).
    conn.execute("SELECT pg_advisory_lock(7461731)")
        .await
        .expect("advisory lock");
    let stale: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'kisum\\_t\\_%'")
            .fetch_all(&mut conn)
            .await
            .expect("list test databases");
    for db in stale {
        let born = db
            .split('_')
            .nth(2)
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(now);
        if now - born > 2 * 3600 {
            let _ = conn
                .execute(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"
                )))
                .await;
        }
    }
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .await
        .expect("create test database");
    conn.execute("SELECT pg_advisory_unlock(7461731)")
        .await
        .expect("advisory unlock");
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url.as_str(), None),
    };
    let prefix = match base.rfind('/') {
        Some(i) if base[..i].ends_with('/') => format!("{base}/"),
        Some(i) => base[..=i].to_owned(),
        None => format!("{base}/"),
    };
    match query {
        Some(q) => format!("{prefix}{name}?{q}"),
        None => format!("{prefix}{name}"),
    }
}
