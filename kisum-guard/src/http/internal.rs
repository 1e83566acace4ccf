//! The edge of an internal listener: the service key a request carries ([`service_key`],
//! [`ServiceCaller`]), a route limited to a key scope ([`scoped`]), and the stack of an internal
//! router ([`internal_edge`]).

#[cfg(feature = "axum")]
use super::{BODY_LIMIT, ProblemResponse, bearer, with_request_ids};
#[cfg(feature = "axum")]
use crate::denial::Problem;

/// The service whose key an internal request carried, and what that key may call: put in the
/// request's extensions by [`service_key`] (for handlers and the audit log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceCaller {
    /// The key's name (never its secret).
    pub name: String,
    /// The key's scopes.
    pub scopes: crate::Scopes,
}

/// Middleware of an internal listener (with `axum::middleware::from_fn_with_state(keys, ..)`):
/// requires `Authorization: Bearer <secret>` matching one of `keys` (compared in constant time)
/// and records the [`ServiceCaller`]; anything else is answered 401 `unauthenticated`.
///
/// # Errors
/// None: a refusal is the response.
#[cfg(feature = "axum")]
pub async fn service_key(
    axum::extract::State(keys): axum::extract::State<crate::ServiceKeys>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let presented = bearer(request.headers()).unwrap_or_default();
    match keys.identify(presented) {
        Some(caller) => {
            tracing::debug!(service = caller.name.as_str(), "service key accepted");
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        None => {
            tracing::info!("internal request without a valid service key");
            ProblemResponse::new(
                Problem::from(crate::DenialCode::Unauthenticated)
                    .with_detail("a valid service key is required"),
            )
            .with_challenge("Bearer")
            .into_response()
        }
    }
}

/// The edge every internal listener shares, around its `routes`: callers need a service key
/// ([`service_key`] over `keys`), unknown routes answer 404 and wrong methods 405 as problems,
/// bodies are bounded by [`BODY_LIMIT`], and requests carry ids ([`with_request_ids`]).
#[cfg(feature = "axum")]
pub fn internal_edge<S: Clone + Send + Sync + 'static>(
    routes: axum::Router<S>,
    keys: crate::ServiceKeys,
    state: S,
) -> axum::Router {
    let router = routes
        .fallback(|| async { Problem::not_found("route") })
        .method_not_allowed_fallback(|| async { Problem::method_not_allowed() })
        .layer(axum::middleware::from_fn_with_state(keys, service_key))
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state);
    with_request_ids(router)
}

/// `route` callable only with a service key holding `scope` (after [`service_key`]); others are
/// answered 403 `insufficient_scope`. Method-not-allowed answers are unaffected.
#[cfg(feature = "axum")]
pub fn scoped<S: Clone + Send + Sync + 'static>(
    route: axum::routing::MethodRouter<S>,
    scope: crate::ServiceScope,
) -> axum::routing::MethodRouter<S> {
    use axum::response::IntoResponse as _;
    route.route_layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| async move {
            match request.extensions().get::<ServiceCaller>() {
                Some(c) if c.scopes.contains(scope) => next.run(request).await,
                caller => {
                    let name = caller.map_or("?", |c| c.name.as_str());
                    Problem::new(403, "insufficient_scope", "insufficient scope")
                        .with_detail(format!("service key `{name}` lacks the `{scope}` scope"))
                        .into_response()
                }
            }
        },
    ))
}
