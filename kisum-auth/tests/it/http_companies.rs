//! The company administration routes (`/v1/companies/*`) through `Router` + `oneshot`: every
//! route's success answer and error codes, the permission checks, and that role edits reach the
//! holders' access.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use chrono::TimeDelta;
use kisum_auth::http::{AuthState, RateLimits, public_router};
use kisum_auth::ratelimit::LocalRateLimiter;
use kisum_auth::service::AuthService;
use kisum_guard::{MembershipId, UserId};
use serde_json::{Value, json};
use tower::ServiceExt as _;

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
    let state = AuthState {
        auth: auth.clone(),
        access: world.access.clone(),
        directory: world.store.clone(),
        admin: world.directory.clone(),
        audit: world.store.clone(),
        events: world.events.clone(),
        service_keys: "finance:s3rvice-key-for-tests".parse().unwrap(),
        limits: RateLimits::new(Arc::new(LocalRateLimiter::new(world.clock.clone()))),
        refresh_cookie: None,
    };
    App {
        public: public_router(state),
        auth,
        world,
    }
}

impl App {
    /// An access token for `user` in a new session.
    async fn token(&self, user: UserId) -> String {
        let session = self.world.session(user).await;
        self.auth
            .tokens()
            .issue(user, session.id, t0())
            .unwrap()
            .token
    }

    async fn owner(&self) -> String {
        self.token(self.world.owner.user_id).await
    }

    async fn viewer(&self) -> String {
        self.token(self.world.member.user_id).await
    }

    /// Registers `email` over HTTP and marks it proven; its user id and access token.
    async fn register(&self, email: &str) -> (UserId, String) {
        let (status, _, body) = call(
            &self.public,
            Method::POST,
            "/v1/auth/register",
            None,
            Some(json!({"email": email, "password": PW})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
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
        let (status, _, value) = call(&self.public, method.clone(), uri, Some(token), body).await;
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
        let (status, headers, value) = call(&self.public, method.clone(), uri, token, body).await;
        assert_problem(
            status,
            &headers,
            &value,
            want,
            code,
            &format!("{method} {uri}"),
        );
        value
    }

    fn acme(&self, rest: &str) -> String {
        format!("/v1/companies/acme{rest}")
    }
}

async fn call(
    router: &Router,
    method: Method,
    uri: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, HeaderMap, Value) {
    call_with(router, method, uri, bearer, body, &[]).await
}

async fn call_with(
    router: &Router,
    method: Method,
    uri: &str,
    bearer: Option<&str>,
    body: Option<Value>,
    extra: &[(&str, &str)],
) -> (StatusCode, HeaderMap, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = bearer {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let req = match body {
        Some(b) => req
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(b.to_string()))
            .unwrap(),
        None => req.body(Body::empty()).unwrap(),
    };
    let response = router.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    (status, headers, value)
}

fn assert_problem(
    status: StatusCode,
    headers: &HeaderMap,
    body: &Value,
    want: StatusCode,
    code: &str,
    what: &str,
) {
    assert_eq!(status, want, "{what}: {body}");
    assert_eq!(body["code"], code, "{what}: {body}");
    assert_eq!(body["status"], want.as_u16(), "{what}");
    assert_eq!(
        headers[header::CONTENT_TYPE],
        "application/problem+json",
        "{what}"
    );
    assert!(
        body["request_id"].as_str().is_some_and(|s| !s.is_empty()),
        "{what}: {body}"
    );
    assert_eq!(
        body["request_id"].as_str(),
        headers["x-request-id"].to_str().ok(),
        "{what}"
    );
}

fn field(problem: &Value) -> &str {
    problem["errors"][0]["field"].as_str().unwrap_or_default()
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

#[tokio::test]
async fn creating_a_company_makes_the_caller_its_owner() {
    let app = app().await;
    let (_, token) = app.register("ada@example.test").await;
    let company = app
        .ok(
            Method::POST,
            "/v1/companies",
            &token,
            Some(json!({"name": "  Globex Corp  "})),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(company["slug"], "globex-corp");
    assert_eq!(company["name"], "Globex Corp");
    assert_eq!(company["status"], "active");
    let id = company["id"].as_str().unwrap();

    // By slug and by id alike.
    for org in ["globex-corp", id] {
        let members = app
            .ok(
                Method::GET,
                &format!("/v1/companies/{org}/members"),
                &token,
                None,
                StatusCode::OK,
            )
            .await;
        assert_eq!(members.as_array().unwrap().len(), 1, "{members}");
        assert_eq!(members[0]["roles"], json!(["owner"]));
        assert_eq!(members[0]["status"], "active");
        assert_eq!(members[0]["email"], "ada@example.test");
        assert_eq!(members[0]["access_version"], 1);
    }

    let with_slug = app
        .ok(
            Method::POST,
            "/v1/companies",
            &token,
            Some(json!({"name": "Initech", "slug": "initech-eu"})),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(with_slug["slug"], "initech-eu");

    app.problem(
        Method::POST,
        "/v1/companies",
        Some(&token),
        Some(json!({"name": "Acme again", "slug": "acme"})),
        StatusCode::CONFLICT,
        "slug_taken",
    )
    .await;
    app.problem(
        Method::POST,
        "/v1/companies",
        Some(&token),
        Some(json!({"name": "Globex Corp"})),
        StatusCode::CONFLICT,
        "slug_taken",
    )
    .await;
    for (body, bad) in [
        (json!({"name": "Bad", "slug": "Not A Slug"}), "slug"),
        (json!({"name": "Bad", "slug": id}), "slug"),
        (json!({"name": "!!!"}), "slug"),
        (json!({"name": "   "}), "name"),
        (json!({"name": "x".repeat(201)}), "name"),
    ] {
        let p = app
            .problem(
                Method::POST,
                "/v1/companies",
                Some(&token),
                Some(body.clone()),
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
            )
            .await;
        assert_eq!(field(&p), bad, "{body}: {p}");
    }
    app.problem(
        Method::POST,
        "/v1/companies",
        Some(&token),
        Some(json!({"slug": "no-name"})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    app.problem(
        Method::POST,
        "/v1/companies",
        None,
        Some(json!({"name": "Anon"})),
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    let req = Request::post("/v1/companies")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{not json"))
        .unwrap();
    let r = app.public.clone().oneshot(req).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn members_are_listed_added_changed_and_removed() {
    let app = app().await;
    let owner = app.owner().await;
    let w = &app.world;

    let list = app
        .ok(
            Method::GET,
            &app.acme("/members"),
            &owner,
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    let viewer = by_id(&list, w.member.id);
    assert_eq!(viewer["user_id"], w.member.user_id.to_string());
    assert_eq!(viewer["roles"], json!(["finance-viewer"]));
    assert_eq!(viewer["modules"], json!(["finance"]));
    assert_eq!(viewer["status"], "active");
    assert_eq!(viewer["access_version"], 1);
    assert!(
        viewer.get("email").is_none(),
        "fixture users have no account"
    );

    let (bob_id, bob_token) = app.register("bob@example.test").await;
    let bob = app
        .ok(
            Method::POST,
            &app.acme("/members"),
            &owner,
            Some(json!({"email": " BOB@example.test ", "roles": ["finance-viewer"], "modules": ["finance"]})),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(bob["status"], "active");
    assert_eq!(bob["user_id"], bob_id.to_string());
    assert_eq!(bob["email"], "bob@example.test");
    assert_eq!(bob["roles"], json!(["finance-viewer"]));
    assert_eq!(bob["access_version"], 1);
    let bob_membership = bob["membership_id"].as_str().unwrap().to_owned();
    let ctx_req = Request::get("/v1/auth/me/access")
        .header(header::AUTHORIZATION, format!("Bearer {bob_token}"))
        .header("x-org", "acme")
        .body(Body::empty())
        .unwrap();
    let r = app.public.clone().oneshot(ctx_req).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    app.problem(
        Method::POST,
        &app.acme("/members"),
        Some(&owner),
        Some(json!({"email": "bob@example.test", "roles": [], "modules": []})),
        StatusCode::CONFLICT,
        "already_member",
    )
    .await;
    app.register("carol@example.test").await;
    app.problem(
        Method::POST,
        &app.acme("/members"),
        Some(&owner),
        Some(json!({"email": "carol@example.test", "roles": ["nope"], "modules": []})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_role",
    )
    .await;
    for (body, bad) in [
        (json!({"email": "not-an-email", "roles": []}), "email"),
        (
            json!({"email": "bob@example.test", "roles": ["Bad Role"]}),
            "roles",
        ),
        (
            json!({"email": "bob@example.test", "modules": ["fin ance"]}),
            "modules",
        ),
    ] {
        let p = app
            .problem(
                Method::POST,
                &app.acme("/members"),
                Some(&owner),
                Some(body.clone()),
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
            )
            .await;
        assert_eq!(field(&p), bad, "{body}: {p}");
    }
    // Someone without an account is invited (no email flows here: nothing is sent).
    let invited = app
        .ok(
            Method::POST,
            &app.acme("/members"),
            &owner,
            Some(json!({"email": "nobody@example.test", "roles": [], "modules": []})),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(invited["status"], "invited", "{invited}");
    assert_eq!(invited["email"], "nobody@example.test");
    app.problem(
        Method::POST,
        &app.acme("/members"),
        Some(&owner),
        Some(json!({"roles": []})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;

    // PATCH changes what is given and bumps the access version.
    let uri = app.acme(&format!("/members/{bob_membership}"));
    let patched = app
        .ok(
            Method::PATCH,
            &uri,
            &owner,
            Some(json!({"roles": [], "modules": ["finance", "market"]})),
            StatusCode::OK,
        )
        .await;
    assert_eq!(patched["roles"], json!([]));
    assert_eq!(patched["modules"], json!(["finance", "market"]));
    assert_eq!(patched["status"], "active");
    assert_eq!(patched["email"], "bob@example.test");
    assert_eq!(patched["access_version"], 2);
    let patched = app
        .ok(
            Method::PATCH,
            &uri,
            &owner,
            Some(json!({"status": "suspended"})),
            StatusCode::OK,
        )
        .await;
    assert_eq!(patched["status"], "suspended");
    assert_eq!(patched["modules"], json!(["finance", "market"]));
    assert_eq!(patched["access_version"], 3);
    app.problem(
        Method::GET,
        &app.acme("/roles"),
        Some(&bob_token),
        None,
        StatusCode::FORBIDDEN,
        "membership_inactive",
    )
    .await;
    app.problem(
        Method::PATCH,
        &uri,
        Some(&owner),
        Some(json!({"roles": ["nope"]})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_role",
    )
    .await;
    app.problem(
        Method::PATCH,
        &uri,
        Some(&owner),
        Some(json!({"status": "asleep"})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    let p = app
        .problem(
            Method::PATCH,
            &uri,
            Some(&owner),
            Some(json!({"modules": ["Nope!"]})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
    assert_eq!(field(&p), "modules");

    // A membership of another company, an unknown one, a malformed id: 404.
    let (globex, globex_owner) = app
        .world
        .directory
        .create_company("Globex", None, UserId::new())
        .await
        .unwrap();
    for id in [
        globex_owner.id.to_string(),
        MembershipId::new().to_string(),
        "not-an-id".to_owned(),
    ] {
        let uri = app.acme(&format!("/members/{id}"));
        app.problem(
            Method::PATCH,
            &uri,
            Some(&owner),
            Some(json!({"status": "active"})),
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
        app.problem(
            Method::DELETE,
            &uri,
            Some(&owner),
            None,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    assert_eq!(globex.slug.as_str(), "globex");

    // DELETE revokes.
    let (s, _, b) = call(&app.public, Method::DELETE, &uri, Some(&owner), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    assert_eq!(b, Value::Null);
    let list = app
        .ok(
            Method::GET,
            &app.acme("/members"),
            &owner,
            None,
            StatusCode::OK,
        )
        .await;
    let bob = by_id(&list, bob_membership.parse().unwrap());
    assert_eq!(bob["status"], "revoked");
    assert_eq!(bob["access_version"], 4);

    // A removed member can be added back: the same membership, with what the request says.
    let back = app
        .ok(
            Method::POST,
            &app.acme("/members"),
            &owner,
            Some(json!({"email": "bob@example.test", "roles": ["finance-viewer"], "modules": ["finance"]})),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(back["membership_id"], bob_membership.as_str());
    assert_eq!(back["status"], "active");
    assert_eq!(back["roles"], json!(["finance-viewer"]));
    assert_eq!(back["modules"], json!(["finance"]));
    assert_eq!(back["access_version"], 5);
    let r = app
        .public
        .clone()
        .oneshot(
            Request::get("/v1/auth/me/access")
                .header(header::AUTHORIZATION, format!("Bearer {bob_token}"))
                .header("x-org", "acme")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "bob is back in");
}

#[tokio::test]
async fn the_finance_viewer_is_denied_every_administrative_route() {
    let app = app().await;
    let viewer = app.viewer().await;
    let owner = app.owner().await;
    let w = &app.world;
    // A delegation from the owner, which the viewer may not revoke.
    let from_owner = app
        .ok(
            Method::POST,
            &app.acme("/delegations"),
            &owner,
            Some(json!({
                "to_membership_id": w.member.id,
                "permissions": ["finance.invoices.write"],
                "modules": ["finance"],
                "expires_at": in_a_day(),
            })),
            StatusCode::CREATED,
        )
        .await;
    let member = app.acme(&format!("/members/{}", w.owner.id));
    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, app.acme("/members"), None),
        (
            Method::POST,
            app.acme("/members"),
            Some(json!({"email": "x@example.test", "roles": [], "modules": []})),
        ),
        (
            Method::PATCH,
            member.clone(),
            Some(json!({"status": "suspended"})),
        ),
        (Method::DELETE, member, None),
        (Method::GET, app.acme("/roles"), None),
        (
            Method::POST,
            app.acme("/roles"),
            Some(json!({"key": "x", "name": "X", "permissions": []})),
        ),
        (
            Method::PUT,
            app.acme("/roles/finance-viewer"),
            Some(json!({"name": "X", "permissions": ["*"]})),
        ),
        (Method::DELETE, app.acme("/roles/finance-viewer"), None),
        (
            Method::POST,
            app.acme("/delegations"),
            Some(json!({
                "from_membership_id": w.owner.id,
                "to_membership_id": w.member.id,
                "permissions": ["*"],
                "modules": [],
                "expires_at": in_a_day(),
            })),
        ),
        (
            Method::DELETE,
            app.acme(&format!(
                "/delegations/{}",
                from_owner["id"].as_str().unwrap()
            )),
            None,
        ),
        (
            Method::GET,
            app.acme(&format!("/access/explain?membership_id={}", w.owner.id)),
            None,
        ),
        // Denied before the body or the path ids are looked at.
        (Method::POST, app.acme("/members"), Some(json!({"bad": 1}))),
        (
            Method::PATCH,
            app.acme("/members/not-an-id"),
            Some(json!({})),
        ),
        (Method::DELETE, app.acme("/roles/nope"), None),
        (Method::GET, app.acme("/access/explain"), None),
    ];
    for (method, uri, body) in routes {
        app.problem(
            method,
            &uri,
            Some(&viewer),
            body,
            StatusCode::FORBIDDEN,
            "permission_denied",
        )
        .await;
    }
    // Nothing changed.
    let list = app
        .ok(
            Method::GET,
            &app.acme("/members"),
            &owner,
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(by_id(&list, w.owner.id)["status"], "active");
    let roles = app
        .ok(
            Method::GET,
            &app.acme("/roles"),
            &owner,
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(roles.as_array().unwrap().len(), 2);
    let delegations = app
        .ok(
            Method::GET,
            &app.acme("/delegations"),
            &owner,
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(delegations[0]["revoked_at"], Value::Null);
}

#[tokio::test]
async fn strangers_unknown_companies_and_missing_tokens_are_refused() {
    let app = app().await;
    let stranger = app.token(UserId::new()).await;
    let owner = app.owner().await;
    let some_id = MembershipId::new();
    let paths = [
        (Method::GET, "/members".to_owned(), None),
        (
            Method::POST,
            "/members".to_owned(),
            Some(json!({"email": "x@example.test"})),
        ),
        (
            Method::PATCH,
            format!("/members/{some_id}"),
            Some(json!({})),
        ),
        (Method::DELETE, format!("/members/{some_id}"), None),
        (Method::GET, "/roles".to_owned(), None),
        (
            Method::POST,
            "/roles".to_owned(),
            Some(json!({"key": "x", "name": "X"})),
        ),
        (
            Method::PUT,
            "/roles/x".to_owned(),
            Some(json!({"name": "X"})),
        ),
        (Method::DELETE, "/roles/x".to_owned(), None),
        (Method::GET, "/delegations".to_owned(), None),
        (
            Method::POST,
            "/delegations".to_owned(),
            Some(
                json!({"to_membership_id": some_id, "permissions": ["a.b"], "expires_at": in_a_day()}),
            ),
        ),
        (
            Method::DELETE,
            format!("/delegations/{}", kisum_guard::DelegationId::new()),
            None,
        ),
        (
            Method::GET,
            format!("/access/explain?membership_id={some_id}"),
            None,
        ),
    ];
    let unknown_id = kisum_guard::CompanyId::new().to_string();
    for (method, rest, body) in paths {
        app.problem(
            method.clone(),
            &app.acme(&rest),
            Some(&stranger),
            body.clone(),
            StatusCode::FORBIDDEN,
            "not_a_member",
        )
        .await;
        for org in ["no-such-company", unknown_id.as_str()] {
            app.problem(
                method.clone(),
                &format!("/v1/companies/{org}{rest}"),
                Some(&owner),
                body.clone(),
                StatusCode::NOT_FOUND,
                "org_unknown",
            )
            .await;
        }
        app.problem(
            method.clone(),
            &app.acme(&rest),
            None,
            body.clone(),
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
        )
        .await;
    }
    // An undecodable path segment is a 404, not a 400 or a 500.
    app.problem(
        Method::GET,
        "/v1/companies/%FF%FE/members",
        Some(&owner),
        None,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    // A revoked session cannot administer anything.
    let session = app.world.session(app.world.owner.user_id).await;
    let token = app
        .auth
        .tokens()
        .issue(app.world.owner.user_id, session.id, t0())
        .unwrap()
        .token;
    app.auth
        .logout(
            app.world.owner.user_id,
            session.id,
            kisum_auth::service::ClientInfo::default(),
        )
        .await
        .unwrap();
    app.problem(
        Method::GET,
        &app.acme("/members"),
        Some(&token),
        None,
        StatusCode::UNAUTHORIZED,
        "session_revoked",
    )
    .await;
}

#[tokio::test]
async fn roles_are_listed_created_replaced_and_deleted() {
    let app = app().await;
    let owner = app.owner().await;

    let roles = app
        .ok(
            Method::GET,
            &app.acme("/roles"),
            &owner,
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(roles[0]["key"], "owner");
    assert_eq!(roles[0]["permissions"], json!(["*"]));
    assert_eq!(roles[1]["key"], "finance-viewer");
    assert_eq!(roles[1]["permissions"], json!(["finance.invoices.read"]));

    let created = app
        .ok(
            Method::POST,
            &app.acme("/roles"),
            &owner,
            Some(json!({"key": "accountant", "name": " Accountant ", "permissions": ["finance.*", "company.members.read"]})),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(created["key"], "accountant");
    assert_eq!(created["name"], "Accountant");
    assert_eq!(
        created["permissions"],
        json!(["company.members.read", "finance.*"])
    );
    app.problem(
        Method::POST,
        &app.acme("/roles"),
        Some(&owner),
        Some(json!({"key": "accountant", "name": "Again", "permissions": []})),
        StatusCode::CONFLICT,
        "role_exists",
    )
    .await;
    let replaced = app
        .ok(
            Method::PUT,
            &app.acme("/roles/accountant"),
            &owner,
            Some(json!({"key": "accountant", "name": "Accounts", "permissions": ["finance.invoices.*"]})),
            StatusCode::OK,
        )
        .await;
    assert_eq!(replaced["name"], "Accounts");
    assert_eq!(replaced["permissions"], json!(["finance.invoices.*"]));
    // PUT creates as well.
    app.ok(
        Method::PUT,
        &app.acme("/roles/auditor"),
        &owner,
        Some(json!({"name": "Auditor", "permissions": ["finance.*"]})),
        StatusCode::OK,
    )
    .await;
    let roles = app
        .ok(
            Method::GET,
            &app.acme("/roles"),
            &owner,
            None,
            StatusCode::OK,
        )
        .await;
    let keys: Vec<&str> = roles
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["owner", "accountant", "auditor", "finance-viewer"]);

    // `owner` is built in.
    app.problem(
        Method::POST,
        &app.acme("/roles"),
        Some(&owner),
        Some(json!({"key": "owner", "name": "Mine", "permissions": []})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "reserved_role",
    )
    .await;
    app.problem(
        Method::PUT,
        &app.acme("/roles/owner"),
        Some(&owner),
        Some(json!({"name": "Mine", "permissions": []})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "reserved_role",
    )
    .await;
    app.problem(
        Method::DELETE,
        &app.acme("/roles/owner"),
        Some(&owner),
        None,
        StatusCode::UNPROCESSABLE_ENTITY,
        "reserved_role",
    )
    .await;

    for (method, uri, body, bad) in [
        (
            Method::POST,
            app.acme("/roles"),
            json!({"key": "x", "name": "X", "permissions": ["finance..read"]}),
            "permissions",
        ),
        (
            Method::PUT,
            app.acme("/roles/x"),
            json!({"name": "X", "permissions": ["finance"]}),
            "permissions",
        ),
        (
            Method::POST,
            app.acme("/roles"),
            json!({"name": "X", "permissions": []}),
            "key",
        ),
        (
            Method::POST,
            app.acme("/roles"),
            json!({"key": "Not A Key", "name": "X"}),
            "key",
        ),
        (
            Method::PUT,
            app.acme("/roles/Bad%20Key"),
            json!({"name": "X"}),
            "key",
        ),
        (
            Method::PUT,
            app.acme("/roles/x"),
            json!({"key": "y", "name": "X"}),
            "key",
        ),
        (
            Method::PUT,
            app.acme("/roles/x"),
            json!({"name": " "}),
            "name",
        ),
    ] {
        let p = app
            .problem(
                method,
                &uri,
                Some(&owner),
                Some(body.clone()),
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
            )
            .await;
        assert_eq!(field(&p), bad, "{uri} {body}: {p}");
    }

    let (s, _, b) = call(
        &app.public,
        Method::DELETE,
        &app.acme("/roles/auditor"),
        Some(&owner),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    for key in ["auditor", "never", "Bad%20Key"] {
        app.problem(
            Method::DELETE,
            &app.acme(&format!("/roles/{key}")),
            Some(&owner),
            None,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
}

#[tokio::test]
async fn a_role_edit_raises_the_holders_access_version_and_their_access() {
    let app = app().await;
    let owner = app.owner().await;
    let viewer = app.viewer().await;
    let me_access = |token: String| {
        let router = app.public.clone();
        async move {
            let req = Request::get("/v1/auth/me/access")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .header("x-org", "acme")
                .body(Body::empty())
                .unwrap();
            let r = router.oneshot(req).await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            let bytes = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
            serde_json::from_slice::<Value>(&bytes).unwrap()
        }
    };

    let before = me_access(viewer.clone()).await;
    assert_eq!(before["permissions"], json!(["finance.invoices.read"]));
    assert_eq!(before["access_version"], 1);
    let owner_before = me_access(owner.clone()).await["access_version"].clone();

    app.ok(
        Method::PUT,
        &app.acme("/roles/finance-viewer"),
        &owner,
        Some(json!({"name": "Finance viewer", "permissions": ["finance.invoices.*", "company.members.read"]})),
        StatusCode::OK,
    )
    .await;

    let list = app
        .ok(
            Method::GET,
            &app.acme("/members"),
            &owner,
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(by_id(&list, app.world.member.id)["access_version"], 2);
    assert_eq!(
        by_id(&list, app.world.owner.id)["access_version"],
        owner_before,
        "not a holder"
    );
    let after = me_access(viewer.clone()).await;
    assert_eq!(after["access_version"], 2);
    assert_eq!(
        after["permissions"],
        json!(["company.members.read", "finance.invoices.*"])
    );
    // The new permission works on these routes at once.
    app.ok(
        Method::GET,
        &app.acme("/members"),
        &viewer,
        None,
        StatusCode::OK,
    )
    .await;

    // Deleting the role takes it from its holders.
    let (s, _, _) = call(
        &app.public,
        Method::DELETE,
        &app.acme("/roles/finance-viewer"),
        Some(&owner),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let gone = me_access(viewer).await;
    assert_eq!(gone["access_version"], 3);
    assert_eq!(gone["roles"], json!([]));
    assert_eq!(gone["permissions"], json!([]));
}

#[tokio::test]
async fn delegations_are_self_service_within_the_rules() {
    let app = app().await;
    let owner = app.owner().await;
    let viewer = app.viewer().await;
    let w = &app.world;
    let (_, bob_token) = app.register("bob@example.test").await;
    let bob = app
        .ok(
            Method::POST,
            &app.acme("/members"),
            &owner,
            Some(json!({"email": "bob@example.test", "roles": [], "modules": ["finance"]})),
            StatusCode::CREATED,
        )
        .await;
    let bob_membership = bob["membership_id"].as_str().unwrap().to_owned();

    // The owner delegates to the viewer; `from` defaults to the caller.
    let d = app
        .ok(
            Method::POST,
            &app.acme("/delegations"),
            &owner,
            Some(json!({
                "to_membership_id": w.member.id,
                "permissions": ["finance.invoices.write"],
                "modules": ["finance"],
                "expires_at": in_a_day(),
            })),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(d["from_membership_id"], w.owner.id.to_string());
    assert_eq!(d["to_membership_id"], w.member.id.to_string());
    assert_eq!(d["permissions"], json!(["finance.invoices.write"]));
    assert_eq!(d["starts_at"], json!(t0()));
    let owner_delegation = d["id"].as_str().unwrap().to_owned();
    let req = Request::get("/v1/auth/me/access")
        .header(header::AUTHORIZATION, format!("Bearer {viewer}"))
        .header("x-org", "acme")
        .body(Body::empty())
        .unwrap();
    let r = app.public.clone().oneshot(req).await.unwrap();
    let bytes = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
    let ctx: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        ctx["permissions"],
        json!(["finance.invoices.read", "finance.invoices.write"])
    );

    // The viewer delegates their own read permission to Bob, without any management right.
    let mine = app
        .ok(
            Method::POST,
            &app.acme("/delegations"),
            &viewer,
            Some(json!({
                "to_membership_id": bob_membership,
                "permissions": ["finance.invoices.read"],
                "modules": [],
                "starts_at": t0(),
                "expires_at": in_a_day(),
            })),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(mine["from_membership_id"], w.member.id.to_string());
    let mine_id = mine["id"].as_str().unwrap().to_owned();
    // The owner delegates on behalf of the viewer (management permission).
    let on_behalf = app
        .ok(
            Method::POST,
            &app.acme("/delegations"),
            &owner,
            Some(json!({
                "from_membership_id": w.member.id,
                "to_membership_id": bob_membership,
                "permissions": ["finance.*"],
                "expires_at": in_a_day(),
            })),
            StatusCode::CREATED,
        )
        .await;
    let on_behalf_id = on_behalf["id"].as_str().unwrap().to_owned();

    // Listing: everything with the management permission, one's own otherwise.
    let all = app
        .ok(
            Method::GET,
            &app.acme("/delegations"),
            &owner,
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(all.as_array().unwrap().len(), 3);
    let viewers = app
        .ok(
            Method::GET,
            &app.acme("/delegations"),
            &viewer,
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(
        viewers.as_array().unwrap().len(),
        3,
        "all involve the viewer"
    );
    let bobs = app
        .ok(
            Method::GET,
            &app.acme("/delegations"),
            &bob_token,
            None,
            StatusCode::OK,
        )
        .await;
    let ids: Vec<&str> = bobs
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [mine_id.as_str(), on_behalf_id.as_str()]);

    // The rules of the model.
    let past = (t0() - TimeDelta::hours(1)).to_rfc3339();
    for (body, bad) in [
        (
            json!({"to_membership_id": w.owner.id, "permissions": ["finance.*"], "expires_at": in_a_day()}),
            "to_membership_id",
        ),
        (
            json!({"to_membership_id": w.member.id, "permissions": [], "expires_at": in_a_day()}),
            "permissions",
        ),
        (
            json!({"to_membership_id": w.member.id, "permissions": ["finance.*"], "expires_at": past}),
            "expires_at",
        ),
        (
            json!({"to_membership_id": w.member.id, "permissions": ["finance.*"], "starts_at": in_a_day(), "expires_at": in_a_day()}),
            "expires_at",
        ),
        (
            json!({"to_membership_id": MembershipId::new(), "permissions": ["finance.*"], "expires_at": in_a_day()}),
            "to_membership_id",
        ),
        (
            json!({"from_membership_id": MembershipId::new(), "to_membership_id": w.member.id, "permissions": ["finance.*"], "expires_at": in_a_day()}),
            "from_membership_id",
        ),
        (
            json!({"to_membership_id": w.member.id, "permissions": ["finance"], "expires_at": in_a_day()}),
            "permissions",
        ),
        (
            json!({"to_membership_id": w.member.id, "permissions": ["finance.*"], "modules": ["Fin"], "expires_at": in_a_day()}),
            "modules",
        ),
    ] {
        let p = app
            .problem(
                Method::POST,
                &app.acme("/delegations"),
                Some(&owner),
                Some(body.clone()),
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
            )
            .await;
        assert_eq!(field(&p), bad, "{body}: {p}");
    }
    for body in [
        json!({"to_membership_id": "nope", "permissions": ["finance.*"], "expires_at": in_a_day()}),
        json!({"to_membership_id": w.member.id, "permissions": ["finance.*"], "expires_at": "tomorrow"}),
        json!({"permissions": ["finance.*"], "expires_at": in_a_day()}),
    ] {
        app.problem(
            Method::POST,
            &app.acme("/delegations"),
            Some(&owner),
            Some(body),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
    }
    // Bob may not delegate from the viewer.
    app.problem(
        Method::POST,
        &app.acme("/delegations"),
        Some(&bob_token),
        Some(json!({
            "from_membership_id": w.member.id,
            "to_membership_id": bob_membership,
            "permissions": ["finance.*"],
            "expires_at": in_a_day(),
        })),
        StatusCode::FORBIDDEN,
        "permission_denied",
    )
    .await;

    // Revoking: the delegator themself, or the management permission.
    let uri = |id: &str| app.acme(&format!("/delegations/{id}"));
    app.problem(
        Method::DELETE,
        &uri(&mine_id),
        Some(&bob_token),
        None,
        StatusCode::FORBIDDEN,
        "permission_denied",
    )
    .await;
    app.problem(
        Method::DELETE,
        &uri(&owner_delegation),
        Some(&viewer),
        None,
        StatusCode::FORBIDDEN,
        "permission_denied",
    )
    .await;
    for (id, token) in [
        (&mine_id, &viewer),
        (&on_behalf_id, &viewer),
        (&owner_delegation, &owner),
    ] {
        let (s, _, b) = call(&app.public, Method::DELETE, &uri(id), Some(token), None).await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    }
    let all = app
        .ok(
            Method::GET,
            &app.acme("/delegations"),
            &owner,
            None,
            StatusCode::OK,
        )
        .await;
    assert!(
        all.as_array()
            .unwrap()
            .iter()
            .all(|d| !d["revoked_at"].is_null()),
        "{all}"
    );
    // A delegation of another company, an unknown one, a malformed id: 404.
    let (globex, globex_owner) = app
        .world
        .directory
        .create_company("Globex", None, w.owner.user_id)
        .await
        .unwrap();
    let other_member = app
        .world
        .directory
        .add_member(
            globex.id,
            UserId::new(),
            kisum_auth::MembershipStatus::Active,
            Default::default(),
            Default::default(),
        )
        .await
        .unwrap();
    let (foreign, _) = app
        .world
        .directory
        .create_delegation(
            globex.id,
            kisum_auth::NewDelegation {
                from_membership_id: globex_owner.id,
                to_membership_id: other_member.id,
                permissions: [kisum_guard::PermissionPattern::new("finance.*").unwrap()].into(),
                modules: Default::default(),
                starts_at: None,
                expires_at: t0() + TimeDelta::days(1),
            },
        )
        .await
        .unwrap();
    for id in [
        foreign.id.to_string(),
        kisum_guard::DelegationId::new().to_string(),
        "42".to_owned(),
    ] {
        app.problem(
            Method::DELETE,
            &uri(&id),
            Some(&owner),
            None,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    // …but it is found through its own company.
    let (s, _, _) = call(
        &app.public,
        Method::DELETE,
        &format!("/v1/companies/globex/delegations/{}", foreign.id),
        Some(&owner),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn access_is_explained_step_by_step() {
    let app = app().await;
    let owner = app.owner().await;
    let member = app.world.member.id;
    let explain = |q: String| app.acme(&format!("/access/explain?{q}"));

    let denied = app
        .ok(
            Method::GET,
            &explain(format!(
                "membership_id={member}&module=finance&permission=finance.invoices.write"
            )),
            &owner,
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(denied["allowed"], false);
    assert_eq!(denied["code"], "permission_denied");
    let steps = denied["steps"].as_array().unwrap();
    assert_eq!(steps[0]["check"], "company");
    let last = steps.last().unwrap();
    assert_eq!(last["check"], "permission");
    assert_eq!(last["ok"], false);
    assert!(last["detail"].as_str().is_some_and(|d| !d.is_empty()));

    let allowed = app
        .ok(
            Method::GET,
            &explain(format!(
                "membership_id={member}&module=finance&permission=finance.invoices.read"
            )),
            &owner,
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(allowed["allowed"], true);
    assert!(allowed.get("code").is_none(), "{allowed}");

    let not_granted = app
        .ok(
            Method::GET,
            &explain(format!("membership_id={member}&module=core&permission=")),
            &owner,
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(not_granted["code"], "module_not_granted");
    let not_entitled = app
        .ok(
            Method::GET,
            &explain(format!("membership_id={member}&module=market")),
            &owner,
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(not_entitled["code"], "module_not_entitled");
    let stranger = app
        .ok(
            Method::GET,
            &explain(format!("membership_id={}", MembershipId::new())),
            &owner,
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(stranger["allowed"], false);
    assert_eq!(stranger["code"], "not_a_member");

    for (q, bad) in [
        (String::new(), "membership_id"),
        ("membership_id=".to_owned(), "membership_id"),
        ("membership_id=not-an-id".to_owned(), "membership_id"),
        (format!("membership_id={member}&module=Fin!"), "module"),
        (
            format!("membership_id={member}&permission=finance"),
            "permission",
        ),
    ] {
        let p = app
            .problem(
                Method::GET,
                &explain(q.clone()),
                Some(&owner),
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
            )
            .await;
        assert_eq!(field(&p), bad, "{q}: {p}");
    }
}

#[tokio::test]
async fn administrators_cannot_grant_more_than_they_hold() {
    let app = app().await;
    let owner = app.owner().await;
    // A manager who may manage members and roles but holds nothing else.
    app.ok(
        Method::PUT,
        &app.acme("/roles/manager"),
        &owner,
        Some(json!({"name": "Manager", "permissions": ["company.members.manage", "company.roles.manage", "company.members.read"]})),
        StatusCode::OK,
    )
    .await;
    let member = app.world.member.id;
    app.ok(
        Method::PATCH,
        &app.acme(&format!("/members/{member}")),
        &owner,
        Some(json!({"roles": ["manager", "finance-viewer"]})),
        StatusCode::OK,
    )
    .await;
    let manager = app.viewer().await;

    // Making oneself (or anyone) an owner needs to be an owner.
    let body = app
        .problem(
            Method::PATCH,
            &app.acme(&format!("/members/{member}")),
            Some(&manager),
            Some(json!({"roles": ["owner"]})),
            StatusCode::FORBIDDEN,
            "permission_denied",
        )
        .await;
    assert!(body["detail"].as_str().unwrap().contains("owner"));
    // A role wider than what the manager holds cannot be created or assigned.
    for permissions in [
        json!(["*"]),
        json!(["finance.*"]),
        json!(["company.delegations.manage"]),
    ] {
        app.problem(
            Method::PUT,
            &app.acme("/roles/wide"),
            Some(&manager),
            Some(json!({"name": "Wide", "permissions": permissions})),
            StatusCode::FORBIDDEN,
            "permission_denied",
        )
        .await;
    }
    // Within what they hold, it works.
    app.ok(
        Method::PUT,
        &app.acme("/roles/reader"),
        &manager,
        Some(json!({"name": "Reader", "permissions": ["finance.invoices.read", "company.members.read"]})),
        StatusCode::OK,
    )
    .await;
    // Modules they do not have cannot be granted either.
    app.problem(
        Method::PATCH,
        &app.acme(&format!("/members/{member}")),
        Some(&manager),
        Some(json!({"modules": ["finance", "core"]})),
        StatusCode::FORBIDDEN,
        "permission_denied",
    )
    .await;
}

#[tokio::test]
async fn administration_writes_are_audited_with_actor_and_company() {
    let app = app().await;
    let owner = app.owner().await;
    let w = &app.world;
    let owner_id = w.owner.user_id;
    let (bob_id, _) = app.register("bob@example.test").await;
    let write = |method: Method, uri: String, body: Option<Value>, request_id: &'static str| {
        let (router, owner) = (app.public.clone(), owner.clone());
        async move {
            let (status, _, value) = call_with(
                &router,
                method,
                &uri,
                Some(&owner),
                body,
                &[
                    ("x-request-id", request_id),
                    ("x-forwarded-for", "198.51.100.4"),
                ],
            )
            .await;
            assert!(status.is_success(), "{request_id}: {status} {value}");
            value
        }
    };
    let bob = write(
        Method::POST,
        app.acme("/members"),
        Some(json!({"email": "bob@example.test", "roles": [], "modules": []})),
        "a-member-add",
    )
    .await;
    let bob_m = bob["membership_id"].as_str().unwrap().to_owned();
    write(
        Method::PATCH,
        app.acme(&format!("/members/{bob_m}")),
        Some(json!({"roles": ["finance-viewer"]})),
        "a-member-patch",
    )
    .await;
    write(
        Method::POST,
        app.acme("/roles"),
        Some(
            json!({"key": "auditor", "name": "Auditor", "permissions": ["finance.invoices.read"]}),
        ),
        "a-role-create",
    )
    .await;
    write(
        Method::PUT,
        app.acme("/roles/auditor"),
        Some(json!({"name": "Auditor", "permissions": ["finance.*"]})),
        "a-role-put",
    )
    .await;
    write(
        Method::DELETE,
        app.acme("/roles/auditor"),
        None,
        "a-role-delete",
    )
    .await;
    let d = write(
        Method::POST,
        app.acme("/delegations"),
        Some(json!({"to_membership_id": bob_m, "permissions": ["finance.invoices.read"], "expires_at": in_a_day()})),
        "a-delegation-create",
    )
    .await;
    let d_id = d["id"].as_str().unwrap().to_owned();
    write(
        Method::DELETE,
        app.acme(&format!("/delegations/{d_id}")),
        None,
        "a-delegation-revoke",
    )
    .await;
    write(
        Method::DELETE,
        app.acme(&format!("/members/{bob_m}")),
        None,
        "a-member-remove",
    )
    .await;
    let created = write(
        Method::POST,
        "/v1/companies".to_owned(),
        Some(json!({"name": "Globex"})),
        "a-company-create",
    )
    .await;

    let events = kisum_auth::audit::AuditStore::list(&*w.store, None, None, 1000)
        .await
        .unwrap();
    use kisum_auth::audit::action;
    let globex: kisum_guard::CompanyId = created["id"].as_str().unwrap().parse().unwrap();
    for (request_id, act, company, key, value) in [
        (
            "a-member-add",
            action::MEMBERSHIP_CREATE,
            w.acme.id,
            "user_id",
            json!(bob_id),
        ),
        (
            "a-member-patch",
            action::MEMBERSHIP_UPDATE,
            w.acme.id,
            "roles",
            json!(["finance-viewer"]),
        ),
        (
            "a-role-create",
            action::ROLE_PUT,
            w.acme.id,
            "role",
            json!("auditor"),
        ),
        (
            "a-role-put",
            action::ROLE_PUT,
            w.acme.id,
            "permissions",
            json!(["finance.*"]),
        ),
        (
            "a-role-delete",
            action::ROLE_DELETE,
            w.acme.id,
            "role",
            json!("auditor"),
        ),
        (
            "a-delegation-create",
            action::DELEGATION_CREATE,
            w.acme.id,
            "to_membership_id",
            json!(bob_m),
        ),
        (
            "a-delegation-revoke",
            action::DELEGATION_REVOKE,
            w.acme.id,
            "delegation_id",
            json!(d_id),
        ),
        (
            "a-member-remove",
            action::MEMBERSHIP_REMOVE,
            w.acme.id,
            "membership_id",
            json!(bob_m),
        ),
        (
            "a-company-create",
            action::COMPANY_CREATE,
            globex,
            "slug",
            json!("globex"),
        ),
    ] {
        let found: Vec<_> = events
            .iter()
            .filter(|e| e.request_id.as_deref() == Some(request_id))
            .collect();
        assert_eq!(found.len(), 1, "{request_id}: {found:?}");
        let e = found[0];
        assert_eq!(
            (e.action.as_str(), e.actor_user_id, e.company_id, e.outcome),
            (
                act,
                Some(owner_id),
                Some(company),
                kisum_auth::audit::AuditOutcome::Success
            ),
            "{request_id}"
        );
        assert_eq!(e.ip.as_deref(), Some("198.51.100.4"), "{request_id}");
        assert_eq!(e.details[key], value, "{request_id}: {e:?}");
    }
}

/// The `X-Kisum-Consistency` token of a write answer.
fn token_of(headers: &HeaderMap) -> kisum_guard::ConsistencyToken {
    headers
        .get("x-kisum-consistency")
        .expect("a write answers with a consistency token")
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn administration_writes_answer_consistency_tokens_and_publish_events() {
    use kisum_auth::events::InvalidationEvent;
    use kisum_guard::ConsistencyToken;

    let app = app().await;
    let w = &app.world;
    let acme = w.acme.id;
    let owner = app.owner().await;
    let (_, bob_token) = app.register("bob@example.test").await;
    w.events.take();
    let membership = |m: MembershipId| InvalidationEvent::Membership {
        company_id: acme,
        membership_id: m,
    };
    let write = |method: Method, uri: String, token: String, body: Option<Value>| {
        let router = app.public.clone();
        async move {
            let (status, headers, value) =
                call(&router, method.clone(), &uri, Some(&token), body).await;
            assert!(status.is_success(), "{method} {uri}: {status} {value}");
            (token_of(&headers), value)
        }
    };

    let (t, bob) = write(
        Method::POST,
        app.acme("/members"),
        owner.clone(),
        Some(json!({"email": "bob@example.test", "roles": [], "modules": []})),
    )
    .await;
    let bob_m: MembershipId = bob["membership_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(t, ConsistencyToken::membership(acme, bob_m, 1));
    assert_eq!(w.events.take(), [membership(bob_m)]);

    let (t, _) = write(
        Method::PATCH,
        app.acme(&format!("/members/{bob_m}")),
        owner.clone(),
        Some(json!({"roles": ["finance-viewer"], "modules": ["finance"]})),
    )
    .await;
    assert_eq!(t, ConsistencyToken::membership(acme, bob_m, 2));
    assert_eq!(w.events.take(), [membership(bob_m)]);
    // Read-your-writes: bob's access presenting the token reflects the write.
    let (s, _, ctx) = call_with(
        &app.public,
        Method::GET,
        "/v1/auth/me/access",
        Some(&bob_token),
        None,
        &[("x-org", "acme"), ("x-kisum-consistency", &t.to_string())],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{ctx}");
    assert_eq!(ctx["access_version"], 2);
    let ev = ctx["entitlement_version"].as_u64().unwrap();

    let (t, d) = write(
        Method::POST,
        app.acme("/delegations"),
        owner.clone(),
        Some(json!({"to_membership_id": bob_m, "permissions": ["finance.invoices.write"], "expires_at": in_a_day()})),
    )
    .await;
    let d_id = d["id"].as_str().unwrap().to_owned();
    assert_eq!(t, ConsistencyToken::membership(acme, bob_m, 3));
    assert_eq!(w.events.take(), [membership(bob_m)]);

    // A role edit raises every holder: the fixture's viewer and bob.
    let (t, _) = write(
        Method::PUT,
        app.acme("/roles/finance-viewer"),
        owner.clone(),
        Some(json!({"name": "Finance viewer", "permissions": ["finance.invoices.read", "finance.reports.read"]})),
    )
    .await;
    assert_eq!(
        t,
        ConsistencyToken::company(acme, ev),
        "the owner holds no edited role: a company token"
    );
    let mut raised = w.events.take();
    raised.sort_by_key(|e| format!("{e:?}"));
    let mut want = vec![membership(w.member.id), membership(bob_m)];
    want.sort_by_key(|e| format!("{e:?}"));
    assert_eq!(raised, want, "one event per holder");

    // A caller editing a role they hold gets their own new version.
    write(
        Method::POST,
        app.acme("/roles"),
        owner.clone(),
        Some(json!({"key": "role-admin", "name": "Role admin", "permissions": ["company.roles.manage", "company.members.read"]})),
    )
    .await;
    write(
        Method::PATCH,
        app.acme(&format!("/members/{bob_m}")),
        owner.clone(),
        Some(json!({"roles": ["finance-viewer", "role-admin"]})),
    )
    .await;
    w.events.take();
    let (t, _) = write(
        Method::PUT,
        app.acme("/roles/role-admin"),
        bob_token.clone(),
        Some(json!({"name": "Role administrator", "permissions": ["company.roles.manage", "company.members.read"]})),
    )
    .await;
    assert_eq!(t, ConsistencyToken::membership(acme, bob_m, 6));
    assert_eq!(w.events.take(), [membership(bob_m)]);
    let (t, _) = write(
        Method::DELETE,
        app.acme("/roles/role-admin"),
        owner.clone(),
        None,
    )
    .await;
    assert_eq!(t, ConsistencyToken::company(acme, ev));
    assert_eq!(w.events.take(), [membership(bob_m)]);

    let (t, _) = write(
        Method::DELETE,
        app.acme(&format!("/delegations/{d_id}")),
        owner.clone(),
        None,
    )
    .await;
    assert_eq!(t, ConsistencyToken::membership(acme, bob_m, 8));
    assert_eq!(w.events.take(), [membership(bob_m)]);
    let (t, _) = write(
        Method::DELETE,
        app.acme(&format!("/delegations/{d_id}")),
        owner.clone(),
        None,
    )
    .await;
    assert_eq!(
        t,
        ConsistencyToken::membership(acme, bob_m, 8),
        "revoking again changes nothing and says so"
    );
    assert!(w.events.take().is_empty());

    let (t, _) = write(
        Method::DELETE,
        app.acme(&format!("/members/{bob_m}")),
        owner.clone(),
        None,
    )
    .await;
    assert_eq!(t, ConsistencyToken::membership(acme, bob_m, 9));
    assert_eq!(w.events.take(), [membership(bob_m)]);

    let (t, globex) = write(
        Method::POST,
        "/v1/companies".to_owned(),
        owner.clone(),
        Some(json!({"name": "Globex"})),
    )
    .await;
    assert_eq!(t.company_id.to_string(), globex["id"].as_str().unwrap());
    assert_eq!(t.access_version, 1, "the new owner membership");
}

#[tokio::test]
async fn a_malformed_consistency_token_is_a_bad_request() {
    let app = app().await;
    let owner = app.owner().await;
    for bad in ["nope", "v1.acme.-.1.1", "v1"] {
        let (s, h, b) = call_with(
            &app.public,
            Method::GET,
            "/v1/auth/me/access",
            Some(&owner),
            None,
            &[("x-org", "acme"), ("x-kisum-consistency", bad)],
        )
        .await;
        assert_problem(s, &h, &b, StatusCode::BAD_REQUEST, "invalid_request", bad);
    }
    let stale = kisum_guard::ConsistencyToken::membership(app.world.acme.id, app.world.owner.id, 1);
    let (s, _, ctx) = call_with(
        &app.public,
        Method::GET,
        "/v1/auth/me/access",
        Some(&owner),
        None,
        &[
            ("x-org", "acme"),
            ("x-kisum-consistency", &stale.to_string()),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{ctx}");
}

// ---- attacks (issue 11): administration never escalates -------------------------------------

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
        let (status, _, body) = call_with(
            &self.public,
            Method::GET,
            "/v1/auth/me/access",
            Some(token),
            None,
            &[("x-org", "acme")],
        )
        .await;
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

/// Attack 1: a member whose only extra power is `company.delegations.manage` delegates the
/// owner's powers to itself, or on the owner's behalf what it lacks.
#[tokio::test]
async fn delegating_the_owners_powers_to_yourself_is_refused() {
    let app = app().await;
    let (mine, token) = app
        .member_with_role(
            "mallory@example.test",
            "delegator",
            &["company.delegations.manage"],
            &[],
        )
        .await;
    let owner_membership = app.world.owner.id.to_string();
    for (permissions, modules) in [
        (json!(["*"]), json!(["company", "finance", "core"])),
        (json!(["finance.invoices.write"]), json!(["finance"])),
        (json!(["finance.*"]), json!([])),
    ] {
        let problem = app
            .problem(
                Method::POST,
                &app.acme("/delegations"),
                Some(&token),
                Some(json!({
                    "from_membership_id": owner_membership,
                    "to_membership_id": mine,
                    "permissions": permissions,
                    "modules": modules,
                    "expires_at": in_a_day(),
                })),
                StatusCode::FORBIDDEN,
                "permission_denied",
            )
            .await;
        assert!(
            problem["detail"].as_str().unwrap().contains("own roles"),
            "the denial says why: {problem}"
        );
    }
    let access = app.my_access(&token).await;
    let held = permissions_of(&access);
    assert_eq!(held, ["company.delegations.manage"], "{access}");
    assert!(
        app.world
            .store
            .list_delegations(app.world.acme.id)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Delegated permissions never administer: even the owner's `*` delegated to a viewer gives
/// no `company.*`, and `company.*` cannot be delegated by name.
#[tokio::test]
async fn delegated_permissions_never_administer() {
    let app = app().await;
    let owner = app.owner().await;
    let viewer = app.viewer().await;
    let viewer_membership = app.world.member.id.to_string();
    app.ok(
        Method::POST,
        &app.acme("/delegations"),
        &owner,
        Some(json!({
            "to_membership_id": viewer_membership,
            "permissions": ["*"],
            "modules": ["finance", "company"],
            "expires_at": in_a_day(),
        })),
        StatusCode::CREATED,
    )
    .await;
    let held = permissions_of(&app.my_access(&viewer).await);
    assert!(held.contains(&"finance.*".to_owned()), "{held:?}");
    assert!(held.iter().all(|p| !p.starts_with("company.")), "{held:?}");
    app.problem(
        Method::POST,
        &app.acme("/members"),
        Some(&viewer),
        Some(json!({"email": "friend@example.test"})),
        StatusCode::FORBIDDEN,
        "permission_denied",
    )
    .await;
    let problem = app
        .problem(
            Method::POST,
            &app.acme("/delegations"),
            Some(&owner),
            Some(json!({
                "to_membership_id": viewer_membership,
                "permissions": ["company.members.manage"],
                "expires_at": in_a_day(),
            })),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
    assert_eq!(field(&problem), "permissions");
}

/// Attack 2: a member with `company.members.manage` (not an owner) suspends, strips or
/// removes the owner.
#[tokio::test]
async fn a_lesser_administrator_cannot_suspend_strip_or_remove_the_owner() {
    let app = app().await;
    let (_, hr) = app
        .member_with_role(
            "hr@example.test",
            "hr",
            &["company.members.manage", "company.members.read"],
            &[],
        )
        .await;
    let owner_uri = app.acme(&format!("/members/{}", app.world.owner.id));
    for body in [
        json!({"status": "suspended"}),
        json!({"roles": []}),
        json!({"roles": ["hr"]}),
    ] {
        app.problem(
            Method::PATCH,
            &owner_uri,
            Some(&hr),
            Some(body),
            StatusCode::FORBIDDEN,
            "permission_denied",
        )
        .await;
    }
    app.problem(
        Method::DELETE,
        &owner_uri,
        Some(&hr),
        None,
        StatusCode::FORBIDDEN,
        "permission_denied",
    )
    .await;
    // Nor the finance viewer, whose finance permission hr does not hold.
    app.problem(
        Method::PATCH,
        &app.acme(&format!("/members/{}", app.world.member.id)),
        Some(&hr),
        Some(json!({"status": "suspended"})),
        StatusCode::FORBIDDEN,
        "permission_denied",
    )
    .await;
    let owner = app.owner().await;
    assert_eq!(app.my_access(&owner).await["roles"], json!(["owner"]));
}

/// A company always keeps an active owner: the last one cannot leave, be suspended or give
/// up the role; once another member is owner, it can.
#[tokio::test]
async fn the_last_owner_cannot_leave() {
    let app = app().await;
    let owner = app.owner().await;
    let me = app.acme(&format!("/members/{}", app.world.owner.id));
    for (method, body) in [
        (Method::DELETE, None),
        (Method::PATCH, Some(json!({"status": "suspended"}))),
        (Method::PATCH, Some(json!({"roles": ["finance-viewer"]}))),
    ] {
        app.problem(
            method,
            &me,
            Some(&owner),
            body,
            StatusCode::CONFLICT,
            "last_owner",
        )
        .await;
    }
    app.ok(
        Method::PATCH,
        &app.acme(&format!("/members/{}", app.world.member.id)),
        &owner,
        Some(json!({"roles": ["owner"]})),
        StatusCode::OK,
    )
    .await;
    app.ok(Method::DELETE, &me, &owner, None, StatusCode::NO_CONTENT)
        .await;
}

/// Attack 2, roles: `company.roles.manage` does not let a member edit or delete a role that
/// grants what it does not hold.
#[tokio::test]
async fn a_role_administrator_cannot_edit_or_delete_a_role_it_does_not_cover() {
    let app = app().await;
    let (_, admin) = app
        .member_with_role(
            "roles@example.test",
            "roles-admin",
            &["company.roles.manage", "company.members.read"],
            &[],
        )
        .await;
    app.problem(
        Method::PUT,
        &app.acme("/roles/finance-viewer"),
        Some(&admin),
        Some(json!({"name": "Viewer", "permissions": ["company.roles.manage"]})),
        StatusCode::FORBIDDEN,
        "permission_denied",
    )
    .await;
    app.problem(
        Method::DELETE,
        &app.acme("/roles/finance-viewer"),
        Some(&admin),
        None,
        StatusCode::FORBIDDEN,
        "permission_denied",
    )
    .await;
    // Its own kind of role it may manage.
    app.ok(
        Method::POST,
        &app.acme("/roles"),
        &admin,
        Some(json!({"key": "readers", "name": "Readers", "permissions": ["company.members.read"]})),
        StatusCode::CREATED,
    )
    .await;
    app.ok(
        Method::DELETE,
        &app.acme("/roles/readers"),
        &admin,
        None,
        StatusCode::NO_CONTENT,
    )
    .await;
}

/// Attack 4: policy data is bounded — a role of 5,000 patterns, a membership with too many
/// roles, a delegation lasting centuries are 422 `limit_exceeded`.
#[tokio::test]
async fn unbounded_policy_data_is_refused_with_limit_exceeded() {
    let app = app().await;
    let owner = app.owner().await;
    let huge: Vec<String> = (0..5000).map(|i| format!("company.p{i}.*")).collect();
    let problem = app
        .problem(
            Method::POST,
            &app.acme("/roles"),
            Some(&owner),
            Some(json!({"key": "huge", "name": "Huge", "permissions": huge})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "limit_exceeded",
        )
        .await;
    assert_eq!(field(&problem), "permissions");
    let centuries = (t0() + TimeDelta::days(365 * 300)).to_rfc3339();
    let problem = app
        .problem(
            Method::POST,
            &app.acme("/delegations"),
            Some(&owner),
            Some(json!({
                "to_membership_id": app.world.member.id,
                "permissions": ["finance.invoices.read"],
                "expires_at": centuries,
            })),
            StatusCode::UNPROCESSABLE_ENTITY,
            "limit_exceeded",
        )
        .await;
    assert_eq!(field(&problem), "expires_at");
    let many: Vec<String> = (0..17).map(|i| format!("r{i}")).collect();
    for key in &many {
        app.ok(
            Method::POST,
            &app.acme("/roles"),
            &owner,
            Some(json!({"key": key, "name": key, "permissions": ["finance.invoices.read"]})),
            StatusCode::CREATED,
        )
        .await;
    }
    let problem = app
        .problem(
            Method::PATCH,
            &app.acme(&format!("/members/{}", app.world.member.id)),
            Some(&owner),
            Some(json!({"roles": many})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "limit_exceeded",
        )
        .await;
    assert_eq!(field(&problem), "roles");
}

/// Removing a member ends the delegations it gave and received: adding it back does not
/// restore them.
#[tokio::test]
async fn a_removed_member_added_back_does_not_get_its_delegations_back() {
    let app = app().await;
    let owner = app.owner().await;
    let viewer_id = app.world.member.id;
    app.ok(
        Method::POST,
        &app.acme("/delegations"),
        &owner,
        Some(json!({
            "to_membership_id": viewer_id,
            "permissions": ["finance.invoices.write"],
            "expires_at": in_a_day(),
        })),
        StatusCode::CREATED,
    )
    .await;
    let viewer = app.viewer().await;
    assert!(
        permissions_of(&app.my_access(&viewer).await)
            .contains(&"finance.invoices.write".to_owned())
    );
    app.ok(
        Method::DELETE,
        &app.acme(&format!("/members/{viewer_id}")),
        &owner,
        None,
        StatusCode::NO_CONTENT,
    )
    .await;
    let mut user = kisum_auth::User::new(
        kisum_auth::Email::parse("viewer@example.test").unwrap(),
        None,
        None,
        t0(),
    );
    user.id = app.world.member.user_id;
    user.email_verified = true;
    app.world.store.create_user(&user).await.unwrap();
    app.ok(
        Method::POST,
        &app.acme("/members"),
        &owner,
        Some(json!({"email": "viewer@example.test", "roles": ["finance-viewer"], "modules": ["finance"]})),
        StatusCode::CREATED,
    )
    .await;
    let viewer = app.viewer().await;
    let held = permissions_of(&app.my_access(&viewer).await);
    assert_eq!(held, ["finance.invoices.read"], "no delegation came back");
}

/// Reactivating a suspended member hands back what others delegated to it: a lesser
/// administrator who does not hold that cannot do it.
#[tokio::test]
async fn a_lesser_administrator_cannot_reactivate_a_member_holding_a_delegation_it_lacks() {
    let app = app().await;
    let owner = app.owner().await;
    let (_, hr) = app
        .member_with_role(
            "hr2@example.test",
            "hr",
            &["company.members.manage", "finance.invoices.read"],
            &["finance"],
        )
        .await;
    let viewer = app.world.member.id;
    app.ok(
        Method::POST,
        &app.acme("/delegations"),
        &owner,
        Some(json!({
            "to_membership_id": viewer,
            "permissions": ["finance.invoices.write"],
            "expires_at": in_a_day(),
        })),
        StatusCode::CREATED,
    )
    .await;
    app.ok(
        Method::PATCH,
        &app.acme(&format!("/members/{viewer}")),
        &owner,
        Some(json!({"status": "suspended"})),
        StatusCode::OK,
    )
    .await;
    let problem = app
        .problem(
            Method::PATCH,
            &app.acme(&format!("/members/{viewer}")),
            Some(&hr),
            Some(json!({"status": "active"})),
            StatusCode::FORBIDDEN,
            "permission_denied",
        )
        .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("delegation"),
        "{problem}"
    );
}
