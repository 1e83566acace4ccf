//! Integration tests of kisum-core: the store conformance suite against every backend built here.

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod memory {
    async fn make_store() -> kisum_core::MemoryCoreStore {
        kisum_core::MemoryCoreStore::new()
    }

    kisum_core::core_store_conformance!(make_store);
}

mod service;
