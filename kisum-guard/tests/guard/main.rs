//! The guard, end to end through axum: verification attacks, requirements and denials,
//! extractors, caching (and whom a cached context is served to), outages, key rotation, Redis
//! invalidation, remote sources.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a failed unwrap is a failed test"
)]
#![allow(
    missing_docs,
    unreachable_pub,
    reason = "a test binary: nothing here is public API"
)]

mod access;
mod builder;
mod org;
mod outages;
mod planted;
mod redis;
mod remote;
mod rotation;
mod support;
mod tokens;
