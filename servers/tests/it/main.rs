//! The integration tests of the `kisum` binary and the `kisum_servers` library: one test
//! binary (see STYLE.md), one module per concern.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap is a failed test"
)]

mod admin;
mod app;
mod audit;
#[cfg(all(unix, feature = "sqlite"))]
mod backup;
mod certified;
mod client;
mod config;
mod dev_mfa;
#[cfg(feature = "postgres")]
mod freshness;
mod keys;
mod license;
mod migrate;
mod module;
mod oauth_config;
/// The fake OpenID Connect provider of Auth's own tests, for the end-to-end flow through the
/// binary.
#[allow(
    dead_code,
    reason = "only the happy-path parts of the fake are used here"
)]
#[path = "../../../kisum-auth/tests/it/oauth/fake.rs"]
mod oauth_fake;
mod openapi;
mod ops;
#[cfg(feature = "postgres")]
mod separate;

use std::process::{Command, Output};

/// Runs the real binary with exactly `env` as its environment (nothing inherited, so a
/// developer's own `KISUM_*` variables cannot change the outcome).
pub(crate) fn kisum_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kisum"))
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// Runs `f` to completion on a fresh current-thread runtime.
pub(crate) fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

pub(crate) fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub(crate) fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A free TCP port on the loopback interface.
pub(crate) fn free_port() -> u16 {
    // Below Linux's ephemeral range (32768–60999): a port the kernel handed out for `:0` and
    // that we released could be given again to any outgoing connection (to PostgreSQL, Redis,
    // another server under test) before the process we start binds it. A random port of
    // 20000–32767 that binds now is taken only by another test's pick, far less likely.
    for _ in 0..1000 {
        let port = 20_000 + (uuid::Uuid::now_v7().as_u128() % 12_768) as u16; // random low bits
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in 20000–32767")
}

/// A fresh directory under the system temp dir.
pub(crate) fn temp_dir(what: &str) -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("kisum-it-{what}-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
