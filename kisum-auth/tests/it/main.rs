//! Integration tests of kisum-auth: the store conformance suites against every backend built
//! here, access resolution end to end, and the aggregation invariants as properties.

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap is a failed test"
)]

mod memory {
    async fn make_store() -> kisum_auth::MemoryAuthStore {
        kisum_auth::MemoryAuthStore::new()
    }

    kisum_auth::auth_store_conformance!(make_store);
}

#[cfg(feature = "sqlite")]
mod sqlite {
    async fn make_store() -> kisum_auth::SqliteAuthStore {
        kisum_auth::SqliteAuthStore::connect(&kisum_core::testkit::db::sqlite_url())
            .await
            .unwrap()
    }

    kisum_auth::auth_store_conformance!(make_store);
}

#[cfg(feature = "postgres")]
mod postgres {
    async fn make_store() -> kisum_auth::PgAuthStore {
        kisum_auth::PgAuthStore::connect_with(kisum_core::testkit::db::postgres().await)
            .await
            .unwrap()
    }

    kisum_auth::auth_store_conformance!(
        make_store,
        ignore = "needs PostgreSQL: set KISUM_TEST_DATABASE_URL and run with --include-ignored"
    );
}

mod account_data;
mod admin_properties;
mod api_keys;
mod attacks;
mod audit_flows;
mod backends;
mod client;
mod console;
mod counters;
mod email;
mod events;
mod faults;
mod fixture;
mod http_auth;
mod http_companies;
mod identity;
mod invitations;
mod key_rotation;
mod magic_link;
mod me_access_cache;
mod mfa;
mod oauth;
mod passkeys;
mod phone;
mod platform_admins;
mod properties;
mod ratelimit;
mod recovery;
mod resolve;
