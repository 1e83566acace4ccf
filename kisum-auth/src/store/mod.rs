//! Store backends for the Auth traits ([`UserStore`](crate::UserStore),
//! [`SessionStore`](crate::SessionStore), [`DirectoryStore`](crate::DirectoryStore)).

pub mod memory;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sqlite")]
pub mod sqlite;

pub use kisum_core::{StoreError, StoreErrorKind};
pub use memory::MemoryAuthStore;
#[cfg(feature = "postgres")]
pub use postgres::PgAuthStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteAuthStore;
