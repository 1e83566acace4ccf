//! The backends an HTTP scenario runs on, and [`on_every_backend!`], which stamps a scenario out
//! as one test per backend: memory, SQLite and PostgreSQL (ignored unless run with
//! `--include-ignored` and `KISUM_TEST_DATABASE_URL`), each a fresh store.

use std::sync::Arc;

use kisum_auth::AuthStore;

/// A fresh in-memory store.
pub(crate) async fn memory() -> Arc<dyn AuthStore> {
    Arc::new(kisum_auth::MemoryAuthStore::new())
}

/// A store over a fresh SQLite database.
#[cfg(feature = "sqlite")]
pub(crate) async fn sqlite() -> Arc<dyn AuthStore> {
    Arc::new(
        kisum_auth::SqliteAuthStore::connect(&kisum_core::testkit::db::sqlite_url())
            .await
            .unwrap(),
    )
}

/// A store over a fresh PostgreSQL database.
#[cfg(feature = "postgres")]
pub(crate) async fn postgres() -> Arc<dyn AuthStore> {
    Arc::new(
        kisum_auth::PgAuthStore::connect_with(kisum_core::testkit::db::postgres().await)
            .await
            .unwrap(),
    )
}

/// Stamps out each async scenario `$check` (taking what the invoking module's `memory()`,
/// `sqlite()` and `postgres()` make) as a test per backend, in modules `memory`, `sqlite` and
/// `postgres`; the PostgreSQL ones are ignored unless run with `--include-ignored`.
macro_rules! on_every_backend {
    ($($check:ident),+ $(,)?) => {
        $crate::backends::on_every_backend!(@on memory {} $($check),+);
        #[cfg(feature = "sqlite")]
        $crate::backends::on_every_backend!(@on sqlite {} $($check),+);
        #[cfg(feature = "postgres")]
        $crate::backends::on_every_backend!(@on postgres {
            #[ignore = "needs PostgreSQL: set KISUM_TEST_DATABASE_URL and run with --include-ignored"]
        } $($check),+);
    };
    (@on $backend:ident $attrs:tt $($check:ident),+) => {
        mod $backend {
            $($crate::backends::on_every_backend!(@test $backend $check $attrs);)+
        }
    };
    (@test $backend:ident $check:ident { $(#[$attr:meta])* }) => {
        #[tokio::test]
        $(#[$attr])*
        async fn $check() {
            super::$check(super::$backend().await).await;
        }
    };
}
pub(crate) use on_every_backend;
