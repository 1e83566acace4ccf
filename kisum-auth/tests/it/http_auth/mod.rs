//! The Auth routers through `Router` + `oneshot`: routes, bodies and error codes of API.md.
//!
//! This module holds the shared fixture (`App`: the public and internal routers over one
//! [`World`](crate::fixture::World)); the tests live in the submodules, one per concern, and
//! speak HTTP through [`crate::client`].

mod account;
mod cookie;
mod errors;
mod internal;

use axum::Router;
use axum::http::StatusCode;
use kisum_auth::http::{RefreshCookie, internal_router, public_router};
use serde_json::{Value, json};

use crate::client::{Answer, post};
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
    let mut state = world.state(auth);
    state.service_keys =
        "finance[resolve+events+audit]:s3rvice-key-for-tests,ops:0ps-key-after-rotation"
            .parse()
            .unwrap();
    state.refresh_cookie = refresh_cookie;
    App {
        public: public_router(state.clone()),
        internal: internal_router(state),
        world,
    }
}

/// The service key of `finance` (scopes `resolve`, `events`, `audit`) on the internal listener.
const KEY: Option<&str> = Some("s3rvice-key-for-tests");

async fn register(app: &App, email: &str) -> Value {
    let (status, _, body) = post(
        &app.public,
        "/v1/auth/register",
        None,
        json!({"email": email, "password": PW, "name": "Ada"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

/// `POST /v1/auth/login` with `email` and `password`.
async fn sign_in(app: &App, email: &str, password: &str) -> Answer {
    let body = json!({"email": email, "password": password});
    post(&app.public, "/v1/auth/login", None, body).await
}

/// `POST /v1/auth/refresh` with `token` in the body.
async fn refresh_with(app: &App, token: &str) -> Answer {
    let body = json!({"refresh_token": token});
    post(&app.public, "/v1/auth/refresh", None, body).await
}
