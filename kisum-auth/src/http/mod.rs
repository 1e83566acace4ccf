//! The Auth HTTP routers (feature `http`), mountable by an embedder: the public router
//! (`/v1/auth/*`, `/v1/companies/*`, `/.well-known/jwks.json`) and the internal one
//! (`/internal/v1/*`, behind service keys). Errors are RFC 9457 problem documents carrying
//! `code` and `request_id`, rendered by the one edge of `kisum_guard::http`; the mapping from
//! the services' errors lives in [`error`].
//!
//! One file per concept: [`state`] (what the routers need), [`extract`] (caller, client,
//! consistency token), [`cookie`] (the cookie mode), then the routes — `auth` (identity),
//! `sessions`, `recovery` (password reset, email codes), `mfa` (second factors, reauthentication),
//! `passkeys`, `internal` and [`companies`] — each
//! handler documented by its `#[utoipa::path]` (feature `openapi`; what they share is in
//! `openapi`).

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use kisum_guard::http::{BODY_LIMIT, ProblemResponse};
use kisum_guard::{DenialCode, Problem, ServiceScope};

mod account;
pub mod admin;
mod api_keys;
pub(crate) mod auth;
pub mod companies;
pub mod cookie;
pub mod error;
pub mod extract;
mod internal;
mod magic_link;
mod me;
pub(crate) mod mfa;
pub(crate) mod mfa_webauthn;
#[cfg(feature = "oauth")]
mod oauth;
#[cfg(feature = "openapi")]
mod openapi;
pub(crate) mod passkeys;
mod phone;
mod recovery;
mod sessions;
pub mod state;

pub use auth::{TokenResponse, UserView};
pub use cookie::RefreshCookie;
pub use extract::{Caller, Client, Consistency};
pub use internal::DEFAULT_AUDIT_LIMIT;
pub use state::{AuthState, AuthStateParts, RateLimits};

#[cfg(feature = "openapi")]
use account::{__path_delete_account, __path_export_account};
use account::{delete_account, export_account};
#[cfg(feature = "openapi")]
use api_keys::__path_resolve_api_key;
use api_keys::resolve_api_key;
#[cfg(feature = "openapi")]
use auth::{
    __path_jwks, __path_login, __path_logout, __path_logout_all, __path_refresh, __path_register,
};
use auth::{jwks, login, logout, logout_all, refresh, register};
#[cfg(feature = "openapi")]
use internal::{__path_audit_log, __path_publish_event, __path_resolve, __path_session_state};
use internal::{audit_log, publish_event, resolve, session_state};
#[cfg(feature = "openapi")]
use kisum_core::http::events::__path_event_stream;
use kisum_core::http::events::event_stream;
#[cfg(feature = "openapi")]
use me::{__path_change_password, __path_me, __path_me_access};
use me::{change_password, me, me_access};
#[cfg(feature = "openapi")]
use mfa::{
    __path_mfa_verify, __path_reauthenticate, __path_recovery_codes, __path_totp_confirm,
    __path_totp_disable, __path_totp_enrol,
};
use mfa::{mfa_verify, reauthenticate, recovery_codes, totp_confirm, totp_disable, totp_enrol};
#[cfg(feature = "openapi")]
use recovery::{
    __path_otp_request, __path_otp_verify, __path_password_forgot, __path_password_reset,
};
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

/// The public router: `/v1/auth/*`, `/v1/companies/*`, `/v1/admin/*` (give it Core with
/// [`admin::with_core`]) and `/.well-known/jwks.json`.
pub fn public_router(state: AuthState) -> Router {
    #[cfg(feature = "openapi")]
    let (routes, _) = public_routes().0.split_for_parts();
    #[cfg(not(feature = "openapi"))]
    let (routes, _) = public_routes();
    let router = routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state);
    kisum_guard::http::with_request_ids(router)
}

/// The OpenAPI document of [`public_router`]'s routes, generated from the handlers'
/// `#[utoipa::path]`s (the servers add what every listener mounts, the security scheme
/// `bearer_jwt` the routes name, the tags and the document's info).
#[cfg(feature = "openapi")]
#[must_use]
pub fn public_openapi() -> utoipa::openapi::OpenApi {
    let mut doc = public_routes().0.split_for_parts().1;
    kisum_guard::openapi::add_problem_schema(&mut doc);
    doc
}

/// The public routes documented by their handlers (see [`kisum_guard::documented_routes`])
/// and the `(method, path)`s written: the caller's identity, sessions and recovery, the
/// signing keys, and the company administration routes of [`companies`].
fn public_routes() -> (Routes, Vec<(&'static str, &'static str)>) {
    let (routes, written) = kisum_guard::documented_routes! { AuthState;
        "/v1/auth/register" => post register;
        "/v1/auth/login" => post login;
        "/v1/auth/refresh" => post refresh;
        "/v1/auth/logout" => post logout;
        "/v1/auth/logout-all" => post logout_all;
        "/v1/auth/session" => get session;
        "/v1/auth/sessions" => get sessions;
        "/v1/auth/sessions/{session_id}" => delete delete_session;
        "/v1/auth/me" => get me, delete delete_account;
        "/v1/auth/me/access" => get me_access;
        "/v1/auth/me/export" => get export_account;
        "/v1/auth/password/change" => post change_password;
        "/v1/auth/password/forgot" => post password_forgot;
        "/v1/auth/password/reset" => post password_reset;
        "/v1/auth/email-otp/request" => post otp_request;
        "/v1/auth/email-otp/verify" => post otp_verify;
        "/v1/auth/mfa/totp" => post totp_enrol;
        "/v1/auth/mfa/totp" => delete totp_disable;
        "/v1/auth/mfa/totp/confirm" => post totp_confirm;
        "/v1/auth/mfa/recovery-codes" => post recovery_codes;
        "/v1/auth/mfa/verify" => post mfa_verify;
        "/v1/auth/reauthenticate" => post reauthenticate;
        "/.well-known/jwks.json" => get jwks;
    };
    let (companies, more) = companies::documented();
    let (passkeys, passkey_routes) = passkeys::documented();
    let (factor, factor_routes) = mfa_webauthn::documented();
    let (api_keys, api_key_routes) = companies::api_keys::documented();
    let (magic_links, magic_link_routes) = magic_link::documented();
    let (phones, phone_routes) = phone::documented();
    let (admin, admin_routes) = admin::documented();
    let routes = routes
        .merge(companies)
        .merge(passkeys)
        .merge(factor)
        .merge(api_keys)
        .merge(magic_links)
        .merge(phones)
        .merge(admin);
    let written = written
        .into_iter()
        .chain(more)
        .chain(passkey_routes)
        .chain(factor_routes)
        .chain(api_key_routes)
        .chain(magic_link_routes)
        .chain(phone_routes)
        .chain(admin_routes);
    #[cfg(feature = "oauth")]
    let (routes, written) = {
        let (oauth, more) = oauth::documented();
        (routes.merge(oauth), written.chain(more).collect())
    };
    #[cfg(not(feature = "oauth"))]
    let written = written.collect();
    (routes, written)
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
fn internal_routes() -> (Routes, [(&'static str, &'static str); 6]) {
    kisum_guard::documented_routes! { AuthState;
        "/internal/v1/access/resolve" => post resolve (scoped ServiceScope::Resolve);
        "/internal/v1/api-keys/resolve" => post resolve_api_key (scoped ServiceScope::Resolve);
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
            .map(|&(m, p)| (m.to_owned(), p.to_owned()))
            .collect();
        assert_eq!(kisum_guard::openapi::operations(&public_openapi()), mounted);
    }

    /// Every `$ref` in `v`.
    fn refs(v: &serde_json::Value, out: &mut BTreeSet<String>) {
        match v {
            serde_json::Value::Object(o) => {
                for (k, x) in o {
                    match x.as_str() {
                        Some(r) if k == "$ref" => {
                            out.insert(r.to_owned());
                        }
                        _ => refs(x, out),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }

    #[test]
    fn the_public_document_defines_every_schema_it_names() {
        // The shared problem sets name `Problem` without utoipa collecting it: an embedder
        // serving `public_openapi()` alone still gets a document whose references resolve.
        let doc = serde_json::to_value(public_openapi()).unwrap();
        let mut found = BTreeSet::new();
        refs(&doc, &mut found);
        assert!(found.contains("#/components/schemas/Problem"));
        for r in found {
            let name = r.strip_prefix("#/components/schemas/").unwrap();
            assert!(
                doc["components"]["schemas"][name].is_object(),
                "`{name}` is not defined"
            );
        }
    }

    #[test]
    fn documented_internal_paths_are_the_mounted_ones() {
        let mounted: BTreeSet<(String, String)> = internal_routes()
            .1
            .iter()
            .map(|&(m, p)| (m.to_owned(), p.to_owned()))
            .collect();
        assert_eq!(
            kisum_guard::openapi::operations(&internal_openapi()),
            mounted
        );
    }
}

/// A denial as a problem (for embedders mapping their own checks).
#[must_use]
pub fn denial(code: DenialCode) -> Response {
    ProblemResponse::from(code).into_response()
}
