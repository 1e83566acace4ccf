//! The catalog routes (modules, packages, add-ons) and the events a catalog edit publishes.

use kisum_core::audit::action;
use kisum_guard::{CompanyId, InvalidationEvent};
use serde_json::json;

use super::{add_finance, app, company_event, company_uri, ok, records, seed, subscribe};

#[tokio::test]
async fn catalog_routes_store_replace_and_list_sorted_by_key() {
    let app = app();
    for (key, kind) in [("market", "addon"), ("core", "core")] {
        let a = ok(
            &app,
            "PUT",
            &format!("/internal/v1/modules/{key}"),
            Some(json!({"name": key, "kind": kind, "permissions": [format!("{key}.things.read")]})),
        )
        .await;
        assert_eq!(
            a.body,
            json!({"key": key, "name": key, "kind": kind, "permissions": [format!("{key}.things.read")]})
        );
        assert_eq!(a.header("x-kisum-consistency"), None);
    }
    // Replacing: permissions default to none.
    ok(
        &app,
        "PUT",
        "/internal/v1/modules/market",
        Some(json!({"name": "Market", "kind": "standard"})),
    )
    .await;
    let a = ok(&app, "GET", "/internal/v1/modules", None).await;
    assert_eq!(
        a.body,
        json!([
            {"key": "core", "name": "core", "kind": "core", "permissions": ["core.things.read"]},
            {"key": "market", "name": "Market", "kind": "standard", "permissions": []},
        ])
    );

    let a = ok(
        &app,
        "PUT",
        "/internal/v1/packages/basic",
        Some(json!({"name": "Basic", "is_basic": true, "modules": ["market", "core"]})),
    )
    .await;
    let basic =
        json!({"key": "basic", "name": "Basic", "is_basic": true, "modules": ["core", "market"]});
    assert_eq!(a.body, basic);
    assert_eq!(
        ok(&app, "GET", "/internal/v1/packages", None).await.body,
        json!([basic])
    );

    let a = ok(
        &app,
        "PUT",
        "/internal/v1/addons/market",
        Some(json!({"name": "Market", "module": "market"})),
    )
    .await;
    let market = json!({"key": "market", "name": "Market", "module": "market"});
    assert_eq!(a.body, market);
    assert_eq!(
        ok(&app, "GET", "/internal/v1/addons", None).await.body,
        json!([market])
    );

    let actions: Vec<String> = records(&app).await.into_iter().map(|r| r.action).collect();
    assert_eq!(
        actions,
        [
            action::ADDON_PUT,
            action::PACKAGE_PUT,
            action::MODULE_PUT,
            action::MODULE_PUT,
            action::MODULE_PUT
        ]
    );
    // No company uses the catalog yet: nothing to invalidate.
    assert!(app.events.events().is_empty());
}

#[tokio::test]
async fn catalog_edits_publish_an_event_for_every_affected_company() {
    let app = app();
    seed(&app).await;
    let (a, b, c) = (CompanyId::new(), CompanyId::new(), CompanyId::new());
    subscribe(&app, a).await;
    subscribe(&app, b).await;
    add_finance(&app, c).await;
    app.events.take();

    let answer = ok(
        &app,
        "PUT",
        "/internal/v1/packages/basic",
        Some(json!({"name": "Basic", "is_basic": true, "modules": ["core", "market"]})),
    )
    .await;
    assert_eq!(answer.header("x-kisum-consistency"), None);
    let mut subscribers = vec![company_event(a), company_event(b)];
    subscribers.sort_by_key(|e| match e {
        InvalidationEvent::Company { company_id } => *company_id,
        _ => unreachable!(),
    });
    assert_eq!(app.events.take(), subscribers);
    for company in [a, b] {
        let e = ok(&app, "GET", &company_uri(company, "entitlements"), None).await;
        assert_eq!(e.body["entitlement_version"], 2);
        assert_eq!(
            e.body["modules"],
            json!([{"key": "core", "source": "package:basic"}, {"key": "market", "source": "package:basic"}])
        );
    }
    let r = records(&app).await.remove(0);
    assert_eq!(r.action, action::PACKAGE_PUT);
    assert_eq!(r.company_id, None);
    assert_eq!(r.detail["companies_affected"], 2);
    assert_eq!(r.detail["modules"], json!(["core", "market"]));

    ok(
        &app,
        "PUT",
        "/internal/v1/addons/finance",
        Some(json!({"name": "Finance+", "module": "finance"})),
    )
    .await;
    assert_eq!(app.events.take(), [company_event(c)]);
    ok(
        &app,
        "PUT",
        "/internal/v1/modules/finance",
        Some(json!({"name": "Finance", "kind": "addon"})),
    )
    .await;
    assert_eq!(app.events.take(), [company_event(c)]);
    ok(
        &app,
        "PUT",
        "/internal/v1/modules/market",
        Some(json!({"name": "Market", "kind": "addon"})),
    )
    .await;
    assert_eq!(app.events.take(), subscribers);
    let e = ok(&app, "GET", &company_uri(c, "entitlements"), None).await;
    assert_eq!(e.body["entitlement_version"], 3);
}
