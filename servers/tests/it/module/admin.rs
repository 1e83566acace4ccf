//! Platform administration (`/v1/admin/*`, issue 18, decision 0033), each test on both
//! deployments (`kisum dev` on SQLite, and separate processes on PostgreSQL, see
//! [`super::stack`]): every route refused to non-administrators, writes refused below `aal2`,
//! subscriptions, add-ons and the catalog carried to Core and felt by the `finance` guard, a
//! suspended company denied at the guard, platform roles that never escalate, `kisum admin
//! grant`, and the audit rows of all of it.

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use kisum_guard::{Clock as _, SystemClock};
use serde_json::{Value, json};

use super::stack::{Stack, on_both};

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
async fn every_admin_route_refuses_a_non_administrator(dev: &impl Stack) {
    let acme = dev.acme_id().await;
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
        let r = dev
            .auth(method.clone(), &path, None, None, body.clone())
            .await;
        r.assert_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
    }
    // Nothing was done: acme is active and keeps `finance`.
    assert_eq!(dev.invoices(&member, "acme").await.status, StatusCode::OK);

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
on_both!(every_admin_route_refuses_a_non_administrator);

/// A platform administrator signed in with a password only (`aal1`) reads, but every write
/// is refused with 403 `step_up_required` and changes nothing.
async fn an_aal1_administrator_is_refused_every_write(dev: &impl Stack) {
    let acme = dev.acme_id().await;
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
on_both!(an_aal1_administrator_is_refused_every_write);

/// An administrator (`aal2`) removes acme's `finance` add-on and ends its subscription: the
/// `finance` backend denies the member at once (`module_not_entitled`), the Core App is gone,
/// and Auth's audit log holds both writes with the administrator as actor.
async fn an_administrator_ends_finance_and_the_guard_denies_at_once(dev: &impl Stack) {
    let (acme, member, admin) = reading_member_and_administrator(dev).await;

    take_finance_away(dev, &admin, &acme, &member).await;

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
    let access = dev
        .auth(
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
on_both!(an_administrator_ends_finance_and_the_guard_denies_at_once);

/// A suspended company's members are denied at the guard at once (`membership_inactive`);
/// reactivated, they are let in again.
async fn a_suspended_company_is_denied_at_the_guard(dev: &impl Stack) {
    let (acme, member, admin) = reading_member_and_administrator(dev).await;

    let r = dev
        .with(&admin)
        .post(&format!("/v1/admin/companies/{acme}/suspend"), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "suspended");
    dev.invoices_become(&member, "acme", StatusCode::FORBIDDEN)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "membership_inactive");

    let r = dev
        .with(&admin)
        .post(&format!("/v1/admin/companies/{acme}/reactivate"), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    reads_again(dev, &member).await;

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
on_both!(a_suspended_company_is_denied_at_the_guard);

/// Platform roles never escalate: a `platform-billing` holder cannot grant or revoke
/// `platform-admin` (or any role it does not wholly hold), the refusals are audited, and the
/// last `platform-admin` cannot be revoked.
async fn a_platform_role_grant_cannot_escalate(dev: &impl Stack) {
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
on_both!(a_platform_role_grant_cannot_escalate);

/// `kisum admin grant` makes the first administrator of a deployment, on its Auth database
/// (SQLite or PostgreSQL), felt by the running Auth at once.
async fn the_operator_grants_the_first_administrator(dev: &impl Stack) {
    let owner = dev.owner().await;
    dev.with(&owner)
        .get("/v1/admin/companies")
        .await
        .assert_problem(StatusCode::FORBIDDEN, "permission_denied");
    let url = dev.auth_database_url();
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
on_both!(the_operator_grants_the_first_administrator);

/// An administrator (`aal2`) puts a module `ledger` and its add-on into the catalog and gives
/// acme that add-on: acme's entitlements list it. Taking acme's `finance` add-on away denies
/// the member at the guard; putting it back lets them in again. The company's detail lists its
/// licence (without its key), and the audit search from a time on (`since`) finds exactly
/// these writes, newest first.
async fn an_administrator_puts_the_catalog_and_add_ons(dev: &impl Stack) {
    let (acme, member, admin) = reading_member_and_administrator(dev).await;
    let licence = dev
        .core(
            Method::POST,
            "/internal/v1/licenses",
            Some(json!({"company_id": acme, "name": "Acme desktop", "max_activations": 3})),
        )
        .await;
    assert_eq!(licence.status, StatusCode::CREATED, "{}", licence.body);
    let since = now();

    let r = dev
        .with(&admin)
        .put(
            "/v1/admin/catalog/modules/ledger",
            Some(
                json!({"name": "Ledger", "kind": "addon", "permissions": ["ledger.entries.read"]}),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = dev
        .with(&admin)
        .put(
            "/v1/admin/catalog/addons/ledger",
            Some(json!({"name": "Ledger", "module": "ledger"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = dev
        .with(&admin)
        .get("/v1/admin/catalog/modules/ledger")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["permissions"], json!(["ledger.entries.read"]));
    let r = dev
        .with(&admin)
        .put(
            &format!("/v1/admin/companies/{acme}/addons/ledger"),
            Some(json!({"status": "active"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    take_finance_away(dev, &admin, &acme, &member).await;
    let r = dev
        .with(&admin)
        .put(
            &format!("/v1/admin/companies/{acme}/addons/finance"),
            Some(json!({"status": "active"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    reads_again(dev, &member).await;

    let detail = dev
        .with(&admin)
        .get(&format!("/v1/admin/companies/{acme}"))
        .await;
    assert_eq!(detail.status, StatusCode::OK, "{}", detail.body);
    let modules: BTreeSet<&str> = detail.body["entitlements"]["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["key"].as_str().unwrap())
        .collect();
    assert!(
        modules.contains("ledger") && modules.contains("finance"),
        "{}",
        detail.body
    );
    let licences = detail.body["licenses"].as_array().unwrap();
    assert_eq!(licences.len(), 1, "{}", detail.body);
    assert_eq!(licences[0]["id"], licence.body["id"]);
    assert_eq!(licences[0]["name"], "Acme desktop");
    assert_eq!(licences[0]["max_activations"], 3);
    assert!(licences[0].get("key").is_none(), "{}", detail.body);

    let actions: Vec<(String, String)> = dev
        .audit(&admin, &format!("since={since}"))
        .await
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["details"].to_string(),
            )
        })
        .map(|(action, details)| {
            let about = ["ledger", "finance"]
                .into_iter()
                .find(|k| details.contains(k))
                .unwrap_or("-");
            (action, about.to_owned())
        })
        .collect();
    let want = [
        ("platform.addon.put", "finance"),
        ("platform.addon.delete", "finance"),
        ("platform.addon.put", "ledger"),
        ("platform.catalog.put", "ledger"),
        ("platform.catalog.put", "ledger"),
    ];
    assert_eq!(
        actions,
        want.map(|(a, k)| (a.to_owned(), k.to_owned())),
        "newest first"
    );
    let later = now();
    let none = dev.audit(&admin, &format!("since={later}")).await;
    assert!(none.is_empty(), "{none:?}");
    dev.with(&admin)
        .get("/v1/admin/audit?since=yesterday")
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "invalid_request");
}
on_both!(an_administrator_puts_the_catalog_and_add_ons);

/// acme's id, its member reading invoices (asserted) and the administrator at `aal2`: where
/// every administrator-acts-and-the-guard-feels-it test starts.
async fn reading_member_and_administrator(dev: &impl Stack) -> (String, String, String) {
    let acme = dev.acme_id().await;
    let member = dev.member_reading_invoices().await;
    (acme, member, dev.admin_aal2().await)
}

/// The administrator removes acme's `finance` add-on; the guard denies the member
/// (`module_not_entitled`) at once, or across processes as soon as it hears of it.
async fn take_finance_away(dev: &impl Stack, admin: &str, acme: &str, member: &str) {
    let r = dev
        .with(admin)
        .delete(&format!("/v1/admin/companies/{acme}/addons/finance"), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    dev.invoices_become(member, "acme", StatusCode::FORBIDDEN)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "module_not_entitled");
}

/// The member reads acme's invoices again (once the guard heard of the change).
async fn reads_again(dev: &impl Stack, member: &str) {
    let r = dev.invoices_become(member, "acme", StatusCode::OK).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

/// Now, as the audit search's `since` takes it (RFC 3339, UTC, microseconds).
fn now() -> String {
    SystemClock
        .now()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}
