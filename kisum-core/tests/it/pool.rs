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

/// Waits until the pool's connection is back among its idle ones: sqlx returns a connection
/// (after checking it) in a task of its own, which a loaded machine may run late.
async fn back_in(pool: &sqlx::PgPool) {
    for _ in 0..400 {
        if pool.num_idle() == 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the connection never went back to the pool");
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
    // A machine too loaded to end a backend well within the second is retried: then the pool
    // rightly checks the connection, and there is nothing to see.
    for _ in 0..5 {
        let first = backend(&pool).await.unwrap();
        back_in(&pool).await;
        let returned = std::time::Instant::now();
        // Dropped moments after it was last used (and checked on its way back to the pool):
        // the next statement goes out without another check, so it is this statement that
        // finds the connection gone. Under load, this is the round trip every statement saves.
        terminate(&mut admin, first).await;
        if returned.elapsed() >= CHECK_AFTER_IDLE / 2 {
            let _ = backend(&pool).await;
            continue;
        }
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
        return;
    }
    panic!("five times in a row, ending a backend took half a second or more");
}

/// Warm connections over a fresh pool of `size` that gives up waiting after 2 s.
async fn warm(size: u32) -> kisum_core::db::WarmConnections<sqlx::Postgres> {
    let size = PoolSize {
        max_connections: size,
        acquire_timeout: Duration::from_secs(2),
    };
    kisum_core::db::WarmConnections::new(
        open_postgres_pool_sized(kisum_core::testkit::db::postgres().await, size)
            .await
            .unwrap(),
    )
}

async fn pid_on(conn: &mut sqlx::PgConnection) -> i32 {
    sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(conn)
        .await
        .unwrap()
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set KISUM_TEST_DATABASE_URL and run with --include-ignored"]
async fn warm_connections_hand_the_last_finished_connection_to_the_next_statement() {
    let warm = warm(2).await;
    let mut a = warm.take().await.unwrap();
    let mut b = warm.take().await.unwrap();
    let (pid_a, pid_b) = (pid_on(&mut a).await, pid_on(&mut b).await);
    assert_ne!(pid_a, pid_b);
    warm.keep(a);
    warm.keep(b);
    assert_eq!(warm.kept_now(), 2, "both kept, out of the pool");
    assert_eq!(warm.pool().num_idle(), 0);
    // The warmest first: the one kept last.
    let mut next = warm.take().await.unwrap();
    assert_eq!(pid_on(&mut next).await, pid_b);
    assert_eq!(warm.kept_now(), 1);
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set KISUM_TEST_DATABASE_URL and run with --include-ignored"]
async fn a_statement_waiting_for_the_pool_gets_the_next_finished_connection() {
    let warm = std::sync::Arc::new(warm(1).await);
    let busy = warm.take().await.unwrap();
    // The pool's only connection is taken: the next statement waits for the pool.
    let waiter = tokio::spawn({
        let warm = warm.clone();
        async move {
            warm.take()
                .await
                .map(|mut c| async move { pid_on(&mut c).await })
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Finished while someone waits: it goes back to the pool (not kept), so the waiter gets it
    // long before the pool's 2 s timeout.
    warm.keep(busy);
    assert_eq!(warm.kept_now(), 0);
    let got = tokio::time::timeout(Duration::from_secs(1), waiter)
        .await
        .expect("the waiter got the connection")
        .unwrap()
        .expect("within the pool's timeout");
    got.await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set KISUM_TEST_DATABASE_URL and run with --include-ignored"]
async fn a_connection_kept_past_the_idle_threshold_goes_back_to_the_pool_and_is_checked_there() {
    let (warm, mut admin) = (warm(1).await, admin().await);
    let mut conn = warm.take().await.unwrap();
    let first = pid_on(&mut conn).await;
    warm.keep(conn);
    terminate(&mut admin, first).await;
    tokio::time::sleep(CHECK_AFTER_IDLE + Duration::from_millis(200)).await;
    // Not handed out as it is: back to the pool, whose check finds it gone, and a new one.
    let mut next = warm.take().await.unwrap();
    assert_ne!(pid_on(&mut next).await, first);
}
