//! Integration tests of kisum-core: the store and audit conformance suites against every backend
//! built here, the entitlement service, and the internal HTTP API.

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap is a failed test"
)]

mod memory {
    async fn make_store() -> kisum_core::MemoryCoreStore {
        kisum_core::MemoryCoreStore::new()
    }

    async fn make_audit() -> kisum_core::MemoryCoreAudit {
        kisum_core::MemoryCoreAudit::new()
    }

    kisum_core::core_store_conformance!(make_store);
    kisum_core::core_audit_conformance!(make_audit);
    kisum_core::billing_store_conformance!(make_store);

    async fn make_license_store() -> kisum_core::MemoryLicenseStore {
        kisum_core::MemoryLicenseStore::new()
    }

    kisum_core::license_store_conformance!(make_license_store);
}

mod client;
mod http;
mod pool;
mod service;

mod sqlite {
    async fn make_store() -> kisum_core::SqliteCoreStore {
        kisum_core::SqliteCoreStore::connect(&kisum_core::testkit::db::sqlite_url())
            .await
            .unwrap()
    }

    kisum_core::core_store_conformance!(make_store);
    kisum_core::core_audit_conformance!(make_store);
    kisum_core::license_store_conformance!(make_store);
    kisum_core::billing_store_conformance!(make_store);
}

mod postgres {
    async fn make_store() -> kisum_core::PgCoreStore {
        kisum_core::PgCoreStore::connect_with(kisum_core::testkit::db::postgres().await)
            .await
            .unwrap()
    }

    kisum_core::core_store_conformance!(
        make_store,
        ignore = "needs PostgreSQL: set KISUM_TEST_DATABASE_URL and run with --include-ignored"
    );
    kisum_core::core_audit_conformance!(
        make_store,
        ignore = "needs PostgreSQL: set KISUM_TEST_DATABASE_URL and run with --include-ignored"
    );
    kisum_core::license_store_conformance!(
        make_store,
        ignore = "needs PostgreSQL: set KISUM_TEST_DATABASE_URL and run with --include-ignored"
    );
    kisum_core::billing_store_conformance!(
        make_store,
        ignore = "needs PostgreSQL: set KISUM_TEST_DATABASE_URL and run with --include-ignored"
    );
}
