//! The tower [`Layer`](tower::Layer) a route gets from `guard.require(…)`.

use std::sync::Arc;

use super::AccessGuard;
use super::require::Require;
use super::service::Guard;

/// The tower layer: wraps a service with a [`Guard`] enforcing one [`Require`]ment. Made by
/// [`AccessGuard::require`]; put it on routes with `Router::route_layer`.
#[derive(Clone)]
pub struct GuardLayer {
    pub(super) guard: AccessGuard,
    pub(super) require: Arc<Require>,
}

impl std::fmt::Debug for GuardLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardLayer")
            .field("require", &self.require)
            .finish_non_exhaustive()
    }
}

impl<S> tower::Layer<S> for GuardLayer {
    type Service = Guard<S>;

    fn layer(&self, inner: S) -> Guard<S> {
        Guard {
            inner,
            guard: self.guard.clone(),
            require: Arc::clone(&self.require),
        }
    }
}
