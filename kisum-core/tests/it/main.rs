//! Integration tests of kisum-core: the store conformance suite against every backend built here.

mod memory {
    async fn make_store() -> kisum_core::MemoryCoreStore {
        kisum_core::MemoryCoreStore::new()
    }

    kisum_core::core_store_conformance!(make_store);
}

mod service;
