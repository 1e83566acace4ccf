//! The pools every Kisum store opens (`kisum_core::db::pool_options`, decision 0055): a
//! connection is checked with a round trip before a statement only after sitting idle for
//! `CHECK_AFTER_IDLE`; a connection the server dropped costs at most one failed statement,
//! and the pool replaces it.

use std::time::Duration;

use kisum_core::db::{CHECK_AFTER_IDLE, PoolSize, open_postgres_pool_sized};

/// A pool of one connection on a fresh test database.
async fn one_connection() -> sqlx::PgPool {
    open_postgres_pool_sized(
        kisum_core::testkit::db::postgres().await,
        PoolSize::POSTGRES.with_max_connections(1),
    )
    .await
    .unwrap()
}

async fn backend(pool: &sqlx::PgPool) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(pool)
        .await
}

/// Another connection to the test server, opened up front so that ending a backend takes
/// milliseconds.
async fn admin() -> sqlx::PgConnection {
    use sqlx::Connection as _;
    let url = std::env::var("KISUM_TEST_DATABASE_URL").unwrap();
    sqlx::PgConnection::connect(&url).await.unwrap()
}

/// Ends the server process of `pid` through `admin` and waits until it is gone.
async fn terminate(admin: &mut sqlx::PgConnection, pid: i32) {
    let ended: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .fetch_one(&mut *admin)
        .await
        .unwrap();
    assert!(ended, "the backend {pid} was not there to end");
    for _ in 0..200 {
        let alive: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)")
                .bind(pid)
                .fetch_one(&mut *admin)
                .await
                .unwrap();
        if !alive {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the backend {pid} did not end");
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set KISUM_TEST_DATABASE_URL and run with --include-ignored"]
async fn a_connection_the_server_dropped_while_idle_is_replaced_before_a_statement_uses_it() {
    let (pool, mut admin) = (one_connection().await, admin().await);
    let first = backend(&pool).await.unwrap();
    terminate(&mut admin, first).await;
    // Idle past the threshold: the pool checks the connection, finds it gone and opens another,
    // so the statement succeeds.
    tokio::time::sleep(CHECK_AFTER_IDLE + Duration::from_millis(200)).await;
    let second = backend(&pool).await.unwrap();
    assert_ne!(first, second, "the statement ran on a new connection");
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set KISUM_TEST_DATABASE_URL and run with --include-ignored"]
async fn a_connection_used_moments_ago_is_not_checked_again_and_a_dropped_one_fails_one_statement()
{
    let (pool, mut admin) = (one_connection().await, admin().await);
    let first = backend(&pool).await.unwrap();
    // Dropped moments after it was last used (and checked on its way back to the pool): the
    // next statement goes out without another check, so it is this statement that finds the
    // connection gone. Under load, this is the round trip every statement saves.
    terminate(&mut admin, first).await;
    let err = backend(&pool)
        .await
        .expect_err("a connection used less than CHECK_AFTER_IDLE ago went out unchecked");
    assert!(
        !matches!(err, sqlx::Error::PoolTimedOut),
        "the failure is the dropped connection's, not the pool's: {err}"
    );
    // The broken connection was discarded: the next statement gets a new one.
    let second = backend(&pool).await.unwrap();
    assert_ne!(first, second);
}
