//! Sets `cfg(kisum_test_pg)` when `KISUM_TEST_DATABASE_URL` is set and `cfg(kisum_test_redis)`
//! when `KISUM_TEST_REDIS_URL` is set, so the suites that need those servers run then and are
//! reported as ignored (not as passed) otherwise.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(kisum_test_pg)");
    println!("cargo::rustc-check-cfg=cfg(kisum_test_redis)");
    println!("cargo::rerun-if-env-changed=KISUM_TEST_DATABASE_URL");
    println!("cargo::rerun-if-env-changed=KISUM_TEST_REDIS_URL");
    if std::env::var_os("KISUM_TEST_DATABASE_URL").is_some_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg=kisum_test_pg");
    }
    if std::env::var_os("KISUM_TEST_REDIS_URL").is_some_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg=kisum_test_redis");
    }
}
