//! Store backends for the Auth traits ([`UserStore`](crate::UserStore),
//! [`SessionStore`](crate::SessionStore), [`DirectoryStore`](crate::DirectoryStore)).

pub mod memory;

pub use kisum_core::{StoreError, StoreErrorKind};
pub use memory::MemoryAuthStore;
