//! Storage infrastructure, shared by Core's and Auth's stores: the [`StoreError`] every store
//! returns and, for the SQL backends (features `sqlite`, `postgres`), pool opening, the value
//! encodings, the one way to read a column ([`sql::SqlRow`]), the one way to run a statement
//! ([`sql::Stmt`] over a [`sql::Dialect`]) and the migration runner.
//!
//! None of it is about entitlements; it lives in `kisum-core` only because both components
//! depend on this crate (and `kisum-guard` must stay free of storage), and it is kept out of the
//! crate root so it does not read as part of the entitlements API.

mod error;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub mod migrate;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod pool;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod row;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub mod sql;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod stmt;

pub use error::{StoreError, StoreErrorKind};
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub use pool::{CHECK_AFTER_IDLE, PoolSize, WarmConnections, pool_options};
#[cfg(feature = "postgres")]
pub use pool::{open_migrated_postgres_pool, open_postgres_pool, open_postgres_pool_sized};
#[cfg(feature = "sqlite")]
pub use pool::{open_migrated_sqlite_pool, open_sqlite_pool, open_sqlite_pool_sized};
