//! Integration tests of kisum-auth: the store conformance suites against every backend built
//! here, access resolution end to end, and the aggregation invariants as properties.

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod memory {
    async fn make_store() -> kisum_auth::MemoryAuthStore {
        kisum_auth::MemoryAuthStore::new()
    }

    kisum_auth::user_store_conformance!(make_store);
    kisum_auth::session_store_conformance!(make_store);
    kisum_auth::directory_store_conformance!(make_store);
}

mod fixture;
mod properties;
mod resolve;
