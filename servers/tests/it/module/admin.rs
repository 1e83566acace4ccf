//! Platform administration (`/v1/admin/*`, issue 18, decision 0033) as `kisum dev` wires it:
//! every route refused to non-administrators, writes refused below `aal2`, subscriptions and
//! add-ons carried to Core and felt at once by the `finance` guard, a suspended company denied
//! at the guard, platform roles that never escalate, and the audit rows of all of it.

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use kisum_auth::mfa::totp::{self, TotpSecret};
use kisum_guard::CompanySlug;
use serde_json::{Value, json};

use super::{Dev, data_dir, list};
use crate::client::{Reply, send};

/// Every administration route: method, path template, a valid body for it.
fn routes() -> Vec<(Method, &'static str, Option<Value>)> {
    let role = json!({"email": "member@acme.test", "role": "platform-support"});
    vec![
        (Method::GET, "/v1/admin/companies", None),
        (Method::GET, "/v1/admin/companies/{id}", None),
        (Method::POST, "/v1/admin/companies/{id}/suspend", None),
        (Method::POST, "/v1/admin/companies/{id}/reactivate", None),
        (
            Method::PUT,
            "/v1/admin/companies/{id}/subscription",
            Some(json!({"package": "basic", "status": "active"})),
        ),
        (
            Method::PUT,
            "/v1/admin/companies/{id}/addons/{key}",
            Some(json!({"status": "active"})),
        ),
        (
            Method::DELETE,
            "/v1/admin/companies/{id}/addons/{key}",
            None,
        ),
        (Method::GET, "/v1/admin/catalog/{kind}", None),
        (Method::GET, "/v1/admin/catalog/{kind}/{key}", None),
        (
            Method::PUT,
            "/v1/admin/catalog/{kind}/{key}",
            Some(
                json!({"name": "Finance", "kind": "addon", "permissions": ["finance.invoices.read"]}),
            ),
        ),
        (Method::GET, "/v1/admin/audit", None),
        (Method::GET, "/v1/admin/platform-roles", None),
        (Method::POST, "/v1/admin/platform-roles", Some(role.clone())),
        (Method::DELETE, "/v1/admin/platform-roles", Some(role)),
    ]
}

fn is_write(method: &Method) -> bool {
    method != Method::GET
}

/// The concrete path of a template, about `acme` and its `finance` module.
fn concrete(template: &str, acme: &str) -> String {
    template
        .replace("{id}", acme)
        .replace("{kind}", "modules")
        .replace("{key}", "finance")
}

pub(super) async fn acme_id(dev: &Dev) -> String {
    dev.store
        .find_company_by_slug(&CompanySlug::new("acme").unwrap())
        .await
        .unwrap()
        .unwrap()
        .id
        .to_string()
}

/// Requests to Auth's public API as the holder of one access token.
struct Caller<'a> {
    dev: &'a Dev,
    token: &'a str,
}

impl Caller<'_> {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        send(&self.dev.auth, method, path, Some(self.token), None, body).await
    }

    async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Option<Value>) -> Reply {
        self.call(Method::POST, path, body).await
    }

    async fn put(&self, path: &str, body: Option<Value>) -> Reply {
        self.call(Method::PUT, path, body).await
    }

    async fn delete(&self, path: &str, body: Option<Value>) -> Reply {
        self.call(Method::DELETE, path, body).await
    }
}

impl Dev {
    /// Requests as the holder of `token`.
    fn with<'a>(&'a self, token: &'a str) -> Caller<'a> {
        Caller { dev: self, token }
    }

    /// Seeds `admin@kisum.test` (as `kisum dev` does) and signs it in: an `aal1` token.
    pub(super) async fn admin_aal1(&self) -> String {
        kisum_servers::seed::seed_admin(
            &self.built.state.auth,
            self.store.as_ref(),
            self.clock.as_ref(),
        )
        .await
        .unwrap();
        self.login(
            kisum_servers::seed::ADMIN_EMAIL,
            kisum_servers::seed::DEMO_PASSWORD,
        )
        .await
    }

    /// Enrols an authenticator app for `email` (signed in as `token`) and signs in again with
    /// the password and a recovery code: an `aal2` token.
    async fn step_up(&self, email: &str, token: &str) -> String {
        let r = self.with(token).post("/v1/auth/mfa/totp", None).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let secret = TotpSecret::from_base32(r.body["secret"].as_str().unwrap()).unwrap();
        let code = totp::code_at(&secret, totp::step_at(self.clock.now()).unwrap());
        let r = self
            .with(token)
            .post(
                "/v1/auth/mfa/totp/confirm",
                Some(json!({"code": code, "keep_other_sessions": true})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let recovery = r.body["recovery_codes"][0].as_str().unwrap().to_owned();
        let r = send(
            &self.auth,
            Method::POST,
            "/v1/auth/login",
            None,
            None,
            Some(json!({"email": email, "password": kisum_servers::seed::DEMO_PASSWORD})),
        )
        .await;
        r.assert_problem(StatusCode::UNAUTHORIZED, "mfa_required");
        let r = send(
            &self.auth,
            Method::POST,
            "/v1/auth/mfa/verify",
            None,
            None,
            Some(json!({"mfa_token": r.body["mfa_token"], "recovery_code": recovery})),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.body["access_token"].as_str().unwrap().to_owned()
    }

    async fn admin_aal2(&self) -> String {
        let aal1 = self.admin_aal1().await;
        self.step_up(kisum_servers::seed::ADMIN_EMAIL, &aal1).await
    }

    /// The audit events `token` finds with `query`.
    async fn audit(&self, token: &str, query: &str) -> Vec<Value> {
        let r = self
            .with(token)
            .get(&format!("/v1/admin/audit?{query}"))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.body["items"].as_array().unwrap().clone()
    }
}

/// The table above is every `/v1/admin/*` operation Auth documents (and so mounts).
#[test]
fn the_route_table_is_every_admin_route() {
    let documented: BTreeSet<(String, String)> =
        kisum_guard::openapi::operations(&kisum_auth::http::public_openapi())
            .into_iter()
            .filter(|(_, path)| path.starts_with("/v1/admin/"))
            .collect();
    let table: BTreeSet<(String, String)> = routes()
        .into_iter()
        .map(|(m, p, _)| (m.as_str().to_ascii_lowercase(), p.to_owned()))
        .collect();
    assert_eq!(table, documented);
}

/// A signed-in user without a platform role — a plain member, and a company owner, who holds
/// `*` in their own company — gets 403 `permission_denied` on every administration route, and
/// each refusal is audited; no token at all is 401.
#[tokio::test(flavor = "multi_thread")]
async fn every_admin_route_refuses_a_non_administrator() {
    let dev = Dev::start(&data_dir()).await;
    let acme = acme_id(&dev).await;
    let member = dev.member().await;
    let owner = dev.owner().await;
    for (method, template, body) in routes() {
        let path = concrete(template, &acme);
        for token in [&member, &owner] {
            let r = dev
                .with(token)
                .call(method.clone(), &path, body.clone())
                .await;
            r.assert_problem(StatusCode::FORBIDDEN, "permission_denied");
        }
        let r = send(&dev.auth, method.clone(), &path, None, None, body.clone()).await;
        r.assert_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
    }
    // Nothing was done: acme is active and keeps `finance`.
    assert_eq!(
        list(&dev.finance, &member, "acme").await.status,
        StatusCode::OK
    );

    let admin = dev.admin_aal1().await;
    let member_id = dev.me(&member).await["user"]["id"].clone();
    let denied = dev
        .audit(&admin, "actor=member%40acme.test&limit=200")
        .await;
    let refusals = denied
        .iter()
        .filter(|e| e["action"] == "platform.denied" && e["outcome"] == "denied")
        .count();
    assert_eq!(refusals, routes().len(), "one per refused request");
    assert!(denied.iter().all(|e| e["actor_user_id"] == member_id));
}

/// A platform administrator signed in with a password only (`aal1`) reads, but every write
/// is refused with 403 `step_up_required` and changes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn an_aal1_administrator_is_refused_every_write() {
    let dev = Dev::start(&data_dir()).await;
    let acme = acme_id(&dev).await;
    let admin = dev.admin_aal1().await;
    for (method, template, body) in routes() {
        let path = concrete(template, &acme);
        let r = dev.with(&admin).call(method.clone(), &path, body).await;
        if is_write(&method) {
            r.assert_problem(StatusCode::FORBIDDEN, "step_up_required");
        } else {
            assert_eq!(r.status, StatusCode::OK, "{method} {path}: {}", r.body);
        }
    }
    // Nothing changed: the member still reads.
    dev.member_reading_invoices().await;
    let r = dev
        .with(&admin)
        .get(&format!("/v1/admin/companies/{acme}"))
        .await;
    assert_eq!(r.body["company"]["status"], "active");
    let slugs: BTreeSet<&str> = r.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["member@acme.test", "owner@acme.test"].into());
    let modules: BTreeSet<&str> = r.body["entitlements"]["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["key"].as_str().unwrap())
        .collect();
    assert!(modules.contains("finance"), "{}", r.body);
}

/// An administrator (`aal2`) removes acme's `finance` add-on and ends its subscription: the
/// `finance` backend denies the member at once (`module_not_entitled`), the Core App is gone,
/// and Auth's audit log holds both writes with the administrator as actor.
#[tokio::test(flavor = "multi_thread")]
async fn an_administrator_ends_finance_and_the_guard_denies_at_once() {
    let dev = Dev::start(&data_dir()).await;
    let acme = acme_id(&dev).await;
    let member = dev.member_reading_invoices().await;
    let admin = dev.admin_aal2().await;

    let r = dev
        .with(&admin)
        .delete(&format!("/v1/admin/companies/{acme}/addons/finance"), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    list(&dev.finance, &member, "acme")
        .await
        .assert_problem(StatusCode::FORBIDDEN, "module_not_entitled");

    let r = dev
        .with(&admin)
        .put(
            &format!("/v1/admin/companies/{acme}/subscription"),
            Some(json!({"package": "basic", "status": "canceled"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["basic_active"], false, "{}", r.body);
    let owner = dev.owner().await;
    let access = send(
        &dev.auth,
        Method::GET,
        "/v1/auth/me/access",
        Some(&owner),
        Some("acme"),
        None,
    )
    .await;
    assert_eq!(access.body["core_app_visible"], false, "{}", access.body);

    // Core's refusals come back as they are.
    let r = dev
        .with(&admin)
        .put(
            &format!("/v1/admin/companies/{acme}/subscription"),
            Some(json!({"package": "no-such-package", "status": "active"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let r = dev
        .with(&admin)
        .delete(
            &format!("/v1/admin/companies/{acme}/addons/..%2F..%2Fmodules"),
            None,
        )
        .await;
    r.assert_problem(StatusCode::BAD_REQUEST, "invalid_request");

    let admin_id = dev.me(&admin).await["user"]["id"].clone();
    let events = dev.audit(&admin, &format!("company_id={acme}")).await;
    let actions: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e["actor_user_id"] == admin_id)
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("platform.subscription.put", "failure"),
            ("platform.subscription.put", "success"),
            ("platform.addon.delete", "success"),
        ],
        "newest first"
    );
}

/// A suspended company's members are denied at the guard at once (`membership_inactive`);
/// reactivated, they are let in again.
#[tokio::test(flavor = "multi_thread")]
async fn a_suspended_company_is_denied_at_the_guard() {
    let dev = Dev::start(&data_dir()).await;
    let acme = acme_id(&dev).await;
    let member = dev.member_reading_invoices().await;
    let admin = dev.admin_aal2().await;

    let r = dev
        .with(&admin)
        .post(&format!("/v1/admin/companies/{acme}/suspend"), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "suspended");
    list(&dev.finance, &member, "acme")
        .await
        .assert_problem(StatusCode::FORBIDDEN, "membership_inactive");

    let r = dev
        .with(&admin)
        .post(&format!("/v1/admin/companies/{acme}/reactivate"), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        list(&dev.finance, &member, "acme").await.status,
        StatusCode::OK
    );

    let search = dev
        .with(&admin)
        .get("/v1/admin/companies?query=ACM&limit=1")
        .await;
    assert_eq!(search.status, StatusCode::OK, "{}", search.body);
    assert_eq!(search.body["items"][0]["slug"], "acme");
    let cursor = search.body["next_cursor"].as_str().unwrap();
    let next = dev
        .with(&admin)
        .get(&format!("/v1/admin/companies?query=ACM&cursor={cursor}"))
        .await;
    assert_eq!(next.body["items"], json!([]));
    assert_eq!(next.body["next_cursor"], Value::Null);
    let bad = dev
        .with(&admin)
        .get("/v1/admin/companies?cursor=nope")
        .await;
    bad.assert_problem(StatusCode::BAD_REQUEST, "invalid_request");

    let actions: Vec<String> = dev
        .audit(&admin, &format!("company_id={acme}&limit=2"))
        .await
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        actions,
        ["platform.company.reactivate", "platform.company.suspend"]
    );
}

/// Platform roles never escalate: a `platform-billing` holder cannot grant or revoke
/// `platform-admin` (or any role it does not wholly hold), the refusals are audited, and the
/// last `platform-admin` cannot be revoked.
#[tokio::test(flavor = "multi_thread")]
async fn a_platform_role_grant_cannot_escalate() {
    let dev = Dev::start(&data_dir()).await;
    let admin = dev.admin_aal2().await;
    let grant = |email: &str, role: &str| json!({"email": email, "role": role});

    let r = dev
        .with(&admin)
        .post(
            "/v1/admin/platform-roles",
            Some(grant("member@acme.test", "platform-billing")),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["role"], "platform-billing");
    let again = dev
        .with(&admin)
        .post(
            "/v1/admin/platform-roles",
            Some(grant("member@acme.test", "platform-billing")),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK, "held already");

    let member = dev.member().await;
    let billing = dev.step_up("member@acme.test", &member).await;
    for role in ["platform-admin", "platform-support", "platform-catalog"] {
        let r = dev
            .with(&billing)
            .post(
                "/v1/admin/platform-roles",
                Some(grant("owner@acme.test", role)),
            )
            .await;
        r.assert_problem(StatusCode::FORBIDDEN, "permission_denied");
    }
    let r = dev
        .with(&billing)
        .delete(
            "/v1/admin/platform-roles",
            Some(grant(kisum_servers::seed::ADMIN_EMAIL, "platform-admin")),
        )
        .await;
    r.assert_problem(StatusCode::FORBIDDEN, "permission_denied");
    // What billing holds, it may hand on; what it lacks stays closed.
    let r = dev
        .with(&billing)
        .post(
            "/v1/admin/platform-roles",
            Some(grant("owner@acme.test", "platform-billing")),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    dev.with(&billing)
        .get("/v1/admin/audit")
        .await
        .assert_problem(StatusCode::FORBIDDEN, "permission_denied");

    let r = dev
        .with(&admin)
        .delete(
            "/v1/admin/platform-roles",
            Some(grant(kisum_servers::seed::ADMIN_EMAIL, "platform-admin")),
        )
        .await;
    r.assert_problem(StatusCode::CONFLICT, "last_platform_admin");
    let r = dev
        .with(&admin)
        .post(
            "/v1/admin/platform-roles",
            Some(grant("member@acme.test", "platform-owner")),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);

    let grants = dev.with(&admin).get("/v1/admin/platform-roles").await;
    let held: BTreeSet<String> = grants.body["grants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["role"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        held,
        ["platform-admin".to_owned(), "platform-billing".to_owned()].into()
    );

    let by_member = dev.audit(&admin, "actor=member%40acme.test").await;
    let refused = by_member
        .iter()
        .filter(|e| e["action"] == "platform.role.grant" && e["outcome"] == "denied")
        .count();
    assert_eq!(refused, 3);
    assert!(
        by_member
            .iter()
            .any(|e| e["action"] == "platform.role.revoke" && e["outcome"] == "denied")
    );
}

/// `kisum admin grant` makes the first administrator of a deployment.
#[tokio::test(flavor = "multi_thread")]
async fn the_operator_grants_the_first_administrator() {
    let dir = data_dir();
    let dev = Dev::start(&dir).await;
    let owner = dev.owner().await;
    dev.with(&owner)
        .get("/v1/admin/companies")
        .await
        .assert_problem(StatusCode::FORBIDDEN, "permission_denied");
    let url = format!("sqlite://{}", dir.join("auth.db").display());
    let args = [
        "admin",
        "grant",
        "--email",
        "owner@acme.test",
        "--role",
        "platform-support",
        "--database-url",
        url.as_str(),
    ];
    let out = crate::kisum_env(&args, &[]);
    assert!(out.status.success(), "{}", crate::err(&out));
    assert_eq!(
        crate::out(&out).trim(),
        "owner@acme.test platform-support: granted"
    );
    let r = dev.with(&owner).get("/v1/admin/companies").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    let nobody = [
        "admin",
        "grant",
        "--email",
        "nobody@acme.test",
        "--database-url",
        url.as_str(),
    ];
    let out = crate::kisum_env(&nobody, &[]);
    assert!(!out.status.success());
    assert!(
        crate::err(&out).contains("no account has the email"),
        "{}",
        crate::err(&out)
    );
}
