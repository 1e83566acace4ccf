//! The Auth routers through `Router` + `oneshot`: routes, bodies and error codes of API.md.
//!
//! This module holds the shared fixture (`App`: the public and internal routers over one
//! [`World`](crate::fixture::World)); the tests live in the submodules, one per concern, and
//! speak HTTP through [`crate::client`].

mod account;
mod cookie;
mod errors;
mod internal;

use std::sync::Arc;

use axum::Router;
use axum::http::{Method, StatusCode};
use kisum_auth::http::{AuthState, RateLimits, RefreshCookie, internal_router, public_router};
use kisum_auth::ratelimit::LocalRateLimiter;
use serde_json::{Value, json};

use crate::client::call;
use crate::fixture::{World, auth_service};

const PW: &str = "correct horse battery staple";

struct App {
    public: Router,
    internal: Router,
    world: World,
}

async fn app() -> App {
    app_with(None).await
}

async fn app_with(refresh_cookie: Option<RefreshCookie>) -> App {
    let world = World::new().await;
    let auth = auth_service(world.store.clone(), world.clock.clone());
    let state = AuthState {
        auth,
        access: world.access.clone(),
        directory: world.store.clone(),
        admin: world.directory.clone(),
        audit: world.store.clone(),
        feed: std::sync::Arc::new(kisum_core::outbox::EventFeed::new(
            kisum_core::outbox::EventLogged::event_log(&*world.store),
        )),
        events: world.events.clone(),
        service_keys:
            "finance[resolve+events+audit]:s3rvice-key-for-tests,ops:0ps-key-after-rotation"
                .parse()
                .unwrap(),
        limits: RateLimits::new(Arc::new(LocalRateLimiter::new(world.clock.clone()))),
        refresh_cookie,
    };
    App {
        public: public_router(state.clone()),
        internal: internal_router(state),
        world,
    }
}

/// The service key of `finance` (scopes `resolve`, `events`, `audit`) on the internal listener.
const KEY: Option<&str> = Some("s3rvice-key-for-tests");

async fn register(app: &App, email: &str) -> Value {
    let (status, _, body) = call(
        &app.public,
        Method::POST,
        "/v1/auth/register",
        None,
        Some(json!({"email": email, "password": PW, "name": "Ada"})),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}
