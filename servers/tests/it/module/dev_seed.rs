//! The seed of `kisum dev`: the documented demo data, and seeding twice changes nothing.

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use kisum_core::admin::Actor;
use kisum_core::{CompanyAddOn, ModuleKind, SubscriptionStatus};
use kisum_guard::{AddOnKey, CompanyId};
use kisum_servers::seed;
use serde_json::{Value, json};

use super::stack::Stack as _;
use super::{Dev, create, data_dir, get_one, list, membership, set, sqlite_url, strings};
use crate::client::send;

/// The demo data is exactly what API.md describes: the catalog, company `acme` with `basic`
/// and the `finance` add-on, the two users who sign in with the demo password, their roles,
/// grants and what each may do in the `finance` backend.
#[tokio::test(flavor = "multi_thread")]
async fn the_dev_seed_is_the_documented_demo_data() {
    let dev = Dev::start(&data_dir()).await;
    assert_eq!(dev.seeded, seed::Seeded::Created);

    // Catalog: modules `core` (kind core) and five add-on modules; package `basic` (basic,
    // `core` only); an add-on per non-core module, enabling that module.
    let catalog = dev.core.service().catalog().await.unwrap();
    let modules: BTreeSet<&str> = catalog.modules.keys().map(|k| k.as_str()).collect();
    assert_eq!(
        modules,
        ["core", "finance", "market", "touring", "venue", "ai"].into()
    );
    for (key, m) in &catalog.modules {
        let kind = if key.as_str() == "core" {
            ModuleKind::Core
        } else {
            ModuleKind::Addon
        };
        assert_eq!(m.kind, kind, "{key}");
    }
    let finance: BTreeSet<&str> = catalog.modules[&kisum_guard::ModuleKey::new("finance").unwrap()]
        .permissions
        .iter()
        .map(|p| p.as_str())
        .collect();
    assert!(
        finance.contains("finance.invoices.read") && finance.contains("finance.invoices.write"),
        "the finance module declares the permissions its backend checks: {finance:?}"
    );
    assert_eq!(catalog.packages.len(), 1, "{:?}", catalog.packages);
    let basic = &catalog.packages[&kisum_guard::PackageKey::new("basic").unwrap()];
    assert!(basic.is_basic);
    assert_eq!(
        basic.modules.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
        ["core"]
    );
    let addons: BTreeSet<(&str, &str)> = catalog
        .addons
        .values()
        .map(|a| (a.key.as_str(), a.module.as_str()))
        .collect();
    assert_eq!(
        addons,
        [
            ("finance", "finance"),
            ("market", "market"),
            ("touring", "touring"),
            ("venue", "venue"),
            ("ai", "ai"),
        ]
        .into()
    );

    // Both users sign in with the demo password, and only with it.
    let owner = dev.owner().await;
    let member = dev.member().await;
    let wrong = send(
        &dev.auth,
        Method::POST,
        "/v1/auth/login",
        None,
        None,
        Some(json!({"email": seed::MEMBER_EMAIL, "password": "not-the-demo-password"})),
    )
    .await;
    wrong.assert_problem(StatusCode::UNAUTHORIZED, "invalid_credentials");

    // Company `acme`: the owner holds `owner`, the member `finance-viewer`, both active.
    let owner_me = dev.me(&owner).await;
    assert_eq!(owner_me["user"]["email"], seed::OWNER_EMAIL);
    // The demo addresses count as proven: an email-code sign-in keeps the demo password.
    assert_eq!(owner_me["user"]["email_verified"], true);
    assert_eq!(dev.me(&member).await["user"]["email_verified"], true);
    assert_eq!(owner_me["memberships"].as_array().unwrap().len(), 1);
    let m = membership(&owner_me, "acme");
    assert_eq!(m["status"], "active");
    assert_eq!(strings(&m["roles"]), set(&["owner"]));
    let acme: CompanyId = m["company_id"].as_str().unwrap().parse().unwrap();
    let member_me = dev.me(&member).await;
    assert_eq!(member_me["user"]["email"], seed::MEMBER_EMAIL);
    assert_eq!(member_me["memberships"].as_array().unwrap().len(), 1);
    let m = membership(&member_me, "acme");
    assert_eq!(m["status"], "active");
    assert_eq!(strings(&m["roles"]), set(&["finance-viewer"]));
    assert_eq!(m["company_id"], acme.to_string());

    // Entitlements of `acme`: `basic` active (so `core`) and the `finance` add-on, nothing else.
    let e = dev.core.service().entitlements(acme).await.unwrap();
    assert!(e.basic_active);
    let enabled: BTreeSet<(String, String)> = e
        .modules
        .iter()
        .map(|m| (m.key.to_string(), m.source.to_string()))
        .collect();
    assert_eq!(
        enabled,
        [
            ("core".to_owned(), "package:basic".to_owned()),
            ("finance".to_owned(), "addon:finance".to_owned()),
        ]
        .into()
    );
    let sub = e.subscription.as_ref().unwrap();
    assert_eq!(sub.package.as_str(), "basic");
    assert_eq!(sub.status, SubscriptionStatus::Active);
    let add_ons: Vec<(&str, SubscriptionStatus)> = e
        .add_ons
        .iter()
        .map(|a| (a.addon.as_str(), a.status))
        .collect();
    assert_eq!(add_ons, [("finance", SubscriptionStatus::Active)]);

    // Roles of `acme`: the built-in `owner` (`*`) and `finance-viewer` = `finance.invoices.read`.
    let r = send(
        &dev.auth,
        Method::GET,
        "/v1/companies/acme/roles",
        Some(&owner),
        None,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let roles: BTreeSet<(String, BTreeSet<String>)> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|role| {
            (
                role["key"].as_str().unwrap().to_owned(),
                strings(&role["permissions"]),
            )
        })
        .collect();
    assert_eq!(
        roles,
        [
            ("owner".to_owned(), set(&["*"])),
            ("finance-viewer".to_owned(), set(&["finance.invoices.read"])),
        ]
        .into()
    );

    // Members of `acme`: exactly the two, the member granted the `finance` module.
    let r = send(
        &dev.auth,
        Method::GET,
        "/v1/companies/acme/members",
        Some(&owner),
        None,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let members: BTreeSet<(String, String, BTreeSet<String>, BTreeSet<String>)> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["email"].as_str().unwrap().to_owned(),
                m["status"].as_str().unwrap().to_owned(),
                strings(&m["roles"]),
                strings(&m["modules"]),
            )
        })
        .collect();
    assert_eq!(
        members,
        [
            (
                seed::OWNER_EMAIL.to_owned(),
                "active".to_owned(),
                set(&["owner"]),
                set(&[]),
            ),
            (
                seed::MEMBER_EMAIL.to_owned(),
                "active".to_owned(),
                set(&["finance-viewer"]),
                set(&["finance"]),
            ),
        ]
        .into()
    );

    // Their access in `acme`, as the frontend bootstraps it.
    let access = |token: String| {
        let auth = dev.auth.clone();
        async move {
            let r = send(
                &auth,
                Method::GET,
                "/v1/auth/me/access",
                Some(&token),
                Some("acme"),
                None,
            )
            .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            r.body
        }
    };
    let a = access(owner.clone()).await;
    assert_eq!(a["company_id"], acme.to_string());
    assert_eq!(strings(&a["modules"]), set(&["company", "core", "finance"]));
    assert_eq!(strings(&a["permissions"]), set(&["*"]));
    assert_eq!(a["core_app_visible"], true);
    let a = access(member.clone()).await;
    assert_eq!(strings(&a["roles"]), set(&["finance-viewer"]));
    assert_eq!(strings(&a["modules"]), set(&["company", "finance"]));
    assert_eq!(strings(&a["permissions"]), set(&["finance.invoices.read"]));

    // Who may read and write finance: the owner both, the member read only.
    let body = json!({"customer": "Globex", "amount_cents": 1200});
    for (who, token, may_write) in [("owner", &owner, true), ("member", &member, false)] {
        let r = list(&dev.finance, token, "acme").await;
        assert_eq!(r.status, StatusCode::OK, "{who} reads: {}", r.body);
        let r = create(&dev.finance, token, "acme", body.clone()).await;
        if may_write {
            assert_eq!(r.status, StatusCode::CREATED, "{who} writes: {}", r.body);
            let r = get_one(&dev.finance, token, "acme", r.body["id"].as_str().unwrap()).await;
            assert_eq!(r.status, StatusCode::OK, "{who} reads one: {}", r.body);
        } else {
            r.assert_problem(StatusCode::FORBIDDEN, "permission_denied");
        }
    }
}

/// What the data looks like from the stores (ids and versions included): equal snapshots mean
/// nothing changed.
async fn snapshot(dev: &Dev) -> Value {
    let auth = &dev.built.state.auth;
    let mut users = Vec::new();
    for email in [seed::OWNER_EMAIL, seed::MEMBER_EMAIL] {
        let user = auth
            .user_by_email(&kisum_auth::Email::parse(email).unwrap())
            .await
            .unwrap()
            .unwrap();
        users.push(json!({
            "id": user.id.to_string(),
            "email": user.email.to_string(),
            "name": user.name,
        }));
    }
    let directory = &dev.built.state.directory;
    let owner_id = users[0]["id"].as_str().unwrap().parse().unwrap();
    let memberships = directory.list_user_memberships(owner_id).await.unwrap();
    assert_eq!(memberships.len(), 1);
    let acme = memberships[0].company_id;
    let company = directory.get_company(acme).await.unwrap().unwrap();
    let members = directory.list_company_memberships(acme).await.unwrap();
    let roles = dev.built.state.admin.list_roles(acme).await.unwrap();
    let catalog = dev.core.service().catalog().await.unwrap();
    let entitlements = dev.core.service().entitlements(acme).await.unwrap();
    json!({
        "users": users,
        "company": serde_json::to_value(&company).unwrap(),
        "members": serde_json::to_value(&members).unwrap(),
        "roles": serde_json::to_value(&roles).unwrap(),
        "modules": serde_json::to_value(catalog.modules.values().collect::<Vec<_>>()).unwrap(),
        "packages": serde_json::to_value(catalog.packages.values().collect::<Vec<_>>()).unwrap(),
        "addons": serde_json::to_value(catalog.addons.values().collect::<Vec<_>>()).unwrap(),
        "entitlements": serde_json::to_value(&entitlements).unwrap(),
    })
}

/// Seeding again, in the same process or after a restart on the same data directory, finds
/// the demo data, changes nothing (not even versions) and does not undo an operator's changes;
/// the demo users still sign in.
#[tokio::test(flavor = "multi_thread")]
async fn seeding_twice_changes_nothing() {
    let dir = data_dir();
    let dev = Dev::start(&dir).await;
    assert_eq!(dev.seeded, seed::Seeded::Created);
    let before = snapshot(&dev).await;

    let again = seed::seed(&dev.built.state.auth, &dev.built.state.admin, &dev.core)
        .await
        .unwrap();
    assert_eq!(again, seed::Seeded::AlreadyThere);
    assert_eq!(
        snapshot(&dev).await,
        before,
        "a second seed changed the data"
    );

    // An operator cancels `acme`'s finance add-on; a restart must not bring it back.
    let acme: CompanyId = before["company"]["id"].as_str().unwrap().parse().unwrap();
    dev.core
        .set_company_addon(
            &Actor::new("operator"),
            CompanyAddOn {
                company_id: acme,
                addon: AddOnKey::new("finance").unwrap(),
                status: SubscriptionStatus::Canceled,
                current_period_end: None,
            },
        )
        .await
        .unwrap();
    let changed = snapshot(&dev).await;
    assert_ne!(changed, before);
    drop(dev);

    let restarted = Dev::start(&dir).await;
    assert_eq!(restarted.seeded, seed::Seeded::AlreadyThere);
    assert_eq!(
        snapshot(&restarted).await,
        changed,
        "seeding on restart changed the data"
    );
    let e = restarted.core.service().entitlements(acme).await.unwrap();
    assert!(!e.has_module("finance"), "the operator's change stands");
    assert!(e.has_module("core"));

    // The demo users still sign in, and the owner (not the member) still administers `acme`.
    let owner = restarted.owner().await;
    assert_eq!(
        membership(&restarted.me(&owner).await, "acme")["company_id"],
        acme.to_string()
    );
}

/// `kisum dev` gives `acme` one 3-seat licence and writes its key once, readable by its owner
/// only; a restart keeps both (the key is stored hashed and cannot be shown again).
#[tokio::test(flavor = "multi_thread")]
async fn the_demo_licence_is_seeded_once_with_its_key_file() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = data_dir();
    let dev = Dev::start(&dir).await;
    let acme: CompanyId = snapshot(&dev).await["company"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let auth = kisum_servers::app::open_auth_store(&sqlite_url(&dir, "auth.db"))
        .await
        .unwrap();
    let core = kisum_servers::app::open_core_store(&sqlite_url(&dir, "core.db"))
        .await
        .unwrap();
    let licensing = kisum_servers::app::licensing(
        core.licenses,
        core.audit,
        &kisum_core::EntitlementService::new(core.store, dev.clock.clone()),
        None,
        dev.clock.clone(),
    );
    let key_file = dir.join(seed::DEMO_LICENSE_KEY_FILE);
    seed::seed_license(auth.as_ref(), &licensing.service, &key_file)
        .await
        .unwrap();
    let key = std::fs::read_to_string(&key_file).unwrap();
    assert!(key.starts_with("ksl_"), "{key}");
    assert_eq!(
        std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let licences = licensing.service.list(acme).await.unwrap();
    assert_eq!(licences.len(), 1);
    assert_eq!(licences[0].max_activations, seed::DEMO_LICENSE_SEATS);

    seed::seed_license(auth.as_ref(), &licensing.service, &key_file)
        .await
        .unwrap();
    assert_eq!(licensing.service.list(acme).await.unwrap().len(), 1);
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), key);
    licensing.reaper.abort();
}
