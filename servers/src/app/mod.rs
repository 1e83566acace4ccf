//! Assembling the servers from their configuration: stores, services, event transports, the
//! guard, routers with the ops endpoints and layers, and readiness checks.
//!
//! One file per part: `stores` (Auth's and Core's databases, the rate limiter), `events` (the
//! event streams and the in-process delivery of `kisum dev`), `guard`, `readiness` (each
//! server's `/ready` checks), `router` (the ops endpoints, the shared layers and the client
//! address), `jobs` (key rotation and pruning), `licensing` (Core's licence service, the
//! licence-key and webhook listeners). Everything is used as `app::…`.

pub use kisum_auth::builder::{AuthApp, AuthBuilder};

mod events;
mod guard;
mod jobs;
mod licensing;
mod readiness;
mod router;
mod stores;

pub use events::{CountedEvents, LocalEvents, auth_streams, relay};
pub use guard::{build_guard, guard_builder};
pub use jobs::{
    PRUNE_EVERY, PRUNE_RETENTION, spawn_event_pruning, spawn_key_rotation, spawn_pruning,
};
pub use licensing::{Licensing, licensing, licensing_router, webhook_router};
pub use readiness::{auth_readiness, core_readiness, module_readiness, redis_check};
pub use router::{client_address, finish, finish_public};
pub use stores::{
    CoreStores, open_auth_store, open_auth_store_sized, open_core_store, open_core_store_sized,
    rate_limiter,
};

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartError(pub String);

impl StartError {
    /// A start-up failure described by `what` and its cause.
    pub fn new(what: &str, cause: impl std::fmt::Display) -> Self {
        Self(format!("{what}: {cause}"))
    }
}
