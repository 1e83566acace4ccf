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

/// A free TCP port on the loopback interface, below the ephemeral range.
pub(crate) fn free_port() -> u16 {
    kisum_core::testkit::free_port()
}

/// A fresh directory under the system temp dir.
pub(crate) fn temp_dir(what: &str) -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("kisum-it-{what}-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
