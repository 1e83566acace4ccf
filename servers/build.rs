//! Sets `cfg(kisum_test_pg)` when `KISUM_TEST_DATABASE_URL` is set, so the PostgreSQL suites run
//! then and are reported as ignored (not as passed) otherwise.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(kisum_test_pg)");
    println!("cargo::rerun-if-env-changed=KISUM_TEST_DATABASE_URL");
    if std::env::var_os("KISUM_TEST_DATABASE_URL").is_some_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg=kisum_test_pg");
    }
}
