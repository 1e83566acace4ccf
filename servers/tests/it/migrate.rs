//! `kisum migrate` end to end: the real binary against real databases.

use std::process::{Command, Output};

fn kisum(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kisum"))
        .args(args)
        .env_remove("KISUM_DATABASE_URL")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

use crate::block_on;

#[cfg(feature = "sqlite")]
#[test]
fn sqlite_twice_then_up_to_date_with_separate_tables() {
    let url = kisum_core::testkit::db::sqlite_url();
    let first = kisum(&["migrate", "--database-url", &url]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert_eq!(
        stdout(&first),
        "core: applied 0001 initial\ncore: applied 0002 audit\ncore: applied 0003 events\ncore: applied 0004 licenses\ncore: applied 0005 catalog_version\ncore: applied 0006 billing\nauth: applied 0001 initial\nauth: applied 0002 audit\nauth: applied 0003 one_time\nauth: applied 0004 refresh_grace\nauth: applied 0005 events\nauth: applied 0006 mfa\nauth: applied 0007 assurance\nauth: applied 0008 passkeys\nauth: applied 0009 oauth\nauth: applied 0012 platform\nauth: applied 0013 api_keys\nauth: applied 0014 phones\n"
    );
    let second = kisum(&["migrate", "--database-url", &url]);
    assert!(second.status.success(), "{}", stderr(&second));
    assert_eq!(
        stdout(&second),
        "core: up to date (6 migration(s) already applied)\nauth: up to date (12 migration(s) already applied)\n"
    );
    let tables: Vec<String> = block_on(async {
        let pool = kisum_core::db::open_sqlite_pool(&url).await.unwrap();
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%migrations' ORDER BY name")
            .fetch_all(&pool)
            .await
            .unwrap()
    });
    assert_eq!(
        tables,
        ["kisum_auth_migrations", "kisum_core_migrations"],
        "never a shared _sqlx_migrations"
    );
}

#[cfg(feature = "sqlite")]
#[test]
fn one_component_at_a_time() {
    let url = kisum_core::testkit::db::sqlite_url();
    let core = kisum(&["migrate", "--database-url", &url, "--component", "core"]);
    assert_eq!(
        stdout(&core),
        "core: applied 0001 initial\ncore: applied 0002 audit\ncore: applied 0003 events\ncore: applied 0004 licenses\ncore: applied 0005 catalog_version\ncore: applied 0006 billing\n"
    );
    let all = kisum(&["migrate", "--database-url", &url]);
    assert_eq!(
        stdout(&all),
        "core: up to date (6 migration(s) already applied)\nauth: applied 0001 initial\nauth: applied 0002 audit\nauth: applied 0003 one_time\nauth: applied 0004 refresh_grace\nauth: applied 0005 events\nauth: applied 0006 mfa\nauth: applied 0007 assurance\nauth: applied 0008 passkeys\nauth: applied 0009 oauth\nauth: applied 0012 platform\nauth: applied 0013 api_keys\nauth: applied 0014 phones\n"
    );
}

#[test]
fn unknown_schemes_and_unreachable_servers_are_clear_errors() {
    let out = kisum(&["migrate", "--database-url", "mysql://root@localhost/x"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("neither a `postgres://` nor a `sqlite://` URL"),
        "{}",
        stderr(&out)
    );
    let out = kisum(&[
        "migrate",
        "--database-url",
        "postgres://kisum:hunter2@127.0.0.1:1/nowhere",
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("cannot reach the database at `postgres://kisum:***@127.0.0.1:1/nowhere`"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "the password leaked: {err}");
    let out = kisum(&["migrate"]);
    assert!(!out.status.success(), "the URL is required");
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;

    #[test]
    #[ignore = "needs PostgreSQL: set KISUM_TEST_DATABASE_URL and run with --include-ignored"]
    fn empty_database_to_current_schema_twice_in_a_row() {
        let url = block_on(kisum_core::testkit::db::postgres_url());
        let first = kisum(&["migrate", "--database-url", &url]);
        assert!(first.status.success(), "{}", stderr(&first));
        assert_eq!(
            stdout(&first),
            "core: applied 0001 initial\ncore: applied 0002 audit\ncore: applied 0003 events\ncore: applied 0004 licenses\ncore: applied 0005 catalog_version\ncore: applied 0006 billing\nauth: applied 0001 initial\nauth: applied 0002 audit\nauth: applied 0003 one_time\nauth: applied 0004 refresh_grace\nauth: applied 0005 events\nauth: applied 0006 mfa\nauth: applied 0007 assurance\nauth: applied 0008 passkeys\nauth: applied 0009 oauth\nauth: applied 0012 platform\nauth: applied 0013 api_keys\nauth: applied 0014 phones\n"
        );
        let second = kisum(&["migrate", "--database-url", &url, "--component", "all"]);
        assert!(second.status.success(), "{}", stderr(&second));
        assert!(
            stdout(&second).contains("core: up to date")
                && stdout(&second).contains("auth: up to date")
        );
        let tables: Vec<String> = block_on(async {
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE tablename LIKE '%migrations' ORDER BY 1")
                .fetch_all(&pool)
                .await
                .unwrap()
        });
        assert_eq!(tables, ["kisum_auth_migrations", "kisum_core_migrations"]);
    }

    #[test]
    #[ignore = "needs PostgreSQL: set KISUM_TEST_DATABASE_URL and run with --include-ignored"]
    fn components_can_live_in_separate_databases() {
        let (auth_db, core_db) = block_on(async {
            (
                kisum_core::testkit::db::postgres_url().await,
                kisum_core::testkit::db::postgres_url().await,
            )
        });
        assert!(
            kisum(&["migrate", "--database-url", &auth_db, "--component", "auth"])
                .status
                .success()
        );
        assert!(
            kisum(&["migrate", "--database-url", &core_db, "--component", "core"])
                .status
                .success()
        );
        block_on(async {
            let auth = sqlx::PgPool::connect(&auth_db).await.unwrap();
            let core = sqlx::PgPool::connect(&core_db).await.unwrap();
            let has = |pool: sqlx::PgPool, table: &'static str| async move {
                sqlx::query_scalar::<_, bool>(
                    "SELECT EXISTS (SELECT 1 FROM pg_tables WHERE tablename = $1)",
                )
                .bind(table)
                .fetch_one(&pool)
                .await
                .unwrap()
            };
            assert!(has(auth.clone(), "memberships").await && !has(auth, "subscriptions").await);
            assert!(has(core.clone(), "subscriptions").await && !has(core, "memberships").await);
        });
    }

    #[test]
    #[ignore = "needs PostgreSQL: set KISUM_TEST_DATABASE_URL and run with --include-ignored"]
    fn refuses_a_database_migrated_by_a_newer_kisum() {
        let url = block_on(kisum_core::testkit::db::postgres_url());
        assert!(kisum(&["migrate", "--database-url", &url]).status.success());
        block_on(async {
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            sqlx::query(
                "INSERT INTO kisum_core_migrations (version, description, success, checksum, execution_time)
                 VALUES (9999, 'from the future', TRUE, '\\x00', 1)",
            )
            .execute(&pool)
            .await
            .unwrap();
        });
        let out = kisum(&["migrate", "--database-url", &url]);
        assert!(!out.status.success());
        let err = stderr(&out);
        assert!(
            err.contains("has migrations this binary does not know (versions [9999])"),
            "{err}"
        );
    }
}

#[cfg(feature = "sqlite")]
#[test]
fn the_database_url_can_come_from_a_file() {
    let url = kisum_core::testkit::db::sqlite_url();
    let file = super::temp_dir("migrate-file").join("database-url");
    std::fs::write(&file, format!("{url}\n")).unwrap();
    let o = super::kisum_env(
        &["migrate", "--component", "auth"],
        &[("KISUM_DATABASE_URL_FILE", file.to_str().unwrap())],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("auth: applied 0001 initial\n"));
}
