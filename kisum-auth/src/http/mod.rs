//! The Auth HTTP routers (feature `http`), mountable by an embedder: the public router
//! (`/v1/auth/*`, `/v1/companies/*`, `/.well-known/jwks.json`) and the internal one
//! (`/internal/v1/*`, behind service keys). Errors are RFC 9457 problem documents carrying
//! `code` and `request_id`, rendered by the one edge of `kisum_guard::http`; the mapping from
//! the services' errors lives in [`error`].
//!
//! One file per concept: [`state`] (what the routers need), [`extract`] (caller, client,
//! consistency token), [`cookie`] (the cookie mode), then the routes — `auth` (identity),
//! `sessions`, `recovery` (password reset, email codes), `internal` and [`companies`].

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kisum_guard::http::{BODY_LIMIT, ProblemResponse};
use kisum_guard::{DenialCode, Problem, ServiceScope};

mod auth;
pub mod companies;
pub mod cookie;
pub mod error;
pub mod extract;
mod internal;
mod recovery;
mod sessions;
pub mod state;

pub use auth::{TokenResponse, UserView};
pub use cookie::RefreshCookie;
pub use extract::{Caller, Client, Consistency};
pub use internal::DEFAULT_AUDIT_LIMIT;
pub use state::{AuthState, RateLimits};

use auth::{change_password, jwks, login, logout, logout_all, me, me_access, refresh, register};
#[cfg(feature = "openapi")]
use internal::{__path_audit_log, __path_publish_event, __path_resolve, __path_session_state};
use internal::{audit_log, publish_event, resolve, session_state};
#[cfg(feature = "openapi")]
use kisum_core::http::events::__path_event_stream;
use kisum_core::http::events::event_stream;
use recovery::{otp_request, otp_verify, password_forgot, password_reset};
#[cfg(feature = "openapi")]
use sessions::{__path_delete_session, __path_session, __path_sessions};
use sessions::{delete_session, session, sessions};

async fn not_found() -> Problem {
    Problem::not_found("route")
}

async fn method_not_allowed() -> Problem {
    Problem::method_not_allowed()
}

/// The public router: `/v1/auth/*` and `/.well-known/jwks.json`.
pub fn public_router(state: AuthState) -> Router {
    #[cfg(feature = "openapi")]
    let (routes, _) = public_routes().0.split_for_parts();
    #[cfg(not(feature = "openapi"))]
    let (routes, _) = public_routes();
    let router = routes
        .route("/v1/auth/register", post(register))
        .route("/v1/auth/login", post(login))
        .route("/v1/auth/refresh", post(refresh))
        .route("/v1/auth/logout", post(logout))
        .route("/v1/auth/logout-all", post(logout_all))
        .route("/v1/auth/me", get(me))
        .route("/v1/auth/me/access", get(me_access))
        .route("/v1/auth/password/change", post(change_password))
        .route("/v1/auth/password/forgot", post(password_forgot))
        .route("/v1/auth/password/reset", post(password_reset))
        .route("/v1/auth/email-otp/request", post(otp_request))
        .route("/v1/auth/email-otp/verify", post(otp_verify))
        .route("/.well-known/jwks.json", get(jwks))
        .merge(companies::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state);
    kisum_guard::http::with_request_ids(router)
}

/// The OpenAPI document of the [`public_router`] routes that are generated from their
/// handlers' `#[utoipa::path]`s so far (the caller's sessions); the servers add the others.
#[cfg(feature = "openapi")]
#[must_use]
pub fn public_openapi() -> utoipa::openapi::OpenApi {
    public_routes().0.split_for_parts().1
}

/// The public routes documented by their handlers (see [`kisum_guard::documented_routes`])
/// and the `(method, path)`s written.
fn public_routes() -> (Routes, [(&'static str, &'static str); 3]) {
    kisum_guard::documented_routes! { AuthState;
        "/v1/auth/session" => get session;
        "/v1/auth/sessions" => get sessions;
        "/v1/auth/sessions/{session_id}" => delete delete_session;
    }
}

/// The internal router (`/internal/v1/*`), behind service keys.
pub fn internal_router(state: AuthState) -> Router {
    #[cfg(feature = "openapi")]
    let (routes, _) = internal_routes().0.split_for_parts();
    #[cfg(not(feature = "openapi"))]
    let (routes, _) = internal_routes();
    let keys = state.service_keys.clone();
    kisum_guard::http::internal_edge(routes, keys, state)
}

/// The OpenAPI document of [`internal_router`]'s routes, generated from the handlers'
/// `#[utoipa::path]`s (the servers add what every listener mounts and the document's info).
#[cfg(feature = "openapi")]
#[must_use]
pub fn internal_openapi() -> utoipa::openapi::OpenApi {
    internal_routes().0.split_for_parts().1
}

#[cfg(feature = "openapi")]
type Routes = utoipa_axum::router::OpenApiRouter<AuthState>;
#[cfg(not(feature = "openapi"))]
type Routes = Router<AuthState>;

/// The internal routes (see [`kisum_guard::documented_routes`]) and the `(method, path)`s
/// written.
fn internal_routes() -> (Routes, [(&'static str, &'static str); 5]) {
    kisum_guard::documented_routes! { AuthState;
        "/internal/v1/access/resolve" => post resolve (scoped ServiceScope::Resolve);
        "/internal/v1/sessions/{session_id}" => get session_state (scoped ServiceScope::Resolve);
        "/internal/v1/events" => post publish_event (scoped ServiceScope::Events);
        "/internal/v1/events" => get event_stream (scoped ServiceScope::Resolve);
        "/internal/v1/audit" => get audit_log (scoped ServiceScope::Audit);
    }
}

#[cfg(all(test, feature = "openapi"))]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn documented_public_paths_are_the_mounted_ones() {
        let mounted: BTreeSet<(String, String)> = public_routes()
            .1
            .iter()
            .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
            .collect();
        let doc = public_openapi();
        let documented: BTreeSet<(String, String)> = doc
            .paths
            .paths
            .iter()
            .flat_map(|(path, item)| {
                serde_json::to_value(item)
                    .unwrap()
                    .as_object()
                    .unwrap()
                    .keys()
                    .filter(|k| *k != "parameters")
                    .map(|m| (m.clone(), path.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(documented, mounted);
    }

    #[test]
    fn documented_internal_paths_are_the_mounted_ones() {
        let doc = internal_openapi();
        let documented: BTreeSet<(String, String)> = doc
            .paths
            .paths
            .iter()
            .flat_map(|(path, item)| {
                serde_json::to_value(item)
                    .unwrap()
                    .as_object()
                    .unwrap()
                    .keys()
                    .filter(|k| *k != "parameters")
                    .map(|m| (m.clone(), path.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        let mounted: BTreeSet<(String, String)> = internal_routes()
            .1
            .iter()
            .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
            .collect();
        assert_eq!(documented, mounted);
    }
}

/// A denial as a problem (for embedders mapping their own checks).
#[must_use]
pub fn denial(code: DenialCode) -> Response {
    ProblemResponse::from(code).into_response()
}
