//! The admin console (feature `console`): server-rendered pages at `/console`, on the same
//! origin as the API (decision [0035](../../docs/decisions/0035-admin-console.md)).
//!
//! The pages are [askama](https://docs.rs/askama) templates (`templates/console/`), enhanced by
//! htmx (`hx-boost`: links and forms swap the page's body instead of reloading it), which is
//! vendored here and served by the app: nothing is built with a frontend toolchain, and every
//! page works without script. The one exception is a passkey: its ceremony is the browser's
//! `navigator.credentials`, run by the console's small `assets/passkey.js`; without script the
//! pages say so and offer the other ways.
//!
//! One file per part:
//! - [`edge`](self) — cookies, the CSRF check of every form, the signed-in user (its access
//!   token refreshed from the refresh cookie when it has expired), and the security headers;
//! - `account` — sign-in (password, then the TOTP step when the user has a second factor),
//!   sign-out, the user's companies and own sessions;
//! - `sign_in_passkey` — sign-in with a passkey (passwordless, or as the second factor);
//! - `security` — the user's own sign-in methods: the authenticator app and its recovery
//!   codes, passkeys, and confirming who one is again (recent auth);
//! - `company` — a company's members, roles, delegations and the "why can't this member …?"
//!   explanation;
//! - `api_keys` — a company's API keys: the list, creation (the secret shown once) and
//!   revocation;
//! - `platform` — the platform administrator's pages (companies, subscriptions and add-ons,
//!   the catalog, licences, the audit log, platform roles), over the `/v1/admin/*`
//!   handlers. They need the router to be given Core's link
//!   ([`crate::http::admin::with_core`] around the console).
//!
//! Every action calls the handlers of the API (`kisum_auth::http::companies`) or the services
//! they call, with the same checks: the console writes the same audit events and publishes the
//! same invalidation events as `curl` would.
//!
//! ```
//! use kisum_auth::console::{ConsoleConfig, router};
//! # fn mount(state: kisum_auth::http::AuthState) -> axum::Router {
//! // `Secure` cookies outside development.
//! let console = router(state.clone(), ConsoleConfig { secure_cookies: true });
//! // The platform pages reach Core through the link `with_core` gives the routes it wraps.
//! kisum_auth::http::public_router(state).merge(console)
//! # }
//! ```

use axum::Router;
use axum::extract::FromRef;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::http::AuthState;

mod account;
mod api_keys;
mod company;
mod edge;
mod pages;
mod platform;
mod security;
mod sign_in_passkey;

/// Where the console is mounted.
pub const PREFIX: &str = "/console";

/// How the console is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsoleConfig {
    /// Whether its cookies carry `Secure` (every deployment served over HTTPS; `false` only in
    /// development, over plain HTTP).
    pub secure_cookies: bool,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            secure_cookies: true,
        }
    }
}

/// What the console's handlers share: Auth's state and the console's settings.
#[derive(Clone)]
pub(crate) struct ConsoleState {
    auth: AuthState,
    config: ConsoleConfig,
}

impl FromRef<ConsoleState> for AuthState {
    fn from_ref(s: &ConsoleState) -> Self {
        s.auth.clone()
    }
}

/// The console's router: the pages under [`PREFIX`] and their static assets. Merge it into
/// the public router (same origin as the API).
pub fn router(auth: AuthState, config: ConsoleConfig) -> Router {
    let state = ConsoleState { auth, config };
    let pages = Router::new()
        .route(PREFIX, get(account::home))
        .route(
            "/console/sign-in",
            get(account::sign_in_page).post(account::sign_in),
        )
        .route("/console/sign-in/totp", post(account::sign_in_totp))
        .route("/console/sign-in/passkey", post(sign_in_passkey::finish))
        .route(
            "/console/sign-in/passkey/start",
            post(sign_in_passkey::start),
        )
        .route(
            "/console/sign-in/passkey/second-factor",
            post(sign_in_passkey::second_factor),
        )
        .route(
            "/console/sign-in/passkey/second-factor/start",
            post(sign_in_passkey::second_factor_start),
        )
        .route("/console/sign-out", post(account::sign_out))
        .route("/console/sessions", get(account::sessions))
        .route("/console/sessions/{id}/end", post(account::end_session))
        .route(
            "/console/companies/{org}/members",
            get(company::members).post(company::invite),
        )
        .route(
            "/console/companies/{org}/members/{id}",
            post(company::update_member),
        )
        .route(
            "/console/companies/{org}/members/{id}/remove",
            post(company::remove_member),
        )
        .route(
            "/console/companies/{org}/roles",
            get(company::roles).post(company::save_role),
        )
        .route(
            "/console/companies/{org}/roles/{key}/delete",
            post(company::delete_role),
        )
        .route(
            "/console/companies/{org}/delegations",
            get(company::delegations).post(company::delegate),
        )
        .route(
            "/console/companies/{org}/delegations/{id}/revoke",
            post(company::revoke_delegation),
        )
        .route("/console/companies/{org}/explain", get(company::explain))
        .route(
            "/console/companies/{org}/api-keys",
            get(api_keys::list).post(api_keys::create),
        )
        .route(
            "/console/companies/{org}/api-keys/{id}/revoke",
            post(api_keys::revoke),
        )
        .merge(security::routes())
        .merge(platform::routes())
        // Not a fallback: the public router it is merged into has its own.
        .route(
            "/console/{*rest}",
            get(pages::not_found).post(pages::not_found),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            edge::edge,
        ))
        .with_state(state);
    // The assets skip the session step (no refresh per file), not the headers.
    let assets = Router::new()
        .route("/console/assets/htmx.min.js", get(htmx))
        .route("/console/assets/console.css", get(css))
        .route("/console/assets/passkey.js", get(passkey_js))
        .layer(axum::middleware::from_fn(edge::headers));
    pages.merge(assets)
}

/// htmx 2 (BSD Zero Clause), vendored: `assets/htmx.min.js`.
const HTMX: &str = include_str!("assets/htmx.min.js");
/// The console's one stylesheet.
const CSS: &str = include_str!("assets/console.css");
/// The passkey ceremonies (`navigator.credentials`), the console's own script.
const PASSKEY_JS: &str = include_str!("assets/passkey.js");

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        body,
    )
        .into_response()
}

async fn htmx() -> Response {
    asset("text/javascript; charset=utf-8", HTMX)
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

async fn passkey_js() -> Response {
    asset("text/javascript; charset=utf-8", PASSKEY_JS)
}
