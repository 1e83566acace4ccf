//! The company administration routes (`/v1/companies/*`) through `Router` + `oneshot`: every
//! route's success answer and error codes, the permission checks, and that role edits reach the
//! holders' access.
//!
//! This module holds the shared fixture (`App` and its helpers: tokens, `ok`, `problem`); the
//! tests live in the submodules, one per resource, and speak HTTP through [`crate::client`].

mod attacks;
mod company;
mod delegations;
mod members;
mod refusals;
mod roles;
mod writes;

use axum::Router;
use axum::http::{Method, StatusCode};
use chrono::TimeDelta;
use kisum_auth::http::public_router;
use kisum_auth::service::AuthService;
use kisum_guard::{MembershipId, UserId};
use serde_json::{Value, json};

use crate::client::{assert_problem_of, call, get_in, register};
use crate::fixture::{World, auth_service, t0};

const PW: &str = "correct horse battery staple";

struct App {
    public: Router,
    auth: AuthService,
    world: World,
}

async fn app() -> App {
    let world = World::new().await;
    let auth = auth_service(world.store.clone(), world.clock.clone());
    let mut state = world.state(auth.clone());
    state.service_keys = "finance:s3rvice-key-for-tests".parse().unwrap();
    App {
        public: public_router(state),
        auth,
        world,
    }
}

impl App {
    /// An access token for `user` in a new session.
    async fn token(&self, user: UserId) -> String {
        self.world.token(&self.auth, user).await
    }

    async fn owner(&self) -> String {
        self.token(self.world.owner.user_id).await
    }

    async fn viewer(&self) -> String {
        self.token(self.world.member.user_id).await
    }

    /// Registers `email` over HTTP and marks it proven; its user id and access token.
    async fn register(&self, email: &str) -> (UserId, String) {
        let body = register(&self.public, email, PW).await;
        let id: UserId = body["user"]["id"].as_str().unwrap().parse().unwrap();
        // They proved the address (an email code): an administrator adds them as active.
        let mut user = self.world.store.get_user(id).await.unwrap().unwrap();
        user.email_verified = true;
        self.world.store.update_user(&user).await.unwrap();
        (id, body["access_token"].as_str().unwrap().to_owned())
    }

    async fn ok(
        &self,
        method: Method,
        uri: &str,
        token: &str,
        body: Option<Value>,
        want: StatusCode,
    ) -> Value {
        let (status, _, value) =
            call(&self.public, method.clone(), uri, Some(token), body, &[]).await;
        assert_eq!(status, want, "{method} {uri}: {value}");
        value
    }

    async fn problem(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<Value>,
        want: StatusCode,
        code: &str,
    ) -> Value {
        let (status, headers, value) =
            call(&self.public, method.clone(), uri, token, body, &[]).await;
        assert_problem_of(
            status,
            &headers,
            &value,
            want,
            code,
            &format!("{method} {uri}"),
        );
        value
    }

    /// [`App::problem`] with `403 permission_denied`, as `token`.
    async fn denied(&self, method: Method, uri: &str, token: &str, body: Option<Value>) -> Value {
        let (forbidden, code) = (StatusCode::FORBIDDEN, "permission_denied");
        self.problem(method, uri, Some(token), body, forbidden, code)
            .await
    }

    /// [`App::problem`] with `422 validation_failed`, as `token`.
    async fn invalid(&self, method: Method, uri: &str, token: &str, body: Option<Value>) -> Value {
        let (unprocessable, code) = (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        self.problem(method, uri, Some(token), body, unprocessable, code)
            .await
    }

    /// `GET uri` as `token`, answered `200 OK`; the body.
    async fn get_ok(&self, uri: &str, token: &str) -> Value {
        self.ok(Method::GET, uri, token, None, StatusCode::OK).await
    }

    /// `POST /v1/companies/acme/delegations` of `body` as `token`, answered `201 Created`.
    async fn delegate(&self, token: &str, body: Value) -> Value {
        let uri = self.acme("/delegations");
        self.ok(Method::POST, &uri, token, Some(body), StatusCode::CREATED)
            .await
    }

    /// `POST /v1/companies/acme/members` of `body` as `token`, answered `201 Created`.
    async fn add_member(&self, token: &str, body: Value) -> Value {
        let uri = self.acme("/members");
        self.ok(Method::POST, &uri, token, Some(body), StatusCode::CREATED)
            .await
    }

    fn acme(&self, rest: &str) -> String {
        format!("/v1/companies/acme{rest}")
    }
}

impl App {
    /// A delegation body: `finance.invoices.write` and the finance module to the viewer for a
    /// day, from the caller.
    fn write_for_the_viewer(&self) -> Value {
        json!({
            "to_membership_id": self.world.member.id,
            "permissions": ["finance.invoices.write"],
            "modules": ["finance"],
            "expires_at": in_a_day(),
        })
    }
}

fn by_id(list: &Value, id: MembershipId) -> Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|m| m["membership_id"] == id.to_string())
        .cloned()
        .unwrap_or_else(|| panic!("membership {id} not in {list}"))
}

fn in_a_day() -> String {
    (t0() + TimeDelta::days(1)).to_rfc3339()
}

impl App {
    /// Creates role `key` with `permissions` (as the owner) and registers `email` as an active
    /// member holding it, with `modules`; the member's membership id and access token.
    async fn member_with_role(
        &self,
        email: &str,
        key: &str,
        permissions: &[&str],
        modules: &[&str],
    ) -> (String, String) {
        let owner = self.owner().await;
        self.ok(
            Method::POST,
            &self.acme("/roles"),
            &owner,
            Some(json!({"key": key, "name": key, "permissions": permissions})),
            StatusCode::CREATED,
        )
        .await;
        let (_, token) = self.register(email).await;
        let m = self
            .ok(
                Method::POST,
                &self.acme("/members"),
                &owner,
                Some(json!({"email": email, "roles": [key], "modules": modules})),
                StatusCode::CREATED,
            )
            .await;
        (m["membership_id"].as_str().unwrap().to_owned(), token)
    }

    /// The caller's `me/access` in acme.
    async fn my_access(&self, token: &str) -> Value {
        let (status, _, body) =
            get_in(&self.public, "/v1/auth/me/access", Some(token), "acme").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

fn permissions_of(access: &Value) -> Vec<String> {
    access["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect()
}
