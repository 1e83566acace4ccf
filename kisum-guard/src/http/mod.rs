//! The HTTP edge every Kisum listener shares — the guard layer, Auth, Core, the reference module
//! and the servers' own answers: one bearer parser, one request-id header, and one renderer of
//! problem documents ([`ProblemResponse`]) that owns the content type, `Cache-Control: no-store`,
//! `WWW-Authenticate`, `Retry-After` and `X-Request-Id`.
//!
//! One file per part, all named from here (`kisum_guard::http::…`): request ids
//! (`request_id.rs`: [`REQUEST_ID_HEADER`], [`usable_request_id`], and with the `axum` feature
//! `with_request_ids`), the renderer (`problem.rs`: [`ProblemResponse`]), the JSON body
//! (`json.rs`, feature `axum`) and an internal listener's service keys (`internal.rs`:
//! [`ServiceCaller`]); the bearer parser, the body limit and [`documented_routes!`](crate::documented_routes) are here.

use http::header::{self, HeaderMap};

mod internal;
#[cfg(feature = "axum")]
mod json;
mod problem;
mod request_id;

pub use internal::ServiceCaller;
#[cfg(feature = "axum")]
pub use internal::{internal_edge, scoped, service_key};
#[cfg(feature = "axum")]
pub use json::{ApiJson, decode_json};
pub use problem::ProblemResponse;
pub use request_id::{MAX_REQUEST_ID_LEN, REQUEST_ID_HEADER, usable_request_id};
#[cfg(feature = "axum")]
pub use request_id::{MakeRequestUuidV7, drop_unusual_request_id, request_id_of, with_request_ids};

/// The default request body limit of every Kisum listener (1 MiB).
pub const BODY_LIMIT: usize = 1 << 20;

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive, surrounding
/// spaces trimmed), or `None` when there is no such header or it is empty.
///
/// ```
/// use http::HeaderMap;
/// let mut h = HeaderMap::new();
/// h.insert("authorization", "bearer  abc ".parse().unwrap());
/// assert_eq!(kisum_guard::http::bearer(&h), Some("abc"));
/// h.insert("authorization", "Basic abc".parse().unwrap());
/// assert_eq!(kisum_guard::http::bearer(&h), None);
/// ```
#[must_use]
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Mounts each handler at its path, so that a route cannot exist without its OpenAPI document.
///
/// In a crate built with its `openapi` feature (the `cfg` is the *calling* crate's), every route
/// comes from its handler's `#[utoipa::path]` through `utoipa_axum::routes!`, into a
/// `utoipa_axum::router::OpenApiRouter<$state>`; without it (an embedder that wants no utoipa),
/// the same handlers are mounted as a plain `axum::Router<$state>` at the paths written in the
/// call. Also answers the `(method, path)`s written, for a test comparing them with the document.
///
/// ```text
/// let (routes, mounted) = kisum_guard::documented_routes! { MyState;
///     "/v1/things" => get list_things, post create_thing;
///     "/internal/v1/things/{id}" => delete delete_thing (scoped ServiceScope::Admin);
/// };
/// ```
///
/// `scoped` guards the route by a service-key scope ([`scoped`]).
#[macro_export]
macro_rules! documented_routes {
    ($state:ty; $($path:literal => $($method:ident $handler:ident),+ $((scoped $scope:expr))?;)+) => {{
        #[cfg(feature = "openapi")]
        let router = ::utoipa_axum::router::OpenApiRouter::<$state>::new()
            $(.routes({
                let route = ::utoipa_axum::routes!($($handler),+);
                $(let route = {
                    let (schemas, paths, method_router) = route;
                    (schemas, paths, $crate::http::scoped(method_router, $scope))
                };)?
                route
            }))+;
        #[cfg(not(feature = "openapi"))]
        let router = ::axum::Router::<$state>::new()
            $(.route($path, {
                let route = ::axum::routing::MethodRouter::new()$(.$method($handler))+;
                $(let route = $crate::http::scoped(route, $scope);)?
                route
            }))+;
        (router, [$($((stringify!($method), $path)),+),+])
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_parsed_one_way() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        for (value, want) in [
            ("Bearer abc", Some("abc")),
            ("BEARER abc", Some("abc")),
            ("Bearer   ", None),
            ("Bearer", None),
            ("Token abc", None),
        ] {
            h.insert(header::AUTHORIZATION, value.parse().unwrap());
            assert_eq!(bearer(&h), want, "{value}");
        }
    }
}
